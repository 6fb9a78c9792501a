// lbctl against lb-controlplane's API (jsontcplb.v1.FleetControl): the real lbctl binary talks to
// a small in-process fake control plane on loopback that answers a fixed FleetStatus and records
// every request. lbctl must tell it apart from json-tcp-lb by itself, send the fleet requests,
// refuse what only a data plane does, and keep working against the real json-tcp-lb.
#include <absl/synchronization/mutex.h>
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cli/status_text.h"
#include "dataplane/grpc_common.h"
#include "jsontcplb/v1/control.pb.h"
#include "jsontcplb/v1/fleet.grpc.pb.h"
#include "tests/tools/command.h"
#include "tests/tools/process.h"
#include "tests/tools/temp_dir.h"

namespace lbtest {
namespace {

using google::protobuf::util::TimeUtil;
using std::chrono::milliseconds;
using std::chrono::seconds;
namespace v1 = jsontcplb::v1;

constexpr milliseconds kWait = seconds(10);

// A status with every part set: two data planes in different states, totals, conditions.
v1::FleetStatus sample_status() {
  v1::FleetStatus s;
  s.set_version("0.9.1");
  s.mutable_uptime()->set_seconds(3723);
  v1::DataPlaneConfig& desired = *s.mutable_desired();
  desired.set_config_version("cfg-7f3a");
  desired.set_connections(4);
  *desired.mutable_failback_interval() = TimeUtil::SecondsToDuration(300);
  desired.add_targets()->set_address("10.0.0.5:5000");
  v1::Target& own = *desired.add_targets();
  own.set_address("10.0.0.6:5000");
  own.set_connections(2);
  v1::DataPlaneStatus& a = *s.add_data_planes();
  a.set_address("10.1.0.1:9001");
  a.set_state(v1::DataPlaneStatus::SYNCED);
  a.set_desired_config_version("cfg-7f3a");
  a.set_reported_config_version("cfg-7f3a");
  a.set_generation(12);
  *a.mutable_last_contact() = TimeUtil::SecondsToTimestamp(1'700'000'000);
  a.set_pushes(3);
  a.set_received_lines(1'234'567);
  a.set_sent_lines(1'234'000);
  a.set_queue_bytes(3 << 20);
  a.set_client_connections(17);
  v1::DataPlaneStatus& b = *s.add_data_planes();
  b.set_address("10.1.0.2:9001");
  b.set_state(v1::DataPlaneStatus::UNREACHABLE);
  b.set_desired_config_version("cfg-7f3a");
  b.set_last_error("connection refused");
  v1::FleetTotals& t = *s.mutable_totals();
  t.set_data_planes(2);
  t.set_synced(1);
  t.set_received_lines(1'234'567);
  t.set_sent_lines(1'234'000);
  t.set_queue_bytes(3 << 20);
  t.set_client_connections(17);
  s.add_conditions("dns receivers.svc:5000: lookup failed; keeping the last answer");
  return s;
}

// lb-controlplane as far as lbctl can tell: FleetControl on 127.0.0.1, port 0.
class FakeControlPlane final : public v1::FleetControl::CallbackService {
 public:
  // Every request it got, in order per RPC.
  struct Calls {
    int get_fleet_status = 0;
    std::vector<v1::FleetSetTargetsRequest> set_targets;
    std::vector<v1::FleetAddTargetRequest> add_target;
    std::vector<v1::FleetRemoveTargetRequest> remove_target;
    std::vector<v1::FleetSetConnectionsRequest> set_connections;
    std::vector<v1::TriggerFailbackRequest> trigger_failback;
    int changes() const {
      return static_cast<int>(set_targets.size() + add_target.size() + remove_target.size() +
                              set_connections.size() + trigger_failback.size());
    }
  };

  // With a `token`, calls without "authorization: Bearer <token>" are UNAUTHENTICATED.
  explicit FakeControlPlane(v1::FleetStatus status, std::string token = "")
      : token_(std::move(token)), status_(std::move(status)) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(this);
    server_ = builder.BuildAndStart();
  }
  ~FakeControlPlane() override { stop(); }
  FakeControlPlane(const FakeControlPlane&) = delete;
  FakeControlPlane& operator=(const FakeControlPlane&) = delete;

  bool started() const { return server_ != nullptr && port_ != 0; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  // Closes the port; calls under way get a second to finish.
  void stop() {
    if (server_) server_->Shutdown(std::chrono::system_clock::now() + seconds(1));
  }

  void set_status(v1::FleetStatus status) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    status_ = std::move(status);
  }
  // When on, every answer's uptime is one second more than the last (a clock that runs).
  void set_clock_runs(bool runs) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    clock_runs_ = runs;
  }
  // Change RPCs answer `status` from now on (OK: the usual FleetChangeResponse).
  void set_change_result(grpc::Status status) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    change_result_ = std::move(status);
  }
  Calls calls() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return calls_;
  }
  // Waits until GetFleetStatus has been answered at least `n` times.
  bool wait_for_status_calls(int n, milliseconds timeout) const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    auto enough = [this, n]()
                      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return calls_.get_fleet_status >= n; };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), absl::FromChrono(timeout));
  }

  grpc::ServerUnaryReactor* GetFleetStatus(grpc::CallbackServerContext* ctx,
                                           const v1::GetFleetStatusRequest*,
                                           v1::FleetStatus* response) override {
    if (auto refused = jsontcplb::check_bearer_token(*ctx, token_)) return finish(ctx, *refused);
    absl::MutexLock lock(&mu_);
    *response = status_;
    if (clock_runs_) {
      response->mutable_uptime()->set_seconds(status_.uptime().seconds() + calls_.get_fleet_status);
      for (v1::DataPlaneStatus& d : *response->mutable_data_planes()) {
        d.mutable_last_contact()->set_seconds(d.last_contact().seconds() + calls_.get_fleet_status);
      }
    }
    ++calls_.get_fleet_status;
    return finish(ctx, grpc::Status::OK);
  }
  grpc::ServerUnaryReactor* SetTargets(grpc::CallbackServerContext* ctx,
                                       const v1::FleetSetTargetsRequest* request,
                                       v1::FleetChangeResponse* response) override {
    return change(ctx, &Calls::set_targets, *request, "targets set", response);
  }
  grpc::ServerUnaryReactor* AddTarget(grpc::CallbackServerContext* ctx,
                                      const v1::FleetAddTargetRequest* request,
                                      v1::FleetChangeResponse* response) override {
    return change(ctx, &Calls::add_target, *request, "target added", response);
  }
  grpc::ServerUnaryReactor* RemoveTarget(grpc::CallbackServerContext* ctx,
                                         const v1::FleetRemoveTargetRequest* request,
                                         v1::FleetChangeResponse* response) override {
    return change(ctx, &Calls::remove_target, *request, "target removed", response);
  }
  grpc::ServerUnaryReactor* SetConnections(grpc::CallbackServerContext* ctx,
                                           const v1::FleetSetConnectionsRequest* request,
                                           v1::FleetChangeResponse* response) override {
    return change(ctx, &Calls::set_connections, *request, "connections set", response);
  }
  grpc::ServerUnaryReactor* TriggerFailback(grpc::CallbackServerContext* ctx,
                                            const v1::TriggerFailbackRequest* request,
                                            v1::FleetChangeResponse* response) override {
    return change(ctx, &Calls::trigger_failback, *request, "failback triggered", response);
  }

 private:
  static grpc::ServerUnaryReactor* finish(grpc::CallbackServerContext* ctx, grpc::Status status) {
    auto* reactor = ctx->DefaultReactor();
    reactor->Finish(std::move(status));
    return reactor;
  }

  template <typename Request>
  grpc::ServerUnaryReactor* change(grpc::CallbackServerContext* ctx,
                                   std::vector<Request> Calls::*log, const Request& request,
                                   const char* message, v1::FleetChangeResponse* response)
      ABSL_LOCKS_EXCLUDED(mu_) {
    if (auto refused = jsontcplb::check_bearer_token(*ctx, token_)) return finish(ctx, *refused);
    absl::MutexLock lock(&mu_);
    (calls_.*log).push_back(request);
    if (!change_result_.ok()) return finish(ctx, change_result_);
    response->set_config_version("cfg-" + std::to_string(calls_.changes() + 100));
    response->set_message(message);
    return finish(ctx, grpc::Status::OK);
  }

  const std::string token_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
  mutable absl::Mutex mu_;
  v1::FleetStatus status_ ABSL_GUARDED_BY(mu_);
  bool clock_runs_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status change_result_ ABSL_GUARDED_BY(mu_);
  Calls calls_ ABSL_GUARDED_BY(mu_);
};

