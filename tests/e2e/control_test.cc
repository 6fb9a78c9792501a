// The control API end to end (issue 4): lbctl against the real json-tcp-lb carrying traffic,
// with the test kit's rate-limited load generator and verifying sink on loopback. Every
// change is checked where it shows (the sinks' connections and line counts, `status -o json`)
// and every scenario ends with the delivery contract: each line exactly once.
#include <arpa/inet.h>
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "cli/lbctl.h"
#include "cli/status_text.h"
#include "cli/table.h"
#include "jsontcplb/v1/control.pb.h"
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
namespace v1 = jsontcplb::v1;

constexpr milliseconds kConverge = seconds(20);
constexpr milliseconds kDeliveryTimeout = seconds(60);

std::string address(std::uint16_t port) { return "127.0.0.1:" + std::to_string(port); }

std::string join(const std::vector<std::string>& parts) {
  std::string out;
  for (const std::string& p : parts) out += (out.empty() ? "" : ",") + p;
  return out;
}

std::string write_file(const std::string& dir, const std::string& name, const std::string& text) {
  const std::string path = dir + "/" + name;
  std::ofstream(path) << text;
  return path;
}

// The port in the first log line "<needle>HOST:PORT"; 0 if it does not appear in time.
std::uint16_t logged_port(ProxyProcess& process, std::string_view needle) {
  if (!process.wait_for_log(needle, seconds(10))) return 0;
  const std::string log = process.log();
  const auto start = log.find(needle) + needle.size();
  const auto end = log.find_first_of(" ;\n", start);
  const std::string hostport = log.substr(start, end - start);
  return static_cast<std::uint16_t>(std::stoi(hostport.substr(hostport.rfind(':') + 1)));
}

// A running json-tcp-lb with its data and control ports.
struct Lb {
  std::unique_ptr<ProxyProcess> process;
  std::uint16_t data_port = 0;
  std::uint16_t control_port = 0;

  std::string control() const { return address(control_port); }
  std::string log() const { return process->log(); }
};

// Starts json-tcp-lb on free ports (no metrics); `args` come after the listen flags (and may
// override -control-addr).
Lb start_lb(std::vector<std::string> args) {
  args.insert(args.begin(), {"-addr", "127.0.0.1", "-port", "0", "-control-addr", "127.0.0.1:0",
                             "-metrics-addr", "off"});
  Lb lb;
  lb.process = std::make_unique<ProxyProcess>(LB_BINARY, std::move(args));
  lb.data_port = logged_port(*lb.process, "json-tcp-lb listening on ");
  lb.control_port = logged_port(*lb.process, "control API listening on ");
  return lb;
}

// `lbctl -server <lb> args...`
CommandResult lbctl(const Lb& lb, std::vector<std::string> args) {
  args.insert(args.begin(), {"-server", lb.control()});
  return run_command(LBCTL_BINARY, args);
}

CommandResult lbctl_raw(std::vector<std::string> args) { return run_command(LBCTL_BINARY, args); }

std::optional<v1::Status> parse_status(const std::string& json) {
  v1::Status status;
  if (!google::protobuf::util::JsonStringToMessage(json, &status).ok()) return std::nullopt;
  return status;
}

// `lbctl status -o json`, parsed; fails the test when either step fails.
v1::Status status_of(const Lb& lb) {
  CommandResult r = lbctl(lb, {"status", "-o", "json"});
  EXPECT_EQ(r.exit_code, 0) << r;
  auto status = parse_status(r.out);
  EXPECT_TRUE(status.has_value()) << r;
  return status.value_or(v1::Status());
}

// Polls `status -o json` until `done` holds; the last status seen either way.
std::pair<bool, v1::Status> wait_for_status(const Lb& lb,
                                            const std::function<bool(const v1::Status&)>& done,
                                            milliseconds timeout = kConverge) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  v1::Status status;
  for (;;) {
    CommandResult r = lbctl(lb, {"status", "-o", "json"});
    if (r.exit_code == 0) {
      if (auto parsed = parse_status(r.out)) {
        status = *parsed;
        if (done(status)) return {true, status};
      }
    }
    if (std::chrono::steady_clock::now() >= deadline) return {false, status};
    std::this_thread::sleep_for(milliseconds(50));  // poll interval, not a synchronisation
  }
}

const v1::TargetStatus* find_target(const v1::Status& status, const std::string& addr) {
  for (const auto& t : status.targets()) {
    if (t.address() == addr) return &t;
  }
  return nullptr;
}

std::vector<std::string> target_addresses(const v1::Status& status) {
  std::vector<std::string> out;
  for (const auto& t : status.targets()) out.push_back(t.address());
  return out;
}

bool every_target_has(const v1::Status& status, std::uint32_t connections) {
  return std::all_of(status.targets().begin(), status.targets().end(), [&](const auto& t) {
    return t.connections_wanted() == connections && t.connections_connected() == connections;
  });
}

LoadGenOptions paced_load(std::uint16_t port, std::string run, std::uint32_t connections,
                          std::uint64_t lines, double lines_per_sec) {
  LoadGenOptions o;
  o.port = port;
  o.run_id = std::move(run);
  o.connections = connections;
  o.lines_per_connection = lines;
  o.line_size = 150;
  o.rate_lines_per_sec = lines_per_sec;
  return o;
}

