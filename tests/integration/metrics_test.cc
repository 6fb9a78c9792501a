// The data plane's metrics, read from the Prometheus registry (not over HTTP) after driving a
// DataPlane in-process: an io_context thread with a port-0 listener, the test kit's sink as
// targets and its load generator as clients. Counters must agree with what the sink received.
// The gauges also let tests set up exact queue states (backpressure).
#include <gtest/gtest.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <functional>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "dataplane/buffered_histogram.h"
#include "dataplane/core/version.h"
#include "dataplane/data_plane.h"
#include "dataplane/stats.h"
#include "tests/tools/delivery.h"
#include "tests/tools/load_gen.h"
#include "tests/tools/sink.h"

namespace jsontcplb {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

constexpr milliseconds kWait = seconds(30);

// One collection of the registry, with lookups by name and (a subset of) labels.
class Scrape {
 public:
  explicit Scrape(prometheus::Registry& registry) : families_(registry.Collect()) {}

  /// The sum over every series of `name` whose labels include `labels` (0 when none).
  double get(const std::string& name, const prometheus::Labels& labels = {}) const {
    double sum = 0;
    for (const prometheus::ClientMetric* m : series(name, labels)) sum += value(name, *m);
    return sum;
  }
  /// Series of `name` (any family type) whose labels include `labels`.
  std::vector<const prometheus::ClientMetric*> series(const std::string& name,
                                                      const prometheus::Labels& labels = {}) const {
    std::vector<const prometheus::ClientMetric*> out;
    for (const auto& family : families_) {
      if (family.name != name) continue;
      for (const auto& metric : family.metric) {
        if (matches(metric, labels)) out.push_back(&metric);
      }
    }
    return out;
  }
  /// True if some series of any family carries label `key` = `value`.
  bool any_series_with(const std::string& key, const std::string& value) const {
    for (const auto& family : families_) {
      for (const auto& metric : family.metric) {
        if (matches(metric, {{key, value}})) return true;
      }
    }
    return false;
  }
  const prometheus::MetricFamily* family(const std::string& name) const {
    for (const auto& f : families_) {
      if (f.name == name) return &f;
    }
    return nullptr;
  }

 private:
  static bool matches(const prometheus::ClientMetric& metric, const prometheus::Labels& labels) {
    for (const auto& [key, value] : labels) {
      bool found = false;
      for (const auto& label : metric.label)
        found = found || (label.name == key && label.value == value);
      if (!found) return false;
    }
    return true;
  }
  double value(const std::string& name, const prometheus::ClientMetric& m) const {
    switch (family(name)->type) {
      case prometheus::MetricType::Counter:
        return m.counter.value;
      case prometheus::MetricType::Gauge:
        return m.gauge.value;
      case prometheus::MetricType::Histogram:
        return static_cast<double>(m.histogram.sample_count);
      default:
        return m.untyped.value;
    }
  }

  std::vector<prometheus::MetricFamily> families_;
};

// Polls the registry until `done` holds; false on timeout. Gauges change only when the proxy
// publishes them (once a second).
bool wait_for(prometheus::Registry& registry, const std::function<bool(const Scrape&)>& done,
              milliseconds timeout = kWait) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    if (done(Scrape(registry))) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(milliseconds(20));
  }
}

std::string target_name(std::uint16_t port) { return "127.0.0.1:" + std::to_string(port); }

// A DataPlane on its own io_context thread, as main() runs it but without the process around
// it.
class InProcessLb {
 public:
  InProcessLb(std::vector<std::uint16_t> target_ports, Options options = {})
      : stats_(std::make_shared<Stats>()) {
    options.addr = "127.0.0.1";
    options.port = 0;
    options.targets.clear();
    for (std::uint16_t port : target_ports) options.targets.push_back({"127.0.0.1", port});
    auto created = DataPlane::create(io_, options, stats_);
    if (!created.ok()) throw std::runtime_error(std::string(created.status().message()));
    proxy_ = *std::move(created);
    port_ = proxy_->listen_endpoint().port();
    proxy_->start();
    thread_ = std::thread([this] {
      io_.run();
      stopped_.set_value();
    });
  }
  ~InProcessLb() {
    io_.stop();
    thread_.join();
  }