// `lbctl -server <fake> args...`
CommandResult lbctl(const FakeControlPlane& fake, std::vector<std::string> args) {
  args.insert(args.begin(), {"-server", fake.address()});
  return run_command(LBCTL_BINARY, args);
}

std::string joined(const std::vector<std::string>& args) {
  std::string out;
  for (const std::string& arg : args) out += (out.empty() ? "" : " ") + arg;
  return out;
}

template <typename Message>
std::optional<Message> parse_json(const std::string& json) {
  Message message;
  if (!google::protobuf::util::JsonStringToMessage(json, &message).ok()) return std::nullopt;
  return message;
}

// ---- the table, in process ---------------------------------------------------------------

TEST(FleetText, StatusTableShowsEveryPart) {
  const std::string text = jsontcplb::cli::format_fleet_status(sample_status());
  const std::string header = text.substr(0, text.find('\n'));
  EXPECT_EQ(header,
            "lb-controlplane 0.9.1, up 1h2m3s, desired config version cfg-7f3a (2 targets, "
            "default connections 4, failback interval 5m)");
  // One row per data plane, columns in this order, numbers and bytes as in the data-plane table.
  const std::string table = text.substr(header.size() + 2);
  std::vector<std::string> lines;
  for (std::size_t at = 0; at < table.size();) {
    const std::size_t end = table.find('\n', at);
    lines.push_back(table.substr(at, end - at));
    at = end + 1;
  }
  ASSERT_GE(lines.size(), 6u) << text;
  EXPECT_EQ(lines[0].find("DATA PLANE"), 0u) << text;
  std::size_t last = 0;
  for (const char* column : {"STATE", "REPORTED VERSION", "GENERATION", "RECEIVED", "SENT", "QUEUE",
                             "CLIENTS", "LAST ERROR"}) {
    const std::size_t at = lines[0].find(column);
    ASSERT_NE(at, std::string::npos) << column << "\n" << text;
    EXPECT_GT(at, last) << column << "\n" << text;
    last = at;
  }
  std::size_t at = 0;
  for (const char* cell :
       {"10.1.0.1:9001", "synced", "cfg-7f3a", "12", "1234567", "1234000", "3.0 MiB", "17"}) {
    at = lines[1].find(cell, at);
    ASSERT_NE(at, std::string::npos) << cell << "\n" << text;
  }
  EXPECT_EQ(lines[1].back(), '-') << "no last error\n" << text;
  at = 0;
  for (const char* cell : {"10.1.0.2:9001", "unreachable", "-", "0", "0 B", "connection refused"}) {
    at = lines[2].find(cell, at);
    ASSERT_NE(at, std::string::npos) << cell << "\n" << text;
  }
  EXPECT_EQ(lines[3], "");
  EXPECT_EQ(lines[4],
            "total 2 data planes (1 synced), received 1234567 lines, sent 1234000 lines, queue "
            "3.0 MiB, clients 17");
  EXPECT_EQ(lines[5], "condition: dns receivers.svc:5000: lookup failed; keeping the last answer");
  EXPECT_EQ(lines.size(), 6u) << text;
  // Right-aligned numbers: the GENERATION column ends where its header ends.
  const std::size_t generation_end = lines[0].find("GENERATION") + std::string("GENERATION").size();
  EXPECT_EQ(lines[1].substr(generation_end - 2, 2), "12") << text;

  // Nothing set: no failback interval, the data planes' own default connections, one target.
  v1::FleetStatus bare;
  bare.mutable_desired()->add_targets()->set_address("10.0.0.5:5000");
  bare.mutable_data_planes()->Add()->set_address("10.1.0.3:9001");
  const std::string plain = jsontcplb::cli::format_fleet_status(bare);
  EXPECT_EQ(plain.substr(0, plain.find('\n')),
            "lb-controlplane (unknown version), up 0s, desired config version - (1 target, the "
            "data planes' own default connections)");
  EXPECT_NE(plain.find("10.1.0.3:9001  -  "), std::string::npos) << plain;
  EXPECT_EQ(plain.find("condition"), std::string::npos) << plain;
}

