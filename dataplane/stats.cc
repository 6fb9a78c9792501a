#include "dataplane/stats.h"

#include <prometheus/histogram.h>

#include <vector>

#include "dataplane/core/version.h"

namespace jsontcplb {
namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;
using prometheus::Counter;
using prometheus::Family;
using prometheus::Gauge;
using prometheus::Registry;

Family<Counter>& counter_family(Registry& r, const std::string& name, const std::string& help) {
  return BuildCounter().Name(name).Help(help).Register(r);
}

Family<Gauge>& gauge_family(Registry& r, const std::string& name, const std::string& help) {
  return BuildGauge().Name(name).Help(help).Register(r);
}

Counter& counter(Registry& r, const std::string& name, const std::string& help) {
  return counter_family(r, name, help).Add({});
}

Gauge& gauge(Registry& r, const std::string& name, const std::string& help) {
  return gauge_family(r, name, help).Add({});
}

// From a loopback write that fits the socket buffer (microseconds) to one that waits for a slow
// target to read (seconds; -write-timeout fails the connection at 30 s by default).
std::vector<double> write_seconds_buckets() {
  return {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
          0.05,    0.1,    0.25,    0.5,    1,     2.5,    5,     10,   30};
}

prometheus::Labels target_label(const std::string& target) { return {{"target", target}}; }

prometheus::Labels reason_labels(const std::string& target, const std::string& reason) {
  return {{"target", target}, {"reason", reason}};
}

constexpr const char* kRequeuedHelp =
    "Lines queued again after a target connection ended, over every target, targets removed "
    "since included, by reason (unacked: not acknowledged by its TCP; maybe_unread: "
    "acknowledged but perhaps still unread in its receive buffer)";

prometheus::Labels state_labels(const std::string& target, std::size_t state) {
  return {{"target", target}, {"state", std::string(kWorkerStateNames[state])}};
}

}  // namespace

Stats::Stats()
    : registry_(std::make_shared<Registry>()),
      client_connections_total_(
          counter(*registry_, "jsontcplb_client_connections_total", "Client connections accepted")),
      received_lines_(counter(*registry_, "jsontcplb_received_lines_total",
                              "Lines received from clients and queued for the targets")),
      received_bytes_(counter(*registry_, "jsontcplb_received_bytes_total",
                              "Bytes of the lines received from clients")),
      rejected_line_too_long_(counter_family(*registry_, "jsontcplb_rejected_lines_total",
                                             "Lines refused, by reason (line_too_long: longer "
                                             "than -max-line-bytes; the client is closed)")
                                  .Add({{"reason", "line_too_long"}})),
      client_idle_closed_(counter(*registry_, "jsontcplb_client_idle_closed_total",
                                  "Clients closed for sending nothing for -client-idle-timeout")),
      failovers_(counter(*registry_, "jsontcplb_failovers_total",
                         "Worker connections that moved to another target after a failure")),
      failbacks_(counter(*registry_, "jsontcplb_failbacks_total",
                         "Failed-over worker connections that moved back to their home target")),
      reconnects_(counter(*registry_, "jsontcplb_reconnects_total",
                          "Target connections that failed and were replaced")),
      discarded_target_bytes_(counter(*registry_, "jsontcplb_discarded_target_bytes_total",
                                      "Bytes targets sent back to json-tcp-lb (read and ignored)")),
      delivered_lines_(counter(*registry_, "jsontcplb_delivered_lines_total",
                               "Lines delivered to any target (acknowledged by its TCP stack), "
                               "targets removed since included")),
      delivered_bytes_(counter(*registry_, "jsontcplb_delivered_bytes_total",
                               "Bytes delivered to any target, targets removed since included")),
      requeued_unacked_(counter_family(*registry_, "jsontcplb_requeued_lines_total", kRequeuedHelp)
                            .Add({{"reason", "unacked"}})),
      requeued_maybe_unread_(
          counter_family(*registry_, "jsontcplb_requeued_lines_total", kRequeuedHelp)
              .Add({{"reason", "maybe_unread"}})),
      retention_overflow_(counter(*registry_, "jsontcplb_retention_overflow_lines_total",
                                  "Lines a target acknowledged that were let go before it could "
                                  "be known to have read them, because a connection retained "
                                  "-max-retained-bytes already")),
      sent_lines_(counter_family(*registry_, "jsontcplb_sent_lines_total",
                                 "Lines delivered to a target: written and acknowledged by its "
                                 "TCP stack")),
      sent_bytes_(counter_family(*registry_, "jsontcplb_sent_bytes_total",
                                 "Bytes delivered to a target (acknowledged)")),
      resent_lines_(counter_family(*registry_, "jsontcplb_resent_lines_total",
                                   "Lines written to a target and queued again when its "
                                   "connection ended, by reason (unacked: not acknowledged by "
                                   "its TCP; maybe_unread: acknowledged but perhaps unread)")),
      batch_write_seconds_(BuildHistogram()
                               .Name("jsontcplb_batch_write_seconds")
                               .Help("Duration of one gather write of queued batches to a target")
                               .Register(*registry_),
                           write_seconds_buckets()),
      client_connections_(
          gauge(*registry_, "jsontcplb_client_connections", "Client connections open now")),
      queue_bytes_(gauge(*registry_, "jsontcplb_queue_bytes",
                         "Bytes of lines queued for the targets (not yet written)")),
      queue_lines_(gauge(*registry_, "jsontcplb_queue_lines", "Lines queued for the targets")),
      queue_capacity_bytes_(gauge(*registry_, "jsontcplb_queue_capacity_bytes",
                                  "-queue-bytes: when the queue holds this much, clients are "
                                  "not read")),
      config_generation_(gauge(*registry_, "jsontcplb_config_generation",
                               "Configuration generation; every change through the control "
                               "API bumps it")),
      target_up_(gauge_family(*registry_, "jsontcplb_target_up",
                              "1 while the target is healthy, 0 after consecutive connection "
                              "failures")),
      unacked_bytes_(gauge_family(*registry_, "jsontcplb_unacked_bytes",
                                  "Bytes written to a target's connections and not yet "
                                  "acknowledged by its TCP stack")),
      retained_bytes_(gauge_family(*registry_, "jsontcplb_retained_bytes",
                                   "Bytes a target acknowledged that it may not have read yet, "
                                   "kept to be sent again if its connection ends first")),
      worker_connections_(gauge_family(*registry_, "jsontcplb_worker_connections",
                                       "Worker connections by the target they use and state")) {
  gauge_family(*registry_, "jsontcplb_build_info", "Always 1; the version label names the build")
      .Add({{"version", kVersion}})
      .Set(1);
}

