#include "dataplane/worker.h"

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <limits>

#include "dataplane/core/log.h"
#include "dataplane/core/units.h"
#include "dataplane/proxy.h"
#include "dataplane/spawn.h"
#include "dataplane/upstream.h"

namespace jsontcplb {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

constexpr auto kUseAwaitable = asio::as_tuple(asio::use_awaitable);
// Largest gather write; big enough to amortise the syscall, small enough to share the queue.
constexpr std::size_t kMaxWriteBytes = 256 * 1024;
// Acknowledgements raise no event, so a worker polls TCP_INFO while it waits for them: often
// when it is blocked on the unacked cap, rarely when it is merely idle.
constexpr milliseconds kAckPollBlocked(1);
constexpr milliseconds kAckPollIdle(10);
// A connection that dies sooner than this does not reset the reconnect backoff.
constexpr milliseconds kStableConnection(1000);
// How long a connection we leave on purpose may take to get its last bytes acknowledged.
constexpr milliseconds kRetireTimeout(10000);
constexpr milliseconds kCloseTimeout(2000);
constexpr std::uint64_t kNeverAcknowledged = std::numeric_limits<std::uint64_t>::max();

}  // namespace

Worker::Worker(std::shared_ptr<Proxy> proxy, std::shared_ptr<TargetState> home, std::size_t spread,
               std::string name)
    : proxy_(std::move(proxy)),
      home_(std::move(home)),
      spread_(spread),
      name_(std::move(name)),
      wake_timer_(proxy_->io()),
      backoff_(milliseconds(100), milliseconds(10000)),
      failback_timer_(proxy_->io()) {}

namespace {

Upstream::ConnectSettings connect_settings(Proxy& proxy) {
  const Options& o = proxy.options();
  return Upstream::ConnectSettings{
      .timeout = o.connect_timeout,
      .tls = proxy.upstream_tls(),
      .verify_host = !o.tls_target_skip_verify,
      .user_timeout_ms = static_cast<unsigned>(o.tcp_user_timeout.count()),
  };
}

}  // namespace

asio::awaitable<void> Worker::run(std::shared_ptr<Worker> self) {
  Proxy& proxy = *self->proxy_;
  std::shared_ptr<TargetState> target = self->home_;
  std::shared_ptr<Upstream> conn;
  while (!self->stopping_ && !(proxy.flushing() && proxy.all_delivered())) {
    if (!conn) {
      if (self->go_home_ || target->removed) target = self->home_;
      self->go_home_ = false;
      self->set_state(State::kConnecting, target);
      auto result = co_await Upstream::connect(target->address, connect_settings(proxy));
      if (self->stopping_) break;
      if (auto* error = std::get_if<std::string>(&result)) {
        target->health.on_failure();
        auto next = self->pick_failover_target(*target);
        auto delay = self->backoff_.next();
        LB_LOG(kWarn, "worker ", self->name_, ": cannot connect to ", target->name, ": ", *error,
               "; trying ", next->name, " in ", delay.count(), "ms");
        if (next != target) {
          ++proxy.counters().failovers;
          proxy.metrics().failovers.Increment();
        }
        target = std::move(next);
        self->set_state(State::kBackoff, target);
        co_await self->sleep(delay);
        continue;
      }
      conn = std::get<std::shared_ptr<Upstream>>(std::move(result));
      target->health.on_success();
      if (target == self->home_) {
        LB_LOG(kInfo, "worker ", self->name_, " connected to ", target->name, " (", conn->peer(),
               ")");
      } else {
        LB_LOG(kInfo, "worker ", self->name_, " failed over to ", target->name, " (", conn->peer(),
               "); home ", self->home_->name, " is retried every ",
               format_duration(proxy.options().failback_interval));
      }
    }
    Link link{std::move(conn), target, Ledger(/*exact_offsets=*/proxy.upstream_tls() == nullptr),
              Clock::now()};
    self->set_state(State::kConnected, target);
    ++target->connected_workers;
    End end = co_await self->serve(link);
    --target->connected_workers;

    switch (end) {
      case End::kFailed: {
        ++proxy.counters().reconnects;
        proxy.metrics().reconnects.Increment();
        target->health.on_failure();
        const std::uint64_t lines = self->requeue_unacked(link);
        link.conn->close();
        // A home connection that is already up (failback raced the failure) beats failing over.
        auto next = self->failback_conn_ ? self->home_ : self->pick_failover_target(*target);
        LB_LOG(kWarn, "worker ", self->name_, ": connection to ", target->name,
               " failed: ", link.conn->failure(), "; ", lines,
               " unacknowledged lines requeued; moving to ", next->name);
        if (self->failback_conn_) {
          ++proxy.counters().failbacks;
          proxy.metrics().failbacks.Increment();
          conn = std::move(self->failback_conn_);
        } else if (next != target) {
          ++proxy.counters().failovers;
          proxy.metrics().failovers.Increment();
        }
        target = std::move(next);
        if (!conn && Clock::now() - link.since < kStableConnection) {
          self->set_state(State::kBackoff, target);
          co_await self->sleep(self->backoff_.next());
        } else {
          self->backoff_.reset();
        }
        break;
      }
      case End::kFailback:
        ++proxy.counters().failbacks;
        proxy.metrics().failbacks.Increment();
        LB_LOG(kInfo, "worker ", self->name_, " failed back to ", self->home_->name, " from ",
               target->name);
        co_spawn(proxy.io(), retire(self, std::move(link)), log_if_thrown("retire connection"));
        conn = std::move(self->failback_conn_);
        target = self->home_;
        self->backoff_.reset();
        break;
      case End::kLeave:
        // The target it had failed over to was removed: go home.
        LB_LOG(kInfo, "worker ", self->name_, " leaves removed target ", target->name);
        co_spawn(proxy.io(), retire(self, std::move(link)), log_if_thrown("retire connection"));
        target = self->home_;
        break;
      case End::kStopped:
        // Removed, or fewer connections wanted: hand back what is not acknowledged, then close.
        self->set_state(State::kStopping, target);
        LB_LOG(kInfo, "worker ", self->name_, " stops (connection to ", target->name, ")");
        co_await retire(self, std::move(link));
        break;
      case End::kFinished:
        link.conn->cancel();  // stops the reader
        co_await link.conn->close_gracefully(kCloseTimeout);
        break;
    }
  }
  if (self->failback_conn_) self->failback_conn_->close();
  proxy.worker_exited(*self);
}