std::string sink_counts(const Sink& sink) {
  std::ostringstream out;
  for (std::size_t i = 0; i < sink.port_count(); ++i) {
    out << "port " << sink.ports()[i] << ": " << sink.lines(i) << " lines, " << sink.connections(i)
        << " connections; ";
  }
  return out.str();
}

SinkOptions sink_ports(std::size_t n) {
  SinkOptions o;
  o.ports = n;
  return o;
}

// ---- changes under load ------------------------------------------------------------------

TEST(Control, TargetsSetMovesTrafficFromAToCWithoutLoss) {
  Sink sink(sink_ports(3));
  const std::string a = address(sink.ports()[0]), b = address(sink.ports()[1]),
                    c = address(sink.ports()[2]);
  Lb lb = start_lb({"-target", join({a, b}), "-connections", "2"});
  ASSERT_NE(lb.control_port, 0) << lb.log();
  ASSERT_TRUE(sink.wait_until([&] { return sink.connections(0) == 2 && sink.connections(1) == 2; },
                              kConverge))
      << sink_counts(sink) << lb.log();

  auto o = paced_load(lb.data_port, "switch", 4, 15'000, 20'000);  // about three seconds
  auto sending = std::async(std::launch::async, [o] { return run_load_gen(o); });
  ASSERT_TRUE(
      sink.wait_until([&] { return sink.lines(0) > 2'000 && sink.lines(1) > 2'000; }, kConverge))
      << sink_counts(sink);

  const std::uint64_t generation = status_of(lb).generation();
  CommandResult r = lbctl(lb, {"targets", "set", join({b, c})});
  ASSERT_EQ(r.exit_code, 0) << r << lb.log();
  EXPECT_NE(r.out.find("generation " + std::to_string(generation + 1)), std::string::npos) << r;

  // A's connections close, after which nothing more can reach it; C takes over.
  ASSERT_TRUE(sink.wait_until([&] { return sink.connections(0) == 0; }, kConverge))
      << sink_counts(sink) << lb.log();
  const std::uint64_t a_lines = sink.lines(0);
  ASSERT_TRUE(sink.wait_until([&] { return sink.connections(2) == 2; }, kConverge))
      << sink_counts(sink);
  const std::uint64_t c_lines_at_switch = sink.lines(2);

  LoadGenResult sent = sending.get();
  ASSERT_EQ(sent.failed_connections, 0u) << sent.error;
  Report report = wait_for_run(sink, o);
  EXPECT_TRUE(report.exactly_once()) << report.to_string() << " " << sink_counts(sink);
  EXPECT_EQ(sink.lines(0), a_lines) << "A got lines after its connections closed";
  EXPECT_EQ(sink.accepted(0), 2u) << "nobody dialled A again";
  EXPECT_GT(sink.lines(2), c_lines_at_switch) << "C carries traffic after the switch";

  v1::Status status = status_of(lb);
  EXPECT_EQ(target_addresses(status), (std::vector<std::string>{b, c}));
  EXPECT_EQ(status.generation(), generation + 1);
}

