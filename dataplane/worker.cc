#include "dataplane/worker.h"

#include <array>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/this_coro.hpp>

#include "dataplane/core/log.h"
#include "dataplane/core/target_choice.h"
#include "dataplane/core/units.h"
#include "dataplane/coro.h"
#include "dataplane/line_queue.h"
#include "dataplane/stats.h"
#include "dataplane/target.h"
#include "dataplane/tls_stream.h"
#include "dataplane/upstream.h"

namespace jsontcplb {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

// Largest gather write; big enough to amortise the syscall, small enough to share the queue.
constexpr std::size_t kMaxWriteBytes = 256 * 1024;
// Acknowledgements raise no event, so a worker polls TCP_INFO while it waits for them: often
// when it is blocked on the unacked cap, rarely when it is merely idle.
constexpr milliseconds kAckPollBlocked(1);
constexpr milliseconds kAckPollIdle(10);
// An idle connection that holds only retained lines learns of its target's reads rarely (a
// window update comes only when the window doubles), so it looks less often.
constexpr milliseconds kRetainedPoll(100);
// How often a connection being closed looks at TCP_INFO.
constexpr milliseconds kSettlePoll(5);
// How long the answer to our FIN may take, after which the window it carried is read.
constexpr milliseconds kFinAnswerTimeout(200);
// A connection that dies sooner than this does not reset the reconnect backoff.
constexpr milliseconds kStableConnection(1000);
// How long a connection we leave on purpose may take to get its last bytes acknowledged.
constexpr milliseconds kRetireTimeout(10000);
// How long a target that sent FIN may take to read the write under way; also the deadline of
// the FIN exchange when a connection is closed.
constexpr milliseconds kCloseTimeout(2000);

// True once the group the calling coroutine runs in was cancelled (it has ended).
asio::awaitable<bool> group_ended() {
  const auto state = co_await asio::this_coro::cancellation_state;
  co_return state.cancelled() != asio::cancellation_type::none;
}

// For a part of a connection's group with nothing left to do: waits until the group ends.
asio::awaitable<void> until_group_ends() {
  asio::steady_timer forever(co_await asio::this_coro::executor,
                             asio::steady_timer::time_point::max());
  co_await forever.async_wait(kUseAwaitable);
}

std::string text(const absl::Status& status) { return std::string(status.message()); }

// A target's dials are logged when it goes down and when it comes back, not once per worker per
// retry (the target set logs a summary while it stays down; -log-level debug shows each).
void dial_failed(Target& target, std::string error) {
  const bool was_healthy = target.health.healthy();
  target.health.on_failure();
  ++target.failed_dials;
  target.last_error = std::move(error);
  if (was_healthy && !target.health.healthy()) {
    target.down_since = target.last_summary = Clock::now();
    LB_LOG(kWarn, "target ", target.name, " is down: ", target.last_error,
           "; its connections retry with backoff (a summary follows every minute while it "
           "stays down)");
  }
}

void dial_succeeded(Target& target) {
  if (!target.health.healthy()) {
    LB_LOG(kInfo, "target ", target.name, " is up again after ", target.failed_dials,
           " failed connection attempts");
  }
  target.health.on_success();
  target.failed_dials = 0;
}

}  // namespace

Worker::Worker(asio::any_io_executor executor, std::shared_ptr<const WorkerEnv> env,
               std::shared_ptr<Target> home, std::size_t spread)
    : env_(std::move(env)),
      home_(std::move(home)),
      spread_(spread),
      name_(str_cat(home_->name, "#", spread)),
      wake_timer_(executor),
      failback_timer_(executor),
      backoff_(milliseconds(100), milliseconds(10000)),
      target_(home_) {}

