#include "dataplane/target_set.h"

#include <absl/container/flat_hash_map.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>

#include "dataplane/core/log.h"
#include "dataplane/core/str_cat.h"
#include "dataplane/core/units.h"
#include "dataplane/coro.h"
#include "dataplane/line_queue.h"
#include "dataplane/stats.h"
#include "dataplane/target.h"

namespace jsontcplb {

TargetSet::TargetSet(asio::io_context::executor_type executor, LiveConfig initial, WorkerEnv env,
                     ConfigLimits limits)
    : executor_(std::move(executor)),
      env_(std::make_shared<WorkerEnv>(std::move(env))),
      config_(std::move(initial)),
      limits_(limits) {
  for (const TargetSpec& spec : config_.targets) env_->targets.push_back(make_target(spec.address));
  env_->failback_interval = config_.failback_interval;
}

void TargetSet::start() {
  for (std::size_t i = 0; i < env_->targets.size(); ++i) {
    reconcile(env_->targets[i], config_.connections_for(config_.targets[i]));
  }
}

std::shared_ptr<Target> TargetSet::make_target(const TargetAddress& address) {
  return std::make_shared<Target>(address, env_->stats->add_target(address.to_string()));
}

std::shared_ptr<Target> TargetSet::find(const TargetAddress& address) const {
  for (const auto& t : env_->targets) {
    if (t->address == address) return t;
  }
  return nullptr;
}

absl::Status TargetSet::check_generation(std::optional<std::uint64_t> expected) const {
  if (!expected || *expected == generation_) return absl::OkStatus();
  return absl::FailedPreconditionError(str_cat("expected_generation ", *expected,
                                               " does not match the current generation ",
                                               generation_, "; re-read the status and retry"));
}

absl::StatusOr<std::uint64_t> TargetSet::apply(LiveConfig next,
                                               std::optional<std::uint64_t> expected_generation) {
  if (auto status = check_generation(expected_generation); !status.ok()) return status;
  if (auto status = validate(next); !status.ok()) return status;
  if (auto status = check_limits(next, limits_); !status.ok()) return status;
  std::vector<std::shared_ptr<Target>> targets;
  for (const TargetSpec& spec : next.targets) {
    auto target = find(spec.address);
    if (!target) {
      target = make_target(spec.address);
      LB_LOG(kInfo, "target ", target->name, " added");
    }
    targets.push_back(std::move(target));
  }
  for (const auto& old : env_->targets) {
    if (std::find(targets.begin(), targets.end(), old) != targets.end()) continue;
    old->removed = true;
    env_->stats->remove_target(old->counters, old->name);
    LB_LOG(kInfo, "target ", old->name, " removed");
    reconcile(old, 0);
  }
  env_->targets = std::move(targets);
  env_->failback_interval = next.failback_interval;
  config_ = std::move(next);
  for (std::size_t i = 0; i < env_->targets.size(); ++i) {
    reconcile(env_->targets[i], config_.connections_for(config_.targets[i]));
  }
  // Workers using a removed target notice at their next step; wake the idle ones.
  wake_workers();
  ++generation_;
  env_->stats->changed();
  return generation_;
}

absl::Status TargetSet::trigger_failback(const std::optional<TargetAddress>& home) {
  std::shared_ptr<Target> only;
  if (home) {
    only = find(*home);
    if (!only) {
      return absl::InvalidArgumentError(
          str_cat("target: \"", home->to_string(), "\" is not a target"));
    }
  }
  for (const auto& w : workers_) {
    if (!only || w->home() == only) w->trigger_failback();
  }
  env_->stats->changed();
  return absl::OkStatus();
}

void TargetSet::wake_workers() {
  for (const auto& w : workers_) w->wake();
}

void TargetSet::start_worker(std::shared_ptr<Target> home, std::size_t spread) {
  auto worker = std::make_shared<Worker>(executor_, env_, std::move(home), spread);
  workers_.push_back(worker);
  co_spawn(executor_, Worker::run(worker),
           [self = shared_from_this(), worker](std::exception_ptr e) {
             log_if_thrown(str_cat("worker ", worker->name()))(e);
             self->worker_exited(*worker);
           });
}

void TargetSet::reconcile(const std::shared_ptr<Target>& target, std::size_t wanted) {
  std::vector<std::shared_ptr<Worker>> mine;
  for (const auto& w : workers_) {
    if (w->home() == target && !w->stopping()) mine.push_back(w);
  }
  // Keep the lowest spread numbers so the names stay target#0..#N-1.
  std::sort(mine.begin(), mine.end(),
            [](const auto& a, const auto& b) { return a->spread() < b->spread(); });
  for (std::size_t i = wanted; i < mine.size(); ++i) mine[i]->stop();
  if (mine.size() >= wanted) return;
  // New workers take the lowest free spread numbers. One pass over the workers: a change may
  // start up to -max-total-connections of them.
  std::vector<bool> taken(wanted, false);
  for (std::size_t i = 0; i < std::min(mine.size(), wanted); ++i) {
    if (mine[i]->spread() < wanted) taken[mine[i]->spread()] = true;
  }
  std::size_t spread = 0;
  for (std::size_t have = mine.size(); have < wanted; ++have) {
    while (spread < wanted && taken[spread]) ++spread;
    start_worker(target, spread++);
  }
}

void TargetSet::worker_exited(const Worker& worker) {
  std::erase_if(workers_, [&](const auto& w) { return w.get() == &worker; });
  env_->stats->changed();
  if (workers_.empty() && env_->queue->closed() && on_all_exited_) on_all_exited_();
}

void TargetSet::log_down_targets(std::chrono::steady_clock::time_point now) {
  constexpr std::chrono::minutes kSummaryInterval(1);
  for (const auto& t : env_->targets) {
    if (t->health.healthy() || t->failed_dials == 0 || now - t->last_summary < kSummaryInterval) {
      continue;
    }
    t->last_summary = now;
    LB_LOG(
        kWarn, "target ", t->name, " still down after ",
        format_duration(std::chrono::duration_cast<std::chrono::milliseconds>(now - t->down_since)),
        ": ", t->failed_dials, " failed connection attempts (last: ", t->last_error, ")");
  }
}

void TargetSet::fill(Snapshot& s) const {
  s.generation = generation_;
  s.config_version = config_.config_version;
  s.default_connections = config_.connections;
  s.failback_interval = config_.failback_interval;
  absl::flat_hash_map<const Target*, std::size_t> index;
  for (std::size_t i = 0; i < env_->targets.size(); ++i) {
    const Target& t = *env_->targets[i];
    index[&t] = i;
    TargetSnapshot& ts = s.targets.emplace_back();
    ts.address = t.name;
    ts.connections_wanted = config_.connections_for(config_.targets[i]);
    ts.connections_connected = static_cast<std::uint32_t>(t.connected_workers);
    ts.healthy = t.health.healthy();
    ts.sent_lines = Stats::value(t.counters.sent_lines);
    ts.sent_bytes = Stats::value(t.counters.sent_bytes);
    ts.resent_unacked_lines = Stats::value(t.counters.resent_unacked);
    ts.resent_maybe_unread_lines = Stats::value(t.counters.resent_maybe_unread);
    ts.resent_lines = ts.resent_unacked_lines + ts.resent_maybe_unread_lines;
  }
  for (const auto& w : workers_) {
    const Target* current = w->current_target().get();
    // Workers count under the target they are connected (or connecting) to.
    if (auto it = index.find(current); it != index.end()) {
      TargetSnapshot& ts = s.targets[it->second];
      ts.unacked_bytes += w->unacked_bytes();
      ts.retained_bytes += w->retained_bytes();
      ++ts.workers_by_state[static_cast<std::size_t>(w->state())];
    }
    s.workers.push_back(WorkerSnapshot{w->name(), w->home()->name,
                                       current != nullptr ? current->name : std::string(),
                                       w->state(), w->unacked_bytes(), w->retained_bytes()});
  }
}

}  // namespace jsontcplb