  std::uint16_t port() const { return port_; }
  prometheus::Registry& registry() { return *stats_->registry(); }
  /// The registry right after the proxy published its gauges and histogram on its thread, so
  /// they show the current state rather than that of the last periodic publish.
  Scrape snapshot() {
    on_io([](DataPlane& dp) { dp.publish_metrics(); });
    return Scrape(registry());
  }
  /// Polls fresh snapshots until `done` holds; false on timeout.
  bool wait_for(const std::function<bool(const Scrape&)>& done, milliseconds timeout = kWait) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
      if (done(snapshot())) return true;
      if (Clock::now() >= deadline) return false;
      std::this_thread::sleep_for(milliseconds(20));
    }
  }

  /// Runs `work` on the data-plane thread and waits for it (bounded; after the proxy stopped,
  /// runs it here instead, since nothing else touches the proxy then).
  void on_io(const std::function<void(DataPlane&)>& work) {
    if (stopped_future_.wait_for(seconds(0)) == std::future_status::ready) {
      work(*proxy_);
      return;
    }
    auto done = std::make_shared<std::promise<void>>();
    auto result = done->get_future();
    boost::asio::post(io_, [proxy = proxy_, work, done] {
      work(*proxy);
      done->set_value();
    });
    if (result.wait_for(seconds(10)) != std::future_status::ready) {
      throw std::runtime_error("the data-plane thread did not run the work within 10 s");
    }
  }
  /// Like SIGTERM: drains, then the io_context stops. False if that took longer than `timeout`.
  bool shut_down(milliseconds timeout) {
    boost::asio::post(io_, [proxy = proxy_] { proxy->drain("test"); });
    return stopped_future_.wait_for(timeout) == std::future_status::ready;
  }

 private:
  boost::asio::io_context io_{1};
  std::shared_ptr<Stats> stats_;
  std::shared_ptr<DataPlane> proxy_;
  std::uint16_t port_ = 0;
  std::promise<void> stopped_;
  std::future<void> stopped_future_ = stopped_.get_future();
  std::thread thread_;
};

lbtest::LoadGenOptions load(std::uint16_t port, std::string run, std::uint32_t connections,
                            std::uint64_t lines) {
  lbtest::LoadGenOptions o;
  o.port = port;
  o.run_id = std::move(run);
  o.connections = connections;
  o.lines_per_connection = lines;
  o.line_size = 200;
  o.deadline = seconds(60);
  return o;
}

// Live changes as the control API makes them, on the data-plane thread.
void change(InProcessLb& lb, const DataPlane::Edit& edit) {
  lb.on_io([&](DataPlane& dp) {
    auto generation = dp.change(std::nullopt, edit);
    ASSERT_TRUE(generation.ok()) << generation.status();
  });
}
void add_target(InProcessLb& lb, std::uint16_t port, std::uint32_t connections) {
  change(lb, [&](const LiveConfig& c) {
    return with_target_added(c, {{"127.0.0.1", port}, connections});
  });
}
void remove_target(InProcessLb& lb, std::uint16_t port) {
  change(lb, [&](const LiveConfig& c) { return with_target_removed(c, {"127.0.0.1", port}); });
}

// Everything received was acknowledged by a target and nothing is queued or in flight.
bool settled(const Scrape& s) {
  return s.get("jsontcplb_sent_lines_total") >= s.get("jsontcplb_received_lines_total") &&
         s.get("jsontcplb_queue_bytes") == 0 && s.get("jsontcplb_unacked_bytes") == 0 &&
         s.get("jsontcplb_client_connections") == 0;
}