// The failover loop: connect to the current target, serve the connection until it ends, hand
// its lines back, move on by the failover policy.
asio::awaitable<void> Worker::run(std::shared_ptr<Worker> self) {
  Worker& w = *self;
  std::shared_ptr<Upstream> conn;  // already up when the worker fails back
  while (!w.finished()) {
    if (!conn) conn = co_await w.connect();
    if (!conn) continue;  // it moved on and backed off
    Link link{std::exchange(conn, nullptr), w.target_, Ledger(w.env_->exact_offsets), Clock::now()};
    const End end = co_await w.serve(link);
    conn = std::exchange(w.home_conn_, nullptr);
    const bool brief = Clock::now() - link.since < kStableConnection;
    co_await w.leave(std::move(link), end, conn != nullptr);
    if (end == End::kFailed && !conn && brief) {
      w.set_state(WorkerState::kBackoff);
      co_await w.sleep(w.backoff_.next());
    } else {
      w.backoff_.reset();
    }
  }
  if (conn) conn->close();
}

bool Worker::finished() const { return stopping_ || env_->queue->drained(); }

void Worker::stop() {
  stopping_ = true;
  wake();
  failback_timer_.cancel();
}

void Worker::trigger_failback() {
  if (target_ == home_) return;
  if (state_ == WorkerState::kBackoff) {  // between attempts: the next one goes home
    target_ = home_;
    wake();
    return;
  }
  // Connected (or connecting) elsewhere: the home dialer dials now instead of at the interval.
  failback_now_ = true;
  failback_timer_.cancel();
}

void Worker::set_state(WorkerState state) {
  state_ = state;
  env_->stats->changed();
}

std::shared_ptr<Target> Worker::next_target(bool failed, bool home_ready) const {
  const auto& targets = env_->targets;
  auto index_of = [&](const std::shared_ptr<Target>& t) -> std::optional<std::size_t> {
    for (std::size_t i = 0; i < targets.size(); ++i) {
      if (targets[i] == t) return i;
    }
    return std::nullopt;
  };
  if (targets.empty()) return home_;
  const Placement placement{.home = index_of(home_),
                            .current = index_of(target_),
                            .spread = spread_,
                            .failed = failed,
                            .home_ready = home_ready};
  return targets[choose_target(placement, targets.size(),
                               [&](std::size_t i) { return targets[i]->health.healthy(); })];
}

asio::awaitable<std::shared_ptr<Upstream>> Worker::connect() {
  if (target_->removed) target_ = next_target(/*failed=*/false, /*home_ready=*/false);
  // Held here: the dial refers to its address while target_ may move on.
  const std::shared_ptr<Target> target = target_;
  set_state(WorkerState::kConnecting);
  auto dialed = co_await env_->dial(target->address);
  if (stopping_) co_return nullptr;
  if (!dialed.ok()) {
    dial_failed(*target, text(dialed.status()));
    target_ = next_target(/*failed=*/true, /*home_ready=*/false);
    if (target_ != target) env_->stats->failover();
    const auto delay = backoff_.next();
    LB_LOG(kDebug, "worker ", name_, ": cannot connect to ", target->name, ": ",
           text(dialed.status()), "; trying ", target_->name, " in ", delay.count(), "ms");
    set_state(WorkerState::kBackoff);
    co_await sleep(delay);
    co_return nullptr;
  }
  std::shared_ptr<Upstream> conn = *std::move(dialed);
  dial_succeeded(*target);
  if (target == home_) {
    LB_LOG(kInfo, "worker ", name_, " connected to ", target->name, " (", conn->describe(), ")");
  } else {
    LB_LOG(kInfo, "worker ", name_, " failed over to ", target->name, " (", conn->describe(),
           "); home ", home_->name, " is retried every ", format_duration(env_->failback_interval));
  }
  co_return conn;
}

// The writer decides how a connection ends. The other parts end it early by finishing, which
// cancels the writer's write under way (what a dead connection needs): the reader on a reset,
// or once a target that sent FIN did not take the write in time; the watchdog when nothing is
// acknowledged. The home dialer never finishes: it hands a connection home to the writer, which
// switches at a batch boundary. When the group ends, every part has ended.
asio::awaitable<Worker::End> Worker::serve(Link& link) {
  using namespace asio::experimental::awaitable_operators;
  set_state(WorkerState::kConnected);
  ++link.target->connected_workers;
  auto ended =
      co_await (write_loop(link) || read_loop(link) || watch_acks(link) || dial_home(link));
  --link.target->connected_workers;
  if (ended.index() == 0) co_return std::get<0>(ended);
  co_return ending(link).value_or(End::kFailed);
}

