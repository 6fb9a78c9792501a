#include "controlplane/fleet_stats.h"

#include <string>

#include "dataplane/core/version.h"

namespace jsontcplb::controlplane {
namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;

constexpr std::array<const char*, 4> kStateNames = {"synced", "pending", "rejected", "unreachable"};
constexpr std::array<const char*, 4> kPushResults = {"ok", "rejected", "conflict", "failed"};

}  // namespace

FleetStats::FleetStats()
    : registry_(std::make_shared<prometheus::Registry>()),
      pushes_(BuildCounter()
                  .Name("jsontcplb_controlplane_pushes_total")
                  .Help("Pushes of the desired config to a data plane, by result (ok; rejected: "
                        "the data plane refused it; conflict: it changed meanwhile; failed: no "
                        "answer or an error)")
                  .Register(*registry_)),
      convergence_seconds_(
          BuildHistogram()
              .Name("jsontcplb_controlplane_convergence_seconds")
              .Help("From the desired state changing (or a data plane drifting or coming up) to "
                    "the data plane running it")
              .Register(*registry_)
              .Add({}, prometheus::Histogram::BucketBoundaries{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                                               2, 5, 10, 30, 60})),
      reloads_(BuildCounter()
                   .Name("jsontcplb_controlplane_config_reloads_total")
                   .Help("Config file reads that changed it, by result (applied; refused: the "
                         "edit broke a rule and the last good config stays)")
                   .Register(*registry_)),
      reloads_applied_(reloads_.Add({{"result", "applied"}})),
      reloads_refused_(reloads_.Add({{"result", "refused"}})),
      dns_(BuildCounter()
               .Name("jsontcplb_controlplane_dns_lookups_total")
               .Help("DNS lookups of targets and data planes, by result (a failed one keeps the "
                     "last good answer)")
               .Register(*registry_)),
      dns_ok_(dns_.Add({{"result", "ok"}})),
      dns_failed_(dns_.Add({{"result", "failed"}})) {
  for (std::size_t i = 0; i < kPushResults.size(); ++i) {
    pushes_by_result_[i] = &pushes_.Add({{"result", kPushResults[i]}});
  }
  auto& states = BuildGauge()
                     .Name("jsontcplb_controlplane_data_planes")
                     .Help(
                         "Data planes by state: synced (runs the desired config), pending, "
                         "rejected (refused this version), unreachable")
                     .Register(*registry_);
  for (std::size_t i = 0; i < kStateNames.size(); ++i) {
    data_planes_by_state_[i] = &states.Add({{"state", kStateNames[i]}});
  }
  BuildGauge()
      .Name("jsontcplb_controlplane_build_info")
      .Help("Always 1; the version label names the build")
      .Register(*registry_)
      .Add({{"version", kVersion}})
      .Set(1);
}

void FleetStats::pushed(SyncState::PushResult result) {
  pushes_by_result_[static_cast<std::size_t>(result)]->Increment();
}

void FleetStats::data_planes(const std::array<int, 4>& by_state) {
  for (std::size_t i = 0; i < by_state.size(); ++i) data_planes_by_state_[i]->Set(by_state[i]);
}

}  // namespace jsontcplb::controlplane