void Worker::stop() {
  stopping_ = true;
  wake();
  failback_timer_.cancel();
}

void Worker::trigger_failback() {
  // A worker connected elsewhere dials home now (its failback loop sleeps on this timer); one
  // that is between attempts tries home next.
  go_home_ = true;
  failback_timer_.cancel();
  if (state_ != State::kConnected) wake();
}

void Worker::set_state(State state, const std::shared_ptr<TargetState>& target) {
  state_ = state;
  current_target_ = target;
  proxy_->status_changed();
}

asio::awaitable<Worker::End> Worker::serve(Link& link) {
  Proxy& proxy = *proxy_;
  const Options& options = proxy.options();
  current_ = link.conn.get();
  co_spawn(proxy.io(), read_loop(shared_from_this(), link.conn), log_if_thrown("target reader"));
  co_spawn(proxy.io(), ack_watchdog(shared_from_this(), link.conn), log_if_thrown("watchdog"));
  if (link.target != home_) {
    co_spawn(proxy.io(), failback_loop(shared_from_this(), link.conn), log_if_thrown("failback"));
  }
  std::vector<asio::const_buffer> buffers;
  End end = End::kFinished;
  bool wrote = false;
  for (;;) {
    if (link.conn->failed()) {
      end = End::kFailed;
      break;
    }
    if (stopping_) {
      end = End::kStopped;
      break;
    }
    if (link.target->removed) {
      end = End::kLeave;
      break;
    }
    if (failback_conn_) {
      end = End::kFailback;
      break;
    }
    // After a write, a worker lets the longest-idle worker take the next batch, so load is
    // spread over every connection (and so every target) even when one connection alone could
    // keep up. Under load no worker is idle and each one pulls again at once.
    const bool hand_over = wrote && proxy.idle_workers().size() > 0;
    const bool idle = proxy.queue().empty() || hand_over;
    // Reading TCP_INFO costs a system call, so a busy worker asks for acknowledgements only
    // once its ledger is half full; one about to go idle always asks.
    if (idle || link.ledger.bytes() >= options.max_unacked_bytes / 2) release_acked(link);
    if (proxy.flushing() && proxy.all_delivered()) {
      end = End::kFinished;
      break;
    }
    const std::size_t unacked = link.ledger.bytes();
    if (unacked >= options.max_unacked_bytes) {
      co_await sleep(kAckPollBlocked);
      continue;
    }
    if (idle) {
      if (hand_over) proxy.idle_workers().notify(1);
      // Idle. Keep polling for acks while some are outstanding or the proxy is flushing.
      std::optional<Clock::duration> poll;
      if (!link.ledger.empty() || proxy.flushing()) poll = kAckPollIdle;
      wrote = false;
      co_await proxy.idle_workers().wait(wake_timer_, poll);
      continue;
    }
    std::vector<Batch> batches =
        proxy.dequeue(std::min(kMaxWriteBytes, options.max_unacked_bytes - unacked));
    buffers.clear();
    for (const Batch& b : batches) buffers.emplace_back(b.bytes().data(), b.size());
    const std::uint64_t start = link.conn->wire_bytes();
    const auto write_started = Clock::now();
    boost::system::error_code ec = co_await link.conn->write(buffers);
    proxy.metrics().batch_write_seconds.observe(
        std::chrono::duration<double>(Clock::now() - write_started).count());
    // Every batch goes into the ledger, even after a failed write: the ledger decides what the
    // target acknowledged. Plain TCP: each batch ends at a known wire offset. TLS: records may
    // span batches, so every batch of a write ends where its ciphertext ends, and the batches
    // of a failed TLS write can never count as acknowledged.
    const bool exact = proxy.upstream_tls() == nullptr;
    std::uint64_t offset = start;
    for (Batch& b : batches) {
      if (exact) {
        offset += b.size();
      } else {
        offset = ec ? kNeverAcknowledged : link.conn->wire_bytes();
      }
      count_ledger_change(static_cast<std::int64_t>(b.size()),
                          static_cast<std::int64_t>(b.lines()));
      link.ledger.record(std::move(b), offset);
    }
    if (ec) {
      link.conn->mark_failed(str_cat("write: ", ec.message()));
      end = End::kFailed;
      break;
    }
    wrote = true;
  }
  current_ = nullptr;
  failback_timer_.cancel();
  co_return end;
}