std::optional<Worker::End> Worker::ending(const Link& link) const {
  if (link.conn->failed()) return End::kFailed;
  if (stopping_) return End::kStopped;
  if (link.target->removed) return End::kLeave;
  if (home_conn_) return End::kFailback;
  if (env_->queue->drained()) return End::kFinished;
  return std::nullopt;
}

asio::awaitable<Worker::End> Worker::write_loop(Link& link) {
  LineQueue& queue = *env_->queue;
  const std::size_t cap = env_->max_unacked_bytes;
  const bool retain = env_->max_retained_bytes > 0;
  try {
    bool wrote = false;
    for (;;) {
      if (auto end = ending(link)) co_return *end;
      // After a write, a worker lets the longest-idle worker take the next batch, so load is
      // spread over every connection (and so every target) even when one connection alone
      // could keep up. Under load no worker is idle and each one pulls again at once.
      const bool hand_over = wrote && queue.idle_workers() > 0;
      const bool idle = queue.empty() || hand_over;
      // Reading TCP_INFO costs a system call (about a microsecond, per write of up to 256 KiB).
      // With retention every write asks: the receive window must be seen often to learn its
      // largest value. Without, a busy worker asks only once its ledger is half full; one about
      // to go idle always asks.
      if (idle || retain || link.ledger.unacked_bytes() >= cap / 2) acknowledge(link);
      if (queue.drained()) co_return End::kFinished;
      if (link.ledger.unacked_bytes() >= cap) {  // at the unacknowledged cap: wait for acks
        co_await sleep(kAckPollBlocked);
        continue;
      }
      if (idle) {
        if (hand_over) queue.wake_idle_worker();
        // Keep polling for acks while some are outstanding or the queue is closing.
        std::optional<Clock::duration> poll;
        if (link.ledger.unacked_bytes() > 0 || queue.closed()) {
          poll = kAckPollIdle;
        } else if (!link.ledger.empty()) {
          poll = kRetainedPoll;
        }
        wrote = false;
        co_await queue.wait_for_lines(wake_timer_, poll);
        continue;
      }
      co_await write_batches(link);
      wrote = true;
    }
  } catch (const std::exception& e) {
    // The connection ends here, not with the group waiting for a part that never finishes.
    link.conn->mark_failed(str_cat("writer stopped: ", e.what()));
  }
  co_return End::kFailed;
}

asio::awaitable<void> Worker::write_batches(Link& link) {
  std::vector<Batch> batches = env_->queue->pop(
      std::min(kMaxWriteBytes, env_->max_unacked_bytes - link.ledger.unacked_bytes()));
  std::int64_t bytes = 0;
  std::int64_t lines = 0;
  buffers_.clear();
  for (const Batch& b : batches) {
    buffers_.emplace_back(b.bytes().data(), b.size());
    bytes += static_cast<std::int64_t>(b.size());
    lines += static_cast<std::int64_t>(b.lines());
  }
  const std::uint64_t start = link.conn->wire_bytes();
  const auto started = Clock::now();
  boost::system::error_code ec;
  try {
    ec = co_await link.conn->write(buffers_);
  } catch (const boost::system::system_error& e) {
    ec = e.code();  // the group ended before the write could start
  }
  env_->stats->write_took(std::chrono::duration<double>(Clock::now() - started).count());
  // Every batch goes into the ledger, even after a failed write: the ledger decides what the
  // target acknowledged.
  count_unacked(bytes, lines);
  link.ledger.record_write(std::move(batches), start, link.conn->wire_bytes(), !ec);
  if (ec) link.conn->mark_failed(str_cat("write: ", ec.message()));
}

