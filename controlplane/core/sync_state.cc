#include "controlplane/core/sync_state.h"

namespace jsontcplb::controlplane {

void SyncState::set_desired(std::string version) {
  if (version == desired_) return;
  desired_ = std::move(version);
  // A new desired state is worth a try at once, even right after a failure or a refusal.
  retry_blocked_ = false;
}

void SyncState::reported(std::string version, std::uint64_t generation) {
  connected_ = true;
  awaiting_status_ = false;
  reported_ = std::move(version);
  generation_ = generation;
  if (reported_ == desired_) last_error_.clear();
}

void SyncState::disconnected(std::string error) {
  connected_ = false;
  last_error_ = std::move(error);
}

bool SyncState::should_push() const {
  return connected_ && !desired_.empty() && reported_ != desired_ && rejected_ != desired_ &&
         !in_flight_ && !retry_blocked_ && !awaiting_status_;
}

void SyncState::push_started() {
  in_flight_ = true;
  pushing_ = desired_;
  ++pushes_;
}

void SyncState::push_finished(PushResult result, std::string error, std::uint64_t generation) {
  in_flight_ = false;
  switch (result) {
    case PushResult::kOk:
      reported_ = pushing_;
      generation_ = generation;
      last_error_.clear();
      return;
    case PushResult::kRejected:
      rejected_ = pushing_;
      break;
    case PushResult::kConflict:
      awaiting_status_ = true;
      break;
    case PushResult::kFailed:
      retry_blocked_ = true;
      break;
  }
  last_error_ = std::move(error);
}

SyncState::State SyncState::state() const {
  if (!connected_) return State::kUnreachable;
  if (!desired_.empty() && reported_ == desired_) return State::kSynced;
  if (!desired_.empty() && rejected_ == desired_) return State::kRejected;
  return State::kPending;
}

}  // namespace jsontcplb::controlplane
