#include "dataplane/metrics.h"

#include <vector>

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

}  // namespace

Metrics::Metrics()
    : registry(std::make_shared<Registry>()),
      client_connections_total(
          counter(*registry, "jsontcplb_client_connections_total", "Client connections accepted")),
      received_lines(counter(*registry, "jsontcplb_received_lines_total",
                             "Lines received from clients and queued for the targets")),
      received_bytes(counter(*registry, "jsontcplb_received_bytes_total",
                             "Bytes of the lines received from clients")),
      rejected_line_too_long(counter_family(*registry, "jsontcplb_rejected_lines_total",
                                            "Lines refused, by reason (line_too_long: longer than "
                                            "-max-line-bytes; the client is closed)")
                                 .Add({{"reason", "line_too_long"}})),
      failovers(counter(*registry, "jsontcplb_failovers_total",
                        "Worker connections that moved to another target after a failure")),
      failbacks(counter(*registry, "jsontcplb_failbacks_total",
                        "Failed-over worker connections that moved back to their home target")),
      reconnects(counter(*registry, "jsontcplb_reconnects_total",
                         "Target connections that failed and were replaced")),
      discarded_target_bytes(counter(*registry, "jsontcplb_discarded_target_bytes_total",
                                     "Bytes targets sent back to json-tcp-lb (read and ignored)")),
      batch_write_seconds(BuildHistogram()
                              .Name("jsontcplb_batch_write_seconds")
                              .Help("Duration of one gather write of queued batches to a target")
                              .Register(*registry),
                          write_seconds_buckets()),
      client_connections(
          gauge(*registry, "jsontcplb_client_connections", "Client connections open now")),
      queue_bytes(gauge(*registry, "jsontcplb_queue_bytes",
                        "Bytes of lines queued for the targets (not yet written)")),
      queue_lines(gauge(*registry, "jsontcplb_queue_lines", "Lines queued for the targets")),
      queue_capacity_bytes(gauge(*registry, "jsontcplb_queue_capacity_bytes",
                                 "-queue-bytes: when the queue holds this much, clients are "
                                 "not read")),
      config_generation(gauge(*registry, "jsontcplb_config_generation",
                              "Configuration generation; every change through the control "
                              "API bumps it")),
      sent_lines_(counter_family(*registry, "jsontcplb_sent_lines_total",
                                 "Lines delivered to a target: written and acknowledged by its "
                                 "TCP stack")),
      sent_bytes_(counter_family(*registry, "jsontcplb_sent_bytes_total",
                                 "Bytes delivered to a target (acknowledged)")),
      resent_lines_(counter_family(*registry, "jsontcplb_resent_lines_total",
                                   "Lines written to a target but not acknowledged before its "
                                   "connection failed; queued again for another connection")),
      target_up_(gauge_family(*registry, "jsontcplb_target_up",
                              "1 while the target is healthy, 0 after consecutive connection "
                              "failures")),
      unacked_bytes_(gauge_family(*registry, "jsontcplb_unacked_bytes",
                                  "Bytes written to a target's connections and not yet "
                                  "acknowledged by its TCP stack")),
      worker_connections_(gauge_family(*registry, "jsontcplb_worker_connections",
                                       "Worker connections by the target they use and state")),
      detached_counter_(),
      detached_gauge_() {
  gauge_family(*registry, "jsontcplb_build_info", "Always 1; the version label names the build")
      .Add({{"version", LB_VERSION}})
      .Set(1);
}

TargetMetrics Metrics::add_target(const std::string& target) {
  const prometheus::Labels labels = {{"target", target}};
  TargetMetrics m;
  m.sent_lines = &sent_lines_.Add(labels);
  m.sent_bytes = &sent_bytes_.Add(labels);
  m.resent_lines = &resent_lines_.Add(labels);
  m.up = &target_up_.Add(labels);
  m.unacked_bytes = &unacked_bytes_.Add(labels);
  for (std::size_t i = 0; i < kWorkerStateLabels.size(); ++i) {
    m.worker_connections[i] = &worker_connections_.Add(
        {{"target", target}, {"state", std::string(kWorkerStateLabels[i])}});
  }
  return m;
}

void Metrics::remove_target(TargetMetrics& m) {
  if (m.sent_lines == &detached_counter_) return;  // already removed
  sent_lines_.Remove(m.sent_lines);
  sent_bytes_.Remove(m.sent_bytes);
  resent_lines_.Remove(m.resent_lines);
  target_up_.Remove(m.up);
  unacked_bytes_.Remove(m.unacked_bytes);
  for (prometheus::Gauge*& g : m.worker_connections) {
    worker_connections_.Remove(g);
    g = &detached_gauge_;
  }
  m.sent_lines = m.sent_bytes = m.resent_lines = &detached_counter_;
  m.up = m.unacked_bytes = &detached_gauge_;
}

}  // namespace jsontcplb
