#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dataplane/core/batch_queue.h"
#include "dataplane/core/options.h"
#include "dataplane/core/target_health.h"
#include "dataplane/metrics.h"
#include "dataplane/wake_list.h"

namespace jsontcplb {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

class ReaderThreads;
class Worker;

/// What the data-plane thread knows of a client session. `socket` is set and cleared by the
/// session and read only on the session's executor (where the drain timeout posts its cut).
struct ClientLink {
  asio::any_io_executor executor;
  tcp::socket* socket = nullptr;
};

/// One target and what is known about it; shared by the workers that use it.
struct TargetState {
  TargetAddress address;
  std::string name;  ///< address.to_string(), for logs
  TargetHealth health;
  std::uint64_t sent_lines = 0;  ///< Acknowledged by the target's TCP.
  std::uint64_t sent_bytes = 0;
  std::uint64_t resent_lines = 0;  ///< Requeued after a connection to it failed.
  int connected_workers = 0;
  int connections = 0;    ///< Workers wanted with this home; 0 = the proxy's default.
  bool removed = false;   ///< No longer in the target list; workers leave it.
  TargetMetrics metrics;  ///< Its series; updated next to the fields above.
};

/// Totals kept by the data-plane thread for the control API's status; the matching Prometheus
/// counters (Metrics) are incremented next to them.
struct Counters {
  std::uint64_t client_connections_total = 0;
  std::uint64_t received_lines = 0;
  std::uint64_t received_bytes = 0;
  std::uint64_t rejected_long_lines = 0;
  std::uint64_t failovers = 0;
  std::uint64_t failbacks = 0;
  std::uint64_t reconnects = 0;
  std::uint64_t discarded_upstream_bytes = 0;  ///< Bytes targets sent us (ignored).
};

/// The data plane: listener, client sessions, the shared queue and the workers. Everything here
/// is owned by one io_context thread; nothing is locked.
class Proxy : public std::enable_shared_from_this<Proxy> {
 public:
  /// Builds TLS contexts and binds the listener. Returns an error message instead on failure
  /// (`exit_code` 2 for a bad flag value such as an unusable certificate, 1 otherwise).
  struct StartError {
    int exit_code;
    std::string message;
  };
  static std::variant<std::shared_ptr<Proxy>, StartError> create(asio::io_context& io,
                                                                 Options options,
                                                                 std::shared_ptr<Metrics> metrics);

  Proxy(asio::io_context& io, Options options, std::shared_ptr<Metrics> metrics);
  ~Proxy();

  /// Starts accepting, the workers and the signal handler.
  void start();
  /// Stop accepting, read clients to EOF (or the drain timeout), deliver, then stop the
  /// io_context. Called on SIGTERM/SIGINT.
  void begin_shutdown(std::string_view why);

  tcp::endpoint listen_endpoint() const;

  // --- used by sessions and workers (data-plane thread only) ---
  const Options& options() const { return options_; }
  asio::io_context& io() { return io_; }
  BatchQueue& queue() { return queue_; }
  const BatchQueue& queue() const { return queue_; }
  Counters& counters() { return counters_; }
  const Counters& counters() const { return counters_; }
  Metrics& metrics() { return *metrics_; }
  /// Sets every gauge from the current state and flushes the write-time histogram. Runs once
  /// a second on the data-plane thread (and when the proxy finishes).
  void publish_metrics();
  /// Returns free heap memory to the kernel once the proxy is idle after receiving data.
  void trim_heap_when_idle();
  const std::vector<std::shared_ptr<TargetState>>& targets() const { return targets_; }
  asio::ssl::context* upstream_tls() { return upstream_tls_ ? &*upstream_tls_ : nullptr; }

  /// Queues a batch read from a client and wakes a worker.
  void enqueue(Batch batch);
  /// Puts batches a failed connection did not deliver back at the head of the queue.
  void requeue(std::vector<Batch> batches);
  /// Takes up to `max_bytes` from the queue for a worker, waking clients waiting for room.
  std::vector<Batch> dequeue(std::size_t max_bytes);
  WakeList& idle_workers() { return idle_workers_; }
  WakeList& clients_waiting_for_room() { return clients_waiting_for_room_; }

  /// Unacknowledged bytes summed over all workers (kept up to date by the workers).
  std::uint64_t& unacked_bytes() { return unacked_bytes_; }
  std::uint64_t& unacked_lines() { return unacked_lines_; }
  std::uint64_t unacked_total_bytes() const { return unacked_bytes_; }
  /// True once every client is gone during shutdown: workers deliver what is left and stop.
  bool flushing() const { return flushing_; }
  /// True when nothing is queued or unacknowledged anywhere.
  bool all_delivered() const { return queue_.empty() && unacked_bytes_ == 0; }
  /// A worker has exited (stopped, or finished after a flush).
  void worker_exited(const Worker& worker);

