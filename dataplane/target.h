#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "dataplane/core/target_address.h"
#include "dataplane/core/target_health.h"
#include "dataplane/stats.h"

namespace jsontcplb {

/// One target and what is known about it; shared by the target set and the workers using it.
struct Target {
  Target(TargetAddress a, TargetCounters c)
      : address(std::move(a)), name(address.to_string()), counters(c) {}

  const TargetAddress address;
  const std::string name;  ///< address.to_string(), for logs and labels
  TargetHealth health;
  TargetCounters counters;    ///< Its series; unexported stand-ins once it is removed.
  int connected_workers = 0;  ///< Workers with a connection to it now.
  bool removed = false;       ///< No longer in the target list: workers leave it.

  // While it is down (not healthy): what the periodic summary says instead of a line per retry.
  std::uint64_t failed_dials = 0;  ///< Since it went down.
  std::string last_error;
  std::chrono::steady_clock::time_point down_since{};
  std::chrono::steady_clock::time_point last_summary{};
};

}  // namespace jsontcplb