TEST(FleetText, TargetsAndChanges) {
  EXPECT_EQ(jsontcplb::cli::format_fleet_targets(sample_status()),
            "TARGET         CONNECTIONS\n"
            "10.0.0.5:5000  4 (default)\n"
            "10.0.0.6:5000            2\n");
  v1::FleetStatus with_entries = sample_status();
  with_entries.add_target_entries()->set_dns("receivers:5000");
  with_entries.set_targets_overridden(true);
  const std::string listed = jsontcplb::cli::format_fleet_targets(with_entries);
  EXPECT_EQ(listed.rfind("TARGET ENTRY", 0), 0u) << listed;
  EXPECT_NE(listed.find("dns:receivers:5000"), std::string::npos) << listed;
  EXPECT_NE(listed.find("runtime override"), std::string::npos) << listed;
  EXPECT_NE(listed.find("10.0.0.5:5000  4 (default)"), std::string::npos) << listed;
  v1::FleetChangeResponse change;
  change.set_config_version("cfg-8");
  change.set_message("targets set");
  EXPECT_EQ(jsontcplb::cli::format_change(change), "targets set (config version cfg-8)\n");
  EXPECT_EQ(jsontcplb::cli::format_change(v1::FleetChangeResponse()), "done (config version -)\n");
}

