#pragma once

#include <cstdint>
#include <string>

namespace jsontcplb::controlplane {

/// What the control plane knows of one data plane and when it pushes to it: whenever the data
/// plane reports a config version other than the desired one, the desired config is pushed
/// with the generation last reported (compare-and-set), at most one push at a time. A version
/// the data plane refused is not pushed again until the desired state changes; a failed push
/// waits for retry_allowed() (the caller backs off); a push that lost a compare-and-set waits
/// for the next status, which carries the new generation.
class SyncState {
 public:
  enum class State { kSynced, kPending, kRejected, kUnreachable };
  enum class PushResult { kOk, kRejected, kConflict, kFailed };

  /// The desired config version changed (empty: nothing to push yet).
  void set_desired(std::string version);
  /// The status stream delivered the data plane's version and generation.
  void reported(std::string version, std::uint64_t generation);
  /// The status stream ended or could not be opened.
  void disconnected(std::string error);

  /// True when a push should start now.
  bool should_push() const;
  /// The push of the desired version starts; its expected generation is generation().
  void push_started();
  /// The push ended. kOk: the data plane runs the pushed version at `generation` (the desired
  /// one may have moved on meanwhile, and is then pushed next).
  void push_finished(PushResult result, std::string error, std::uint64_t generation);
  /// After a failed push, the caller's backoff has passed.
  void retry_allowed() { retry_blocked_ = false; }

  State state() const;
  bool connected() const { return connected_; }
  bool push_in_flight() const { return in_flight_; }
  bool retry_blocked() const { return retry_blocked_; }
  const std::string& desired() const { return desired_; }
  const std::string& reported_version() const { return reported_; }
  std::uint64_t generation() const { return generation_; }
  const std::string& last_error() const { return last_error_; }
  std::uint64_t pushes() const { return pushes_; }

 private:
  std::string desired_;
  std::string reported_;
  std::string pushing_;   // the version of the push in flight
  std::string rejected_;  // the desired version the data plane refused
  std::uint64_t generation_ = 0;
  std::string last_error_;
  std::uint64_t pushes_ = 0;
  bool connected_ = false;
  bool in_flight_ = false;
  bool retry_blocked_ = false;
  bool awaiting_status_ = false;  // lost a compare-and-set: wait for the new generation
};

}  // namespace jsontcplb::controlplane