void Stats::received(std::uint64_t lines, std::uint64_t bytes) {
  received_lines_.Increment(static_cast<double>(lines));
  received_bytes_.Increment(static_cast<double>(bytes));
}

void Stats::discarded_target_bytes(std::uint64_t bytes) {
  discarded_target_bytes_.Increment(static_cast<double>(bytes));
}

void Stats::delivered(const TargetCounters& target, std::uint64_t lines, std::uint64_t bytes) {
  if (lines == 0 && bytes == 0) return;
  target.sent_lines->Increment(static_cast<double>(lines));
  target.sent_bytes->Increment(static_cast<double>(bytes));
  delivered_lines_.Increment(static_cast<double>(lines));
  delivered_bytes_.Increment(static_cast<double>(bytes));
}

void Stats::resent(const TargetCounters& target, std::uint64_t unacked,
                   std::uint64_t maybe_unread) {
  if (unacked > 0) {
    target.resent_unacked->Increment(static_cast<double>(unacked));
    requeued_unacked_.Increment(static_cast<double>(unacked));
  }
  if (maybe_unread > 0) {
    target.resent_maybe_unread->Increment(static_cast<double>(maybe_unread));
    requeued_maybe_unread_.Increment(static_cast<double>(maybe_unread));
  }
}

void Stats::retention_overflow(std::uint64_t lines) {
  retention_overflow_.Increment(static_cast<double>(lines));
}

TargetCounters Stats::add_target(const std::string& target) {
  const prometheus::Labels labels = target_label(target);
  return {&sent_lines_.Add(labels), &sent_bytes_.Add(labels),
          &resent_lines_.Add(reason_labels(target, "unacked")),
          &resent_lines_.Add(reason_labels(target, "maybe_unread"))};
}

void Stats::remove_target(TargetCounters& counters, const std::string& target) {
  if (counters.sent_lines == &detached_) return;  // already removed
  sent_lines_.Remove(counters.sent_lines);
  sent_bytes_.Remove(counters.sent_bytes);
  resent_lines_.Remove(counters.resent_unacked);
  resent_lines_.Remove(counters.resent_maybe_unread);
  counters = {&detached_, &detached_, &detached_, &detached_};
  // The gauges exist once they were published; Add finds them (or makes one to remove).
  const prometheus::Labels labels = target_label(target);
  target_up_.Remove(&target_up_.Add(labels));
  unacked_bytes_.Remove(&unacked_bytes_.Add(labels));
  retained_bytes_.Remove(&retained_bytes_.Add(labels));
  for (std::size_t s = 0; s < kWorkerStates; ++s) {
    worker_connections_.Remove(&worker_connections_.Add(state_labels(target, s)));
  }
}

std::uint64_t Stats::value(const prometheus::Counter* counter) {
  return static_cast<std::uint64_t>(counter->Value());
}

Totals Stats::totals() const {
  Totals t;
  t.client_connections = value(&client_connections_total_);
  t.received_lines = value(&received_lines_);
  t.received_bytes = value(&received_bytes_);
  t.sent_lines = value(&delivered_lines_);
  t.sent_bytes = value(&delivered_bytes_);
  t.resent_unacked_lines = value(&requeued_unacked_);
  t.resent_maybe_unread_lines = value(&requeued_maybe_unread_);
  t.resent_lines = t.resent_unacked_lines + t.resent_maybe_unread_lines;
  t.retention_overflow_lines = value(&retention_overflow_);
  t.rejected_long_lines = value(&rejected_line_too_long_);
  t.failovers = value(&failovers_);
  t.failbacks = value(&failbacks_);
  t.reconnects = value(&reconnects_);
  t.discarded_target_bytes = value(&discarded_target_bytes_);
  return t;
}

void Stats::publish(const Snapshot& s) {
  client_connections_.Set(s.client_connections);
  queue_bytes_.Set(static_cast<double>(s.queue_bytes));
  queue_lines_.Set(static_cast<double>(s.queue_lines));
  queue_capacity_bytes_.Set(static_cast<double>(s.queue_capacity_bytes));
  config_generation_.Set(static_cast<double>(s.generation));
  for (const TargetSnapshot& t : s.targets) {
    const prometheus::Labels labels = target_label(t.address);
    target_up_.Add(labels).Set(t.healthy ? 1 : 0);
    unacked_bytes_.Add(labels).Set(static_cast<double>(t.unacked_bytes));
    retained_bytes_.Add(labels).Set(static_cast<double>(t.retained_bytes));
    for (std::size_t state = 0; state < kWorkerStates; ++state) {
      worker_connections_.Add(state_labels(t.address, state)).Set(t.workers_by_state[state]);
    }
  }
  batch_write_seconds_.flush();
}

}  // namespace jsontcplb
