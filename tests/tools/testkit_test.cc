#include <gtest/gtest.h>
#include <linux/sockios.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <atomic>
#include <boost/asio.hpp>
#include <filesystem>
#include <thread>

#include "tests/tools/line_format.h"
#include "tests/tools/load_gen.h"
#include "tests/tools/relay.h"
#include "tests/tools/sink.h"
#include "tests/tools/test_pki.h"
#include "tests/tools/verifier.h"

namespace lbtest {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace std::chrono_literals;

constexpr auto kWait = 20s;  // generous: a loaded CI machine must not fail a correct kit

std::string strip(const std::string& line) { return line.substr(0, line.size() - 1); }

std::string make_temp_dir() {
  std::string pattern = ::testing::TempDir() + "/testkit-XXXXXX";
  if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  return pattern;
}

LoadGenOptions load(std::uint16_t port, std::uint32_t connections, std::uint64_t lines) {
  LoadGenOptions o;
  o.port = port;
  o.connections = connections;
  o.lines_per_connection = lines;
  o.deadline = 60s;
  return o;
}

// --- line format -----------------------------------------------------------------------------

TEST(LineFormat, WritesTheDocumentedFormat) {
  EXPECT_EQ(make_line("R", 3, 12345, 0),
            "{\"run\":\"R\",\"stream\":3,\"seq\":12345,\"ts\":0,\"pad\":\"\"}\n");
  const std::string line = make_line("R", 3, 12345, 60, 7);
  EXPECT_EQ(line, "{\"run\":\"R\",\"stream\":3,\"seq\":12345,\"ts\":7,\"pad\":\"xxxxxxxxx\"}\n");
  EXPECT_EQ(line.size(), 60u);
  EXPECT_EQ(min_line_size("R", 3, 12345, 7), 51u);
}

TEST(LineFormat, RoundTripsAtSeveralSizes) {
  const std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();
  for (std::size_t size : {0, 1, 44, 45, 46, 100, 200, 4096, 1 << 20}) {
    for (const LineId& id : {LineId{"r", 0, 0, 0}, LineId{"run-1.a_B", 7, 123456789, 42},
                             LineId{std::string_view("Z"), 4294967295u, kMax, kMax}}) {
      const std::string line = make_line(id.run, id.stream, id.seq, size, id.ts_ns);
      SCOPED_TRACE(line.substr(0, 80));
      EXPECT_EQ(line.size(), std::max(size, min_line_size(id.run, id.stream, id.seq, id.ts_ns)));
      EXPECT_EQ(line.back(), '\n');
      EXPECT_EQ(line.find('\n'), line.size() - 1);
      const std::string text = strip(line);  // the parsed run id points into it
      const std::optional<LineId> parsed = parse_line(text);
      ASSERT_TRUE(parsed.has_value());
      EXPECT_EQ(*parsed, id);
    }
  }
}

TEST(LineFormat, AppendLineAppendsWholeLines) {
  std::string buffer = "head\n";
  append_line(buffer, "r", 1, 2, 100);
  append_line(buffer, "r", 1, 3, 100);
  EXPECT_EQ(buffer, "head\n" + make_line("r", 1, 2, 100) + make_line("r", 1, 3, 100));
}

TEST(LineFormat, RefusesRunIdsThatWouldNeedEscaping) {
  for (std::string_view bad : {"", "a b", "a\"b", "a\\b", "caf\xc3\xa9"}) {
    EXPECT_FALSE(is_valid_run_id(bad)) << bad;
    EXPECT_THROW(make_line(bad, 0, 0, 0), std::invalid_argument) << bad;
  }
  EXPECT_FALSE(is_valid_run_id(std::string(65, 'a')));
  EXPECT_TRUE(is_valid_run_id(std::string(64, 'a')));
}

TEST(LineFormat, RejectsMergedLines) {
  const std::string a = strip(make_line("r", 1, 1, 80));
  const std::string b = strip(make_line("r", 1, 2, 80));
  EXPECT_FALSE(parse_line(a + b));
  EXPECT_FALSE(parse_line(a + "\n" + b));
  EXPECT_FALSE(parse_line(a.substr(0, 40) + b));
  EXPECT_FALSE(parse_line(a + " "));
  EXPECT_FALSE(parse_line(a + "\r"));
}

TEST(LineFormat, RejectsEveryTruncation) {
  const std::string line = strip(make_line("run", 12, 345, 120, 678));
  for (std::size_t n = 0; n < line.size(); ++n) {
    EXPECT_FALSE(parse_line(line.substr(0, n))) << "prefix " << n;
    EXPECT_FALSE(parse_line(line.substr(line.size() - n))) << "suffix " << n;
  }
}

// A digit turned into another digit still parses, but then as a different id, which the
// Verifier reports as missing plus duplicate or unexpected.
TEST(LineFormat, AnyCorruptedByteIsRejectedOrChangesTheId) {
  const std::string line = strip(make_line("run", 12, 345, 120, 678));
  const LineId original = *parse_line(line);
  int rejected = 0;
  for (std::size_t i = 0; i < line.size(); ++i) {
    for (char c :
         {'x', 'y', '0', '1', '9', '"', ',', '{', '}', ':', ' ', '\0', '\n', 'A', '\xff'}) {
      if (line[i] == c) continue;
      std::string corrupted = line;
      corrupted[i] = c;
      const std::optional<LineId> parsed = parse_line(corrupted);
      if (!parsed) {
        ++rejected;
        continue;
      }
      EXPECT_NE(*parsed, original) << corrupted;
    }
  }
  EXPECT_GT(rejected, 0);
}

TEST(LineFormat, RejectsNonCanonicalNumbers) {
  EXPECT_TRUE(parse_line(R"({"run":"r","stream":0,"seq":0,"ts":0,"pad":""})"));
  EXPECT_FALSE(parse_line(R"({"run":"r","stream":01,"seq":0,"ts":0,"pad":""})"));
  EXPECT_FALSE(parse_line(R"({"run":"r","stream":-1,"seq":0,"ts":0,"pad":""})"));
  EXPECT_FALSE(parse_line(R"({"run":"r","stream":+1,"seq":0,"ts":0,"pad":""})"));
  EXPECT_FALSE(parse_line(R"({"run":"r","stream":4294967296,"seq":0,"ts":0,"pad":""})"));
  EXPECT_FALSE(parse_line(R"({"run":"r","stream":0,"seq":18446744073709551616,"ts":0,"pad":""})"));
  EXPECT_FALSE(parse_line(R"({"run":"r","stream":0,"seq":,"ts":0,"pad":""})"));
  EXPECT_FALSE(parse_line(R"({"run":"","stream":0,"seq":0,"ts":0,"pad":""})"));
  EXPECT_FALSE(parse_line(R"({"run":"r","seq":0,"stream":0,"ts":0,"pad":""})"));
  EXPECT_FALSE(parse_line(R"({"run":"r","stream":0,"seq":0,"ts":0,"pad":"xxy"})"));
  EXPECT_FALSE(parse_line(R"({"run":"r", "stream":0,"seq":0,"ts":0,"pad":""})"));
}

// --- verifier --------------------------------------------------------------------------------

TEST(Verifier, CountsEveryKindOfLine) {
  Verifier v;
  for (std::uint32_t stream = 0; stream < 2; ++stream) {
    for (std::uint64_t seq = 0; seq < 5; ++seq) {
      if (stream == 0 && seq == 3) continue;  // missing
      v.add_line(strip(make_line("r", stream, seq, 64)));
    }
  }
  v.add_line(strip(make_line("r", 1, 2, 64)));  // two duplicates
  v.add_line(strip(make_line("r", 1, 2, 64)));
  v.add_line("garbage");  // malformed
  v.add_line(strip(make_line("r", 1, 4, 64)).substr(0, 30));
  v.add_line(strip(make_line("other", 0, 0, 64)));  // unexpected: run, stream, seq range
  v.add_line(strip(make_line("r", 2, 0, 64)));
  v.add_line(strip(make_line("r", 0, 5, 64)));

  const Report r = v.report("r", 2, 5);
  EXPECT_EQ(r.total, 16u);
  EXPECT_EQ(r.ok, 9u);
  EXPECT_EQ(r.duplicate, 2u);
  EXPECT_EQ(r.missing, 1u);
  EXPECT_EQ(r.malformed, 2u);
  EXPECT_EQ(r.unexpected, 3u);
  EXPECT_EQ(r.total, r.ok + r.duplicate + r.unexpected + r.malformed);
  EXPECT_FALSE(r.exactly_once());
  EXPECT_FALSE(r.at_least_once());
  EXPECT_EQ(v.malformed_samples().front(), "garbage");
  EXPECT_EQ(r.to_json(),
            R"({"total":16,"ok":9,"duplicate":2,"malformed":2,"missing":1,"unexpected":3})");
  EXPECT_EQ(r.to_string(), "total=16 ok=9 duplicate=2 malformed=2 missing=1 unexpected=3");
}

TEST(Verifier, ReportsStreamsNeverSeenAsMissing) {
  Verifier v;
  v.add_line(strip(make_line("r", 5, 0, 0)));
  const Report r = v.report("r", 3, 4, /*first_stream=*/4);
  EXPECT_EQ(r.ok, 1u);
  EXPECT_EQ(r.missing, 11u);
  EXPECT_EQ(v.report("r", 1, 1, 5).exactly_once(), true);
}

TEST(Verifier, CountsStayExactPastTheSaturatedCounter) {
  Verifier v;
  const std::string line = strip(make_line("r", 0, 1, 0));
  for (int i = 0; i < 300; ++i) v.add_line(line);
  const Report r = v.report("r", 1, 2);
  EXPECT_EQ(r.ok, 1u);
  EXPECT_EQ(r.duplicate, 299u);
  EXPECT_EQ(r.missing, 1u);
  EXPECT_TRUE(v.report("r", 1, 2, 0).at_least_once() == false);
}

TEST(Verifier, HugeSeqIsCountedWithoutAHugeArray) {
  Verifier v;
  const std::uint64_t huge = std::numeric_limits<std::uint64_t>::max() - 1;
  v.add_line(strip(make_line("r", 0, huge, 0)));
  v.add_line(strip(make_line("r", 0, huge, 0)));
  v.add_line(strip(make_line("r", 0, 0, 0)));
  EXPECT_EQ(v.report("r", 1, 1).unexpected, 2u);
  EXPECT_TRUE(v.report("r", 1, 1).ok == 1);
}

TEST(Verifier, AddLinesCountsOnlyWholeLines) {
  Verifier v;
  const std::string text = make_line("r", 0, 0, 0) + make_line("r", 0, 1, 0) + "{\"run";
  EXPECT_EQ(v.add_lines(text), 2u);
  EXPECT_EQ(v.total_lines(), 2u);
  EXPECT_TRUE(v.report("r", 1, 2).exactly_once());
}

TEST(Verifier, AFragmentIsMalformedEvenIfItParses) {
  Verifier v;
  v.add_fragment(strip(make_line("r", 0, 0, 0)));
  const Report r = v.report("r", 1, 1);
  EXPECT_EQ(r.malformed, 1u);
  EXPECT_EQ(r.missing, 1u);
  EXPECT_EQ(r.total, 1u);
}

TEST(Verifier, IsThreadSafe) {
  Verifier v;
  std::vector<std::thread> threads;
  for (std::uint32_t stream = 0; stream < 4; ++stream) {
    threads.emplace_back([&v, stream] {
      std::string block;
      for (std::uint64_t seq = 0; seq < 20000; ++seq) {
        append_line(block, "r", stream, seq, 0);
        if (block.size() > 4096) {
          v.add_lines(block);
          block.clear();
        }
      }
      v.add_lines(block);
    });
  }
  for (auto& t : threads) t.join();
  const Report r = v.report("r", 4, 20000);
  EXPECT_TRUE(r.exactly_once()) << r.to_string();
  EXPECT_EQ(r.ok, 80000u);
}

// --- sink and load generator -----------------------------------------------------------------

TEST(SinkLoadGen, EveryLineArrivesExactlyOnce) {
  SinkOptions options;
  options.ports = 2;
  Sink sink(options);
  ASSERT_EQ(sink.ports().size(), 2u);
  EXPECT_NE(sink.ports()[0], 0);

  const LoadGenResult first = run_load_gen(load(sink.ports()[0], 4, 10000));
  LoadGenOptions second_options = load(sink.ports()[1], 2, 10000);
  second_options.first_stream = 4;
  second_options.line_size = 1000;
  const LoadGenResult second = run_load_gen(second_options);
  EXPECT_EQ(first.failed_connections, 0u) << first.error;
  EXPECT_EQ(second.failed_connections, 0u) << second.error;
  EXPECT_EQ(first.lines, 40000u);
  EXPECT_EQ(first.bytes, 40000u * 200);
  EXPECT_EQ(second.bytes, 20000u * 1000);

  ASSERT_TRUE(sink.wait_for_total_lines(60000, kWait));
  const Report r = sink.verifier().report("run", 6, 10000);
  EXPECT_TRUE(r.exactly_once()) << r.to_string();
  EXPECT_EQ(r.ok, 60000u);
  EXPECT_EQ(sink.lines(0), 40000u);
  EXPECT_EQ(sink.lines(1), 20000u);
  EXPECT_EQ(sink.bytes(0), first.bytes);
  EXPECT_EQ(sink.bytes(1), second.bytes);
  EXPECT_EQ(sink.accepted(0), 4u);
  EXPECT_TRUE(
      sink.wait_until([&] { return sink.connections(0) + sink.connections(1) == 0; }, kWait));
  EXPECT_NE(first.to_json().find("\"failed_connections\":0"), std::string::npos);
}

TEST(SinkLoadGen, MissingFinalNewlineCountsOneMalformedLine) {
  Sink sink(SinkOptions{});
  LoadGenOptions o = load(sink.ports()[0], 1, 10);
  o.final_newline = false;
  const LoadGenResult result = run_load_gen(o);
  EXPECT_EQ(result.failed_connections, 0u) << result.error;
  EXPECT_EQ(result.bytes, 10u * 200 - 1);
  ASSERT_TRUE(sink.wait_for_total_lines(10, kWait));
  const Report r = sink.verifier().report("run", 1, 10);
  EXPECT_EQ(r.ok, 9u);
  EXPECT_EQ(r.malformed, 1u);
  EXPECT_EQ(r.missing, 1u);
  EXPECT_EQ(sink.cut_lines(0), 0u);
}

TEST(SinkLoadGen, KeepsAndReportsLines) {
  std::atomic<int> seen{0};
  SinkOptions options;
  options.keep_lines = true;
  options.on_line = [&](std::size_t index, std::uint16_t, std::string_view) {
    if (index == 0) ++seen;
  };
  Sink sink(options);
  const LoadGenResult result = run_load_gen(load(sink.ports()[0], 1, 3));
  ASSERT_EQ(result.failed_connections, 0u) << result.error;
  ASSERT_TRUE(sink.wait_for_total_lines(3, kWait));
  const std::vector<std::string> lines = sink.received_lines();
  ASSERT_EQ(lines.size(), 3u);
  for (std::uint64_t seq = 0; seq < 3; ++seq)
    EXPECT_EQ(lines[seq], strip(make_line("run", 0, seq, 200)));
  EXPECT_EQ(seen, 3);
}

TEST(SinkLoadGen, LoadGenReportsRefusedConnections) {
  std::uint16_t port = 0;
  {
    Sink sink(SinkOptions{});
    port = sink.ports()[0];
  }  // nothing listens there any more
  const LoadGenResult result = run_load_gen(load(port, 2, 10));
  EXPECT_EQ(result.failed_connections, 2u);
  EXPECT_NE(result.error.find("connect"), std::string::npos) << result.error;
}

TEST(SinkLoadGen, RateLimitsPace) {
  {
    Sink sink(SinkOptions{});
    LoadGenOptions o = load(sink.ports()[0], 2, 100);
    o.rate_lines_per_sec = 2000;  // 1000/s per connection, chunks of 10 lines
    const LoadGenResult result = run_load_gen(o);
    EXPECT_EQ(result.failed_connections, 0u) << result.error;
    EXPECT_GE(result.seconds, 0.09);  // the last chunk may start at 90 ms
  }
  {
    SinkOptions options;
    options.rate_bytes_per_sec = 100'000;
    Sink sink(options);
    const auto start = std::chrono::steady_clock::now();
    const LoadGenResult result = run_load_gen(load(sink.ports()[0], 1, 100));  // 20 kB
    ASSERT_EQ(result.failed_connections, 0u) << result.error;
    ASSERT_TRUE(sink.wait_for_total_lines(100, kWait));
    EXPECT_GE(std::chrono::steady_clock::now() - start, 150ms);
  }
}

// A raw client, to control exactly what is on the wire.
class RawClient {
 public:
  explicit RawClient(std::uint16_t port) : socket_(io_) {
    socket_.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    timeval five_seconds{5, 0};  // bounds every blocking read below
    setsockopt(socket_.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &five_seconds,
               sizeof five_seconds);
  }
  void send(const std::string& text) { asio::write(socket_, asio::buffer(text)); }
  void finish() { socket_.shutdown(tcp::socket::shutdown_send); }
  // True once the peer has acknowledged everything we sent.
  bool all_acknowledged() {
    int unacked = 0;
    return ioctl(socket_.native_handle(), SIOCOUTQ, &unacked) == 0 && unacked == 0;
  }
  // The error that ends reading: eof or connection_reset once the sink closed us.
  boost::system::error_code read_until_closed() {
    char buffer[256];
    boost::system::error_code ec;
    while (!ec) socket_.read_some(asio::buffer(buffer), ec);
    return ec;
  }