  // --- live changes from the control API (data-plane thread; input already validated) ---
  /// One entry of a target list: connections 0 = the default.
  struct TargetSpec {
    TargetAddress address;
    int connections = 0;
  };
  /// Replaces the target list: new targets get workers, removed ones are left without loss,
  /// kept ones are adjusted. Unset optionals leave those settings alone.
  void set_targets(const std::vector<TargetSpec>& targets, std::optional<int> default_connections,
                   std::optional<std::chrono::milliseconds> failback_interval,
                   std::optional<std::string> config_version);
  void add_target(const TargetSpec& target);
  void remove_target(const std::shared_ptr<TargetState>& target);
  /// `target` null: every target, and the default for targets added later.
  void set_connections(int connections, const std::shared_ptr<TargetState>& target);
  /// `target` null: every failed-over worker.
  void trigger_failback(const std::shared_ptr<TargetState>& target);
  std::shared_ptr<TargetState> find_target(const TargetAddress& address) const;
  int wanted_connections(const TargetState& target) const;
  int default_connections() const { return default_connections_; }

  std::uint64_t generation() const { return generation_; }
  const std::string& config_version() const { return config_version_; }
  std::chrono::steady_clock::time_point started_at() const { return started_at_; }
  bool shutting_down() const { return shutting_down_; }
  std::size_t client_count() const { return clients_.size(); }
  const std::vector<std::shared_ptr<Worker>>& workers() const { return workers_; }
  /// Status watchers sleep here; woken on every change.
  WakeList& status_watchers() { return status_watchers_; }
  void status_changed() { status_watchers_.notify_all(); }
  /// The process is about to exit: watchers send a last status and end.
  void close_status_watchers() {
    status_closed_ = true;
    status_changed();
  }
  bool status_closed() const { return status_closed_; }

  /// Every open client, so the drain timeout can cut them off (data-plane thread).
  std::uint64_t register_client(std::shared_ptr<ClientLink> link);
  void unregister_client(std::uint64_t id);

  // --- safe from any thread (client sessions run on reader threads with -threads > 1) ---
  /// True once the drain timeout passed: sessions stop reading.
  bool clients_cut() const { return clients_cut_.load(); }
  /// Counts a batch a session is about to hand over (deliver() in client_session.cc), before
  /// it reaches the queue, so sessions on other threads see the queue as full in time.
  void admit(std::size_t bytes) { admitted_bytes_.fetch_add(bytes, std::memory_order_relaxed); }
  /// Whether the queue plus the batches on their way to it reach -queue-bytes.
  bool queue_full_hint() const {
    return admitted_bytes_.load(std::memory_order_relaxed) >= options_.queue_bytes;
  }
  bool has_reader_threads() const { return readers_ != nullptr; }
  /// Runs `f` on the data-plane thread: at once when called there, posted otherwise (in order).
  template <typename F>
  void on_data_plane(F&& f) {
    if (io_.get_executor().running_in_this_thread()) {
      f();
    } else {
      asio::post(io_, std::forward<F>(f));
    }
  }

 private:
  asio::awaitable<void> accept_loop(tcp::acceptor& acceptor);
  asio::awaitable<void> signal_loop();
  asio::awaitable<void> drain_timer_loop();
  asio::awaitable<void> progress_loop();
  asio::awaitable<void> metrics_loop();
  void maybe_flush();
  void start_worker(std::shared_ptr<TargetState> home, std::size_t spread);
  /// Starts or stops workers of `target` until as many as wanted are running.
  void reconcile_workers(const std::shared_ptr<TargetState>& target);
  std::shared_ptr<TargetState> make_target(const TargetSpec& spec);
  void bump_generation();

  asio::io_context& io_;
  std::unique_ptr<ReaderThreads> readers_;  // -threads > 1
  Options options_;
  BatchQueue queue_;
  Counters counters_;
  std::shared_ptr<Metrics> metrics_;
  asio::steady_timer metrics_timer_;
  std::vector<std::shared_ptr<TargetState>> targets_;
  std::vector<std::shared_ptr<Worker>> workers_;
  std::optional<asio::ssl::context> client_tls_;    // for accepted connections
  std::optional<asio::ssl::context> upstream_tls_;  // for target connections
  std::optional<tcp::acceptor> acceptor_;
  asio::signal_set signals_;
  asio::steady_timer drain_timer_;
  WakeList idle_workers_;
  WakeList clients_waiting_for_room_;
  // Open clients, so the drain timeout can cut them off.
  std::map<std::uint64_t, std::shared_ptr<ClientLink>> clients_;
  std::uint64_t next_client_id_ = 0;
  std::uint64_t unacked_bytes_ = 0;
  std::uint64_t unacked_lines_ = 0;
  bool shutting_down_ = false;
  std::atomic<bool> clients_cut_ = false;
  std::atomic<std::size_t> admitted_bytes_ = 0;  // queued + handed over, not yet queued
  bool flushing_ = false;
  WakeList status_watchers_;
  bool status_closed_ = false;
  int default_connections_;
  std::uint64_t generation_ = 1;
  std::uint64_t received_at_trim_ = 0;
  std::string config_version_;
  std::chrono::steady_clock::time_point started_at_ = std::chrono::steady_clock::now();
};

}  // namespace jsontcplb