asio::awaitable<void> Worker::read_loop(std::shared_ptr<Worker> self,
                                        std::shared_ptr<Upstream> conn) {
  std::array<char, 4096> buffer;
  for (;;) {
    auto [ec, n] = co_await conn->read_some(asio::buffer(buffer));
    self->proxy_->counters().discarded_upstream_bytes += n;
    if (n > 0) self->proxy_->metrics().discarded_target_bytes.Increment(static_cast<double>(n));
    if (!ec) continue;
    if (ec == asio::error::operation_aborted) co_return;  // we are leaving this connection
    // Noticed now rather than at the next write. A reset kills the connection; a FIN means the
    // target is closing but may still read, so the write under way may finish (bounded) and
    // the target never sees a partial line.
    if (ec != asio::error::eof) {
      conn->mark_failed(ec.message());
      conn->cancel();
      self->wake();
      co_return;
    }
    conn->mark_failed("target closed the connection");
    self->wake();
    asio::steady_timer grace(self->proxy_->io(), kCloseTimeout);
    co_await grace.async_wait(kUseAwaitable);
    conn->cancel();
    co_return;
  }
}

asio::awaitable<void> Worker::ack_watchdog(std::shared_ptr<Worker> self,
                                           std::shared_ptr<Upstream> conn) {
  const milliseconds timeout = self->proxy_->options().write_timeout;
  asio::steady_timer timer(self->proxy_->io());
  std::uint64_t last_acked = 0;
  auto last_progress = Clock::now();
  while (self->current_ == conn.get() && !conn->failed()) {
    timer.expires_after(std::min(milliseconds(1000), timeout / 4));
    co_await timer.async_wait(kUseAwaitable);
    auto acked = conn->acked_bytes();
    if (!acked) co_return;
    if (*acked != last_acked || *acked >= conn->wire_bytes()) {
      last_acked = *acked;
      last_progress = Clock::now();
      continue;
    }
    if (Clock::now() - last_progress >= timeout && self->current_ == conn.get()) {
      // Bytes are outstanding and the target has acknowledged none of them for too long
      // (stopped reading, or vanished without a reset): give its lines to another target.
      conn->mark_failed(str_cat("no acknowledgement for ", format_duration(timeout), " with ",
                                conn->wire_bytes() - *acked, " bytes outstanding"));
      conn->cancel();
      self->wake();
      co_return;
    }
  }
}