TEST(Metrics, CountersAgreeWithWhatTheTargetsReceived) {
  lbtest::Sink sink([] {
    lbtest::SinkOptions o;
    o.ports = 2;
    return o;
  }());
  Options options;
  options.connections = 2;
  InProcessLb lb(sink.ports(), options);
  const std::string a = target_name(sink.ports()[0]);
  const std::string b = target_name(sink.ports()[1]);
  // Without forcing a publish: the proxy's once-a-second publish shows the workers connected.
  ASSERT_TRUE(wait_for(lb.registry(), [&](const Scrape& s) {
    return s.get("jsontcplb_worker_connections", {{"state", "connected"}}) == 4;
  })) << "workers did not connect";

  auto o = load(lb.port(), "metrics", 2, 25'000);
  const std::uint64_t n = 2 * 25'000;
  lbtest::LoadGenResult sent = lbtest::run_load_gen(o);
  ASSERT_EQ(sent.failed_connections, 0u) << sent.error;
  lbtest::Report report = lbtest::wait_for_run(sink, o, kWait);
  ASSERT_TRUE(report.exactly_once()) << report.to_string();
  ASSERT_TRUE(lb.wait_for(settled)) << "never settled";

  Scrape s = lb.snapshot();
  EXPECT_EQ(s.get("jsontcplb_received_lines_total"), n);
  EXPECT_EQ(s.get("jsontcplb_received_bytes_total"), sent.bytes);
  // Nothing failed, so every line was acknowledged exactly once, by the target that got it.
  EXPECT_EQ(s.get("jsontcplb_sent_lines_total"), n);
  EXPECT_EQ(s.get("jsontcplb_sent_lines_total", {{"target", a}}), sink.lines(0));
  EXPECT_EQ(s.get("jsontcplb_sent_lines_total", {{"target", b}}), sink.lines(1));
  EXPECT_GT(sink.lines(0), 0u);
  EXPECT_GT(sink.lines(1), 0u);
  EXPECT_EQ(s.get("jsontcplb_sent_bytes_total"), sent.bytes);
  EXPECT_EQ(s.get("jsontcplb_resent_lines_total"), 0);
  EXPECT_EQ(s.get("jsontcplb_rejected_lines_total", {{"reason", "line_too_long"}}), 0);
  EXPECT_EQ(s.series("jsontcplb_rejected_lines_total", {{"reason", "line_too_long"}}).size(), 1u)
      << "the reason's series exists before the first rejection";
  EXPECT_EQ(s.get("jsontcplb_failovers_total"), 0);
  EXPECT_EQ(s.get("jsontcplb_failbacks_total"), 0);
  EXPECT_EQ(s.get("jsontcplb_reconnects_total"), 0);
  EXPECT_EQ(s.get("jsontcplb_client_connections_total"), 2);
  EXPECT_EQ(s.get("jsontcplb_client_connections"), 0);
  EXPECT_EQ(s.get("jsontcplb_queue_lines"), 0);
  EXPECT_EQ(s.get("jsontcplb_queue_capacity_bytes"), options.queue_bytes);
  EXPECT_EQ(s.get("jsontcplb_config_generation"), 1);
  EXPECT_EQ(s.get("jsontcplb_build_info", {{"version", kVersion}}), 1);
  for (const std::string& t : {a, b}) {
    EXPECT_EQ(s.get("jsontcplb_target_up", {{"target", t}}), 1) << t;
    EXPECT_EQ(s.get("jsontcplb_worker_connections", {{"target", t}, {"state", "connected"}}), 2)
        << t;
    EXPECT_EQ(s.get("jsontcplb_worker_connections", {{"target", t}}), 2) << t;
    EXPECT_EQ(s.series("jsontcplb_worker_connections", {{"target", t}}).size(), 4u) << t;
  }
  // Every gather write was timed; it took at least one write per 256 KiB.
  auto writes = s.series("jsontcplb_batch_write_seconds");
  ASSERT_EQ(writes.size(), 1u);
  EXPECT_GE(writes[0]->histogram.sample_count, sent.bytes / (256 * 1024));
  EXPECT_GT(writes[0]->histogram.sample_sum, 0);
  EXPECT_EQ(writes[0]->histogram.bucket.back().cumulative_count, writes[0]->histogram.sample_count);

  // The status of the control API reads the same events.
  lb.on_io([&](DataPlane& dp) {
    const jsontcplb::Snapshot status = dp.snapshot();
    EXPECT_EQ(status.totals.received_lines, n);
    EXPECT_EQ(status.totals.client_connections, 2u);
    std::uint64_t status_sent = 0;
    for (const auto& t : status.targets) status_sent += t.sent_lines;
    EXPECT_EQ(status_sent, n);
    EXPECT_EQ(status.totals.sent_lines, n);
  });

  // After the drain every worker has closed, and the last publish says so.
  ASSERT_TRUE(lb.shut_down(kWait));
  Scrape after(lb.registry());  // not lb.snapshot(): no forced publish
  EXPECT_EQ(after.get("jsontcplb_worker_connections"), 0);
  EXPECT_EQ(after.get("jsontcplb_received_lines_total"), n);
}

TEST(Metrics, ResentLinesExplainSentBeyondReceivedAfterATargetDies) {
  // Slow readers with small buffers: the proxy always has lines written and not yet
  // acknowledged, so the dying target leaves some to be resent.
  lbtest::Sink sink([] {
    lbtest::SinkOptions o;
    o.ports = 2;
    o.rate_bytes_per_sec = 1'000'000;  // 4 MB/s in all, below the 10 MB/s sent
    o.rcvbuf = 64 * 1024;
    return o;
  }());
  Options options;
  options.connections = 2;
  InProcessLb lb(sink.ports(), options);
  const std::string dying = target_name(sink.ports()[0]);
  const std::string alive = target_name(sink.ports()[1]);

  // Paced, so the target dies in the middle of the run.
  auto o = load(lb.port(), "failover", 4, 10'000);
  o.rate_lines_per_sec = 50'000;
  const std::uint64_t n = 4 * 10'000;
  auto run = std::async(std::launch::async, [&] { return lbtest::run_load_gen(o); });
  ASSERT_TRUE(sink.wait_for_total_lines(n / 5, kWait));
  ASSERT_TRUE(sink.close_port(0, /*abort=*/true));
  lbtest::LoadGenResult sent = run.get();
  ASSERT_EQ(sent.failed_connections, 0u) << sent.error;
  lbtest::Report report = lbtest::wait_for_run(sink, o, kWait);
  ASSERT_TRUE(report.at_least_once()) << report.to_string();
  ASSERT_TRUE(lb.wait_for([](const Scrape& s) {
    return settled(s) && s.get("jsontcplb_worker_connections", {{"state", "connected"}}) == 4;
  })) << "never settled";

  Scrape s = lb.snapshot();
  const double received = s.get("jsontcplb_received_lines_total");
  const double delivered = s.get("jsontcplb_sent_lines_total");
  const double resent = s.get("jsontcplb_resent_lines_total");
  EXPECT_EQ(received, n);
  EXPECT_GE(delivered, received);
  EXPECT_GT(resent, 0);
  EXPECT_LE(delivered - received, resent) << "duplicates only come from resent lines";
  // What each target acknowledged is what it read (the sink drains acknowledged bytes first).
  EXPECT_EQ(s.get("jsontcplb_sent_lines_total", {{"target", dying}}), sink.lines(0));
  EXPECT_EQ(s.get("jsontcplb_sent_lines_total", {{"target", alive}}), sink.lines(1));
  EXPECT_EQ(delivered, report.total);
  EXPECT_GE(s.get("jsontcplb_reconnects_total"), 2) << "both connections to it failed";
  EXPECT_GE(s.get("jsontcplb_failovers_total"), 2);
  EXPECT_EQ(s.get("jsontcplb_target_up", {{"target", dying}}), 0);
  EXPECT_EQ(s.get("jsontcplb_target_up", {{"target", alive}}), 1);
  EXPECT_EQ(s.get("jsontcplb_worker_connections", {{"target", alive}, {"state", "connected"}}), 4);
  EXPECT_EQ(s.get("jsontcplb_worker_connections", {{"target", dying}}), 0);
  std::cout << "[ metrics  ] received=" << received << " sent=" << delivered << " resent=" << resent
            << " failovers=" << s.get("jsontcplb_failovers_total")
            << " reconnects=" << s.get("jsontcplb_reconnects_total") << std::endl;
}

TEST(Metrics, TooLongLineIsCountedByReason) {
  lbtest::Sink sink(lbtest::SinkOptions{});
  Options options;
  options.connections = 1;
  options.max_line_bytes = 1024;
  InProcessLb lb(sink.ports(), options);

  boost::asio::io_context io;
  boost::asio::ip::tcp::socket client(io);
  client.connect({boost::asio::ip::make_address("127.0.0.1"), lb.port()});
  const std::string text = "{\"a\":1}\n{\"b\":2}\n{\"c\":3}\n" + std::string(4096, 'x') + "\n";
  boost::system::error_code ec;
  boost::asio::write(client, boost::asio::buffer(text), ec);  // may be reset half way

  ASSERT_TRUE(lb.wait_for([](const Scrape& s) {
    return s.get("jsontcplb_rejected_lines_total", {{"reason", "line_too_long"}}) == 1 &&
           s.get("jsontcplb_sent_lines_total") == 3 && s.get("jsontcplb_client_connections") == 0;
  }));
  Scrape s = lb.snapshot();
  EXPECT_EQ(s.get("jsontcplb_received_lines_total"), 3);
  EXPECT_EQ(s.get("jsontcplb_rejected_lines_total"), 1);
  EXPECT_EQ(s.get("jsontcplb_client_connections_total"), 1);
}

TEST(Metrics, TargetSeriesFollowTheTargetList) {
  lbtest::Sink sink([] {
    lbtest::SinkOptions o;
    o.ports = 2;
    return o;
  }());
  Options options;
  options.connections = 1;
  InProcessLb lb({sink.ports()[0]}, options);
  const std::string a = target_name(sink.ports()[0]);
  const std::string b = target_name(sink.ports()[1]);
  EXPECT_FALSE(lb.snapshot().any_series_with("target", b));

  add_target(lb, sink.ports()[1], 2);
  ASSERT_TRUE(lb.wait_for([&](const Scrape& s) {
    return s.get("jsontcplb_worker_connections", {{"target", b}, {"state", "connected"}}) == 2 &&
           s.get("jsontcplb_config_generation") == 2;
  }));
  for (const char* name :
       {"jsontcplb_sent_lines_total", "jsontcplb_sent_bytes_total", "jsontcplb_target_up",
        "jsontcplb_unacked_bytes", "jsontcplb_retained_bytes"}) {
    EXPECT_EQ(lb.snapshot().series(name, {{"target", b}}).size(), 1u) << name;
  }
  // One series per reason a line is sent again.
  EXPECT_EQ(lb.snapshot().series("jsontcplb_resent_lines_total", {{"target", b}}).size(), 2u);

  // Removing A drops every series labelled with it; its workers hand over and leave.
  remove_target(lb, sink.ports()[0]);
  EXPECT_FALSE(lb.snapshot().any_series_with("target", a));
  auto o = load(lb.port(), "after-remove", 1, 10'000);
  ASSERT_EQ(lbtest::run_load_gen(o).failed_connections, 0u);
  ASSERT_TRUE(lbtest::wait_for_run(sink, o, kWait).exactly_once());
  ASSERT_TRUE(lb.wait_for([&](const Scrape& s) {
    return settled(s) && s.get("jsontcplb_config_generation") == 3 &&
           s.get("jsontcplb_worker_connections") == 2;
  }));
  Scrape s = lb.snapshot();
  EXPECT_FALSE(s.any_series_with("target", a));
  EXPECT_EQ(s.get("jsontcplb_sent_lines_total", {{"target", b}}), 10'000);

  // Added again, A starts from zero.
  add_target(lb, sink.ports()[0], 1);
  EXPECT_EQ(lb.snapshot().series("jsontcplb_sent_lines_total", {{"target", a}}).size(), 1u);
  EXPECT_EQ(lb.snapshot().get("jsontcplb_sent_lines_total", {{"target", a}}), 0);
}

TEST(Metrics, TotalsKeepWhatRemovedTargetsDelivered) {
  lbtest::Sink sink([] {
    lbtest::SinkOptions o;
    o.ports = 2;
    return o;
  }());
  Options options;
  options.connections = 2;
  InProcessLb lb(sink.ports(), options);
  auto o = load(lb.port(), "removed", 2, 20'000);
  const std::uint64_t n = 2 * 20'000;
  ASSERT_EQ(lbtest::run_load_gen(o).failed_connections, 0u);
  ASSERT_TRUE(lbtest::wait_for_run(sink, o, kWait).exactly_once());
  ASSERT_TRUE(lb.wait_for(settled)) << "never settled";
  ASSERT_GT(sink.lines(0), 0u) << "both targets delivered some";
  ASSERT_GT(sink.lines(1), 0u);

  remove_target(lb, sink.ports()[0]);
  ASSERT_TRUE(lb.wait_for([](const Scrape& s) {
    return s.get("jsontcplb_worker_connections") == 2 && s.get("jsontcplb_config_generation") == 2;
  }));
  Scrape s = lb.snapshot();
  // The per-target series go with the target; the totals keep its share.
  EXPECT_EQ(s.get("jsontcplb_sent_lines_total"), sink.lines(1));
  EXPECT_EQ(s.get("jsontcplb_delivered_lines_total"), n);
  EXPECT_EQ(s.get("jsontcplb_delivered_bytes_total"), s.get("jsontcplb_received_bytes_total"));
  EXPECT_EQ(s.get("jsontcplb_requeued_lines_total"), 0);
  lb.on_io([&](DataPlane& dp) {
    const jsontcplb::Snapshot status = dp.snapshot();
    ASSERT_EQ(status.targets.size(), 1u);
    EXPECT_LT(status.targets[0].sent_lines, n);
    EXPECT_GE(status.totals.sent_lines, n) << "lbctl status totals never go backwards";
    EXPECT_EQ(status.totals.received_lines, n);
  });
}

// Backpressure, seen through the queue gauges. A client whose last read fills the queue waits
// for room with only its end of stream left to read. When the queue drains, the room it is woken
// for goes unused (it ends without queuing anything): it must pass it on to the clients waiting
// behind it, or they wait until the drain timeout cuts them off. With every client on the
// data-plane thread and with clients on reader threads.
class Backpressure : public ::testing::TestWithParam<int> {};

TEST_P(Backpressure, RoomAClientLeavesUnusedWakesTheNextOne) {
  using boost::asio::ip::tcp;
  lbtest::Sink sink(lbtest::SinkOptions{});
  ASSERT_TRUE(sink.close_port(0, false));  // down, so the queue fills and stays full
  Options options;
  options.connections = 1;
  options.queue_bytes = 64 * 1024;
  options.threads = GetParam();
  InProcessLb lb(sink.ports(), options);

  boost::asio::io_context io;
  const std::string line = std::string(255, 'x') + "\n";
  auto send_and_close = [&](tcp::socket& client, int lines) {
    client.connect({boost::asio::ip::make_address("127.0.0.1"), lb.port()});
    std::string text;
    for (int i = 0; i < lines; ++i) text += line;
    boost::asio::write(client, boost::asio::buffer(text));
    client.shutdown(tcp::socket::shutdown_send);
  };
  // Exactly a queue's worth, then the end of the stream.
  tcp::socket first(io);
  send_and_close(first, 256);
  ASSERT_TRUE(lb.wait_for([](const Scrape& s) {
    return s.get("jsontcplb_queue_bytes") == 64 * 1024;
  })) << "the first client did not fill the queue";
  // Three more, which find the queue full before their first read.
  std::vector<tcp::socket> more;
  for (int i = 0; i < 3; ++i) send_and_close(more.emplace_back(io), 10);
  ASSERT_TRUE(
      lb.wait_for([](const Scrape& s) { return s.get("jsontcplb_client_connections") == 4; }));

  sink.reopen_port(0);
  EXPECT_TRUE(sink.wait_until([&] { return sink.lines(0) == 256 + 3 * 10; }, kWait))
      << "the target got " << sink.lines(0) << " of " << 256 + 3 * 10 << " lines";
  EXPECT_TRUE(lb.wait_for(settled))
      << "clients still open: " << lb.snapshot().get("jsontcplb_client_connections");
}

INSTANTIATE_TEST_SUITE_P(Threads, Backpressure, ::testing::Values(1, 4),
                         [](const ::testing::TestParamInfo<int>& p) {
                           return std::to_string(p.param);
                         });

TEST(BufferedHistogram, PublishesBucketsAndSumOnlyWhenFlushed) {
  prometheus::Registry registry;
  auto& family = prometheus::BuildHistogram().Name("h_seconds").Help("test").Register(registry);
  BufferedHistogram h(family, {0.1, 1, 10});
  for (double v : {0.05, 0.1, 0.5, 1.0, 5.0, 50.0}) h.observe(v);

  Scrape before{registry};
  ASSERT_EQ(before.series("h_seconds").size(), 1u);
  EXPECT_EQ(before.series("h_seconds")[0]->histogram.sample_count, 0u);

  h.flush();
  h.flush();  // nothing new: no change
  Scrape after{registry};
  const auto& hist = after.series("h_seconds")[0]->histogram;
  EXPECT_EQ(hist.sample_count, 6u);
  EXPECT_DOUBLE_EQ(hist.sample_sum, 56.65);
  ASSERT_EQ(hist.bucket.size(), 4u);
  // Cumulative, and a value equal to a bound counts in that bound's bucket (le).
  EXPECT_EQ(hist.bucket[0].cumulative_count, 2u);
  EXPECT_EQ(hist.bucket[1].cumulative_count, 4u);
  EXPECT_EQ(hist.bucket[2].cumulative_count, 5u);
  EXPECT_EQ(hist.bucket[3].cumulative_count, 6u);

  h.observe(0.2);
  h.flush();
  EXPECT_EQ(Scrape(registry).series("h_seconds")[0]->histogram.sample_count, 7u);
}

}  // namespace
}  // namespace jsontcplb
