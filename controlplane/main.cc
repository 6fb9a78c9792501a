// lb-controlplane: one desired config for a fleet of json-tcp-lb data planes.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <csignal>
#include <cstdio>
#include <iostream>

#include "controlplane/check_config.h"
#include "controlplane/control_plane.h"
#include "controlplane/core/options.h"
#include "controlplane/fleet_server.h"
#include "controlplane/fleet_stats.h"
#include "dataplane/core/log.h"
#include "dataplane/coro.h"
#include "dataplane/metrics_server.h"

namespace {

// A flag value that cannot be used exits with status 2, like a bad flag; anything else with 1.
int fail(const absl::Status& status) {
  std::fprintf(stderr, "lb-controlplane: %s\n", std::string(status.message()).c_str());
  return status.code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace jsontcplb;
  using namespace jsontcplb::controlplane;
  std::signal(SIGPIPE, SIG_IGN);
  ParsedOptions parsed = parse_options({argv + 1, static_cast<std::size_t>(argc - 1)});
  switch (parsed.kind) {
    case ParsedOptions::Kind::kHelp:
      std::fputs(parsed.message.c_str(), stdout);
      return 0;
    case ParsedOptions::Kind::kError:
      std::fprintf(stderr, "lb-controlplane: %s (see lb-controlplane -h)\n",
                   parsed.message.c_str());
      return 2;
    case ParsedOptions::Kind::kCheck:
      return check_config(parsed.options.check_config_file, std::cout, std::cerr);
    case ParsedOptions::Kind::kRun:
      break;
  }
  const Options& options = parsed.options;
  set_log_level(options.log_level);
  boost::asio::io_context io(1);
  // Handled (queued until io.run()) before anything listens: a SIGTERM that comes right after
  // "listening" is logged stops the process cleanly rather than killing it.
  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  auto stats = std::make_shared<FleetStats>();
  auto cp = ControlPlane::create(io, options, stats);
  if (!cp.ok()) return fail(cp.status());
  std::unique_ptr<MetricsServer> metrics_server;
  if (options.metrics_addr != "off") {
    auto started = MetricsServer::start(options.metrics_addr, stats->registry());
    if (!started.ok()) return fail(started.status());
    metrics_server = *std::move(started);
  }
  std::unique_ptr<FleetServer> fleet;
  if (options.control.enabled()) {
    auto started = FleetServer::start(options.control, io, *cp);
    if (!started.ok()) return fail(started.status());
    fleet = *std::move(started);
  }
  // The data planes keep their config while the control plane is away.
  co_spawn(
      io,
      [&]() -> boost::asio::awaitable<void> {
        auto [ec, signal] = co_await signals.async_wait(kUseAwaitable);
        if (ec) co_return;
        LB_LOG(kInfo, signal == SIGINT ? "SIGINT" : "SIGTERM",
               ": stopping; the data planes keep the config they run");
        io.stop();
      },
      log_if_thrown("signal handler"));
  (*cp)->start();
  io.run();
  if (fleet) fleet->shutdown(io);
  (*cp)->shut_down();
  return 0;
}
