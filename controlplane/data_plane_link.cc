#include "controlplane/data_plane_link.h"

#include <absl/status/status.h>
#include <google/protobuf/util/time_util.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/support/channel_arguments.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>

#include "controlplane/fleet_stats.h"
#include "dataplane/core/log.h"
#include "dataplane/core/str_cat.h"
#include "dataplane/coro.h"

namespace jsontcplb::controlplane {
namespace {

using google::protobuf::util::TimeUtil;
using std::chrono::milliseconds;

// How often a data plane's status stream reports when nothing changes (it reports every change
// within 100 ms anyway).
constexpr milliseconds kWatchInterval(1000);

std::string describe(const grpc::Status& status) {
  return str_cat(absl::StatusCodeToString(static_cast<absl::StatusCode>(status.error_code())), ": ",
                 status.error_message());
}

void authenticate(grpc::ClientContext& context, const std::string& token) {
  if (!token.empty()) context.AddMetadata("authorization", "Bearer " + token);
}

}  // namespace

bool PushGate::try_enter(std::function<void()> resume) {
  if (in_flight_ < limit_) {
    ++in_flight_;
    return true;
  }
  waiting_.push_back(std::move(resume));
  return false;
}

void PushGate::leave() {
  --in_flight_;
  // A woken link may no longer need to push; then the next one gets the slot.
  while (in_flight_ < limit_ && !waiting_.empty()) {
    auto resume = std::move(waiting_.front());
    waiting_.pop_front();
    resume();
  }
}

struct DataPlaneLink::StreamCall {
  grpc::ClientContext context;
  v1::WatchStatusRequest request;
  v1::Status message;
};

namespace {

// Reads one status stream; hands every status and the end to the link, on its thread. Deletes
// itself when gRPC is done with it; the context lives on in the shared StreamCall, so the link
// may still cancel it.
class StatusReader final : public grpc::ClientReadReactor<v1::Status> {
 public:
  template <typename Call>
  StatusReader(std::shared_ptr<Call> call, v1::Status* message, std::shared_ptr<LinkEnv> env,
               std::weak_ptr<DataPlaneLink> link, std::uint64_t epoch)
      : keep_(std::move(call)),
        message_(message),
        env_(std::move(env)),
        link_(std::move(link)),
        epoch_(epoch) {}

  void begin() {
    StartRead(message_);
    StartCall();
  }
  void OnReadDone(bool ok) override {
    if (!ok) return;  // OnDone follows
    asio::post(env_->io, [link = link_, epoch = epoch_, status = *message_] {
      if (auto l = link.lock()) l->on_status(epoch, status);
    });
    StartRead(message_);
  }
  void OnDone(const grpc::Status& status) override {
    asio::post(env_->io, [link = link_, epoch = epoch_, status] {
      if (auto l = link.lock()) l->on_stream_end(epoch, status);
    });
    --env_->calls;
    delete this;
  }