asio::awaitable<void> Worker::read_loop(Link& link) {
  std::array<char, 4096> buffer;
  for (;;) {
    auto [ec, n] = co_await link.conn->read_some(asio::buffer(buffer));
    if (n > 0) env_->stats->discarded_target_bytes(n);
    if (!ec) continue;
    // Cancelled: the group ended (or the watchdog cancelled the socket after failing it).
    if (ec == asio::error::operation_aborted) co_return;
    if (is_end_of_stream(ec)) break;
    link.conn->mark_failed(ec.message());  // a reset: the write under way is cancelled too
    co_return;
  }
  // A FIN: the target is closing but may still read, so the write under way may finish
  // (bounded) and the target never sees a partial line.
  link.target_closed = true;
  link.conn->mark_failed("target closed the connection");
  wake();
  asio::steady_timer grace(co_await asio::this_coro::executor, kCloseTimeout);
  co_await grace.async_wait(kUseAwaitable);
}

asio::awaitable<void> Worker::watch_acks(Link& link) {
  const milliseconds timeout = env_->write_timeout;
  asio::steady_timer timer(co_await asio::this_coro::executor);
  std::uint64_t last_acked = 0;
  auto last_progress = Clock::now();
  for (;;) {
    timer.expires_after(std::min(milliseconds(1000), timeout / 4));
    if (auto [ec] = co_await timer.async_wait(kUseAwaitable); ec) co_return;  // the group ended
    const auto delivery = link.conn->delivery();
    if (!delivery) break;  // TCP_INFO unreadable: nothing to watch
    const std::uint64_t acked = delivery->acked;
    if (acked != last_acked || delivery->all_acked(link.conn->wire_bytes())) {
      last_acked = acked;
      last_progress = Clock::now();
      continue;
    }
    if (Clock::now() - last_progress >= timeout) {
      // Bytes are outstanding and the target has acknowledged none of them for too long
      // (stopped reading, or vanished without a reset): give its lines to another target.
      link.conn->mark_failed(str_cat("no acknowledgement for ", format_duration(timeout), " with ",
                                     link.conn->wire_bytes() - acked, " bytes outstanding"));
      co_return;
    }
  }
  co_await until_group_ends();
}

asio::awaitable<void> Worker::dial_home(Link& link) {
  if (link.target == home_) {
    failback_now_ = false;  // a failback asked for while it was still connecting: it is home
  } else {
    co_await try_dial_home();
  }
  co_await until_group_ends();
}

asio::awaitable<void> Worker::try_dial_home() {
  for (;;) {
    if (!std::exchange(failback_now_, false)) {
      failback_timer_.expires_after(env_->failback_interval);
      // Cancelled by TriggerFailback (dial now), by stop(), or because the group ended.
      co_await failback_timer_.async_wait(kUseAwaitable);
      if (co_await group_ended()) co_return;
      failback_now_ = false;
    }
    if (home_->removed || env_->queue->closed() || stopping_) co_return;
    auto dialed = co_await env_->dial(home_->address);
    if (co_await group_ended()) co_return;  // the connection ended meanwhile; drop the new one
    if (!dialed.ok()) {
      dial_failed(*home_, text(dialed.status()));
      LB_LOG(kDebug, "worker ", name_, ": home ", home_->name,
             " still unavailable: ", text(dialed.status()));
      continue;
    }
    dial_succeeded(*home_);
    // Connected first, switch second: the writer moves over at its next batch boundary.
    home_conn_ = *std::move(dialed);
    failback_now_ = false;
    wake();
    co_return;
  }
}

