#include "controlplane/control_plane.h"

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/message_differencer.h>
#include <google/protobuf/util/time_util.h>

#include <boost/asio/co_spawn.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>

#include "controlplane/config_watcher.h"
#include "controlplane/core/overrides.h"
#include "controlplane/data_plane_link.h"
#include "controlplane/dns_watcher.h"
#include "controlplane/fleet_stats.h"
#include "dataplane/core/log.h"
#include "dataplane/core/text_file.h"
#include "dataplane/core/units.h"
#include "dataplane/core/version.h"
#include "dataplane/coro.h"

namespace jsontcplb::controlplane {
namespace {

using google::protobuf::util::MessageDifferencer;
using google::protobuf::util::TimeUtil;
using std::chrono::milliseconds;
using SteadyClock = std::chrono::steady_clock;

// A burst of file events or DNS changes becomes one recomputation once it has been quiet this
// long, and at the latest this long after it began.
constexpr milliseconds kQuiet(50);
constexpr milliseconds kMaxDelay(500);
// New links' first calls are spread over up to this long (a restarted control plane does not
// call every data plane in the same millisecond), 5 ms per data plane.
constexpr milliseconds kMaxStartSpread(1000);
constexpr milliseconds kStartSpreadPerLink(5);
// At shutdown, how long gRPC calls under way may take to end.
constexpr milliseconds kShutdownGrace(3000);

std::string describe_desired(const v1::DataPlaneConfig& c) {
  std::string text = str_cat(c.targets_size(), " target(s)");
  if (c.connections() != 0) str_append(text, ", ", c.connections(), " connections each");
  if (c.has_failback_interval()) {
    str_append(
        text, ", failback interval ",
        format_duration(milliseconds(TimeUtil::DurationToMilliseconds(c.failback_interval()))));
  }
  return text;
}

}  // namespace

ControlPlane::ControlPlane(asio::io_context& io, const Options& options,
                           std::shared_ptr<FleetStats> stats)
    : io_(io),
      options_(options),
      stats_(std::move(stats)),
      reload_debounce_(kQuiet, kMaxDelay),
      recompute_debounce_(kQuiet, kMaxDelay),
      debounce_timer_(io) {}

ControlPlane::~ControlPlane() = default;

absl::StatusOr<std::shared_ptr<ControlPlane>> ControlPlane::create(
    asio::io_context& io, const Options& options, std::shared_ptr<FleetStats> stats) {
  auto cp = std::make_shared<ControlPlane>(io, options, stats);
  auto text = read_file(options.config_file);
  if (!text) {
    return absl::InvalidArgumentError(str_cat("config ", options.config_file, ": cannot read it"));
  }
  auto parsed = parse_fleet_config(*text);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(
        str_cat("config ", options.config_file, ": ", std::string(parsed.status().message())));
  }
  cp->file_ = *std::move(parsed);
  cp->file_text_ = *std::move(text);
  auto security = load_client_security({.token_file = options.dataplane_token_file,
                                        .tls_ca = options.dataplane_tls_ca,
                                        .tls_cert = options.dataplane_tls_cert,
                                        .tls_key = options.dataplane_tls_key,
                                        .token_flag = "dataplane-token-file",
                                        .ca_flag = "dataplane-tls-ca",
                                        .cert_flag = "dataplane-tls-cert",
                                        .key_flag = "dataplane-tls-key"});
  if (!security.ok()) return security.status();
  cp->link_env_ = std::make_shared<LinkEnv>(io, *std::move(security), options.push_timeout,
                                            std::move(stats), options.max_concurrent_pushes);
  if (!options.state_file.empty() && std::filesystem::exists(options.state_file)) {
    auto state = read_file(options.state_file);
    google::protobuf::util::JsonParseOptions json;
    json.ignore_unknown_fields = false;
    if (!state ||
        !google::protobuf::util::JsonStringToMessage(*state, &cp->overrides_, json).ok()) {
      return absl::InvalidArgumentError(str_cat("invalid value \"", options.state_file,
                                                "\" for -state-file: not a state file this "
                                                "lb-controlplane wrote"));
    }
    for (const std::string& line : drop_overrides_the_file_changed(cp->overrides_, cp->file_)) {
      LB_LOG(kInfo, "override dropped while stopped: ", line);
    }
  }
  return cp;
}