 private:
  asio::io_context io_;
  tcp::socket socket_;
};

// Polls a kernel counter that has no notification; bounded, 1 ms apart.
bool poll_until(const std::function<bool()>& done) {
  for (int i = 0; i < 5000; ++i) {
    if (done()) return true;
    std::this_thread::sleep_for(1ms);
  }
  return false;
}

// Lines cut at uneven points across sends, and a line longer than the read buffer.
TEST(SinkRaw, ReassemblesLinesAcrossReads) {
  Sink sink(SinkOptions{});
  RawClient client(sink.ports()[0]);
  std::string text;
  for (std::uint64_t seq = 0; seq < 50; ++seq) append_line(text, "run", 0, seq, 10 + seq * 7);
  append_line(text, "run", 0, 50, 1 << 20);    // 1 MiB: the sink's buffer has to grow
  for (std::size_t i = 0; i < text.size();) {  // uneven pieces, each one sent alone
    const std::size_t n = std::min<std::size_t>(1 + (i * 13) % 97, text.size() - i);
    client.send(text.substr(i, n));
    i += n;
    if (i > 1000) {
      client.send(text.substr(i));
      break;
    }
  }
  ASSERT_TRUE(sink.wait_for_total_lines(51, kWait));
  const Report r = sink.verifier().report("run", 1, 51);
  EXPECT_TRUE(r.exactly_once()) << r.to_string();
  EXPECT_EQ(sink.bytes(0), text.size());
}

class ClosePort : public ::testing::TestWithParam<bool> {};

TEST_P(ClosePort, ClosesConnectionsStopsListeningAndReopens) {
  const bool abort = GetParam();
  Sink sink(SinkOptions{});
  const std::uint16_t port = sink.ports()[0];
  RawClient client(port);
  client.send(make_line("run", 0, 0, 100) + make_line("run", 0, 1, 100) + "{\"run\":\"ru");
  ASSERT_TRUE(sink.wait_for_total_lines(2, kWait));

  ASSERT_TRUE(sink.close_port(0, abort));
  EXPECT_EQ(sink.connections(0), 0u);
  EXPECT_EQ(sink.cut_lines(0), 1u);  // our cut, not the sender's fault
  EXPECT_EQ(sink.verifier().malformed_lines(), 0u);
  const boost::system::error_code ec = client.read_until_closed();
  EXPECT_TRUE(ec == asio::error::eof || ec == asio::error::connection_reset) << ec.message();

  EXPECT_EQ(run_load_gen(load(port, 1, 10)).failed_connections, 1u);

  sink.reopen_port(0);
  EXPECT_EQ(sink.ports()[0], port);
  LoadGenOptions o = load(port, 1, 10);
  o.first_stream = 1;
  const LoadGenResult result = run_load_gen(o);
  EXPECT_EQ(result.failed_connections, 0u) << result.error;
  ASSERT_TRUE(sink.wait_for_total_lines(12, kWait));
  EXPECT_EQ(sink.verifier().report("run", 1, 10, 1).ok, 10u);
  sink.reopen_port(0);  // already listening: no-op
  ASSERT_TRUE(sink.close_port(0, abort));
}

// Bytes the kernel acknowledged but the (slow) reader had not read yet are not lost.
TEST_P(ClosePort, ReadsWhatTheKernelAcknowledged) {
  SinkOptions options;
  options.rate_bytes_per_sec = 1000;  // the sink reads next to nothing by itself
  Sink sink(options);
  RawClient client(sink.ports()[0]);
  std::string lines;
  for (std::uint64_t seq = 0; seq < 100; ++seq) append_line(lines, "run", 0, seq, 200);
  client.send(lines);
  ASSERT_TRUE(poll_until([&] { return client.all_acknowledged(); }));
  ASSERT_LT(sink.total_lines(), 100u);

  ASSERT_TRUE(sink.close_port(0, GetParam()));
  EXPECT_EQ(sink.lines(0), 100u);
  EXPECT_TRUE(sink.verifier().report("run", 1, 100).exactly_once());
  EXPECT_EQ(sink.cut_lines(0), 0u);
}

INSTANTIATE_TEST_SUITE_P(AbortOrGraceful, ClosePort, ::testing::Bool(),
                         [](const auto& test) { return test.param ? "Abort" : "Graceful"; });

// --- relay -----------------------------------------------------------------------------------

class RelayTest : public ::testing::TestWithParam<bool> {
 protected:
  RelayOptions relay_to(const Sink& sink) const {
    RelayOptions options;
    options.splice = GetParam();
    for (const std::uint16_t port : sink.ports()) options.targets.push_back({"127.0.0.1", port});
    return options;
  }
};

TEST_P(RelayTest, ForwardsEveryByteOverOneConnectionPerClientRoundRobin) {
  SinkOptions sink_options;
  sink_options.ports = 2;
  Sink sink(sink_options);
  Relay relay(relay_to(sink));
  ASSERT_NE(relay.port(), 0);
  LoadGenOptions o = load(relay.port(), 6, 5000);
  o.line_size = 700;  // lines straddle the relay's reads
  const LoadGenResult result = run_load_gen(o);
  ASSERT_EQ(result.failed_connections, 0u) << result.error;
  ASSERT_TRUE(sink.wait_for_total_lines(30000, kWait));
  const Report r = sink.verifier().report("run", 6, 5000);
  EXPECT_TRUE(r.exactly_once()) << r.to_string();
  EXPECT_EQ(sink.accepted(0), 3u);
  EXPECT_EQ(sink.accepted(1), 3u);
  EXPECT_EQ(sink.lines(0), 15000u);
  EXPECT_EQ(sink.bytes(0) + sink.bytes(1), result.bytes);
}

// The client sees its connection close only after the target has read everything.
TEST_P(RelayTest, ClosesTheClientAfterTheTargetHasReadEverything) {
  Sink sink(SinkOptions{});
  Relay relay(relay_to(sink));
  RawClient client(relay.port());
  std::string lines;
  for (std::uint64_t seq = 0; seq < 1000; ++seq) append_line(lines, "run", 0, seq, 300);
  client.send(lines);
  client.finish();
  EXPECT_EQ(client.read_until_closed(), asio::error::eof);
  EXPECT_EQ(sink.total_lines(), 1000u);
  EXPECT_TRUE(sink.verifier().report("run", 1, 1000).exactly_once());
}

TEST_P(RelayTest, ClosesTheClientWhenTheTargetRefuses) {
  std::uint16_t dead_port = 0;
  {
    Sink sink(SinkOptions{});
    dead_port = sink.ports()[0];
  }  // nothing listens there any more
  RelayOptions options;
  options.splice = GetParam();
  options.targets.push_back({"127.0.0.1", dead_port});
  Relay relay(options);
  RawClient client(relay.port());
  EXPECT_EQ(client.read_until_closed(), asio::error::eof);
}

INSTANTIATE_TEST_SUITE_P(SpliceOrCopy, RelayTest, ::testing::Bool(),
                         [](const auto& test) { return test.param ? "Splice" : "Copy"; });

// --- TLS -------------------------------------------------------------------------------------

class TlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(make_temp_dir());
    pki_ = new TestPki(make_test_pki(*dir_));
  }
  static void TearDownTestSuite() {
    std::filesystem::remove_all(*dir_);
    delete pki_;
    delete dir_;
  }
  static SinkOptions tls_sink() {
    SinkOptions options;
    options.tls_cert = pki_->server_cert;
    options.tls_key = pki_->server_key;
    return options;
  }
  static inline std::string* dir_ = nullptr;
  static inline TestPki* pki_ = nullptr;
};

