// lb-controlplane end to end: the real control plane and three real json-tcp-lb data planes on
// loopback, with the test kit's paced load generators sending through the data planes into
// verifying sinks the whole time. Every scenario measures how long the fleet took to converge
// (printed as "[ fleet ] ..."; never asserted: timing is for `make bench-fleet`) and ends with
// the delivery contract: each line exactly once.
#include <absl/synchronization/mutex.h>
#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "jsontcplb/v1/control.grpc.pb.h"
#include "jsontcplb/v1/fleet.grpc.pb.h"
#include "tests/tools/command.h"
#include "tests/tools/delivery.h"
#include "tests/tools/load_gen.h"
#include "tests/tools/process.h"
#include "tests/tools/sink.h"
#include "tests/tools/temp_dir.h"
#include "tests/tools/test_pki.h"

namespace lbtest {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;
namespace v1 = jsontcplb::v1;

constexpr milliseconds kConverge = seconds(20);
constexpr std::size_t kPlanes = 3;

std::string address(std::uint16_t port) { return "127.0.0.1:" + std::to_string(port); }

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// Polls `done` every 20 ms until it holds; false after `timeout`.
bool eventually(const std::function<bool()>& done, milliseconds timeout = kConverge) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    if (done()) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(milliseconds(20));  // poll interval, not a synchronisation
  }
}

// Writes `text` to `path` as an editor or a ConfigMap update does: a new file renamed over it.
void replace_file(const std::string& path, const std::string& text) {
  const std::string temp = path + ".new";
  std::ofstream(temp) << text;
  std::filesystem::rename(temp, path);
}

// The port in the first log line "<needle>HOST:PORT"; 0 if it does not appear in time.
std::uint16_t logged_port(ProxyProcess& process, std::string_view needle) {
  if (!process.wait_for_log(needle, seconds(10))) return 0;
  const std::string log = process.log();
  const auto start = log.find(needle) + needle.size();
  const std::string hostport = log.substr(start, log.find_first_of(" ;\n", start) - start);
  return static_cast<std::uint16_t>(std::stoi(hostport.substr(hostport.rfind(':') + 1)));
}

// A port nothing listens on: bound once, then closed.
std::uint16_t closed_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

// A free port below the kernel's ephemeral range, for a data plane that restarts on the same
// port: one in that range may meanwhile become the source port of an outgoing connection (even
// the control plane's reconnect, connecting to itself), and the restart could not listen.
std::uint16_t port_below_ephemeral_range() {
  int low = 32768;
  std::ifstream("/proc/sys/net/ipv4/ip_local_port_range") >> low;
  std::mt19937 rng(std::random_device{}());
  const int first = std::max(1024, low - 12000);
  for (int attempt = 0; attempt < 200; ++attempt) {
    const int port = std::uniform_int_distribution<int>(first, low - 1)(rng);
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    const bool free = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(fd);
    if (free) return static_cast<std::uint16_t>(port);
  }
  return 0;
}

// A free port on both 127.0.0.1 and ::1 (for a name that resolves to both).
std::uint16_t port_free_on_both_loopbacks() {
  for (int attempt = 0; attempt < 50; ++attempt) {
    const std::uint16_t port = closed_port();
    const int fd = ::socket(AF_INET6, SOCK_STREAM, 0);
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_addr = in6addr_loopback;
    a.sin6_port = htons(port);
    const bool free = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(fd);
    if (free) return port;
  }
  return 0;
}

// One json-tcp-lb with its data port and control API on free ports.
struct Plane {
  std::unique_ptr<ProxyProcess> process;
  std::uint16_t data_port = 0;
  std::uint16_t control_port = 0;
  std::string control_host = "127.0.0.1";
  std::string control() const {
    const bool v6 = control_host.find(':') != std::string::npos;
    return (v6 ? "[" + control_host + "]" : control_host) + ":" + std::to_string(control_port);
  }
};

Plane start_plane(const std::string& target, std::uint16_t control_port = 0,
                  const std::string& control_host = "127.0.0.1") {
  Plane p;
  p.control_host = control_host;
  p.control_port = control_port;
  const std::string control = p.control();
  p.process = std::make_unique<ProxyProcess>(
      LB_BINARY,
      std::vector<std::string>{"-addr", "127.0.0.1", "-port", "0", "-control-addr", control,
                               "-metrics-addr", "off", "-target", target, "-connections", "2"});
  p.data_port = logged_port(*p.process, "json-tcp-lb listening on ");
  p.control_port = logged_port(*p.process, "control API listening on ");
  return p;
}

// lb-controlplane on a free port. With `hosts`, it runs in a mount namespace of its own where
// that file is /etc/hosts, so the test decides what its DNS names resolve to.
struct Cp {
  std::unique_ptr<ProxyProcess> process;
  std::uint16_t port = 0;
  std::uint16_t metrics_port = 0;
  std::string api() const { return address(port); }
};