// ---- lbctl against the fake --------------------------------------------------------------

TEST(FleetCli, StatusIsTheFleetTableOrItsJson) {
  const v1::FleetStatus status = sample_status();
  FakeControlPlane fake(status);
  ASSERT_TRUE(fake.started());

  CommandResult table = lbctl(fake, {"status"});
  ASSERT_EQ(table.exit_code, 0) << table;
  EXPECT_EQ(table.out, jsontcplb::cli::format_fleet_status(status)) << table;
  EXPECT_TRUE(table.err.empty()) << table;
  EXPECT_EQ(fake.calls().get_fleet_status, 1) << "the probe's answer is the status";

  CommandResult json = lbctl(fake, {"status", "-o", "json"});
  ASSERT_EQ(json.exit_code, 0) << json;
  EXPECT_EQ(std::count(json.out.begin(), json.out.end(), '\n'), 1) << json;
  EXPECT_NE(json.out.find("\"state\":\"UNREACHABLE\""), std::string::npos) << json;
  EXPECT_NE(json.out.find("\"pushes\":\"0\""), std::string::npos) << "zero values too\n" << json;
  auto back = parse_json<v1::FleetStatus>(json.out);
  ASSERT_TRUE(back.has_value()) << json;
  EXPECT_EQ(back->SerializeAsString(), status.SerializeAsString()) << back->DebugString();
  EXPECT_EQ(fake.calls().get_fleet_status, 2);
  EXPECT_EQ(fake.calls().changes(), 0);
}

TEST(FleetCli, TargetsListShowsTheDesiredTargets) {
  FakeControlPlane fake(sample_status());
  ASSERT_TRUE(fake.started());
  CommandResult table = lbctl(fake, {"targets", "list"});
  ASSERT_EQ(table.exit_code, 0) << table;
  EXPECT_EQ(table.out, jsontcplb::cli::format_fleet_targets(sample_status())) << table;

  CommandResult json = lbctl(fake, {"targets", "list", "-o", "json"});
  ASSERT_EQ(json.exit_code, 0) << json;
  google::protobuf::Struct parsed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json.out, &parsed).ok()) << json;
  EXPECT_EQ(parsed.fields().at("configVersion").string_value(), "cfg-7f3a") << json;
  const auto& targets = parsed.fields().at("targets").list_value();
  ASSERT_EQ(targets.values_size(), 2) << json;
  EXPECT_EQ(targets.values(0).struct_value().fields().at("address").string_value(),
            "10.0.0.5:5000");
  EXPECT_EQ(targets.values(0).struct_value().fields().at("connections").number_value(), 0);
  EXPECT_EQ(targets.values(1).struct_value().fields().at("connections").number_value(), 2);
  EXPECT_EQ(fake.calls().get_fleet_status, 2);
}