TEST_F(TlsTest, PkiFilesExist) {
  for (const std::string* path : {&pki_->ca_cert, &pki_->server_cert, &pki_->server_key,
                                  &pki_->client_cert, &pki_->client_key}) {
    EXPECT_TRUE(std::filesystem::file_size(*path) > 0) << *path;
  }
}

TEST_F(TlsTest, VerifiedLoadArrivesExactlyOnce) {
  Sink sink(tls_sink());
  for (const char* host : {"127.0.0.1", "localhost"}) {  // the IP and the DNS subjectAltName
    LoadGenOptions o = load(sink.ports()[0], 2, 2000);
    o.host = host;
    o.tls = true;
    o.tls_ca = pki_->ca_cert;
    o.first_stream = host[0] == 'l' ? 2 : 0;
    const LoadGenResult result = run_load_gen(o);
    EXPECT_EQ(result.failed_connections, 0u) << host << ": " << result.error;
  }
  ASSERT_TRUE(sink.wait_for_total_lines(8000, kWait));
  const Report r = sink.verifier().report("run", 4, 2000);
  EXPECT_TRUE(r.exactly_once()) << r.to_string();
}

TEST_F(TlsTest, UntrustedServerFailsUnlessVerificationIsSkipped) {
  Sink sink(tls_sink());
  const std::string other_dir = make_temp_dir();
  const TestPki other = make_test_pki(other_dir);
  LoadGenOptions o = load(sink.ports()[0], 2, 100);
  o.tls = true;
  o.tls_ca = other.ca_cert;
  const LoadGenResult refused = run_load_gen(o);
  EXPECT_EQ(refused.failed_connections, 2u);
  EXPECT_NE(refused.error.find("TLS handshake"), std::string::npos) << refused.error;

  o.tls_ca.clear();
  o.tls_skip_verify = true;
  const LoadGenResult accepted = run_load_gen(o);
  EXPECT_EQ(accepted.failed_connections, 0u) << accepted.error;
  ASSERT_TRUE(sink.wait_for_total_lines(200, kWait));
  EXPECT_TRUE(sink.verifier().report("run", 2, 100).exactly_once());
  std::filesystem::remove_all(other_dir);
}

}  // namespace
}  // namespace lbtest
