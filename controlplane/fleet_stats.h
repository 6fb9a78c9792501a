#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <array>
#include <memory>

#include "controlplane/core/sync_state.h"

namespace jsontcplb::controlplane {

/// Every metric lb-controlplane exports (prefix `jsontcplb_controlplane_`), declared here and
/// nowhere else. Updated on the control plane's one thread; scrapes only read the registry.
class FleetStats {
 public:
  FleetStats();
  FleetStats(const FleetStats&) = delete;
  FleetStats& operator=(const FleetStats&) = delete;

  const std::shared_ptr<prometheus::Registry>& registry() const { return registry_; }

  void pushed(SyncState::PushResult result);
  /// Seconds from the desired state changing (or a data plane drifting) to it running it.
  void converged(double seconds) { convergence_seconds_.Observe(seconds); }
  void config_reload(bool applied) { (applied ? reloads_applied_ : reloads_refused_).Increment(); }
  void dns_lookup(bool ok) { (ok ? dns_ok_ : dns_failed_).Increment(); }
  /// Data planes now in each state, in SyncState::State order.
  void data_planes(const std::array<int, 4>& by_state);

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& pushes_;
  std::array<prometheus::Counter*, 4> pushes_by_result_{};
  prometheus::Histogram& convergence_seconds_;
  prometheus::Family<prometheus::Counter>& reloads_;
  prometheus::Counter& reloads_applied_;
  prometheus::Counter& reloads_refused_;
  prometheus::Family<prometheus::Counter>& dns_;
  prometheus::Counter& dns_ok_;
  prometheus::Counter& dns_failed_;
  std::array<prometheus::Gauge*, 4> data_planes_by_state_{};
};

}  // namespace jsontcplb::controlplane
