#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <array>
#include <memory>
#include <string>
#include <string_view>

#include "dataplane/buffered_histogram.h"

namespace jsontcplb {

/// Values of the `state` label of jsontcplb_worker_connections, in Worker::State order.
inline constexpr std::array<std::string_view, 4> kWorkerStateLabels = {"connecting", "connected",
                                                                       "backoff", "stopping"};

/// One target's series (label `target`), cached in its TargetState so the data-plane thread
/// updates them through a pointer: no label lookup, lock or allocation per batch.
struct TargetMetrics {
  prometheus::Counter* sent_lines = nullptr;
  prometheus::Counter* sent_bytes = nullptr;
  prometheus::Counter* resent_lines = nullptr;
  prometheus::Gauge* up = nullptr;
  prometheus::Gauge* unacked_bytes = nullptr;
  std::array<prometheus::Gauge*, kWorkerStateLabels.size()> worker_connections{};
};

/// Every metric json-tcp-lb exports (prefix `jsontcplb_`), declared here and nowhere else, on
/// one registry that the HTTP exposer and the tests read.
///
/// Updates: counters are incremented by the data-plane thread where the event happens, once per
/// batch (never per line); prometheus-cpp counters are lock-free atomics. Gauges and the
/// write-time histogram are published by the data-plane thread once a second
/// (Proxy::publish_metrics), so they cost the hot path nothing. Scrapes run on the exposer's
/// threads and only read the registry.
struct Metrics {
  Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  /// Series for a new target, starting at zero.
  TargetMetrics add_target(const std::string& target);
  /// Takes a target's series off the registry (Family::Remove). The pointers in `target` then
  /// lead to unexported stand-ins, so workers still finishing with the target stay harmless.
  void remove_target(TargetMetrics& target);

  const std::shared_ptr<prometheus::Registry> registry;

  // Counters.
  prometheus::Counter& client_connections_total;
  prometheus::Counter& received_lines;
  prometheus::Counter& received_bytes;
  prometheus::Counter& rejected_line_too_long;  ///< jsontcplb_rejected_lines_total{reason}
  prometheus::Counter& failovers;
  prometheus::Counter& failbacks;
  prometheus::Counter& reconnects;
  prometheus::Counter& discarded_target_bytes;
  /// Duration of each gather write to a target (one or more batches).
  BufferedHistogram batch_write_seconds;

  // Gauges, published once a second.
  prometheus::Gauge& client_connections;
  prometheus::Gauge& queue_bytes;
  prometheus::Gauge& queue_lines;
  prometheus::Gauge& queue_capacity_bytes;
  prometheus::Gauge& config_generation;

 private:
  prometheus::Family<prometheus::Counter>& sent_lines_;
  prometheus::Family<prometheus::Counter>& sent_bytes_;
  prometheus::Family<prometheus::Counter>& resent_lines_;
  prometheus::Family<prometheus::Gauge>& target_up_;
  prometheus::Family<prometheus::Gauge>& unacked_bytes_;
  prometheus::Family<prometheus::Gauge>& worker_connections_;
  // What a removed target's pointers lead to; never exported.
  prometheus::Counter detached_counter_;
  prometheus::Gauge detached_gauge_;
};

}  // namespace jsontcplb