Cp start_cp(const std::string& config, std::vector<std::string> extra = {},
            const std::string& hosts = "") {
  std::vector<std::string> args = {"-config",     config,          "-control-addr",
                                   "127.0.0.1:0", "-metrics-addr", "127.0.0.1:0"};
  args.insert(args.end(), extra.begin(), extra.end());
  Cp cp;
  if (hosts.empty()) {
    cp.process = std::make_unique<ProxyProcess>(LB_CONTROLPLANE, args);
  } else {
    std::vector<std::string> wrapped = {"-m", "sh", "-c",
                                        "mount --bind \"$HOSTS\" /etc/hosts && exec \"$0\" \"$@\"",
                                        LB_CONTROLPLANE};
    wrapped.insert(wrapped.end(), args.begin(), args.end());
    ::setenv("HOSTS", hosts.c_str(), 1);
    cp.process = std::make_unique<ProxyProcess>("/usr/bin/unshare", wrapped);
  }
  cp.port = logged_port(*cp.process, "fleet API listening on ");
  cp.metrics_port = logged_port(*cp.process, "metrics listening on ");
  return cp;
}

// A mount namespace with our own /etc/hosts needs root (CI runs as root).
bool can_fake_dns() {
  if (::geteuid() != 0) return false;
  return run_command("/usr/bin/unshare", {"-m", "true"}).exit_code == 0;
}