TEST(FleetCli, TargetsSetSendsAddressesAndDnsNames) {
  FakeControlPlane fake(sample_status());
  ASSERT_TRUE(fake.started());
  CommandResult r = lbctl(fake, {"targets", "set", "10.0.0.5:5000, dns:receivers.svc:5000",
                                 "[::1]:7000", "--connections", "4", "--failback-interval", "30s"});
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_EQ(r.out, "targets set (config version cfg-101)\n") << r;

  CommandResult keep = lbctl(fake, {"targets", "set", "dns:one.svc:1", "-o", "json"});
  ASSERT_EQ(keep.exit_code, 0) << keep;
  auto change = parse_json<v1::FleetChangeResponse>(keep.out);
  ASSERT_TRUE(change.has_value()) << keep;
  EXPECT_EQ(change->config_version(), "cfg-102");
  EXPECT_EQ(change->message(), "targets set");

  const FakeControlPlane::Calls calls = fake.calls();
  ASSERT_EQ(calls.set_targets.size(), 2u);
  const v1::FleetSetTargetsRequest& first = calls.set_targets[0];
  ASSERT_EQ(first.targets_size(), 3) << first.DebugString();
  EXPECT_EQ(first.targets(0).address(), "10.0.0.5:5000");
  EXPECT_EQ(first.targets(1).dns(), "receivers.svc:5000");
  EXPECT_EQ(first.targets(1).source_case(), v1::FleetTarget::kDns);
  EXPECT_EQ(first.targets(2).address(), "[::1]:7000");
  for (const auto& t : first.targets()) EXPECT_EQ(t.connections(), 0u);
  EXPECT_EQ(first.connections(), 4u);
  ASSERT_TRUE(first.has_failback_interval());
  EXPECT_EQ(TimeUtil::DurationToSeconds(first.failback_interval()), 30);
  // Without flags both stay as they are: 0 and unset.
  const v1::FleetSetTargetsRequest& second = calls.set_targets[1];
  ASSERT_EQ(second.targets_size(), 1);
  EXPECT_EQ(second.targets(0).dns(), "one.svc:1");
  EXPECT_EQ(second.connections(), 0u);
  EXPECT_FALSE(second.has_failback_interval());
  // One probe per command and nothing else: no read-modify-write against a control plane.
  EXPECT_EQ(calls.get_fleet_status, 2);
  EXPECT_EQ(calls.changes(), 2);
}

TEST(FleetCli, EveryChangeReachesTheControlPlane) {
  FakeControlPlane fake(sample_status());
  ASSERT_TRUE(fake.started());
  struct Case {
    std::vector<std::string> args;
    std::string out;
  };
  for (const Case& c : std::vector<Case>{
           {{"targets", "add", "dns:more.svc:5000", "--connections", "3"},
            "target added (config version cfg-101)\n"},
           {{"targets", "add", "10.0.0.9:5000"}, "target added (config version cfg-102)\n"},
           {{"targets", "remove", "dns:more.svc:5000"},
            "target removed (config version cfg-103)\n"},
           {{"targets", "remove", "10.0.0.9:5000"}, "target removed (config version cfg-104)\n"},
           {{"connections", "set", "6"}, "connections set (config version cfg-105)\n"},
           {{"failback"}, "failback triggered (config version cfg-106)\n"},
           {{"failback", "--target", "10.0.0.5:5000"},
            "failback triggered (config version cfg-107)\n"}}) {
    CommandResult r = lbctl(fake, c.args);
    EXPECT_EQ(r.exit_code, 0) << joined(c.args) << "\n" << r;
    EXPECT_EQ(r.out, c.out) << joined(c.args) << "\n" << r;
  }
  const FakeControlPlane::Calls calls = fake.calls();
  ASSERT_EQ(calls.add_target.size(), 2u);
  EXPECT_EQ(calls.add_target[0].target().dns(), "more.svc:5000");
  EXPECT_EQ(calls.add_target[0].target().connections(), 3u);
  EXPECT_EQ(calls.add_target[1].target().address(), "10.0.0.9:5000");
  EXPECT_EQ(calls.add_target[1].target().connections(), 0u);
  ASSERT_EQ(calls.remove_target.size(), 2u);
  EXPECT_EQ(calls.remove_target[0].target(), "more.svc:5000") << "as written, without dns:";
  EXPECT_EQ(calls.remove_target[1].target(), "10.0.0.9:5000");
  ASSERT_EQ(calls.set_connections.size(), 1u);
  EXPECT_EQ(calls.set_connections[0].connections(), 6u);
  ASSERT_EQ(calls.trigger_failback.size(), 2u);
  EXPECT_EQ(calls.trigger_failback[0].target(), "");
  EXPECT_EQ(calls.trigger_failback[1].target(), "10.0.0.5:5000");
  EXPECT_TRUE(calls.set_targets.empty());
  EXPECT_EQ(calls.get_fleet_status, 7);

  // A refusal is reported as from a data plane: its code and message, exit 1.
  fake.set_change_result(
      grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "connections: 5000 is outside 1..1024"));
  CommandResult refused = lbctl(fake, {"connections", "set", "5000"});
  EXPECT_EQ(refused.exit_code, 1) << refused;
  EXPECT_EQ(refused.err, "lbctl: INVALID_ARGUMENT: connections: 5000 is outside 1..1024\n")
      << refused;
  EXPECT_TRUE(refused.out.empty()) << refused;
}

