#pragma once

#include <cstddef>
#include <functional>
#include <optional>

namespace jsontcplb {

/// Picks the target (an index below `count`) a worker moves to after target `failed` failed.
/// Candidates are the other targets in list order starting `spread % (count - 1)` places after
/// `failed`, so the workers of one failed target (each passing its own `spread`) fan out over
/// the others. The first healthy candidate wins; if none is healthy, the first candidate. With
/// one target, that target.
std::size_t next_target(std::size_t failed, std::size_t spread, std::size_t count,
                        const std::function<bool(std::size_t)>& healthy);

/// Where a worker stands when it leaves a target (indexes into the current target list).
struct Placement {
  std::optional<std::size_t> home;     ///< Its home target; unset once that was removed.
  std::optional<std::size_t> current;  ///< The target it leaves; unset once that was removed.
  std::size_t spread = 0;              ///< The worker's number among its home's workers.
  bool failed = false;                 ///< Connecting to or writing to `current` failed.
  bool home_ready = false;             ///< A new connection to home is already up.
};

/// The failover policy: the target a worker uses next (an index below `count`).
/// - A connection home that is already up always wins: no gap, no dial.
/// - After a failure the worker fails over (next_target() from the failed one), unless the
///   failed target is no longer listed, in which case it goes home.
/// - Leaving on purpose (a failback, a removed target, a requested failback) means going home.
/// Without a listed home it stays on `current`, or takes the first target. `count` must be > 0.
std::size_t choose_target(const Placement& placement, std::size_t count,
                          const std::function<bool(std::size_t)>& healthy);

}  // namespace jsontcplb