TEST(Control, StatusTotalsKeepWhatARemovedTargetDelivered) {
  Sink sink(sink_ports(2));
  const std::string a = address(sink.ports()[0]), b = address(sink.ports()[1]);
  Lb lb = start_lb({"-target", join({a, b}), "-connections", "2"});
  ASSERT_NE(lb.control_port, 0) << lb.log();
  auto o = paced_load(lb.data_port, "totals", 2, 10'000, 0);
  const std::uint64_t n = 2 * 10'000;
  LoadGenResult sent = run_load_gen(o);
  ASSERT_EQ(sent.failed_connections, 0u) << sent.error;
  ASSERT_TRUE(wait_for_run(sink, o).exactly_once()) << sink_counts(sink);
  ASSERT_GT(sink.lines(0), 0u) << "both targets delivered some";
  ASSERT_GT(sink.lines(1), 0u);
  auto [acknowledged, before] =
      wait_for_status(lb, [&](const v1::Status& s) { return s.totals().sent_lines() == n; });
  ASSERT_TRUE(acknowledged) << before.DebugString();

  CommandResult removed = lbctl(lb, {"targets", "remove", a});
  ASSERT_EQ(removed.exit_code, 0) << removed << lb.log();
  auto [gone, after] = wait_for_status(lb, [&](const v1::Status& s) {
    return target_addresses(s) == std::vector<std::string>{b} && s.workers_size() == 2;
  });
  ASSERT_TRUE(gone) << after.DebugString();
  EXPECT_EQ(after.targets(0).sent_lines(), sink.lines(1));
  EXPECT_GE(after.totals().sent_lines(), n) << "totals must not go backwards";
  EXPECT_GE(after.totals().sent_bytes(), sent.bytes);
  EXPECT_EQ(after.totals().received_lines(), n);
}

TEST(Control, ConnectionsUpAndDownUnderLoad) {
  Sink sink(sink_ports(2));
  const std::string a = address(sink.ports()[0]), b = address(sink.ports()[1]);
  Lb lb = start_lb({"-target", join({a, b}), "-connections", "2"});
  ASSERT_NE(lb.control_port, 0) << lb.log();
  auto o = paced_load(lb.data_port, "conns", 4, 15'000, 20'000);
  auto sending = std::async(std::launch::async, [o] { return run_load_gen(o); });
  ASSERT_TRUE(sink.wait_until([&] { return sink.total_lines() > 2'000; }, kConverge));

  CommandResult up = lbctl(lb, {"connections", "set", "6"});
  ASSERT_EQ(up.exit_code, 0) << up << lb.log();
  auto [raised, after_up] = wait_for_status(
      lb, [](const v1::Status& s) { return s.targets_size() == 2 && every_target_has(s, 6); });
  EXPECT_TRUE(raised) << after_up.DebugString();
  EXPECT_TRUE(sink.wait_until([&] { return sink.connections(0) == 6 && sink.connections(1) == 6; },
                              kConverge))
      << sink_counts(sink);
  EXPECT_EQ(after_up.default_connections(), 6u);

  CommandResult down = lbctl(lb, {"connections", "set", "2"});
  ASSERT_EQ(down.exit_code, 0) << down << lb.log();
  auto [lowered, after_down] = wait_for_status(
      lb, [](const v1::Status& s) { return s.targets_size() == 2 && every_target_has(s, 2); });
  EXPECT_TRUE(lowered) << after_down.DebugString();
  EXPECT_TRUE(sink.wait_until([&] { return sink.connections(0) == 2 && sink.connections(1) == 2; },
                              kConverge))
      << sink_counts(sink);

  // One target only.
  CommandResult one = lbctl(lb, {"connections", "set", "3", "--target", b});
  ASSERT_EQ(one.exit_code, 0) << one;
  auto [b_only, after_one] = wait_for_status(lb, [&](const v1::Status& s) {
    const auto* ta = find_target(s, a);
    const auto* tb = find_target(s, b);
    return ta && tb && ta->connections_wanted() == 2 && tb->connections_wanted() == 3 &&
           tb->connections_connected() == 3;
  });
  EXPECT_TRUE(b_only) << after_one.DebugString();

  LoadGenResult sent = sending.get();
  ASSERT_EQ(sent.failed_connections, 0u) << sent.error;
  Report report = wait_for_run(sink, o);
  EXPECT_TRUE(report.exactly_once()) << report.to_string() << " " << sink_counts(sink);
}

TEST(Control, FailbackReturnsWorkersHomeWithoutWaitingForTheInterval) {
  Sink sink(sink_ports(2));
  ASSERT_TRUE(sink.close_port(1, false));  // B is down at start
  const std::string a = address(sink.ports()[0]), b = address(sink.ports()[1]);
  Lb lb = start_lb({"-target", join({a, b}), "-connections", "2"});  // failback interval 5m
  ASSERT_NE(lb.control_port, 0) << lb.log();
  // B's workers fail over to A.
  ASSERT_TRUE(sink.wait_until([&] { return sink.connections(0) == 4; }, kConverge))
      << sink_counts(sink) << lb.log();
  auto [failed_over, before] = wait_for_status(lb, [&](const v1::Status& s) {
    int away = 0;
    for (const auto& w : s.workers()) {
      if (w.home_target() == b && w.current_target() == a &&
          w.state() == v1::WorkerStatus::CONNECTED) {
        ++away;
      }
    }
    return away == 2;
  });
  ASSERT_TRUE(failed_over) << before.DebugString();

  auto first = paced_load(lb.data_port, "before", 2, 2'000, 0);
  ASSERT_EQ(run_load_gen(first).failed_connections, 0u);
  Report before_report = wait_for_run(sink, first);
  EXPECT_TRUE(delivered_once(before_report, first)) << before_report.to_string();
  EXPECT_EQ(sink.lines(1), 0u);

  sink.reopen_port(1);
  // With a 5m interval nothing returns by itself in this test's time.
  const v1::Status still_away = status_of(lb);
  for (const auto& w : still_away.workers()) {
    if (w.home_target() == b) {
      EXPECT_EQ(w.current_target(), a);
    }
  }
  CommandResult r = lbctl(lb, {"failback"});
  ASSERT_EQ(r.exit_code, 0) << r << lb.log();
  auto [home, after] = wait_for_status(lb, [](const v1::Status& s) {
    return s.workers_size() == 4 &&
           std::all_of(s.workers().begin(), s.workers().end(), [](const auto& w) {
             return w.current_target() == w.home_target() &&
                    w.state() == v1::WorkerStatus::CONNECTED;
           });
  });
  EXPECT_TRUE(home) << after.DebugString() << lb.log();
  EXPECT_TRUE(sink.wait_until([&] { return sink.connections(0) == 2 && sink.connections(1) == 2; },
                              kConverge))
      << sink_counts(sink);
  EXPECT_GE(after.totals().failbacks(), 2u);

  auto second = paced_load(lb.data_port, "after", 4, 5'000, 0);
  ASSERT_EQ(run_load_gen(second).failed_connections, 0u);
  Report report = wait_for_run(sink, second);
  EXPECT_TRUE(delivered_once(report, second)) << report.to_string();
  EXPECT_GT(sink.lines(1), 0u) << "B receives again";
}

TEST(Control, SigtermAfterADrainDoesNotCutItShort) {
  // Kubernetes runs a preStop hook (lbctl drain) and sends SIGTERM right after: that SIGTERM is
  // not a "second signal" that exits at once.
  Sink sink(sink_ports(1));
  Lb lb = start_lb({"-target", address(sink.ports()[0])});
  ASSERT_NE(lb.control_port, 0) << lb.log();
  // Ten seconds of lines: the clients are still sending when the SIGTERM comes, even when two
  // lbctl calls take seconds (sanitizer builds).
  auto o = paced_load(lb.data_port, "prestop", 2, 30'000, 6'000);
  auto sending = std::async(std::launch::async, [o] { return run_load_gen(o); });
  ASSERT_TRUE(sink.wait_until([&] { return sink.total_lines() > 500; }, kConverge));
  CommandResult r = lbctl(lb, {"drain"});
  ASSERT_EQ(r.exit_code, 0) << r << lb.log();
  CommandResult again = lbctl(lb, {"drain"});
  EXPECT_EQ(again.exit_code, 0) << again;
  lb.process->signal(SIGTERM);
  EXPECT_TRUE(lb.process->wait_for_log("SIGTERM: already draining", seconds(10))) << lb.log();
  LoadGenResult sent = sending.get();
  ASSERT_EQ(sent.failed_connections, 0u) << sent.error;
  EXPECT_EQ(lb.process->wait_exit(seconds(60)), 0) << lb.log();
  ASSERT_TRUE(sink.wait_until([&] { return sink.connections(0) == 0; }, seconds(30)));
  Report report = sink.verifier().report(o.run_id, o.connections, o.lines_per_connection);
  EXPECT_TRUE(report.exactly_once()) << report.to_string();
}

TEST(Control, DrainDeliversEverythingAndExitsZero) {
  Sink sink(sink_ports(2));
  const std::string a = address(sink.ports()[0]), b = address(sink.ports()[1]);
  Lb lb = start_lb({"-target", join({a, b})});
  ASSERT_NE(lb.control_port, 0) << lb.log();
  auto o = paced_load(lb.data_port, "drain", 2, 10'000, 10'000);  // about two seconds
  auto sending = std::async(std::launch::async, [o] { return run_load_gen(o); });
  ASSERT_TRUE(sink.wait_until([&] { return sink.total_lines() > 1'000; }, kConverge));

  // A watch running meanwhile ends when the process does.
  ProxyProcess watch(LBCTL_BINARY, {"-server", lb.control(), "watch", "-o", "json"});
  ASSERT_TRUE(watch.wait_for_log("\n", seconds(10))) << watch.log();

  CommandResult r = lbctl(lb, {"drain"});
  ASSERT_EQ(r.exit_code, 0) << r << lb.log();
  EXPECT_TRUE(lb.process->wait_for_log("stopped accepting", seconds(10))) << lb.log();
  // New clients are refused while the connected one is read to its end.
  {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(lb.data_port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_NE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0)
        << "a new client was accepted after drain";
    ::close(fd);
  }
  LoadGenResult sent = sending.get();
  ASSERT_EQ(sent.failed_connections, 0u) << sent.error;
  EXPECT_EQ(lb.process->wait_exit(seconds(60)), 0) << lb.log();
  // The process has exited: everything it read was acknowledged by the sink's kernel.
  ASSERT_TRUE(
      sink.wait_until([&] { return sink.connections(0) + sink.connections(1) == 0; }, seconds(30)));
  Report report = sink.verifier().report(o.run_id, o.connections, o.lines_per_connection);
  EXPECT_TRUE(report.exactly_once()) << report.to_string();
  // The watch ended with the server: cleanly, or saying that the server ended it.
  const auto watch_exit = watch.wait_exit(seconds(10));
  ASSERT_TRUE(watch_exit.has_value()) << watch.log();
  if (*watch_exit != 0) {
    EXPECT_EQ(*watch_exit, 1) << watch.log();
    EXPECT_NE(watch.log().find("lbctl: json-tcp-lb at " + lb.control() + " ended the watch: "),
              std::string::npos)
        << watch.log();
  }
  // And the API is gone with it.
  CommandResult gone = lbctl(lb, {"status"});
  EXPECT_EQ(gone.exit_code, 1) << gone;
  EXPECT_NE(gone.err.find("cannot reach json-tcp-lb control API at " + lb.control()),
            std::string::npos)
      << gone;
}

// gRPC servers set SO_REUSEPORT by default: without care, a second json-tcp-lb would share
// the first one's control port and calls would reach either process at random.
TEST(Control, SecondInstanceCannotShareTheControlAddress) {
  Sink sink(sink_ports(1));
  Lb first = start_lb({"-target", address(sink.ports()[0])});
  ASSERT_NE(first.control_port, 0) << first.log();
  ProxyProcess second(LB_BINARY,
                      {"-addr", "127.0.0.1", "-port", "0", "-target", address(sink.ports()[0]),
                       "-control-addr", first.control(), "-metrics-addr", "off"});
  EXPECT_EQ(second.wait_exit(seconds(10)), 1) << second.log();
  EXPECT_NE(second.log().find("cannot serve the control API on " + first.control()),
            std::string::npos)
      << second.log();
}

// ---- compare-and-set, validation, usage -------------------------------------------------

TEST(Control, StaleExpectedGenerationIsRefused) {
  Sink sink(sink_ports(2));
  const std::string a = address(sink.ports()[0]), b = address(sink.ports()[1]);
  Lb lb = start_lb({"-target", join({a, b})});
  ASSERT_NE(lb.control_port, 0) << lb.log();
  const std::uint64_t g0 = status_of(lb).generation();
  CommandResult bump = lbctl(lb, {"connections", "set", "3", "-o", "json"});
  ASSERT_EQ(bump.exit_code, 0) << bump;
  v1::ChangeResponse change;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(bump.out, &change).ok()) << bump;
  const std::uint64_t g1 = change.generation();
  EXPECT_EQ(g1, g0 + 1);

  const std::string stale = std::to_string(g0);
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"targets", "set", a, "--expect-generation", stale},
           {"targets", "add", "127.0.0.1:1", "--expect-generation", stale},
           {"targets", "remove", b, "--expect-generation", stale},
           {"connections", "set", "5", "--expect-generation", stale}}) {
    CommandResult r = lbctl(lb, args);
    EXPECT_EQ(r.exit_code, 1) << args[0] << " " << args[1] << ": " << r;
    EXPECT_NE(r.err.find("lbctl: FAILED_PRECONDITION: "), std::string::npos) << r;
  }
  v1::Status unchanged = status_of(lb);
  EXPECT_EQ(unchanged.generation(), g1);
  EXPECT_EQ(target_addresses(unchanged), (std::vector<std::string>{a, b}));

  CommandResult ok =
      lbctl(lb, {"targets", "set", a, "--expect-generation", std::to_string(g1), "-o", "json"});
  ASSERT_EQ(ok.exit_code, 0) << ok;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(ok.out, &change).ok()) << ok;
  EXPECT_EQ(change.generation(), g1 + 1);
  v1::Status changed = status_of(lb);
  EXPECT_EQ(target_addresses(changed), std::vector<std::string>{a});
  EXPECT_EQ(changed.default_connections(), 3u) << "targets set keeps the connections";
}

TEST(Control, InvalidArgumentsAreRefusedAndNameTheValue) {
  Sink sink(sink_ports(1));
  const std::string a = address(sink.ports()[0]);
  Lb lb = start_lb({"-target", a});
  ASSERT_NE(lb.control_port, 0) << lb.log();
  const v1::Status before = status_of(lb);
  struct Case {
    std::vector<std::string> args;
    std::string names;  // the value the message must name
  };
  for (const Case& c :
       std::vector<Case>{{{"targets", "set", "nohost"}, "nohost"},
                         {{"targets", "set", "127.0.0.1:x"}, "127.0.0.1:x"},
                         {{"targets", "set", "127.0.0.1:0"}, "127.0.0.1:0"},
                         {{"targets", "set", "127.0.0.1:65536"}, "127.0.0.1:65536"},
                         {{"targets", "set", a + "," + a}, a},
                         {{"targets", "set", ""}, "targets"},
                         {{"targets", "set", a, "--connections", "1025"}, "1025"},
                         {{"targets", "add", "nohost"}, "nohost"},
                         {{"targets", "add", "127.0.0.1:0"}, "127.0.0.1:0"},
                         {{"targets", "add", "127.0.0.1:99999"}, "127.0.0.1:99999"},
                         {{"targets", "add", a}, a},
                         {{"targets", "add", "127.0.0.1:1", "--connections", "2000"}, "2000"},
                         {{"targets", "remove", "127.0.0.1:1"}, "127.0.0.1:1"},
                         {{"targets", "remove", a}, a},  // the last target
                         {{"connections", "set", "0"}, "0"},
                         {{"connections", "set", "1025"}, "1025"}}) {
    CommandResult r = lbctl(lb, c.args);
    std::string what;
    for (const auto& arg : c.args) what += arg + " ";
    EXPECT_EQ(r.exit_code, 1) << what << r;
    EXPECT_NE(r.err.find("lbctl: INVALID_ARGUMENT: "), std::string::npos) << what << r;
    EXPECT_NE(r.err.find(c.names), std::string::npos) << what << r;
  }
  const v1::Status after = status_of(lb);
  EXPECT_EQ(after.generation(), before.generation()) << "a refused change changes nothing";
  EXPECT_EQ(target_addresses(after), std::vector<std::string>{a});
  EXPECT_EQ(after.default_connections(), before.default_connections());
}

TEST(Control, UsageErrorsExitTwoWithoutCallingTheServer) {
  // -server points nowhere: a usage error must be found before any call.
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {},
           {"bogus"},
           {"--bogus", "status"},
           {"status", "--bogus"},
           {"status", "extra"},
           {"targets"},
           {"targets", "frob"},
           {"targets", "add"},
           {"targets", "add", "127.0.0.1:1", "127.0.0.1:2"},
           {"targets", "set"},
           {"targets", "set", "127.0.0.1:1", "--connections", "many"},
           {"targets", "set", "127.0.0.1:1", "--connections"},
           {"targets", "set", "127.0.0.1:1", "--expect-generation", "-1"},
           {"targets", "remove"},
           {"connections"},
           {"connections", "set"},
           {"connections", "set", "abc"},
           {"connections", "set", "4", "5"},
           {"-o", "yaml", "status"},
           {"--timeout", "soon", "status"},
           {"--timeout", "0s", "status"},
           {"--tls-cert", "/nonexistent.pem", "status"},
           {"--token-file", "/nonexistent-token", "status"},
           {"--tls-ca", "/nonexistent-ca.pem", "status"},
           {"watch", "--interval", "x"}}) {
    std::vector<std::string> full = {"-server", "127.0.0.1:1"};
    full.insert(full.end(), args.begin(), args.end());
    CommandResult r = lbctl_raw(full);
    std::string what;
    for (const auto& arg : args) what += arg + " ";
    EXPECT_EQ(r.exit_code, 2) << what << r;
    EXPECT_NE(r.err.find("lbctl: "), std::string::npos) << what << r;
    EXPECT_EQ(r.err.find("cannot reach"), std::string::npos) << what << r;
  }
}

TEST(Control, HelpOnEveryLevel) {
  struct Case {
    std::vector<std::string> args;
    std::string mentions;
  };
  for (const Case& c : std::vector<Case>{{{"--help"}, "targets set ADDR"},
                                         {{"-h"}, "connections set N"},
                                         {{"help"}, "drain"},
                                         {{"status", "--help"}, "-o FORMAT"},
                                         {{"watch", "-h"}, "-interval"},
                                         {{"targets", "--help"}, "remove ADDR"},
                                         {{"targets", "list", "--help"}, "lbctl targets list"},
                                         {{"targets", "set", "--help"}, "-expect-generation"},
                                         {{"targets", "add", "-h"}, "-connections"},
                                         {{"targets", "remove", "--help"}, "-expect-generation"},
                                         {{"connections", "--help"}, "set N"},
                                         {{"connections", "set", "--help"}, "-target"},
                                         {{"failback", "--help"}, "-target"},
                                         {{"drain", "--help"}, "exits 0"}}) {
    CommandResult r = lbctl_raw(c.args);
    EXPECT_EQ(r.exit_code, 0) << c.args[0] << r;
    EXPECT_NE(r.out.find(c.mentions), std::string::npos) << c.args[0] << r;
    EXPECT_TRUE(r.err.empty()) << r;
  }
}

TEST(Control, UnreachableServerIsReportedClearly) {
  // A bound port that does not listen: connections are refused and nobody else takes it.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const std::string server = address(ntohs(addr.sin_port));
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"status"}, {"targets", "list"}, {"drain"}, {"watch"}, {"connections", "set", "2"}}) {
    std::vector<std::string> full = {"-server", server, "-timeout", "3s"};
    full.insert(full.end(), args.begin(), args.end());
    CommandResult r = lbctl_raw(full);
    EXPECT_EQ(r.exit_code, 1) << args[0] << r;
    EXPECT_NE(r.err.find("lbctl: cannot reach json-tcp-lb control API at " + server + ": "),
              std::string::npos)
        << r;
  }

  // A port that completes TCP handshakes but never speaks HTTP/2: -timeout bounds the call.
  ASSERT_EQ(::listen(fd, 8), 0);
  const auto start = std::chrono::steady_clock::now();
  CommandResult silent = lbctl_raw({"-server", server, "-timeout", "700ms", "status"});
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(silent.exit_code, 1) << silent;
  EXPECT_NE(silent.err.find("lbctl: cannot reach json-tcp-lb control API at " + server + ": "),
            std::string::npos)
      << silent;
  EXPECT_GE(took, milliseconds(700));
  EXPECT_LT(took, seconds(5));
  ::close(fd);
}