void ControlPlane::start() {
  std::weak_ptr<ControlPlane> weak = weak_from_this();
  link_env_->changed = [weak] {
    if (auto self = weak.lock()) self->refresh_gauges();
  };
  dns_ = std::make_unique<DnsWatcher>(io_, *stats_, [weak] {
    if (auto self = weak.lock()) self->schedule_recompute();
  });
  watcher_ = std::make_shared<ConfigWatcher>(io_, options_.config_file, [weak] {
    if (auto self = weak.lock()) self->config_event();
  });
  watcher_->start();
  co_spawn(
      io_, [self = shared_from_this()] { return self->debounce_loop(); },
      log_if_thrown("debounce"));
  LB_LOG(kInfo, "lb-controlplane ", kVersion, ": config ", options_.config_file, " with ",
         file_.targets_size(), " target entr", file_.targets_size() == 1 ? "y" : "ies", " and ",
         file_.data_planes_size(), " data plane entr", file_.data_planes_size() == 1 ? "y" : "ies");
  recompute();
}

void ControlPlane::shut_down() {
  stopped_ = true;
  for (auto& [name, link] : links_) link->stop();
  if (dns_) dns_->stop();
  if (watcher_) watcher_->stop();
  debounce_timer_.cancel();
  const auto deadline = SteadyClock::now() + kShutdownGrace;
  io_.restart();
  while (link_env_->calls > 0 && SteadyClock::now() < deadline) {
    io_.run_for(milliseconds(20));
  }
}

void ControlPlane::config_event() {
  reload_debounce_.touch(SteadyClock::now());
  debounce_timer_.cancel();  // the loop waits again, until the new due time
}

void ControlPlane::schedule_recompute() {
  recompute_debounce_.touch(SteadyClock::now());
  debounce_timer_.cancel();
}

asio::awaitable<void> ControlPlane::debounce_loop() {
  auto self = shared_from_this();
  while (!stopped_) {
    auto next = SteadyClock::time_point::max();
    if (auto due = reload_debounce_.due()) next = std::min(next, *due);
    if (auto due = recompute_debounce_.due()) next = std::min(next, *due);
    debounce_timer_.expires_at(next);
    co_await debounce_timer_.async_wait(kUseAwaitable);
    if (stopped_) co_return;
    const auto now = SteadyClock::now();
    if (auto due = reload_debounce_.due(); due && *due <= now) {
      reload_debounce_.fired();
      reload_config();
    }
    if (auto due = recompute_debounce_.due(); due && *due <= now) {
      recompute_debounce_.fired();
      recompute();
    }
  }
}

void ControlPlane::reload_config() {
  const std::string& path = options_.config_file;
  auto text = read_file(path);
  if (!text) {
    if (file_error_.empty()) {
      LB_LOG(kError, "config ", path, ": cannot read it; the last good config stays in force");
    }
    file_error_ = "cannot read it";
    return;
  }
  if (*text == file_text_) return;  // nothing changed (the periodic re-read, or a touch)
  file_text_ = *text;
  auto parsed = parse_fleet_config(*text);
  if (!parsed.ok()) {
    file_error_ = std::string(parsed.status().message());
    LB_LOG(kError, "config ", path, ": edit refused: ", file_error_,
           "; the last good config stays in force");
    stats_->config_reload(false);
    return;
  }
  file_error_.clear();
  if (MessageDifferencer::Equals(*parsed, file_)) return;  // only spacing or order of keys
  file_ = *std::move(parsed);
  stats_->config_reload(true);
  LB_LOG(kInfo, "config ", path, ": reloaded");
  const auto dropped = drop_overrides_the_file_changed(overrides_, file_);
  for (const std::string& line : dropped) LB_LOG(kInfo, "override dropped: ", line);
  if (!dropped.empty()) save_state_file();
  recompute();
}

