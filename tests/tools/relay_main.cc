// lb-relay: the least work a TCP proxy can do, to measure what the machine allows (make bench).
#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <csignal>
#include <iostream>
#include <optional>
#include <span>

#include "dataplane/core/str_cat.h"
#include "tests/tools/flag_setters.h"
#include "tests/tools/relay.h"

namespace {

constexpr std::string_view kSummary =
    "lb-relay: forwards each accepted connection's bytes, as they come, over a connection of\n"
    "its own to the next -target (round robin): no lines, no guarantees. Benchmarks use it as\n"
    "the ceiling a proxy can reach on this machine. Prints \"listening HOST:PORT\" and runs\n"
    "until SIGINT/SIGTERM.";

}  // namespace

int main(int argc, char** argv) {
  namespace flags = lbtest::flags;
  using jsontcplb::str_cat;

  lbtest::RelayOptions options;
  bool copy = false;
  jsontcplb::FlagParser parser;
  parser.add("listen", "HOST:PORT", "127.0.0.1:0", "address to listen on (port 0: any)",
             [&](std::string_view v) -> flags::Error {
               auto address = lbtest::parse_host_port(v);
               if (!address) return "must be HOST:PORT, e.g. 127.0.0.1:9100 or [::1]:0";
               options.host = address->host;
               options.port = address->port;
               return std::nullopt;
             });
  parser.add("target", "HOST:PORT,...", "", "where to forward, comma-separated (required)",
             [&](std::string_view v) -> flags::Error {
               options.targets.clear();
               while (!v.empty()) {
                 const std::size_t comma = std::min(v.find(','), v.size());
                 const std::string_view one = v.substr(0, comma);
                 auto address = lbtest::parse_host_port(one);
                 if (!address || address->port == 0) {
                   return str_cat("\"", one, "\" must be HOST:PORT with a port from 1 to 65535");
                 }
                 options.targets.push_back(*address);
                 v.remove_prefix(std::min(comma + 1, v.size()));
               }
               return std::nullopt;
             });
  parser.add("threads", "N", "2", "I/O threads; connections are spread over them",
             flags::number(options.threads));
  parser.add_bool("copy",
                  "read into a 64 KiB buffer and write it out, as any proxy does, instead of "
                  "moving the bytes with splice(2)",
                  flags::boolean(copy));

  const auto outcome = parser.parse_flags_only(
      std::span<const char* const>(argv + 1, static_cast<std::size_t>(argc - 1)), "lb-relay");
  if (outcome.kind == jsontcplb::FlagParser::Outcome::Kind::kHelp) {
    std::cout << parser.usage("lb-relay", kSummary);
    return 0;
  }
  std::string problem = outcome.message;
  if (problem.empty() && options.targets.empty()) problem = "-target is required";
  if (problem.empty() && options.threads == 0) problem = "-threads must be at least 1";
  if (!problem.empty()) {
    std::cerr << "lb-relay: " << problem << "\n" << parser.usage("lb-relay", kSummary);
    return 2;
  }
  options.splice = !copy;
  std::signal(SIGPIPE, SIG_IGN);

  boost::asio::io_context io;
  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  std::optional<lbtest::Relay> relay;
  try {
    relay.emplace(options);
  } catch (const std::exception& e) {
    std::cerr << "lb-relay: " << e.what() << "\n";
    return 1;
  }
  std::cout << "listening " << lbtest::HostPort{options.host, relay->port()}.to_string()
            << std::endl;
  signals.async_wait([](const boost::system::error_code&, int) {});
  io.run();
  return 0;
}
