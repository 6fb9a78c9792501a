// lb-sink: a verifying line sink for demos, scripts and benchmarks.
#include <time.h>

#include <algorithm>
#include <boost/asio.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <span>

#include "dataplane/core/str_cat.h"
#include "tests/tools/flag_setters.h"
#include "tests/tools/json_quote.h"
#include "tests/tools/line_format.h"
#include "tests/tools/sink.h"

namespace {

namespace asio = boost::asio;
using jsontcplb::str_append;
using jsontcplb::str_cat;

constexpr std::string_view kSummary =
    "lb-sink: accepts connections, splits them into lines and checks the test kit's lines\n"
    "(see lb-loadgen). Prints \"listening HOST:PORT\" per listener, progress on stderr, and a\n"
    "JSON report on SIGINT/SIGTERM.";

struct Expectation {
  std::string run;
  std::uint32_t streams = 0;
  std::uint64_t lines = 0;
};

// Receive time minus the ts stamped by `lb-loadgen -stamp-time`, per line. Added on the sink's
// thread, reported from main's, hence the mutex.
struct LatencySamples {
  std::mutex mu;
  std::vector<std::int64_t> ns;
  std::uint64_t unstamped = 0;

  void add(std::string_view line) {
    const auto id = lbtest::parse_line(line);
    if (!id || id->ts_ns == 0) {
      std::lock_guard lock(mu);
      ++unstamped;
      return;
    }
    timespec now{};
    clock_gettime(CLOCK_REALTIME, &now);
    const std::int64_t now_ns = std::int64_t(now.tv_sec) * 1'000'000'000 + now.tv_nsec;
    std::lock_guard lock(mu);
    ns.push_back(now_ns - std::int64_t(id->ts_ns));
  }

  std::string to_json() {
    std::lock_guard lock(mu);
    std::sort(ns.begin(), ns.end());
    auto at = [&](double q) -> std::int64_t {
      if (ns.empty()) return 0;
      return ns[std::min(ns.size() - 1, static_cast<std::size_t>(q * double(ns.size())))];
    };
    return str_cat("{\"count\":", ns.size(), ",\"unstamped\":", unstamped,
                   ",\"min_ns\":", ns.empty() ? 0 : ns.front(), ",\"p50_ns\":", at(0.50),
                   ",\"p90_ns\":", at(0.90), ",\"p99_ns\":", at(0.99), ",\"p999_ns\":", at(0.999),
                   ",\"max_ns\":", ns.empty() ? 0 : ns.back(), "}");
  }
};

std::string progress_line(const lbtest::Sink& sink) {
  std::string line = str_cat("progress lines=", sink.total_lines(), " bytes=", sink.total_bytes());
  const std::vector<std::uint16_t> ports = sink.ports();
  for (std::size_t i = 0; i < ports.size(); ++i) {
    str_append(line, " | ", ports[i], ": lines=", sink.lines(i), " bytes=", sink.bytes(i),
               " connections=", sink.connections(i));
  }
  return line + "\n";
}

std::string final_report(const lbtest::Sink& sink, const std::vector<lbtest::HostPort>& listen,
                         const std::optional<Expectation>& expect, LatencySamples* latency) {
  std::string json = "{\"ports\":[";
  const std::vector<std::uint16_t> ports = sink.ports();
  for (std::size_t i = 0; i < ports.size(); ++i) {
    const lbtest::HostPort address{listen[i].host, ports[i]};
    str_append(json, i == 0 ? "" : ",", "{\"address\":", lbtest::json_quote(address.to_string()),
               ",\"lines\":", sink.lines(i), ",\"bytes\":", sink.bytes(i),
               ",\"accepted\":", sink.accepted(i), ",\"cut_lines\":", sink.cut_lines(i), "}");
  }
  str_append(json, "],\"lines\":", sink.total_lines(), ",\"bytes\":", sink.total_bytes(),
             ",\"first_byte_unix_ns\":", sink.first_byte_unix_ns(),
             ",\"last_byte_unix_ns\":", sink.last_byte_unix_ns());
  if (latency != nullptr) str_append(json, ",\"latency\":", latency->to_json());
  // Lines are checked against the load generator's format only when a run is expected; any
  // other text (the `make run` demo) is not "malformed".
  if (expect) {
    str_append(json, ",\"verify\":",
               sink.verifier().report(expect->run, expect->streams, expect->lines).to_json());
  }
  return json + "}\n";
}

asio::awaitable<void> print_progress(const lbtest::Sink& sink, std::chrono::milliseconds every) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  while (true) {
    timer.expires_after(every);
    co_await timer.async_wait(asio::use_awaitable);
    std::fputs(progress_line(sink).c_str(), stderr);
  }
}

// Returns at SIGINT/SIGTERM, printing progress meanwhile unless `every` is 0.
asio::awaitable<void> run_until_signal(asio::signal_set& signals, const lbtest::Sink& sink,
                                       std::chrono::milliseconds every) {
  using namespace asio::experimental::awaitable_operators;
  if (every.count() > 0) {
    co_await (signals.async_wait(asio::use_awaitable) || print_progress(sink, every));
  } else {
    co_await signals.async_wait(asio::use_awaitable);
  }
}

}  // namespace