// ---- output ------------------------------------------------------------------------------

TEST(Control, OutputForPeopleAndForScripts) {
  Sink sink(sink_ports(2));
  const std::string a = address(sink.ports()[0]), b = address(sink.ports()[1]);
  Lb lb = start_lb({"-target", join({a, b}), "-connections", "2"});
  ASSERT_NE(lb.control_port, 0) << lb.log();
  ASSERT_TRUE(
      wait_for_status(lb, [](const v1::Status& s) { return every_target_has(s, 2); }).first);
  auto o = paced_load(lb.data_port, "out", 1, 1'000, 0);
  ASSERT_EQ(run_load_gen(o).failed_connections, 0u);
  ASSERT_TRUE(wait_for_run(sink, o).exactly_once());
  auto [counted, status] = wait_for_status(lb, [](const v1::Status& s) {
    return s.totals().received_lines() == 1'000 && s.totals().sent_lines() == 1'000;
  });
  EXPECT_TRUE(counted) << status.DebugString();
  EXPECT_EQ(status.targets_size(), 2);
  EXPECT_EQ(status.workers_size(), 4);
  EXPECT_FALSE(status.version().empty());
  EXPECT_EQ(status.targets(0).sent_lines() + status.targets(1).sent_lines(), 1'000u);

  // The table: a header, the targets and the workers.
  CommandResult table = lbctl(lb, {"status"});
  ASSERT_EQ(table.exit_code, 0) << table;
  for (const std::string& text :
       {std::string("json-tcp-lb "), std::string("generation "), std::string("TARGET"),
        std::string("WORKER"), a, b, std::string("2/2"), std::string("healthy"),
        std::string("connected")}) {
    EXPECT_NE(table.out.find(text), std::string::npos) << text << "\n" << table;
  }
  CommandResult list = lbctl(lb, {"targets", "list"});
  ASSERT_EQ(list.exit_code, 0) << list;
  EXPECT_NE(list.out.find(a), std::string::npos) << list;
  EXPECT_EQ(list.out.find("WORKER"), std::string::npos) << list;

  // JSON for scripts; zero values are printed too.
  CommandResult json_list = lbctl(lb, {"targets", "list", "-o", "json"});
  ASSERT_EQ(json_list.exit_code, 0) << json_list;
  google::protobuf::Struct parsed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json_list.out, &parsed).ok())
      << json_list;
  ASSERT_EQ(parsed.fields().at("targets").list_value().values_size(), 2) << json_list;
  EXPECT_EQ(parsed.fields().at("targets").list_value().values(0).struct_value().fields().count(
                "resentLines"),
            1u)
      << json_list;
  CommandResult json_status = lbctl(lb, {"-o", "json", "status"});
  ASSERT_EQ(json_status.exit_code, 0) << json_status;
  EXPECT_EQ(std::count(json_status.out.begin(), json_status.out.end(), '\n'), 1) << json_status;
  EXPECT_NE(json_status.out.find("\"queueBytes\""), std::string::npos) << json_status;

  // watch -o json: one Status per line until Ctrl-C, which ends it with 0.
  int lines = 0;
  ProxyProcess watch(LBCTL_BINARY,
                     {"-server", lb.control(), "watch", "-o", "json", "--interval", "100ms"},
                     [&lines](std::string_view line) {
                       if (parse_status(std::string(line))) ++lines;
                       return true;
                     });
  ASSERT_TRUE(watch.wait_for_log("\n", seconds(10), 3)) << watch.log();
  watch.signal(SIGINT);
  EXPECT_EQ(watch.wait_exit(seconds(10)), 0) << watch.log();
  EXPECT_GE(lines, 3) << watch.log();
}