 private:
  std::shared_ptr<void> keep_;
  v1::Status* message_;
  std::shared_ptr<LinkEnv> env_;
  std::weak_ptr<DataPlaneLink> link_;
  std::uint64_t epoch_;
};

}  // namespace

DataPlaneLink::DataPlaneLink(std::shared_ptr<LinkEnv> env, TargetAddress address)
    : env_(std::move(env)),
      address_(std::move(address)),
      name_(address_.to_string()),
      stream_timer_(env_->io),
      push_timer_(env_->io),
      // A dead data plane costs one failed connect a second at most; one that restarts is
      // back within about that.
      stream_backoff_(milliseconds(50), milliseconds(1000)),
      push_backoff_(milliseconds(200), milliseconds(5000)) {
  grpc::ChannelArguments args;
  // gRPC's own reconnect backoff starts at 1 s and grows to 2 min; a restarted data plane
  // should be back within a fraction of a second. (The minimum connect timeout stays at its
  // 20 s default: it is what a slow network's TLS handshake gets.)
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  channel_ = grpc::CreateCustomChannel(name_, env_->security.credentials, args);
  stub_ = v1::DataPlaneControl::NewStub(channel_);
}

void DataPlaneLink::start(Clock::duration delay) {
  after(stream_timer_, delay, &DataPlaneLink::open_stream);
}

void DataPlaneLink::stop() {
  stopped_ = true;
  if (stream_) stream_->context.TryCancel();
  stream_timer_.cancel();
  push_timer_.cancel();
}

void DataPlaneLink::after(asio::steady_timer& timer, Clock::duration delay,
                          void (DataPlaneLink::*then)()) {
  timer.expires_after(delay);
  co_spawn(
      env_->io,
      [self = shared_from_this(), &timer, then]() -> asio::awaitable<void> {
        auto [ec] = co_await timer.async_wait(kUseAwaitable);
        if (!ec && !self->stopped_) ((*self).*then)();
      },
      log_if_thrown(str_cat("data plane ", name_)));
}

void DataPlaneLink::set_desired(const v1::DataPlaneConfig& desired, Clock::time_point changed_at) {
  desired_ = desired;
  sync_.set_desired(desired.config_version());
  if (sync_.reported_version() != desired.config_version()) out_of_sync_since_ = changed_at;
  maybe_push();
  note_state();
}

void DataPlaneLink::open_stream() {
  if (stopped_) return;
  auto call = std::make_shared<StreamCall>();
  authenticate(call->context, env_->security.token);
  // Once a data plane has been seen, a new stream waits for the channel to connect again (gRPC
  // reconnects with its own backoff), so one that restarts is seen as soon as it listens; the
  // reason it went away stays its last error. Before that, a stream fails at once, so the
  // reason it cannot be reached (refused, TLS, no such host) is there to show.
  call->context.set_wait_for_ready(seen_);
  *call->request.mutable_interval() = TimeUtil::MillisecondsToDuration(kWatchInterval.count());
  stream_ = call;
  ++env_->calls;
  auto* reader = new StatusReader(call, &call->message, env_, weak_from_this(), ++epoch_);
  stub_->async()->WatchStatus(&call->context, &call->request, reader);
  reader->begin();
}

void DataPlaneLink::on_status(std::uint64_t epoch, const v1::Status& status) {
  if (stopped_ || epoch != epoch_) return;
  if (!sync_.connected()) {
    LB_LOG(kInfo, "data plane ", name_, ": connected; it runs ",
           status.config_version().empty() ? std::string("a config no control plane pushed")
                                           : status.config_version(),
           " (generation ", status.generation(), ")");
  }
  seen_ = true;
  last_status_ = status;
  last_contact_ = std::chrono::system_clock::now();
  stream_backoff_.reset();
  sync_.reported(status.config_version(), status.generation());
  // A data plane that drifted (changed directly, or restarted) is out of sync from now on.
  if (!sync_.desired().empty() && sync_.reported_version() != sync_.desired() &&
      !out_of_sync_since_) {
    out_of_sync_since_ = Clock::now();
  }
  maybe_push();
  note_state();
}

void DataPlaneLink::on_stream_end(std::uint64_t epoch, const grpc::Status& status) {
  if (stopped_ || epoch != epoch_) return;
  stream_.reset();
  const std::string error =
      status.ok() ? std::string("the data plane ended its status stream (shutting down?)")
                  : describe(status);
  if (sync_.connected()) LB_LOG(kWarn, "data plane ", name_, ": unreachable: ", error);
  sync_.disconnected(error);
  note_state();
  after(stream_timer_, stream_backoff_.next(), &DataPlaneLink::open_stream);
}

void DataPlaneLink::maybe_push() {
  if (stopped_ || waiting_for_gate_ || !sync_.should_push()) return;
  if (!env_->gate.try_enter([weak = weak_from_this()] {
        if (auto self = weak.lock()) {
          self->waiting_for_gate_ = false;
          self->maybe_push();
        }
      })) {
    waiting_for_gate_ = true;
    return;
  }
  push();
}

void DataPlaneLink::push() {
  struct PushCall {
    grpc::ClientContext context;
    v1::SetTargetsRequest request;
    v1::ChangeResponse response;
  };
  sync_.push_started();
  auto call = std::make_shared<PushCall>();
  call->context.set_deadline(std::chrono::system_clock::now() + env_->push_timeout);
  authenticate(call->context, env_->security.token);
  *call->request.mutable_config() = desired_;
  call->request.set_expected_generation(sync_.generation());
  LB_LOG(kDebug, "data plane ", name_, ": pushing ", desired_.config_version(), " at generation ",
         sync_.generation());
  ++env_->calls;
  stub_->async()->SetTargets(&call->context, &call->request, &call->response,
                             [call, env = env_, link = weak_from_this()](grpc::Status status) {
                               asio::post(env->io, [call, env, link, status] {
                                 if (auto l = link.lock()) l->on_push_done(status, call->response);
                                 env->gate.leave();
                               });
                               --env->calls;
                             });
}

void DataPlaneLink::on_push_done(const grpc::Status& status, const v1::ChangeResponse& response) {
  using Result = SyncState::PushResult;
  Result result = Result::kOk;
  std::string error;
  switch (status.error_code()) {
    case grpc::StatusCode::OK:
      break;
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::RESOURCE_EXHAUSTED:  // beyond its -max-targets or connections limit
      result = Result::kRejected;
      error = str_cat("refused ", desired_.config_version(), ": ", status.error_message());
      LB_LOG(kWarn, "data plane ", name_, ": ", error, " (not sent again until the desired ",
             "config changes)");
      break;
    case grpc::StatusCode::FAILED_PRECONDITION:
      result = Result::kConflict;  // it changed meanwhile; its next status has the generation
      error = status.error_message();
      break;
    default:
      result = Result::kFailed;
      error = str_cat("push: ", describe(status));
      LB_LOG(kWarn, "data plane ", name_, ": ", error);
      break;
  }
  env_->stats->pushed(result);
  sync_.push_finished(result, error, response.generation());
  if (stopped_) return;
  if (result == Result::kFailed) {
    after(push_timer_, push_backoff_.next(), &DataPlaneLink::retry_push);
  } else {
    push_backoff_.reset();
  }
  note_state();
  maybe_push();  // the desired config may have moved on while this push was under way
}

void DataPlaneLink::retry_push() {
  sync_.retry_allowed();
  maybe_push();
}

void DataPlaneLink::note_state() {
  if (sync_.state() == SyncState::State::kSynced && out_of_sync_since_) {
    const double seconds =
        std::chrono::duration<double>(Clock::now() - *out_of_sync_since_).count();
    env_->stats->converged(seconds);
    LB_LOG(kInfo, "data plane ", name_, ": runs ", sync_.desired(), " (",
           static_cast<int>(seconds * 1000), " ms after it changed)");
    out_of_sync_since_.reset();
  }
  if (env_->changed) env_->changed();
}

void DataPlaneLink::trigger_failback(const std::string& target) {
  struct Call {
    grpc::ClientContext context;
    v1::TriggerFailbackRequest request;
    v1::ChangeResponse response;
  };
  auto call = std::make_shared<Call>();
  call->context.set_deadline(std::chrono::system_clock::now() + env_->push_timeout);
  authenticate(call->context, env_->security.token);
  call->request.set_target(target);
  ++env_->calls;
  stub_->async()->TriggerFailback(&call->context, &call->request, &call->response,
                                  [call, env = env_, name = name_](grpc::Status status) {
                                    if (!status.ok()) {
                                      LB_LOG(kWarn, "data plane ", name,
                                             ": failback: ", describe(status));
                                    }
                                    --env->calls;
                                  });
}

void DataPlaneLink::fill(v1::DataPlaneStatus& out) const {
  out.set_address(name_);
  switch (sync_.state()) {
    case SyncState::State::kSynced:
      out.set_state(v1::DataPlaneStatus::SYNCED);
      break;
    case SyncState::State::kPending:
      out.set_state(v1::DataPlaneStatus::PENDING);
      break;
    case SyncState::State::kRejected:
      out.set_state(v1::DataPlaneStatus::REJECTED);
      break;
    case SyncState::State::kUnreachable:
      out.set_state(v1::DataPlaneStatus::UNREACHABLE);
      break;
  }
  out.set_desired_config_version(sync_.desired());
  out.set_reported_config_version(sync_.reported_version());
  out.set_generation(sync_.generation());
  out.set_last_error(sync_.last_error());
  if (last_contact_) {
    *out.mutable_last_contact() = TimeUtil::NanosecondsToTimestamp(
        std::chrono::duration_cast<std::chrono::nanoseconds>(last_contact_->time_since_epoch())
            .count());
  }
  out.set_pushes(sync_.pushes());
  out.set_received_lines(last_status_.totals().received_lines());
  out.set_sent_lines(last_status_.totals().sent_lines());
  out.set_queue_bytes(last_status_.queue_bytes());
  out.set_client_connections(last_status_.client_connections());
}

}  // namespace jsontcplb::controlplane