TEST(FleetCli, DataPlaneOnlyCommandsAndFlagsAreRefused) {
  FakeControlPlane fake(sample_status());
  ASSERT_TRUE(fake.started());
  const std::string server = fake.address();
  struct Case {
    std::vector<std::string> args;
    std::string err;
  };
  const std::string expect_generation =
      "lbctl: --expect-generation is for a data plane; lb-controlplane at " + server +
      " does not take it (its changes apply to every data plane)\n";
  for (const Case& c : std::vector<Case>{
           {{"drain"},
            "lbctl: drain is a data-plane command; lb-controlplane at " + server +
                " does not drain (run it against a json-tcp-lb)\n"},
           {{"connections", "set", "3", "--target", "10.0.0.5:5000"},
            "lbctl: --target is for a data plane; a control plane sets the fleet default (use "
            "targets set/add --connections for one target)\n"},
           {{"targets", "set", "10.0.0.5:5000", "--expect-generation", "3"}, expect_generation},
           {{"targets", "add", "10.0.0.7:5000", "--expect-generation", "3"}, expect_generation},
           {{"targets", "remove", "10.0.0.5:5000", "--expect-generation", "3"}, expect_generation},
           {{"connections", "set", "3", "--expect-generation", "3"}, expect_generation},
           {{"targets", "set", "10.0.0.5:5000", "--config-version", "mine"},
            "lbctl: --config-version is for a data plane; lb-controlplane at " + server +
                " derives the config version from the config itself\n"}}) {
    CommandResult r = lbctl(fake, c.args);
    EXPECT_EQ(r.exit_code, 1) << joined(c.args) << "\n" << r;
    EXPECT_EQ(r.err, c.err) << joined(c.args) << "\n" << r;
    EXPECT_TRUE(r.out.empty()) << joined(c.args) << "\n" << r;
  }
  EXPECT_EQ(fake.calls().changes(), 0) << "nothing refused reached the control plane";
}

TEST(FleetCli, TokenGoesWithTheProbeAndTheChange) {
  const TempDir temp("fleet-cli");
  const std::string token = temp.path() + "/token";
  std::ofstream(token) << "fleet-s3cret\n";
  FakeControlPlane fake(sample_status(), "fleet-s3cret");
  ASSERT_TRUE(fake.started());
  CommandResult missing = lbctl(fake, {"status"});
  EXPECT_EQ(missing.exit_code, 1) << missing;
  EXPECT_EQ(missing.err.find("lbctl: UNAUTHENTICATED: "), 0u) << missing;
  CommandResult ok = lbctl(fake, {"--token-file", token, "connections", "set", "2"});
  EXPECT_EQ(ok.exit_code, 0) << ok;
  EXPECT_EQ(fake.calls().set_connections.size(), 1u);
}

TEST(FleetCli, WatchPrintsWhatChangedUntilInterrupted) {
  FakeControlPlane fake(sample_status());
  ASSERT_TRUE(fake.started());
  fake.set_clock_runs(true);  // uptime and last contact move on every answer
  std::atomic<int> statuses = 0;
  ProxyProcess watch(LBCTL_BINARY,
                     {"-server", fake.address(), "watch", "-o", "json", "--interval", "50ms"},
                     [&statuses](std::string_view line) {
                       if (parse_json<v1::FleetStatus>(std::string(line))) ++statuses;
                       return true;
                     });
  ASSERT_TRUE(watch.wait_for_log("\n", kWait)) << watch.log();
  // Five answers that differ only in the clock: still the one line.
  ASSERT_TRUE(fake.wait_for_status_calls(6, kWait)) << watch.log();
  EXPECT_EQ(statuses.load(), 1) << watch.log();

  v1::FleetStatus changed = sample_status();
  changed.mutable_data_planes(1)->set_state(v1::DataPlaneStatus::PENDING);
  changed.mutable_data_planes(1)->clear_last_error();
  fake.set_status(changed);
  ASSERT_TRUE(watch.wait_for_log("\"PENDING\"", kWait)) << watch.log();
  const int calls = fake.calls().get_fleet_status;
  ASSERT_TRUE(fake.wait_for_status_calls(calls + 3, kWait)) << watch.log();

  watch.signal(SIGINT);
  EXPECT_EQ(watch.wait_exit(kWait), 0) << watch.log();
  EXPECT_EQ(statuses.load(), 2) << watch.log();
  EXPECT_EQ(fake.calls().changes(), 0);
}