// The formatting pieces of lbctl, in process (lb_cli).
TEST(LbctlText, TableAlignsColumnsWithoutTrailingSpaces) {
  using jsontcplb::cli::Table;
  Table table({{"NAME"}, {"COUNT", Table::Align::kRight}, {"NOTE"}});
  table.add_row({"a", "5", ""});
  table.add_row({"longer", "12345", "x"});
  EXPECT_EQ(table.render(),
            "NAME    COUNT  NOTE\n"
            "a           5\n"
            "longer  12345  x\n");
}

TEST(LbctlText, HumanBytes) {
  using jsontcplb::cli::human_bytes;
  EXPECT_EQ(human_bytes(0), "0 B");
  EXPECT_EQ(human_bytes(1023), "1023 B");
  EXPECT_EQ(human_bytes(1536), "1.5 KiB");
  EXPECT_EQ(human_bytes(16u << 20), "16.0 MiB");
  EXPECT_EQ(human_bytes(3ull << 40), "3.0 TiB");
}

TEST(LbctlText, StatusTableShowsEveryPart) {
  v1::Status status;
  status.set_version("1.2.3");
  status.mutable_uptime()->set_seconds(3723);
  status.mutable_uptime()->set_nanos(500'000'000);
  status.set_generation(7);
  status.set_config_version("cfg-9");
  status.set_queue_bytes(2048);
  status.set_queue_capacity_bytes(16u << 20);
  status.set_client_connections(3);
  status.set_default_connections(4);
  status.mutable_failback_interval()->set_seconds(300);
  status.mutable_totals()->set_received_lines(1000);
  status.mutable_totals()->set_failovers(2);
  auto* t = status.add_targets();
  t->set_address("10.0.0.1:5000");
  t->set_connections_wanted(4);
  t->set_connections_connected(3);
  t->set_health(v1::TargetStatus::HEALTHY);
  t->set_sent_lines(990);
  t->set_resent_lines(5);
  auto* w = status.add_workers();
  w->set_name("10.0.0.1:5000#0");
  w->set_home_target("10.0.0.1:5000");
  w->set_current_target("10.0.0.2:5000");
  w->set_state(v1::WorkerStatus::CONNECTED);
  const std::string text = jsontcplb::cli::format_status(status);
  for (const char* part :
       {"json-tcp-lb 1.2.3, up 1h2m3s", "generation 7", "config version cfg-9",
        "default connections 4", "failback interval 5m", "queue 2.0 KiB of 16.0 MiB",
        "clients 3 connected", "received 1000 lines", "failovers 2", "TARGET", "3/4", "healthy",
        "990", "WORKER", "10.0.0.2:5000", "connected"}) {
    EXPECT_NE(text.find(part), std::string::npos) << part << "\n" << text;
  }
  // JSON: the protobuf mapping, zero values included, one line.
  const std::string json = jsontcplb::cli::to_json(status);
  EXPECT_EQ(json.find('\n'), std::string::npos);
  EXPECT_NE(json.find("\"unackedBytes\":\"0\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"health\":\"HEALTHY\""), std::string::npos) << json;
  auto back = parse_status(json);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->SerializeAsString(), status.SerializeAsString());
}

