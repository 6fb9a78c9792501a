#pragma once

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>

namespace jsontcplb {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

/// Every open client session, so the drain timeout can cut them off and shutdown knows when the
/// last one has gone. Lives on the data-plane thread; cut() may be read from any thread.
class ClientRegistry {
 public:
  /// What the registry knows of one session. `socket` is set and cleared by the session and
  /// touched only on `executor`, the session's own thread (where the cut is posted).
  struct Link {
    asio::any_io_executor executor;
    tcp::socket* socket = nullptr;
  };

  std::uint64_t add(std::shared_ptr<Link> link);
  /// Removes a session; runs the on_last_gone callback when it was the last one.
  void remove(std::uint64_t id);
  std::size_t size() const { return clients_.size(); }
  /// Called (data-plane thread) whenever the last registered session has been removed.
  void on_last_gone(std::function<void()> callback) { on_last_gone_ = std::move(callback); }

  /// Stops every session's reading: sessions see cut() and end; a read in progress is cancelled
  /// on the session's own thread.
  void cut_all();
  /// True once cut_all() ran: sessions stop reading. Safe from any thread.
  bool cut() const { return cut_.load(); }
  const std::atomic<bool>& cut_flag() const { return cut_; }

 private:
  std::map<std::uint64_t, std::shared_ptr<Link>> clients_;
  std::uint64_t next_id_ = 0;
  std::atomic<bool> cut_ = false;
  std::function<void()> on_last_gone_;
};

}  // namespace jsontcplb