asio::awaitable<void> Worker::failback_loop(std::shared_ptr<Worker> self,
                                            std::shared_ptr<Upstream> current) {
  Proxy& proxy = *self->proxy_;
  auto still_current = [&] {
    return self->current_ == current.get() && !current->failed() && !self->home_->removed;
  };
  for (;;) {
    self->failback_timer_.expires_after(proxy.options().failback_interval);
    // Cancelled by TriggerFailback: dial at once. Cancelled because the connection ended or
    // the worker stops: still_current() says so.
    co_await self->failback_timer_.async_wait(kUseAwaitable);
    if (!still_current() || proxy.flushing() || self->stopping_) co_return;
    auto result = co_await Upstream::connect(self->home_->address, connect_settings(proxy));
    if (auto* error = std::get_if<std::string>(&result)) {
      self->home_->health.on_failure();
      LB_LOG(kInfo, "worker ", self->name_, ": home ", self->home_->name,
             " still unavailable: ", *error);
      if (!still_current()) co_return;
      continue;
    }
    auto conn = std::get<std::shared_ptr<Upstream>>(std::move(result));
    self->home_->health.on_success();
    if (!still_current()) {
      conn->close();
      co_return;
    }
    // Connected first, switch second: the worker moves over at its next batch boundary.
    self->failback_conn_ = std::move(conn);
    self->wake();
    co_return;
  }
}

void Worker::release_acked(Link& link) {
  if (link.ledger.empty()) return;
  auto acked = link.conn->acked_bytes();
  if (!acked) return;
  Ledger::Released r = link.ledger.release(*acked);
  if (r.batches == 0) return;
  link.target->sent_lines += r.lines;
  link.target->sent_bytes += r.bytes;
  link.target->metrics.sent_lines->Increment(static_cast<double>(r.lines));
  link.target->metrics.sent_bytes->Increment(static_cast<double>(r.bytes));
  count_ledger_change(-static_cast<std::int64_t>(r.bytes), -static_cast<std::int64_t>(r.lines));
}

std::uint64_t Worker::requeue_unacked(Link& link) {
  // TCP_INFO is still readable after a reset: credit exactly what the target acknowledged, to
  // the line, and send only the rest again.
  Ledger::Unacked unacked = link.ledger.take_unacked(link.conn->acked_bytes().value_or(0));
  link.target->sent_lines += unacked.delivered.lines;
  link.target->sent_bytes += unacked.delivered.bytes;
  link.target->metrics.sent_lines->Increment(static_cast<double>(unacked.delivered.lines));
  link.target->metrics.sent_bytes->Increment(static_cast<double>(unacked.delivered.bytes));
  std::int64_t bytes = static_cast<std::int64_t>(unacked.delivered.bytes);
  std::int64_t lines = static_cast<std::int64_t>(unacked.delivered.lines);
  std::uint64_t requeued = 0;
  for (const Batch& b : unacked.batches) {
    bytes += static_cast<std::int64_t>(b.size());
    lines += static_cast<std::int64_t>(b.lines());
    requeued += b.lines();
  }
  count_ledger_change(-bytes, -lines);
  if (unacked.batches.empty()) return 0;
  link.target->resent_lines += requeued;
  link.target->metrics.resent_lines->Increment(static_cast<double>(requeued));
  proxy_->requeue(std::move(unacked.batches));
  return requeued;
}

asio::awaitable<void> Worker::retire(std::shared_ptr<Worker> self, Link link) {
  link.conn->cancel();  // stops the reader; the socket stays open
  const auto deadline = Clock::now() + kRetireTimeout;
  asio::steady_timer timer(self->proxy_->io());
  while (!link.ledger.empty() && !link.conn->failed() && Clock::now() < deadline) {
    self->release_acked(link);
    timer.expires_after(kAckPollIdle);
    co_await timer.async_wait(kUseAwaitable);
  }
  self->requeue_unacked(link);
  co_await link.conn->close_gracefully(kCloseTimeout);
}

asio::awaitable<void> Worker::sleep(Clock::duration d) {
  wake_timer_.expires_after(d);
  co_await wake_timer_.async_wait(kUseAwaitable);
}

void Worker::count_ledger_change(std::int64_t bytes, std::int64_t lines) {
  unacked_bytes_ += static_cast<std::uint64_t>(bytes);
  proxy_->unacked_bytes() += static_cast<std::uint64_t>(bytes);
  proxy_->unacked_lines() += static_cast<std::uint64_t>(lines);
}

std::shared_ptr<TargetState> Worker::pick_failover_target(const TargetState& failed) const {
  const auto& targets = proxy_->targets();
  std::size_t index = 0;
  while (index < targets.size() && targets[index].get() != &failed) ++index;
  if (index == targets.size()) return home_;
  std::size_t next = next_target(index, spread_, targets.size(),
                                 [&](std::size_t i) { return targets[i]->health.healthy(); });
  return targets[next];
}

}  // namespace jsontcplb
