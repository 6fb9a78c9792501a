#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string_view>

namespace jsontcplb {

namespace asio = boost::asio;

class ClientRegistry;
class LineQueue;
class Listener;
class Stats;
class TargetSet;

/// Signals, drain, flush and exit. On SIGTERM/SIGINT (or drain()): stop accepting, read the
/// clients until they close or the drain timeout cuts them off, then close the queue so the
/// workers deliver what is left, and stop the io_context once the last worker has exited. A
/// second signal exits at once. Data-plane thread.
class Lifecycle : public std::enable_shared_from_this<Lifecycle> {
 public:
  struct Parts {
    std::shared_ptr<Listener> listener;
    std::shared_ptr<ClientRegistry> registry;
    std::shared_ptr<LineQueue> queue;
    std::shared_ptr<TargetSet> targets;
    std::shared_ptr<Stats> stats;
  };
  Lifecycle(asio::io_context& io, std::chrono::milliseconds drain_timeout, Parts parts);

  /// Handles signals from now on, and follows the clients and workers to know when to flush
  /// and when to exit.
  void start();
  /// Runs right before the io_context is stopped (the last metrics publish).
  void on_exit(std::function<void()> callback) { on_exit_ = std::move(callback); }
  /// Runs once, when the drain begins (the control API's health turns NOT_SERVING).
  void on_drain(std::function<void()> callback) { on_drain_ = std::move(callback); }

  /// Starts the drain (once; later calls only log). SIGTERM/SIGINT and the control API's Drain.
  void begin_shutdown(std::string_view why);
  bool shutting_down() const { return shutting_down_; }

 private:
  asio::awaitable<void> signal_loop();
  asio::awaitable<void> drain_timer_loop();
  asio::awaitable<void> progress_loop();
  /// Once shutting down and every client is gone: the queue closes and workers finish.
  void maybe_flush();
  void finish();
  /// The second signal: logs what is not delivered and exits with status 1.
  [[noreturn]] void exit_now(std::string_view why);

  asio::io_context& io_;
  std::chrono::milliseconds drain_timeout_;
  Parts parts_;
  asio::signal_set signals_;
  asio::steady_timer drain_timer_;
  std::function<void()> on_exit_;
  std::function<void()> on_drain_;
  int signals_received_ = 0;
  bool shutting_down_ = false;
  bool flushing_ = false;
};

}  // namespace jsontcplb
