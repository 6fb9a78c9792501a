#pragma once

#include <cstddef>
#include <functional>

namespace jsontcplb {

/// Health of one target shared by all workers: a target is ejected after
/// `kEjectAfterFailures` consecutive failed connects or connection failures, and healthy again
/// after any successful connect (failback dials and reconnects act as the probes).
class TargetHealth {
 public:
  static constexpr int kEjectAfterFailures = 2;

  void on_success() { consecutive_failures_ = 0; }
  void on_failure() { ++consecutive_failures_; }
  bool healthy() const { return consecutive_failures_ < kEjectAfterFailures; }
  int consecutive_failures() const { return consecutive_failures_; }

 private:
  int consecutive_failures_ = 0;
};

/// Picks the target (an index below `count`) a worker moves to after target `failed` failed.
/// Candidates are the other targets in list order starting `spread % (count - 1)` places after
/// `failed`, so the workers of one failed target (each passing its own `spread`) fan out over
/// the others. The first healthy candidate wins; if none is healthy, the first candidate. With
/// one target, that target.
std::size_t next_target(std::size_t failed, std::size_t spread, std::size_t count,
                        const std::function<bool(std::size_t)>& healthy);

}  // namespace jsontcplb
