#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <cstdint>
#include <memory>
#include <string>

#include "dataplane/buffered_histogram.h"
#include "dataplane/core/snapshot.h"
#include "dataplane/wake_list.h"

namespace jsontcplb {

/// One target's counters (label `target`), kept with the target so the data-plane thread
/// counts through a pointer: no label lookup, lock or allocation per batch.
struct TargetCounters {
  prometheus::Counter* sent_lines = nullptr;
  prometheus::Counter* sent_bytes = nullptr;
  prometheus::Counter* resent_unacked = nullptr;       ///< reason="unacked"
  prometheus::Counter* resent_maybe_unread = nullptr;  ///< reason="maybe_unread"
};

/// Every statistic json-tcp-lb keeps, declared here and nowhere else: the Prometheus series
/// (prefix `jsontcplb_`) on one registry that the HTTP exposer and the tests read, and the
/// counters behind the control API's totals, which are the same objects read back.
///
/// Counters are incremented by the data-plane thread where the event happens, once per batch
/// (never per line); prometheus-cpp counters are lock-free atomics. Gauges and the write-time
/// histogram are set from a Snapshot once a second (publish()), so they cost the hot path
/// nothing. Scrapes run on the exposer's threads and only read the registry.
///
/// Status watchers (the control API's WatchStatus) wait here for the next change.
class Stats {
 public:
  Stats();
  Stats(const Stats&) = delete;
  Stats& operator=(const Stats&) = delete;

  const std::shared_ptr<prometheus::Registry>& registry() const { return registry_; }

  // --- events (data-plane thread) ---
  void client_accepted() { client_connections_total_.Increment(); }
  void received(std::uint64_t lines, std::uint64_t bytes);
  void line_too_long() { rejected_line_too_long_.Increment(); }
  void client_idle_closed() { client_idle_closed_.Increment(); }
  void failover() { failovers_.Increment(); }
  void failback() { failbacks_.Increment(); }
  void reconnect() { reconnects_.Increment(); }
  void discarded_target_bytes(std::uint64_t bytes);
  /// Lines a target acknowledged: its own counters and the totals, which keep counting what
  /// targets delivered after they are removed.
  void delivered(const TargetCounters& target, std::uint64_t lines, std::uint64_t bytes);
  /// Lines written to a target and queued again after its connection ended: `unacked` its
  /// TCP had not acknowledged, `maybe_unread` it had but may not have read.
  void resent(const TargetCounters& target, std::uint64_t unacked, std::uint64_t maybe_unread);
  /// Acknowledged lines let go before the target could be known to have read them, because
  /// -max-retained-bytes was reached.
  void retention_overflow(std::uint64_t lines);
  /// Duration of one gather write to a target.
  void write_took(double seconds) { batch_write_seconds_.observe(seconds); }

  /// A new target's counters, from zero.
  TargetCounters add_target(const std::string& target);
  /// Takes every series labelled `target` off the registry. `counters` then lead to unexported
  /// stand-ins, so workers still finishing with the target stay harmless.
  void remove_target(TargetCounters& counters, const std::string& target);

  Totals totals() const;
  /// A counter's value as the control API reports it.
  static std::uint64_t value(const prometheus::Counter* counter);

  /// Sets every gauge from `snapshot` and flushes the write-time histogram (data-plane thread).
  void publish(const Snapshot& snapshot);

  // --- status changes (data-plane thread) ---
  /// Something a status shows has changed: wakes every watcher.
  void changed() {
    ++changes_;
    watchers_.notify_all();
  }
  /// How many changes there have been: a watcher that was not waiting when one came (it was
  /// busy writing) sees it here.
  std::uint64_t changes() const { return changes_; }
  WakeList& watchers() { return watchers_; }
  /// The process is about to exit: watchers send a last status and end.
  void close_watchers() {
    watchers_closed_ = true;
    changed();
  }
  bool watchers_closed() const { return watchers_closed_; }

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  // Counters.
  prometheus::Counter& client_connections_total_;
  prometheus::Counter& received_lines_;
  prometheus::Counter& received_bytes_;
  prometheus::Counter& rejected_line_too_long_;  // jsontcplb_rejected_lines_total{reason}
  prometheus::Counter& client_idle_closed_;
  prometheus::Counter& failovers_;
  prometheus::Counter& failbacks_;
  prometheus::Counter& reconnects_;
  prometheus::Counter& discarded_target_bytes_;
  prometheus::Counter& delivered_lines_;
  prometheus::Counter& delivered_bytes_;
  prometheus::Counter& requeued_unacked_;  // jsontcplb_requeued_lines_total{reason}
  prometheus::Counter& requeued_maybe_unread_;
  prometheus::Counter& retention_overflow_;
  prometheus::Family<prometheus::Counter>& sent_lines_;
  prometheus::Family<prometheus::Counter>& sent_bytes_;
  prometheus::Family<prometheus::Counter>& resent_lines_;
  BufferedHistogram batch_write_seconds_;
  // Gauges, published from snapshots.
  prometheus::Gauge& client_connections_;
  prometheus::Gauge& queue_bytes_;
  prometheus::Gauge& queue_lines_;
  prometheus::Gauge& queue_capacity_bytes_;
  prometheus::Gauge& config_generation_;
  prometheus::Family<prometheus::Gauge>& target_up_;
  prometheus::Family<prometheus::Gauge>& unacked_bytes_;
  prometheus::Family<prometheus::Gauge>& retained_bytes_;
  prometheus::Family<prometheus::Gauge>& worker_connections_;
  // What a removed target's counters lead to; never exported.
  prometheus::Counter detached_;

  WakeList watchers_;
  std::uint64_t changes_ = 0;
  bool watchers_closed_ = false;
};

}  // namespace jsontcplb