TEST(FleetCli, WatchTableAndItsEndWhenTheControlPlaneGoesAway) {
  FakeControlPlane fake(sample_status());
  ASSERT_TRUE(fake.started());
  ProxyProcess watch(LBCTL_BINARY,
                     {"-server", fake.address(), "-timeout", "2s", "watch", "--interval", "50ms"});
  ASSERT_TRUE(watch.wait_for_log("total 2 data planes", kWait)) << watch.log();
  EXPECT_EQ(watch.log().find("=== "), 0u) << watch.log();
  EXPECT_NE(watch.log().find("10.1.0.2:9001"), std::string::npos) << watch.log();
  ASSERT_TRUE(fake.wait_for_status_calls(3, kWait)) << watch.log();
  fake.stop();
  EXPECT_EQ(watch.wait_exit(kWait), 1) << watch.log();
  EXPECT_NE(watch.log().find("lbctl: "), std::string::npos) << watch.log();
  EXPECT_EQ(watch.count_log("=== "), 1) << "the status never changed\n" << watch.log();
}

TEST(FleetCli, HelpNamesBothServersAndDnsEntries) {
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"--help"}, {"targets", "set", "--help"}}) {
    CommandResult r = run_command(LBCTL_BINARY, args);
    EXPECT_EQ(r.exit_code, 0) << r;
    EXPECT_NE(r.out.find("lb-controlplane"), std::string::npos) << r;
    EXPECT_NE(r.out.find("dns:NAME:PORT"), std::string::npos) << r;
  }
  CommandResult drain = run_command(LBCTL_BINARY, {"drain", "--help"});
  EXPECT_NE(drain.out.find("lb-controlplane refuses"), std::string::npos) << drain;
}

// ---- and against json-tcp-lb -------------------------------------------------------------

TEST(FleetCli, DataPlaneIsToldApartAndRefusesDnsEntriesClearly) {
  ProxyProcess lb(LB_BINARY, {"-addr", "127.0.0.1", "-port", "0", "-target", "127.0.0.1:9",
                              "-control-addr", "127.0.0.1:0", "-metrics-addr", "off"});
  const std::string needle = "control API listening on ";
  ASSERT_TRUE(lb.wait_for_log(needle, kWait)) << lb.log();
  const std::string log = lb.log();
  const std::size_t start = log.find(needle) + needle.size();
  const std::string server = log.substr(start, log.find_first_of(" ;\n", start) - start);

  CommandResult status = run_command(LBCTL_BINARY, {"-server", server, "status", "-o", "json"});
  ASSERT_EQ(status.exit_code, 0) << status << lb.log();
  auto parsed = parse_json<v1::Status>(status.out);
  ASSERT_TRUE(parsed.has_value()) << status;
  EXPECT_EQ(parsed->targets_size(), 1) << status;
  CommandResult table = run_command(LBCTL_BINARY, {"-server", server, "status"});
  EXPECT_EQ(table.out.find("json-tcp-lb "), 0u) << table;

  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"targets", "set", "127.0.0.1:9,dns:receivers.svc:5000"},
           {"targets", "add", "dns:receivers.svc:5000"}}) {
    std::vector<std::string> full = {"-server", server};
    full.insert(full.end(), args.begin(), args.end());
    CommandResult r = run_command(LBCTL_BINARY, full);
    EXPECT_EQ(r.exit_code, 1) << joined(args) << "\n" << r;
    EXPECT_EQ(r.err,
              "lbctl: \"dns:receivers.svc:5000\": dns:NAME:PORT is for lb-controlplane; "
              "json-tcp-lb at " +
                  server + " takes HOST:PORT (it resolves a host name when it connects)\n")
        << r;
  }
  CommandResult after = run_command(LBCTL_BINARY, {"-server", server, "status", "-o", "json"});
  auto unchanged = parse_json<v1::Status>(after.out);
  ASSERT_TRUE(unchanged.has_value()) << after;
  EXPECT_EQ(unchanged->generation(), parsed->generation()) << "nothing was sent";
}

}  // namespace
}  // namespace lbtest