void ControlPlane::recompute() {
  if (stopped_) return;
  dns_->set_names(dns_names(file_, overrides_), dns_refresh_interval(file_));
  const DnsAnswers& answers = dns_->answers();
  Desired next = compose(file_, overrides_, answers);
  compose_conditions_.clear();
  const bool waiting = dns_->awaiting_first_lookup(next.unresolved);
  if (waiting) {
    // Their first answers are due any moment: a config without those targets would move lines
    // off them only to move them back.
    compose_conditions_.push_back("waiting for the first DNS answers before pushing");
    schedule_recompute();
  } else {
    for (const std::string& name : next.unresolved) {
      compose_conditions_.push_back(
          str_cat("dns ", name, ": no answer yet; its targets are left out"));
    }
  }
  if (waiting) {
    // The desired config stays as it is.
  } else if (next.config.targets().empty()) {
    compose_conditions_.push_back(
        desired_.targets().empty()
            ? std::string("no target resolved yet: nothing is pushed")
            : str_cat("no target resolved: an empty target list is never pushed; the data "
                      "planes keep ",
                      desired_.config_version()));
  } else if (next.config.config_version() != desired_.config_version()) {
    desired_ = std::move(next.config);
    desired_changed_at_ = SteadyClock::now();
    LB_LOG(kInfo, "desired config ", desired_.config_version(), ": ", describe_desired(desired_));
    for (auto& [name, link] : links_) link->set_desired(desired_, desired_changed_at_);
  }

  std::set<std::string> wanted;
  const auto addresses = data_plane_addresses(file_, answers);
  for (const TargetAddress& a : addresses) wanted.insert(a.to_string());
  for (auto it = links_.begin(); it != links_.end();) {
    if (wanted.count(it->first) != 0) {
      ++it;
      continue;
    }
    LB_LOG(kInfo, "data plane ", it->first, ": no longer in the fleet (it keeps its config)");
    it->second->stop();
    it = links_.erase(it);
  }
  std::size_t added = 0;
  for (const TargetAddress& a : addresses) added += links_.count(a.to_string()) == 0 ? 1 : 0;
  static std::mt19937_64 rng{std::random_device{}()};
  const auto spread = std::min<milliseconds>(kMaxStartSpread, kStartSpreadPerLink * added);
  std::uniform_int_distribution<std::int64_t> delay(0, spread.count());
  for (const TargetAddress& a : addresses) {
    const std::string name = a.to_string();
    if (links_.count(name) != 0) continue;
    auto link = std::make_shared<DataPlaneLink>(link_env_, a);
    link->set_desired(desired_, SteadyClock::now());
    link->start(milliseconds(delay(rng)));
    links_.emplace(name, std::move(link));
  }
  refresh_gauges();
}

void ControlPlane::refresh_gauges() {
  std::array<int, 4> by_state{};
  for (const auto& [name, link] : links_) ++by_state[static_cast<std::size_t>(link->state())];
  stats_->data_planes(by_state);
}

v1::FleetStatus ControlPlane::status() const {
  v1::FleetStatus s;
  s.set_version(kVersion);
  *s.mutable_uptime() = TimeUtil::NanosecondsToDuration(
      std::chrono::duration_cast<std::chrono::nanoseconds>(SteadyClock::now() - started_at_)
          .count());
  *s.mutable_desired() = desired_;
  *s.mutable_target_entries() = effective_targets(file_, overrides_);
  s.set_targets_overridden(overrides_.has_targets());
  v1::FleetTotals& totals = *s.mutable_totals();
  for (const auto& [name, link] : links_) {
    v1::DataPlaneStatus& d = *s.add_data_planes();
    link->fill(d);
    totals.set_data_planes(totals.data_planes() + 1);
    if (d.state() == v1::DataPlaneStatus::SYNCED) totals.set_synced(totals.synced() + 1);
    totals.set_received_lines(totals.received_lines() + d.received_lines());
    totals.set_sent_lines(totals.sent_lines() + d.sent_lines());
    totals.set_queue_bytes(totals.queue_bytes() + d.queue_bytes());
    totals.set_client_connections(totals.client_connections() + d.client_connections());
  }
  if (!file_error_.empty()) {
    s.add_conditions(str_cat("config ", options_.config_file, ": the last edit was refused (",
                             file_error_, "); the last good config stays in force"));
  }
  for (const std::string& c : compose_conditions_) s.add_conditions(c);
  if (dns_) {
    for (const std::string& c : dns_->conditions()) s.add_conditions(c);
  }
  return s;
}

absl::StatusOr<std::string> ControlPlane::change(const Edit& edit) {
  v1::FleetOverrides next = overrides_;
  if (auto status = edit(next, file_); !status.ok()) return status;
  overrides_ = std::move(next);
  save_state_file();
  recompute();
  return desired_.config_version();
}

std::size_t ControlPlane::trigger_failback(const std::string& target) {
  for (auto& [name, link] : links_) link->trigger_failback(target);
  return links_.size();
}

void ControlPlane::save_state_file() {
  if (options_.state_file.empty()) return;
  std::string json;
  google::protobuf::util::JsonPrintOptions print;
  print.add_whitespace = true;
  google::protobuf::util::MessageToJsonString(overrides_, &json, print);
  // Written next to it and renamed over it, so a crash never leaves half a file.
  const std::string temp = options_.state_file + ".tmp";
  {
    std::ofstream out(temp, std::ios::trunc);
    out << json;
    if (!out.flush()) {
      LB_LOG(kError, "state file ", options_.state_file, ": cannot write ", temp,
             "; the overrides will not survive a restart");
      return;
    }
  }
  if (std::rename(temp.c_str(), options_.state_file.c_str()) != 0) {
    LB_LOG(kError, "state file ", options_.state_file, ": cannot replace it; the overrides will ",
           "not survive a restart");
  }
}

}  // namespace jsontcplb::controlplane