TEST(LbctlText, UsageErrorsInProcess) {
  std::ostringstream out, err;
  const char* args[] = {"targets", "add", "127.0.0.1:1", "--connections", "0"};
  EXPECT_EQ(jsontcplb::cli::run_lbctl(args, out, err), jsontcplb::cli::kExitUsage);
  EXPECT_EQ(
      err.str(),
      "lbctl: invalid value \"0\" for -connections: must be at least 1 (see lbctl targets add "
      "--help)\n");
  EXPECT_TRUE(out.str().empty());
}

// ---- security ----------------------------------------------------------------------------

TEST(ControlAuth, NonLoopbackWithoutTokenOrMtlsIsRefusedAtStart) {
  ProxyProcess refused(LB_BINARY, {"-addr", "127.0.0.1", "-port", "0", "-target", "127.0.0.1:9",
                                   "-control-addr", "0.0.0.0:0", "-metrics-addr", "off"});
  EXPECT_EQ(refused.wait_exit(seconds(10)), 2) << refused.log();
  EXPECT_NE(refused.log().find("-control-addr"), std::string::npos) << refused.log();
  EXPECT_EQ(refused.log().find("listening on"), std::string::npos) << refused.log();

  // Allowed with -control-insecure, or with a token.
  const TempDir temp("lbctl");
  const std::string& dir = temp.path();
  const std::string token = write_file(dir, "token", "abc\n");
  for (const std::vector<std::string>& extra : std::vector<std::vector<std::string>>{
           {"-control-insecure"}, {"-control-token-file", token}}) {
    std::vector<std::string> args = {"-addr",         "127.0.0.1",   "-port",         "0",
                                     "-target",       "127.0.0.1:9", "-control-addr", "0.0.0.0:0",
                                     "-metrics-addr", "off"};
    args.insert(args.end(), extra.begin(), extra.end());
    ProxyProcess allowed(LB_BINARY, args);
    EXPECT_TRUE(allowed.wait_for_log("control API listening on ", seconds(10))) << extra[0] << "\n"
                                                                                << allowed.log();
  }
}

