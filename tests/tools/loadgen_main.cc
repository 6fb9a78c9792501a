// lb-loadgen: sends uniquely numbered test lines over N connections and prints a JSON result.
#include <iostream>
#include <span>

#include "dataplane/core/str_cat.h"
#include "tests/tools/flag_setters.h"
#include "tests/tools/host_port.h"
#include "tests/tools/line_format.h"
#include "tests/tools/load_gen.h"

namespace {

constexpr std::string_view kSummary =
    "lb-loadgen: opens -connections connections to -target and sends -lines lines of -size\n"
    "bytes on each (stream = -first-stream + connection index, seq = 0..lines-1), then prints\n"
    "a JSON result. Exit status 1 if any connection failed.";

}  // namespace

int main(int argc, char** argv) {
  namespace flags = lbtest::flags;

  lbtest::LoadGenOptions options;
  options.lines_per_connection = 1000;
  bool have_target = false;
  bool no_final_newline = false;
  jsontcplb::FlagParser parser;
  parser.add("target", "HOST:PORT", "", "where to connect (required)",
             [&](std::string_view v) -> flags::Error {
               auto address = lbtest::parse_host_port(v);
               if (!address || address->port == 0) {
                 return "must be HOST:PORT with a port from 1 to 65535";
               }
               options.host = address->host;
               options.port = address->port;
               have_target = true;
               return std::nullopt;
             });
  parser.add("connections", "N", "1", "concurrent connections", flags::number(options.connections));
  parser.add("lines", "M", "1000", "lines per connection",
             flags::number(options.lines_per_connection));
  parser.add("size", "S", "200", "bytes per line including '\\n' (at least the format's minimum)",
             flags::bytes(options.line_size));
  parser.add("rate", "L", "0", "lines per second over all connections (0: as fast as possible)",
             flags::number(options.rate_lines_per_sec));
  parser.add("run-id", "R", "run", "run id written into every line ([A-Za-z0-9._-], 1-64)",
             flags::text(options.run_id));
  parser.add("first-stream", "K", "0", "stream number of the first connection",
             flags::number(options.first_stream));
  parser.add_bool("no-final-newline", "send each connection's last line without its '\\n'",
                  flags::boolean(no_final_newline));
  parser.add_bool("tls", "connect with TLS", flags::boolean(options.tls));
  parser.add("tls-ca", "FILE", "", "PEM CA to verify the server with (default: system store)",
             flags::text(options.tls_ca));
  parser.add_bool("tls-skip-verify", "accept any server certificate",
                  flags::boolean(options.tls_skip_verify));
  parser.add_bool("stamp-time", "put CLOCK_REALTIME nanoseconds into the ts field",
                  flags::boolean(options.stamp_time));
  parser.add_bool("repeat-chunk",
                  "benchmarks: format one chunk of lines and resend it (lines repeat; the "
                  "generator stops being the bottleneck)",
                  flags::boolean(options.repeat_chunk));
  parser.add("connect-timeout", "DURATION", "5s", "TCP connect plus TLS handshake",
             flags::duration(options.connect_timeout));
  parser.add("close-timeout", "DURATION", "5s",
             "after the last line, wait this long for the peer "
             "to close",
             flags::duration(options.close_timeout));
  parser.add("deadline", "DURATION", "10m", "bound on the whole run (0: none)",
             flags::duration(options.deadline));

  const auto outcome =
      parser.parse(std::span<const char* const>(argv + 1, static_cast<std::size_t>(argc - 1)));
  if (outcome.kind == jsontcplb::FlagParser::Outcome::Kind::kHelp) {
    std::cout << parser.usage("lb-loadgen", kSummary);
    return 0;
  }
  std::string problem = outcome.message;
  if (problem.empty() && !outcome.positional.empty()) {
    problem = jsontcplb::str_cat("unexpected argument \"", outcome.positional[0], "\"");
  }
  if (problem.empty() && !have_target) problem = "-target is required";
  if (problem.empty() && options.connections == 0) problem = "-connections must be at least 1";
  if (problem.empty() && !lbtest::is_valid_run_id(options.run_id)) {
    problem = jsontcplb::str_cat("invalid value \"", options.run_id,
                                 "\" for -run-id: must be 1-64 characters of [A-Za-z0-9._-]");
  }
  if (!problem.empty()) {
    std::cerr << "lb-loadgen: " << problem << "\n" << parser.usage("lb-loadgen", kSummary);
    return 2;
  }
  options.final_newline = !no_final_newline;

  lbtest::LoadGenResult result;
  try {
    result = lbtest::run_load_gen(options);
  } catch (const std::exception& e) {
    std::cerr << "lb-loadgen: " << e.what() << "\n";
    return 2;
  }
  std::cout << result.to_json() << std::endl;
  if (!result.error.empty()) std::cerr << "lb-loadgen: " << result.error << "\n";
  return result.failed_connections > 0 ? 1 : 0;
}
