#include "dataplane/lifecycle.h"

#include <boost/asio/co_spawn.hpp>
#include <csignal>
#include <cstdlib>

#include "dataplane/client_registry.h"
#include "dataplane/core/log.h"
#include "dataplane/core/units.h"
#include "dataplane/coro.h"
#include "dataplane/line_queue.h"
#include "dataplane/listener.h"
#include "dataplane/stats.h"
#include "dataplane/target_set.h"

namespace jsontcplb {
namespace {

constexpr std::chrono::seconds kProgressInterval(5);

}  // namespace

Lifecycle::Lifecycle(asio::io_context& io, std::chrono::milliseconds drain_timeout, Parts parts)
    : io_(io),
      drain_timeout_(drain_timeout),
      parts_(std::move(parts)),
      signals_(io, SIGINT, SIGTERM),
      drain_timer_(io) {}

void Lifecycle::start() {
  std::weak_ptr<Lifecycle> weak = weak_from_this();
  parts_.registry->on_last_gone([weak] {
    if (auto self = weak.lock()) self->maybe_flush();
  });
  parts_.targets->on_all_exited([weak] {
    if (auto self = weak.lock()) self->finish();
  });
  co_spawn(
      io_, [self = shared_from_this()] { return self->signal_loop(); },
      log_if_thrown("signal handler"));
}

asio::awaitable<void> Lifecycle::signal_loop() {
  for (;;) {
    auto [ec, signal] = co_await signals_.async_wait(kUseAwaitable);
    if (ec) co_return;
    const std::string_view name = signal == SIGINT ? "SIGINT" : "SIGTERM";
    // A second signal means "now". A drain asked for over the control API is not a signal:
    // Kubernetes asks for one in preStop and sends SIGTERM right after.
    if (++signals_received_ > 1) exit_now(name);
    begin_shutdown(name);
  }
}

void Lifecycle::exit_now(std::string_view why) {
  const LineQueue& queue = *parts_.queue;
  LB_LOG(kError, "second ", why,
         ": exiting now; not delivered: ", queue.lines() + queue.unacked_lines(), " lines (",
         queue.bytes() + queue.unacked_bytes(), " bytes): ", queue.lines(), " lines queued, ",
         queue.unacked_lines(), " lines written but not acknowledged");
  std::_Exit(1);
}

void Lifecycle::begin_shutdown(std::string_view why) {
  if (shutting_down_) {
    LB_LOG(kInfo, why, ": already draining");
    return;
  }
  shutting_down_ = true;
  if (on_drain_) on_drain_();
  parts_.listener->stop();
  LB_LOG(kInfo, why, ": stopped accepting; reading ", parts_.registry->size(),
         " client(s) until they close or the drain timeout (", format_duration(drain_timeout_),
         ") passes");
  parts_.stats->changed();
  co_spawn(
      io_, [self = shared_from_this()] { return self->drain_timer_loop(); },
      log_if_thrown("drain timer"));
  maybe_flush();
}

asio::awaitable<void> Lifecycle::drain_timer_loop() {
  drain_timer_.expires_after(drain_timeout_);
  auto [ec] = co_await drain_timer_.async_wait(kUseAwaitable);
  if (ec || flushing_) co_return;
  LB_LOG(kWarn, "drain timeout: closing ", parts_.registry->size(), " client(s) still sending");
  parts_.registry->cut_all();
  parts_.queue->wake_clients();
}

void Lifecycle::maybe_flush() {
  if (!shutting_down_ || flushing_ || parts_.registry->size() != 0) return;
  flushing_ = true;
  drain_timer_.cancel();
  const LineQueue& queue = *parts_.queue;
  LB_LOG(kInfo, "all clients closed; delivering ", queue.lines(), " queued and ",
         queue.unacked_lines(), " unacknowledged lines");
  parts_.queue->close();
  parts_.targets->wake_workers();
  co_spawn(
      io_, [self = shared_from_this()] { return self->progress_loop(); },
      log_if_thrown("progress"));
}

asio::awaitable<void> Lifecycle::progress_loop() {
  asio::steady_timer timer(io_);
  for (;;) {
    timer.expires_after(kProgressInterval);
    co_await timer.async_wait(kUseAwaitable);
    if (parts_.targets->worker_count() == 0) co_return;
    LB_LOG(kInfo, "draining: ", parts_.queue->lines(), " lines queued, ",
           parts_.queue->unacked_lines(), " lines waiting for acknowledgement");
  }
}

void Lifecycle::finish() {
  const Totals totals = parts_.stats->totals();
  LB_LOG(kInfo, "shutdown complete: received ", totals.received_lines, " lines, delivered ",
         totals.sent_lines, " (acknowledged by targets)");
  if (on_exit_) on_exit_();
  signals_.cancel();
  io_.stop();
}

}  // namespace jsontcplb