TEST(ControlAuth, BearerToken) {
  Sink sink(sink_ports(1));
  const TempDir temp("lbctl");
  const std::string& dir = temp.path();
  const std::string token = write_file(dir, "token", "  s3cret-token\n");
  const std::string wrong = write_file(dir, "wrong", "s3cret-tokeN\n");
  const std::string right = write_file(dir, "right", "s3cret-token");
  Lb lb = start_lb({"-target", address(sink.ports()[0]), "-control-token-file", token});
  ASSERT_NE(lb.control_port, 0) << lb.log();

  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"status"}, {"--token-file", wrong, "status"}, {"--token-file", wrong, "drain"}}) {
    CommandResult r = lbctl(lb, args);
    EXPECT_EQ(r.exit_code, 1) << r;
    EXPECT_NE(r.err.find("lbctl: UNAUTHENTICATED: "), std::string::npos) << r;
  }
  CommandResult ok = lbctl(lb, {"--token-file", right, "status", "-o", "json"});
  EXPECT_EQ(ok.exit_code, 0) << ok;
  EXPECT_TRUE(parse_status(ok.out).has_value()) << ok;
  CommandResult change = lbctl(lb, {"connections", "set", "2", "--token-file", token});
  EXPECT_EQ(change.exit_code, 0) << change;
}