asio::awaitable<void> Worker::leave(Link link, End end, bool home_ready) {
  const std::shared_ptr<Target> from = link.target;
  if (end == End::kFinished) {
    co_await settle(link, Close::kGraceful, kRetireTimeout);
    co_return;
  }
  if (end == End::kStopped) {
    // Removed, or fewer connections wanted: hand back what the target may not have, then close.
    set_state(WorkerState::kStopping);
    LB_LOG(kInfo, "worker ", name_, " stops (connection to ", from->name, ")");
    co_await retire(shared_from_this(), std::move(link));
    co_return;
  }
  target_ = next_target(/*failed=*/end == End::kFailed, home_ready);
  if (end == End::kFailed) {
    env_->stats->reconnect();
    from->health.on_failure();
    if (home_ready) {
      env_->stats->failback();
    } else if (target_ != from) {
      env_->stats->failover();
    }
    if (link.target_closed) {
      // It may read on before it closes: settle in the background while the worker moves on.
      LB_LOG(kWarn, "worker ", name_, ": ", from->name, " closed the connection; moving to ",
             target_->name);
      auto closing = [](std::shared_ptr<Worker> self, Link closed) -> asio::awaitable<void> {
        const std::uint64_t lines =
            co_await self->settle(closed, Close::kTargetClosed, kCloseTimeout);
        LB_LOG(kInfo, "worker ", self->name_, ": connection to ", closed.target->name, " closed; ",
               lines, " lines it may not have read queued again");
      };
      co_spawn(wake_timer_.get_executor(), closing(shared_from_this(), std::move(link)),
               log_if_thrown("close connection"));
      co_return;
    }
    const std::uint64_t lines = co_await settle(link, Close::kAbort, kCloseTimeout);
    LB_LOG(kWarn, "worker ", name_, ": connection to ", from->name,
           " failed: ", link.conn->failure(), "; ", lines,
           " lines it may not have read queued again; moving to ", target_->name);
    co_return;
  }
  if (end == End::kFailback) {
    env_->stats->failback();
    LB_LOG(kInfo, "worker ", name_, " failed back to ", home_->name, " from ", from->name);
  } else {  // End::kLeave: the target it had failed over to was removed
    LB_LOG(kInfo, "worker ", name_, " leaves removed target ", from->name);
  }
  // The old connection drains on its own while the worker goes on with the new one.
  co_spawn(wake_timer_.get_executor(), retire(shared_from_this(), std::move(link)),
           log_if_thrown("retire connection"));
}

std::uint64_t Worker::unread(std::uint64_t estimate) const {
  // A target whose receive buffer autotuned past the window it showed can hold more unread
  // than any window says; the operator who knows its buffer size sets that floor.
  if (env_->max_retained_bytes == 0) return 0;
  return std::max<std::uint64_t>(estimate, env_->assume_unread_bytes);
}

void Worker::acknowledge(Link& link) {
  if (link.ledger.empty()) return;
  const auto delivery = link.conn->delivery();
  if (!delivery) return;
  const Held before = held(link.ledger);
  const Ledger::Progress p = link.ledger.acknowledge(
      delivery->acked, unread(delivery->unread_if_crashed), env_->max_retained_bytes);
  env_->stats->delivered(link.target->counters, p.acked.lines, p.acked.bytes);
  if (p.beyond_bound.lines > 0) env_->stats->retention_overflow(p.beyond_bound.lines);
  account(before, link.ledger);
}