int main(int argc, char** argv) {
  namespace flags = lbtest::flags;
  using lbtest::HostPort;

  lbtest::SinkOptions options;
  std::chrono::milliseconds report_interval = std::chrono::seconds(1);
  bool print_lines = false;
  bool measure_latency = false;
  bool no_verify = false;
  Expectation expect;
  jsontcplb::FlagParser parser;
  parser.add("listen", "HOST:PORT", "127.0.0.1:0", "address to listen on (port 0: any); repeatable",
             [&](std::string_view v) -> flags::Error {
               auto address = lbtest::parse_host_port(v);
               if (!address) return "must be HOST:PORT, e.g. 127.0.0.1:9100 or [::1]:0";
               options.listen.push_back(*address);
               return std::nullopt;
             });
  parser.add("tls-cert", "FILE", "", "PEM certificate chain; serve TLS (needs -tls-key)",
             flags::text(options.tls_cert));
  parser.add("tls-key", "FILE", "", "PEM private key for -tls-cert", flags::text(options.tls_key));
  parser.add("rate-bytes", "N", "0", "read at most N bytes/s per connection (0: unlimited)",
             flags::bytes(options.rate_bytes_per_sec));
  parser.add("rcvbuf", "N", "0", "SO_RCVBUF of accepted connections (0: system default)",
             flags::bytes(options.rcvbuf));
  parser.add_bool("print-lines", "print every line as \"[PORT] line\"",
                  flags::boolean(print_lines));
  parser.add_bool("no-verify",
                  "only count lines and bytes, do not parse them (benchmarks; no \"verify\" "
                  "in the report)",
                  flags::boolean(no_verify));
  parser.add_bool("latency",
                  "report p50/p99/max of receive time minus the ts of -stamp-time lines "
                  "(CLOCK_REALTIME)",
                  flags::boolean(measure_latency));
  parser.add("report-interval", "DURATION", "1s", "progress line on stderr this often (0: never)",
             flags::duration(report_interval));
  parser.add("expect-run", "R", "", "verify lines of run R (with -expect-streams, -expect-lines)",
             flags::text(expect.run));
  parser.add("expect-streams", "N", "0", "expected streams 0..N-1", flags::number(expect.streams));
  parser.add("expect-lines", "M", "0", "expected lines per stream", flags::number(expect.lines));

  const auto outcome =
      parser.parse(std::span<const char* const>(argv + 1, static_cast<std::size_t>(argc - 1)));
  if (outcome.kind == jsontcplb::FlagParser::Outcome::Kind::kHelp) {
    std::cout << parser.usage("lb-sink", kSummary);
    return 0;
  }
  std::string problem = outcome.message;
  if (problem.empty() && !outcome.positional.empty()) {
    problem = str_cat("unexpected argument \"", outcome.positional[0], "\"");
  }
  if (problem.empty() && options.tls_cert.empty() != options.tls_key.empty()) {
    problem = "-tls-cert and -tls-key go together";
  }
  if (!problem.empty()) {
    std::cerr << "lb-sink: " << problem << "\n" << parser.usage("lb-sink", kSummary);
    return 2;
  }
  options.verify = !no_verify;
  if (options.listen.empty()) options.listen.push_back(HostPort{"127.0.0.1", 0});
  LatencySamples latency;
  if (print_lines) std::setvbuf(stdout, nullptr, _IOLBF, 0);  // a demo wants each line at once
  if (print_lines || measure_latency) {
    options.on_line = [&latency, print_lines, measure_latency](std::size_t, std::uint16_t port,
                                                               std::string_view line) {
      if (measure_latency) latency.add(line);
      if (print_lines) {
        const std::string text = str_cat("[", port, "] ", line, "\n");
        std::fwrite(text.data(), 1, text.size(), stdout);
      }
    };
  }

  asio::io_context io;
  asio::signal_set signals(io, SIGINT, SIGTERM);
  std::optional<lbtest::Sink> sink;
  try {
    sink.emplace(options);
  } catch (const std::exception& e) {
    std::cerr << "lb-sink: " << e.what() << "\n";
    return 1;
  }
  const std::vector<std::uint16_t> ports = sink->ports();
  for (std::size_t i = 0; i < ports.size(); ++i) {
    std::cout << "listening " << HostPort{options.listen[i].host, ports[i]}.to_string() << "\n";
  }
  std::cout.flush();

  asio::co_spawn(io, run_until_signal(signals, *sink, report_interval), [](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      std::cerr << "lb-sink: " << ex.what() << "\n";
    }
  });
  io.run();

  std::optional<Expectation> verify;
  if (!expect.run.empty() && options.verify) verify = expect;
  std::cout << final_report(*sink, options.listen, verify, measure_latency ? &latency : nullptr)
            << std::flush;
  return 0;
}