v1::FleetStatus fleet_status(const Cp& cp) {
  auto stub =
      v1::FleetControl::NewStub(grpc::CreateChannel(cp.api(), grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + seconds(5));
  v1::FleetStatus status;
  stub->GetFleetStatus(&context, v1::GetFleetStatusRequest(), &status);
  return status;
}

v1::Status plane_status(const Plane& p) {
  auto stub = v1::DataPlaneControl::NewStub(
      grpc::CreateChannel(p.control(), grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + seconds(5));
  v1::Status status;
  stub->GetStatus(&context, v1::GetStatusRequest(), &status);
  return status;
}

std::vector<std::string> plane_targets(const v1::Status& s) {
  std::vector<std::string> out;
  for (const auto& t : s.targets()) out.push_back(t.address());
  return out;
}

// Every data plane reports the fleet's desired version and, when given, these targets.
bool in_sync(const Cp& cp, const std::vector<Plane*>& planes,
             const std::vector<std::string>& targets = {}) {
  const std::string desired = fleet_status(cp).desired().config_version();
  if (desired.empty()) return false;
  for (const Plane* p : planes) {
    const v1::Status s = plane_status(*p);
    if (s.config_version() != desired) return false;
    if (!targets.empty() && plane_targets(s) != targets) return false;
  }
  return true;
}

std::size_t synced(const v1::FleetStatus& s) {
  std::size_t n = 0;
  for (const auto& d : s.data_planes()) n += d.state() == v1::DataPlaneStatus::SYNCED ? 1 : 0;
  return n;
}

const v1::DataPlaneStatus* find_plane(const v1::FleetStatus& s, const std::string& addr) {
  for (const auto& d : s.data_planes()) {
    if (d.address() == addr) return &d;
  }
  return nullptr;
}

// One value from lb-controlplane's /metrics, e.g.
// `jsontcplb_controlplane_pushes_total{result="ok"}`.
double metric(const Cp& cp, const std::string& series) {
  namespace asio = boost::asio;
  asio::io_context io;
  asio::ip::tcp::socket socket(io);
  boost::system::error_code ec;
  socket.connect({asio::ip::make_address("127.0.0.1"), cp.metrics_port}, ec);
  if (ec) return -1;
  const std::string request = "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
  asio::write(socket, asio::buffer(request), ec);
  std::string body;
  asio::read(socket, asio::dynamic_buffer(body), ec);
  std::istringstream lines(body);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
  }
  return -1;
}

std::string config_json(const std::vector<std::string>& targets,
                        const std::vector<std::string>& planes, const std::string& more = "") {
  std::string json = "{\"targets\": [";
  for (std::size_t i = 0; i < targets.size(); ++i) {
    if (i > 0) json += ", ";
    json += targets[i].rfind("dns:", 0) == 0 ? "{\"dns\": \"" + targets[i].substr(4) + "\"}"
                                             : "{\"address\": \"" + targets[i] + "\"}";
  }
  json += "], \"dataPlanes\": [";
  for (std::size_t i = 0; i < planes.size(); ++i) {
    if (i > 0) json += ", ";
    json += planes[i].rfind("dns:", 0) == 0 ? "{\"dns\": \"" + planes[i].substr(4) + "\"}"
                                            : "{\"address\": \"" + planes[i] + "\"}";
  }
  return json + "]" + more + "}\n";
}

// Paced lines through every data plane (stream i through plane i), for the whole scenario.
class Traffic {
 public:
  Traffic(const std::vector<Plane*>& planes, std::string run, std::uint64_t lines_per_plane,
          double lines_per_sec_per_plane)
      : run_(std::move(run)), lines_(lines_per_plane), planes_(planes.size()) {
    for (std::size_t i = 0; i < planes.size(); ++i) {
      LoadGenOptions o;
      o.port = planes[i]->data_port;
      o.run_id = run_;
      o.first_stream = static_cast<std::uint32_t>(i);
      o.lines_per_connection = lines_;
      o.line_size = 150;
      o.rate_lines_per_sec = lines_per_sec_per_plane;
      o.deadline = seconds(60);
      sending_.push_back(std::async(std::launch::async, [o] { return run_load_gen(o); }));
    }
  }
  // Waits for the generators; true when every line of every plane reached the sinks once.
  bool delivered_exactly_once(const Sink& sink, std::string* why) {
    for (auto& s : sending_) {
      LoadGenResult r = s.get();
      if (r.failed_connections != 0) {
        *why = "load generator: " + r.error;
        return false;
      }
    }
    const std::uint64_t total = lines_ * planes_;
    if (!sink.wait_until([&] { return sink.verifier().total_lines() >= total; }, kConverge)) {
      *why = "the sinks got " + std::to_string(sink.verifier().total_lines()) + " of " +
             std::to_string(total) + " lines";
    }
    const Report report = sink.verifier().report(run_, static_cast<std::uint32_t>(planes_), lines_);
    *why += report.to_string();
    return report.exactly_once();
  }

 private:
  std::string run_;
  std::uint64_t lines_;
  std::size_t planes_;
  std::vector<std::future<LoadGenResult>> sending_;
};

// Three sinks ports (A, B, C), three data planes sending to A, and a config file.
class FleetTest : public ::testing::Test {
 protected:
  FleetTest()
      : sink_([] {
          SinkOptions o;
          o.ports = 3;
          return o;
        }()) {}

  void SetUp() override {
    for (std::size_t i = 0; i < kPlanes; ++i) {
      planes_.push_back(start_plane(target(0)));
      ASSERT_NE(planes_.back().control_port, 0) << planes_.back().process->log();
    }
    for (Plane& p : planes_) plane_ptrs_.push_back(&p);
  }
  std::string target(std::size_t i) const { return address(sink_.ports()[i]); }
  std::vector<std::string> controls() const {
    std::vector<std::string> out;
    for (const Plane& p : planes_) out.push_back(p.control());
    return out;
  }
  std::string write_config(const std::string& text) {
    replace_file(config_, text);
    return config_;
  }
  // Starts the control plane on the config and waits until the whole fleet runs it.
  Cp start_synced(const std::string& text, std::vector<std::string> extra = {},
                  const std::string& hosts = "") {
    Cp cp = start_cp(write_config(text), std::move(extra), hosts);
    EXPECT_NE(cp.port, 0) << cp.process->log();
    const auto start = Clock::now();
    EXPECT_TRUE(eventually([&] { return cp.port != 0 && in_sync(cp, plane_ptrs_); }))
        << cp.process->log();
    std::cout << "[ fleet ] " << kPlanes << " data planes configured " << ms_since(start)
              << " ms after the control plane started" << std::endl;
    return cp;
  }

  Sink sink_;
  TempDir dir_{"lb-fleet"};
  std::string config_ = dir_.path() + "/fleet.json";
  std::vector<Plane> planes_;
  std::vector<Plane*> plane_ptrs_;
};

TEST_F(FleetTest, AFileChangeReachesEveryDataPlane) {
  Cp cp = start_synced(config_json({target(0)}, controls()));
  Traffic traffic(plane_ptrs_, "file", 12'000, 6'000);  // about two seconds
  ASSERT_TRUE(sink_.wait_until([&] { return sink_.lines(0) > 3'000; }, kConverge));

  const auto start = Clock::now();
  write_config(config_json({target(1), target(2)}, controls(), R"(, "connections": 3)"));
  ASSERT_TRUE(eventually([&] {
    return in_sync(cp, plane_ptrs_, {target(1), target(2)});
  })) << cp.process->log();
  const double took = ms_since(start);
  std::cout << "[ fleet ] file change -> " << kPlanes << " data planes run it in " << took << " ms"
            << std::endl;
  const std::uint64_t a_lines = sink_.lines(0);

  std::string why;
  EXPECT_TRUE(traffic.delivered_exactly_once(sink_, &why)) << why;
  EXPECT_GT(sink_.lines(1), 0u) << "B carries lines after the change";
  EXPECT_GT(sink_.lines(2), 0u) << "C carries lines after the change";
  EXPECT_TRUE(eventually([&] { return sink_.connections(0) == 0; })) << "A is left";
  EXPECT_EQ(sink_.lines(0), a_lines);
  for (Plane* p : plane_ptrs_) EXPECT_EQ(plane_status(*p).default_connections(), 3u);
  EXPECT_EQ(synced(fleet_status(cp)), kPlanes);
  EXPECT_GE(metric(cp, "jsontcplb_controlplane_convergence_seconds_count"), 2.0 * kPlanes);
}

TEST_F(FleetTest, AConfigMapUpdateIsSeen) {
  // Kubernetes mounts a ConfigMap as fleet.json -> ..data/fleet.json, ..data -> ..v1, and
  // updates it by renaming a new ..data symlink over the old one: the file itself is never
  // written.
  namespace fs = std::filesystem;
  const fs::path mount = fs::path(dir_.path()) / "configmap";
  fs::create_directories(mount / "..v1");
  std::ofstream(mount / "..v1" / "fleet.json") << config_json({target(0)}, controls());
  fs::create_directory_symlink("..v1", mount / "..data");
  fs::create_symlink("..data/fleet.json", mount / "fleet.json");
  Cp cp = start_cp((mount / "fleet.json").string());
  ASSERT_NE(cp.port, 0) << cp.process->log();
  ASSERT_TRUE(eventually([&] { return in_sync(cp, plane_ptrs_, {target(0)}); }));
  Traffic traffic(plane_ptrs_, "configmap", 6'000, 3'000);

  fs::create_directories(mount / "..v2");
  std::ofstream(mount / "..v2" / "fleet.json") << config_json({target(1)}, controls());
  const auto start = Clock::now();
  fs::create_directory_symlink("..v2", mount / "..data_tmp");
  fs::rename(mount / "..data_tmp", mount / "..data");
  ASSERT_TRUE(eventually([&] { return in_sync(cp, plane_ptrs_, {target(1)}); }))
      << cp.process->log();
  std::cout << "[ fleet ] ConfigMap-style update -> " << kPlanes << " data planes run it in "
            << ms_since(start) << " ms" << std::endl;
  std::string why;
  EXPECT_TRUE(traffic.delivered_exactly_once(sink_, &why)) << why;
}

TEST_F(FleetTest, ARestartedDataPlaneIsConfiguredAgain) {
  const std::uint16_t low_port = port_below_ephemeral_range();
  ASSERT_NE(low_port, 0);
  planes_[1] = start_plane(target(0), low_port);
  ASSERT_EQ(planes_[1].control_port, low_port) << planes_[1].process->log();
  Cp cp = start_synced(config_json({target(1)}, controls()));
  Traffic traffic({plane_ptrs_[0], plane_ptrs_[2]}, "restart", 8'000, 4'000);
  const std::uint16_t port = planes_[1].control_port;
  planes_[1].process->signal(SIGKILL);
  ASSERT_TRUE(planes_[1].process->wait_exit(seconds(10)).has_value());
  ASSERT_TRUE(eventually([&] {
    const v1::FleetStatus fleet = fleet_status(cp);
    const auto* d = find_plane(fleet, address(port));
    return d != nullptr && d->state() == v1::DataPlaneStatus::UNREACHABLE;
  }));

  // It comes back with its command line's targets (A), as a restarted process does.
  const auto start = Clock::now();
  planes_[1] = start_plane(target(0), port);
  ASSERT_EQ(planes_[1].control_port, port) << planes_[1].process->log();
  ASSERT_TRUE(eventually([&] { return in_sync(cp, plane_ptrs_, {target(1)}); }))
      << cp.process->log();
  std::cout << "[ fleet ] restarted data plane runs the fleet's config " << ms_since(start)
            << " ms after it started" << std::endl;
  std::string why;
  EXPECT_TRUE(traffic.delivered_exactly_once(sink_, &why)) << why;
}

TEST_F(FleetTest, ADeadDataPlaneDoesNotHoldUpTheOthers) {
  std::vector<std::string> planes = controls();
  const std::string dead = address(closed_port());
  planes.insert(planes.begin() + 1, dead);
  Cp cp = start_synced(config_json({target(0)}, planes));
  Traffic traffic(plane_ptrs_, "dead", 6'000, 3'000);
  const auto start = Clock::now();
  write_config(config_json({target(2)}, planes));
  ASSERT_TRUE(eventually([&] { return in_sync(cp, plane_ptrs_, {target(2)}); }))
      << cp.process->log();
  std::cout << "[ fleet ] with one data plane down, the other " << kPlanes << " run the change in "
            << ms_since(start) << " ms" << std::endl;
  const v1::FleetStatus status = fleet_status(cp);
  const auto* d = find_plane(status, dead);
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->state(), v1::DataPlaneStatus::UNREACHABLE);
  EXPECT_FALSE(d->last_error().empty());
  EXPECT_EQ(synced(status), kPlanes);
  std::string why;
  EXPECT_TRUE(traffic.delivered_exactly_once(sink_, &why)) << why;
}

TEST_F(FleetTest, ABadEditIsRefusedAndTheLastGoodConfigKeepsServing) {
  Cp cp = start_synced(config_json({target(1)}, controls()));
  const std::string good = fleet_status(cp).desired().config_version();
  Traffic traffic(plane_ptrs_, "bad-edit", 6'000, 3'000);
  int refusals = 0;
  for (const std::string& bad :
       {std::string(R"({"targets": [{"adress": "127.0.0.1:1"}], "dataPlanes": []})"),
        config_json({"127.0.0.1:0"}, controls()), std::string("{\"targets\": [")}) {
    write_config(bad);
    ++refusals;
    ASSERT_TRUE(cp.process->wait_for_log("edit refused", seconds(10), refusals))
        << cp.process->log();
  }
  const v1::FleetStatus status = fleet_status(cp);
  EXPECT_EQ(status.desired().config_version(), good);
  ASSERT_GE(status.conditions_size(), 1);
  EXPECT_NE(status.conditions(0).find("refused"), std::string::npos) << status.conditions(0);
  EXPECT_TRUE(in_sync(cp, plane_ptrs_, {target(1)}));
  EXPECT_EQ(metric(cp, R"(jsontcplb_controlplane_config_reloads_total{result="refused"})"),
            refusals);
  EXPECT_NE(cp.process->log().find("127.0.0.1:0"), std::string::npos)
      << "the refusal names the value";

  write_config(config_json({target(2)}, controls()));
  EXPECT_TRUE(eventually([&] { return in_sync(cp, plane_ptrs_, {target(2)}); }));
  EXPECT_EQ(fleet_status(cp).conditions_size(), 0);
  std::string why;
  EXPECT_TRUE(traffic.delivered_exactly_once(sink_, &why)) << why;
}

TEST_F(FleetTest, ADirectChangeToOneDataPlaneIsCorrected) {
  Cp cp = start_synced(config_json({target(0)}, controls(), R"(, "connections": 2)"));
  Traffic traffic(plane_ptrs_, "drift", 6'000, 3'000);
  const auto start = Clock::now();
  const CommandResult r =
      run_command(LBCTL_BINARY, {"--server", planes_[0].control(), "connections", "set", "7"});
  ASSERT_EQ(r.exit_code, 0) << r;
  ASSERT_TRUE(eventually([&] {
    const v1::Status s = plane_status(planes_[0]);
    return s.config_version() == fleet_status(cp).desired().config_version() &&
           s.default_connections() == 2;
  })) << cp.process->log();
  std::cout << "[ fleet ] a data plane changed with lbctl is back on the fleet's config in "
            << ms_since(start) << " ms" << std::endl;
  std::string why;
  EXPECT_TRUE(traffic.delivered_exactly_once(sink_, &why)) << why;
}

TEST_F(FleetTest, FleetOperationsApplyEverywhereAndSurviveARestart) {
  const std::string state = dir_.path() + "/state.json";
  const std::string text = config_json({target(0)}, controls());
  Cp cp = start_synced(text, {"-state-file", state});
  Traffic traffic(plane_ptrs_, "ops", 10'000, 2'500);
  auto lbctl = [&](const Cp& on, std::vector<std::string> args) {
    args.insert(args.begin(), {"--server", on.api()});
    return run_command(LBCTL_BINARY, args);
  };
  CommandResult set = lbctl(cp, {"targets", "set", target(1), "--connections", "3"});
  ASSERT_EQ(set.exit_code, 0) << set;
  EXPECT_TRUE(eventually([&] { return in_sync(cp, plane_ptrs_, {target(1)}); }));
  ASSERT_EQ(lbctl(cp, {"targets", "add", target(2)}).exit_code, 0);
  EXPECT_TRUE(eventually([&] { return in_sync(cp, plane_ptrs_, {target(1), target(2)}); }));
  ASSERT_EQ(lbctl(cp, {"targets", "remove", target(1)}).exit_code, 0);
  EXPECT_TRUE(eventually([&] { return in_sync(cp, plane_ptrs_, {target(2)}); }));
  ASSERT_EQ(lbctl(cp, {"connections", "set", "4"}).exit_code, 0);
  EXPECT_TRUE(eventually([&] {
    return in_sync(cp, plane_ptrs_) && plane_status(planes_[2]).default_connections() == 4;
  }));
  const CommandResult bad = lbctl(cp, {"targets", "add", "nohost"});
  EXPECT_EQ(bad.exit_code, 1) << bad;
  EXPECT_NE(bad.err.find("INVALID_ARGUMENT"), std::string::npos) << bad;
  const CommandResult status = lbctl(cp, {"status"});
  EXPECT_EQ(status.exit_code, 0) << status;
  for (const Plane& p : planes_) EXPECT_NE(status.out.find(p.control()), std::string::npos);

  // The overrides survive a restart of the control plane.
  const std::string version = fleet_status(cp).desired().config_version();
  cp.process->signal(SIGTERM);
  ASSERT_EQ(cp.process->wait_exit(seconds(10)), 0) << cp.process->log();
  Cp again = start_cp(config_, {"-state-file", state});
  ASSERT_NE(again.port, 0) << again.process->log();
  EXPECT_TRUE(eventually([&] { return fleet_status(again).desired().config_version() == version; }))
      << again.process->log();
  EXPECT_TRUE(fleet_status(again).targets_overridden());
  EXPECT_TRUE(in_sync(again, plane_ptrs_, {target(2)}));

  // A change of the same field in the file wins over the override.
  write_config(config_json({target(0), target(1)}, controls()));
  EXPECT_TRUE(eventually([&] {
    return in_sync(again, plane_ptrs_, {target(0), target(1)});
  })) << again.process->log();
  EXPECT_FALSE(fleet_status(again).targets_overridden());
  EXPECT_NE(again.process->log().find("override dropped"), std::string::npos);
  std::string why;
  EXPECT_TRUE(traffic.delivered_exactly_once(sink_, &why)) << why;
}

TEST_F(FleetTest, DataPlanesKeepTheirConfigWhileTheControlPlaneIsAway) {
  Cp cp = start_synced(config_json({target(2)}, controls()));
  const std::string version = fleet_status(cp).desired().config_version();
  const std::uint64_t generation = plane_status(planes_[0]).generation();
  cp.process->signal(SIGKILL);
  ASSERT_TRUE(cp.process->wait_exit(seconds(10)).has_value());
  Traffic traffic(plane_ptrs_, "away", 3'000, 3'000);
  std::string why;
  EXPECT_TRUE(traffic.delivered_exactly_once(sink_, &why)) << why;
  EXPECT_EQ(sink_.lines(2), 3'000u * kPlanes) << "every line went where the fleet config says";
  for (Plane* p : plane_ptrs_) EXPECT_EQ(plane_status(*p).config_version(), version);

  // A new control plane with the same file finds the fleet in sync and pushes nothing.
  Cp again = start_cp(config_);
  EXPECT_TRUE(eventually([&] { return synced(fleet_status(again)) == kPlanes; }))
      << again.process->log();
  EXPECT_EQ(metric(again, R"(jsontcplb_controlplane_pushes_total{result="ok"})"), 0);
  EXPECT_EQ(plane_status(planes_[0]).generation(), generation);
}

TEST_F(FleetTest, DnsTargetsFollowTheirRecords) {
  if (!can_fake_dns()) GTEST_SKIP() << "needs root for a mount namespace with its own /etc/hosts";
  const std::uint16_t port = port_free_on_both_loopbacks();
  ASSERT_NE(port, 0);
  Sink both([&] {
    SinkOptions o;
    o.listen = {{"127.0.0.1", port}, {"::1", port}};
    return o;
  }());
  const std::string hosts = dir_.path() + "/hosts";
  std::ofstream(hosts) << "127.0.0.1 localhost\n::1 localhost\n";
  Cp cp = start_synced(config_json({"dns:localhost:" + std::to_string(port)}, controls(),
                                   R"(, "dnsRefreshInterval": "0.2s")"),
                       {}, hosts);
  const std::string v4 = address(port), v6 = "[::1]:" + std::to_string(port);
  EXPECT_TRUE(in_sync(cp, plane_ptrs_, {v4, v6})) << fleet_status(cp).DebugString();
  Traffic traffic(plane_ptrs_, "dns", 9'000, 3'000);
  ASSERT_TRUE(
      both.wait_until([&] { return both.lines(0) > 500 && both.lines(1) > 500; }, kConverge))
      << "lines reach both records";

  // The name loses its IPv6 record: within the refresh interval the fleet follows.
  const auto start = Clock::now();
  {
    std::ofstream rewrite(hosts, std::ios::trunc);  // in place: the bind mount keeps the inode
    rewrite << "127.0.0.1 localhost\n";
  }
  ASSERT_TRUE(eventually([&] { return in_sync(cp, plane_ptrs_, {v4}); })) << cp.process->log();
  std::cout << "[ fleet ] a DNS record gone -> " << kPlanes << " data planes follow in "
            << ms_since(start) << " ms" << std::endl;
  std::string why;
  EXPECT_TRUE(traffic.delivered_exactly_once(both, &why)) << why;
  EXPECT_GE(metric(cp, R"(jsontcplb_controlplane_dns_lookups_total{result="ok"})"), 2);
}

TEST_F(FleetTest, DataPlanesFoundByDnsAreConfiguredWhenTheyAppear) {
  if (!can_fake_dns()) GTEST_SKIP() << "needs root for a mount namespace with its own /etc/hosts";
  // Two data planes on the same control port, one on 127.0.0.1 and one on ::1, as two pods of
  // a headless Service are one name with two records.
  const std::uint16_t port = port_free_on_both_loopbacks();
  ASSERT_NE(port, 0);
  Plane v4 = start_plane(target(0), port, "127.0.0.1");
  Plane v6 = start_plane(target(0), port, "::1");
  ASSERT_EQ(v6.control_port, port) << v6.process->log();
  const std::string hosts = dir_.path() + "/hosts";
  std::ofstream(hosts) << "127.0.0.1 planes.test\n";
  const std::string text = config_json({target(1)}, {"dns:planes.test:" + std::to_string(port)},
                                       R"(, "dnsRefreshInterval": "0.2s")");
  Cp cp = start_cp(write_config(text), {}, hosts);
  ASSERT_NE(cp.port, 0) << cp.process->log();
  ASSERT_TRUE(eventually([&] { return in_sync(cp, {&v4}, {target(1)}); })) << cp.process->log();
  EXPECT_EQ(fleet_status(cp).data_planes_size(), 1);
  EXPECT_EQ(plane_targets(plane_status(v6)), std::vector<std::string>{target(0)});

  const auto start = Clock::now();
  {
    std::ofstream rewrite(hosts, std::ios::trunc);
    rewrite << "127.0.0.1 planes.test\n::1 planes.test\n";
  }
  ASSERT_TRUE(eventually([&] {
    return in_sync(cp, {&v4, &v6}, {target(1)});
  })) << cp.process->log();
  std::cout << "[ fleet ] a data plane that appeared in DNS is configured " << ms_since(start)
            << " ms later" << std::endl;
  EXPECT_EQ(fleet_status(cp).data_planes_size(), 2);
}

// A data plane that refuses every config, and counts the pushes it gets; its status stream
// sends a status again and again (each one a chance for a control plane to push again).
class RefusingDataPlane final : public v1::DataPlaneControl::CallbackService {
 public:
  RefusingDataPlane() {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(this);
    server_ = builder.BuildAndStart();
  }
  ~RefusingDataPlane() override {
    server_->Shutdown(std::chrono::system_clock::now() + seconds(1));
  }
  std::string address() const { return lbtest::address(static_cast<std::uint16_t>(port_)); }
  int pushes() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return pushes_;
  }

  grpc::ServerUnaryReactor* SetTargets(grpc::CallbackServerContext* ctx,
                                       const v1::SetTargetsRequest*, v1::ChangeResponse*) override {
    {
      absl::MutexLock lock(&mu_);
      ++pushes_;
    }
    auto* reactor = ctx->DefaultReactor();
    reactor->Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                 "config.targets: refused by the test's data plane"));
    return reactor;
  }

  grpc::ServerWriteReactor<v1::Status>* WatchStatus(grpc::CallbackServerContext*,
                                                    const v1::WatchStatusRequest*) override {
    class Stream : public grpc::ServerWriteReactor<v1::Status> {
     public:
      Stream() { next(); }
      // As fast as the control plane takes them (HTTP/2 flow control paces the writes), up to
      // a bound; then the stream stays open until the control plane hangs up.
      void OnWriteDone(bool ok) override {
        if (ok && sent_ < 100'000) next();
      }
      void OnCancel() override { Finish(grpc::Status::CANCELLED); }
      void OnDone() override { delete this; }

     private:
      // Status number k reports k received lines: the control plane's fleet status then shows
      // how many statuses it has seen.
      void next() {
        message_.set_config_version("its-own");
        message_.set_generation(1);
        message_.mutable_totals()->set_received_lines(++sent_);
        StartWrite(&message_);
      }
      v1::Status message_;
      std::uint64_t sent_ = 0;
    };
    return new Stream();
  }

 private:
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
  mutable absl::Mutex mu_;
  int pushes_ ABSL_GUARDED_BY(mu_) = 0;
};

TEST_F(FleetTest, ARejectedConfigIsNotResentInALoop) {
  RefusingDataPlane refusing;
  std::vector<std::string> planes = controls();
  planes.push_back(refusing.address());
  Cp cp = start_cp(write_config(config_json({target(1)}, planes)));
  ASSERT_NE(cp.port, 0) << cp.process->log();
  ASSERT_TRUE(eventually([&] { return in_sync(cp, plane_ptrs_, {target(1)}); }));
  auto seen_statuses = [&] {
    const v1::FleetStatus fleet = fleet_status(cp);
    const auto* d = find_plane(fleet, refusing.address());
    return d == nullptr ? 0 : d->received_lines();
  };
  ASSERT_TRUE(eventually([&] {
    const v1::FleetStatus fleet = fleet_status(cp);
    const auto* d = find_plane(fleet, refusing.address());
    return d != nullptr && d->state() == v1::DataPlaneStatus::REJECTED;
  })) << cp.process->log();
  EXPECT_EQ(refusing.pushes(), 1);
  // Hundreds of statuses later, each one a chance to push again, it still got only one push.
  const std::uint64_t at_refusal = seen_statuses();
  ASSERT_TRUE(eventually([&] { return seen_statuses() >= at_refusal + 500; }));
  EXPECT_EQ(refusing.pushes(), 1);
  EXPECT_EQ(metric(cp, R"(jsontcplb_controlplane_pushes_total{result="rejected"})"), 1);
  const v1::FleetStatus fleet = fleet_status(cp);
  const auto* d = find_plane(fleet, refusing.address());
  ASSERT_NE(d, nullptr);
  EXPECT_NE(d->last_error().find("refused by the test's data plane"), std::string::npos);

  // A new desired state is offered once more.
  write_config(config_json({target(2)}, planes));
  EXPECT_TRUE(eventually([&] { return in_sync(cp, plane_ptrs_, {target(2)}); }));
  EXPECT_TRUE(eventually([&] { return refusing.pushes() == 2; }));
  EXPECT_EQ(synced(fleet_status(cp)), kPlanes);
}

TEST(FleetSecurity, BearerTokensProtectTheDataPlanesAndTheFleetApi) {
  Sink sink([] {
    SinkOptions o;
    o.ports = 2;
    return o;
  }());
  TempDir dir("lb-fleet-token");
  const std::string token = dir.path() + "/token";
  std::ofstream(token) << "fleet-s3cret\n";
  Plane p;
  p.process = std::make_unique<ProxyProcess>(
      LB_BINARY,
      std::vector<std::string>{"-addr", "127.0.0.1", "-port", "0", "-control-addr", "127.0.0.1:0",
                               "-control-token-file", token, "-metrics-addr", "off", "-target",
                               address(sink.ports()[0])});
  p.data_port = logged_port(*p.process, "json-tcp-lb listening on ");
  p.control_port = logged_port(*p.process, "control API listening on ");
  ASSERT_NE(p.control_port, 0) << p.process->log();
  const std::string config = dir.path() + "/fleet.json";
  std::ofstream(config) << config_json({address(sink.ports()[1])}, {p.control()});

  // Without the data plane's token the control plane cannot configure it, and says why.
  Cp without = start_cp(config);
  ASSERT_NE(without.port, 0) << without.process->log();
  EXPECT_TRUE(eventually([&] {
    const v1::FleetStatus fleet = fleet_status(without);
    const auto* d = find_plane(fleet, p.control());
    return d != nullptr && d->last_error().find("UNAUTHENTICATED") != std::string::npos;
  })) << without.process->log();
  without.process->signal(SIGTERM);
  ASSERT_TRUE(without.process->wait_exit(seconds(10)).has_value());

  Cp with = start_cp(config, {"-dataplane-token-file", token, "-control-token-file", token});
  ASSERT_NE(with.port, 0) << with.process->log();
  const CommandResult refused = run_command(LBCTL_BINARY, {"--server", with.api(), "status"});
  EXPECT_EQ(refused.exit_code, 1) << refused;
  EXPECT_NE(refused.err.find("UNAUTHENTICATED"), std::string::npos) << refused;
  EXPECT_TRUE(eventually([&] {
    const CommandResult r = run_command(
        LBCTL_BINARY, {"--server", with.api(), "--token-file", token, "status", "-o", "json"});
    return r.exit_code == 0 && r.out.find("\"SYNCED\"") != std::string::npos;
  })) << with.process->log();
}

TEST(FleetSecurity, MutualTlsBetweenTheControlPlaneAndADataPlane) {
  Sink sink([] {
    SinkOptions o;
    o.ports = 2;
    return o;
  }());
  TempDir dir("lb-fleet-tls");
  const TestPki pki = make_test_pki(dir.path());
  Plane p;
  p.process = std::make_unique<ProxyProcess>(
      LB_BINARY,
      std::vector<std::string>{"-addr", "127.0.0.1", "-port", "0", "-control-addr", "127.0.0.1:0",
                               "-control-tls-cert", pki.server_cert, "-control-tls-key",
                               pki.server_key, "-control-client-ca", pki.ca_cert, "-metrics-addr",
                               "off", "-target", address(sink.ports()[0])});
  p.control_port = logged_port(*p.process, "control API listening on ");
  ASSERT_NE(p.control_port, 0) << p.process->log();
  const std::string config = dir.path() + "/fleet.json";
  std::ofstream(config) << config_json({address(sink.ports()[1])}, {p.control()});
  Cp cp = start_cp(config, {"-dataplane-tls-ca", pki.ca_cert, "-dataplane-tls-cert",
                            pki.client_cert, "-dataplane-tls-key", pki.client_key});
  ASSERT_NE(cp.port, 0) << cp.process->log();
  EXPECT_TRUE(eventually([&] { return synced(fleet_status(cp)) == 1; })) << cp.process->log();
  const CommandResult dp =
      run_command(LBCTL_BINARY, {"--server", p.control(), "--tls-ca", pki.ca_cert, "--tls-cert",
                                 pki.client_cert, "--tls-key", pki.client_key, "targets", "list"});
  EXPECT_EQ(dp.exit_code, 0) << dp;
  EXPECT_NE(dp.out.find(address(sink.ports()[1])), std::string::npos) << dp;
}

TEST(FleetCheckConfig, PrintsWhatTheFileResolvesToAndRefusesABadOne) {
  TempDir dir("lb-fleet-check");
  const std::string good = dir.path() + "/good.json";
  std::ofstream(good) << R"({"targets": [{"address": "10.0.0.5:5000", "connections": 4},
                                      {"dns": "localhost:5001"}],
                          "dataPlanes": [{"address": "127.0.0.1:9001"}]})";
  const CommandResult ok = run_command(LB_CONTROLPLANE, {"-check-config", good});
  EXPECT_EQ(ok.exit_code, 0) << ok;
  for (const char* expected : {"valid", "10.0.0.5:5000", "127.0.0.1:5001", "127.0.0.1:9001",
                               "desired config version cfg-"}) {
    EXPECT_NE(ok.out.find(expected), std::string::npos) << expected << "\n" << ok;
  }
  const std::string bad = dir.path() + "/bad.json";
  std::ofstream(bad) << R"({"targets": [{"address": "10.0.0.5:99999"}],
                          "dataPlanes": [{"address": "127.0.0.1:9001"}]})";
  const CommandResult refused = run_command(LB_CONTROLPLANE, {"-check-config", bad});
  EXPECT_EQ(refused.exit_code, 2) << refused;
  EXPECT_NE(refused.err.find("targets[0].address"), std::string::npos) << refused;
  EXPECT_NE(refused.err.find("10.0.0.5:99999"), std::string::npos) << refused;
  const CommandResult usage = run_command(LB_CONTROLPLANE, {"-config", bad});
  EXPECT_EQ(usage.exit_code, 2) << usage;
}

}  // namespace
}  // namespace lbtest