// Which lines to send again, by how the connection ended:
//  - failed (reset, write error, no acknowledgement): everything from the first byte the
//    target may not have read, by its last window;
//  - the target sent FIN: it may read on, and then close with lines unread (its kernel resets
//    the connection). Wait for that, or for its window to say it read everything; then send
//    FIN, whose answer carries a fresh window, and judge as above;
//  - we leave: send FIN. A target that reads to it and closes has read everything; one that
//    resets had lines unread. A target that does neither within the timeout is alive and
//    keeps its lines (sending them again each time would never end a drain).
asio::awaitable<std::uint64_t> Worker::settle(Link& link, Close how, milliseconds timeout) {
  using namespace asio::experimental::awaitable_operators;
  Upstream& conn = *link.conn;
  // Until it is done the queue is not drained: it may still queue lines again. Also when the
  // frame is destroyed suspended (the io_context stopped).
  struct Settling {
    LineQueue& queue;
    explicit Settling(LineQueue& q) : queue(q) { queue.count_settling(1); }
    ~Settling() { queue.count_settling(-1); }
    Settling(const Settling&) = delete;
    Settling& operator=(const Settling&) = delete;
  } settling(*env_->queue);
  conn.cancel();  // stops a read under way; the socket stays open
  const std::uint64_t wire = conn.wire_bytes();
  auto executor = co_await asio::this_coro::executor;
  asio::steady_timer timer(executor);
  // Polls TCP_INFO until the target has everything read, or the connection is over.
  auto until_settled = [&](Clock::time_point deadline) -> asio::awaitable<void> {
    while (Clock::now() < deadline) {
      const auto d = conn.delivery();
      if (!d || d->closed || d->all_read(wire)) co_return;
      timer.expires_after(kSettlePoll);
      co_await timer.async_wait(kUseAwaitable);
    }
  };
  bool read_to_end = false;  // the target read up to our FIN and closed
  if (how == Close::kTargetClosed) {
    co_await until_settled(Clock::now() + timeout);
    co_await conn.shutdown_send(kFinAnswerTimeout);
    co_await until_settled(Clock::now() + kFinAnswerTimeout);
  } else if (how == Close::kGraceful) {
    co_await conn.shutdown_send(timeout);
    auto read_to_eof = [&]() -> asio::awaitable<bool> {
      std::array<char, 4096> buffer;
      for (;;) {
        auto [ec, n] = co_await conn.read_some(asio::buffer(buffer));
        if (n > 0) env_->stats->discarded_target_bytes(n);
        if (!ec) continue;
        co_return is_end_of_stream(ec);
      }
    };
    asio::steady_timer deadline(executor, timeout);
    auto outcome = co_await (read_to_eof() || deadline.async_wait(kUseAwaitable));
    read_to_end = outcome.index() == 0 && std::get<0>(outcome);
  }
  const auto d = conn.delivery();
  std::uint64_t keep_unread = 0;
  if (d && !read_to_end) {
    if (how == Close::kAbort) {
      keep_unread = unread(d->unread_if_crashed);
    } else if (how == Close::kTargetClosed ? !d->all_read(wire) : d->closed) {
      keep_unread = unread(d->unread);  // a fresh window; after our FIN, a reset means unread
    }
  }
  LB_LOG(kDebug, "worker ", name_, ": settling connection to ", link.target->name, " (",
         how == Close::kAbort          ? "failed"
         : how == Close::kTargetClosed ? "target closed"
                                       : "leaving",
         "): wrote ", wire, " bytes, acknowledged ", d ? d->acked : 0, ", perhaps unread ",
         keep_unread, d && d->closed ? ", connection over" : "",
         read_to_end ? ", target read to the end" : "", "; sending again from ",
         (d ? d->acked : 0) - std::min(d ? d->acked : 0, keep_unread));
  const Held before = held(link.ledger);
  Ledger::Resend r = link.ledger.take_unread(d ? d->acked : 0, keep_unread);
  env_->stats->delivered(link.target->counters, r.acked.lines, r.acked.bytes);
  account(before, link.ledger);
  const std::uint64_t lines = r.unacked_lines + r.maybe_unread_lines;
  if (r.batches.empty()) {
    conn.close();
  } else {
    conn.abort();
    env_->stats->resent(link.target->counters, r.unacked_lines, r.maybe_unread_lines);
    env_->queue->requeue(std::move(r.batches));
  }
  co_return lines;
}

asio::awaitable<void> Worker::retire(std::shared_ptr<Worker> self, Link link) {
  const std::uint64_t lines = co_await self->settle(link, Close::kGraceful, kRetireTimeout);
  if (lines > 0) {
    LB_LOG(kInfo, "worker ", self->name_, ": connection to ", link.target->name, " closed; ", lines,
           " lines it may not have received queued again");
  }
}

asio::awaitable<void> Worker::sleep(Clock::duration d) {
  wake_timer_.expires_after(d);
  co_await wake_timer_.async_wait(kUseAwaitable);
}

void Worker::count_unacked(std::int64_t bytes, std::int64_t lines) {
  unacked_bytes_ += static_cast<std::uint64_t>(bytes);
  env_->queue->count_unacked(bytes, lines);
}

Worker::Held Worker::held(const Ledger& ledger) {
  return {ledger.unacked_bytes(), ledger.unacked_lines(), ledger.retained_bytes()};
}

void Worker::account(const Held& before, const Ledger& ledger) {
  const Held now = held(ledger);
  count_unacked(static_cast<std::int64_t>(now.unacked_bytes - before.unacked_bytes),
                static_cast<std::int64_t>(now.unacked_lines - before.unacked_lines));
  const auto retained = static_cast<std::int64_t>(now.retained_bytes - before.retained_bytes);
  retained_bytes_ += static_cast<std::uint64_t>(retained);
  env_->queue->count_retained(retained);
}

}  // namespace jsontcplb
