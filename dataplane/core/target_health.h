#pragma once

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

}  // namespace jsontcplb