class ControlTls : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    pki_dir_ = new TempDir("lbctl-pki");
    pki_ = new TestPki(make_test_pki(pki_dir_->path()));
  }
  static void TearDownTestSuite() {
    delete pki_;
    delete pki_dir_;  // removes the files
  }
  static TempDir* pki_dir_;
  static TestPki* pki_;
};
TestPki* ControlTls::pki_ = nullptr;
TempDir* ControlTls::pki_dir_ = nullptr;

TEST_F(ControlTls, MutualTls) {
  Sink sink(sink_ports(1));
  Lb lb = start_lb({"-target", address(sink.ports()[0]), "-control-tls-cert", pki_->server_cert,
                    "-control-tls-key", pki_->server_key, "-control-client-ca", pki_->ca_cert});
  ASSERT_NE(lb.control_port, 0) << lb.log();

  CommandResult ok = lbctl(lb, {"--tls-ca", pki_->ca_cert, "--tls-cert", pki_->client_cert,
                                "--tls-key", pki_->client_key, "status", "-o", "json"});
  EXPECT_EQ(ok.exit_code, 0) << ok << lb.log();
  EXPECT_TRUE(parse_status(ok.out).has_value()) << ok;

  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"--tls-ca", pki_->ca_cert, "status"},  // no client certificate
           {"status"},                             // no TLS at all
           {"--tls-ca", pki_->client_cert, "--tls-cert", pki_->client_cert, "--tls-key",
            pki_->client_key, "status"}}) {  // a CA that did not sign the server's certificate
    CommandResult r = lbctl(lb, args);
    EXPECT_EQ(r.exit_code, 1) << args[0] << r;
    EXPECT_NE(r.err.find("lbctl: "), std::string::npos) << r;
  }
}

TEST_F(ControlTls, ServerTlsWithoutClientCertificates) {
  Sink sink(sink_ports(1));
  Lb lb = start_lb({"-target", address(sink.ports()[0]), "-control-tls-cert", pki_->server_cert,
                    "-control-tls-key", pki_->server_key});
  ASSERT_NE(lb.control_port, 0) << lb.log();
  CommandResult ok = lbctl(lb, {"--tls-ca", pki_->ca_cert, "targets", "list"});
  EXPECT_EQ(ok.exit_code, 0) << ok << lb.log();
  EXPECT_NE(ok.out.find(address(sink.ports()[0])), std::string::npos) << ok;
}

}  // namespace
}  // namespace lbtest
