// json-tcp-lb: a line-level TCP load balancer, drop-in for corelight/json-tcp-lb.
#include <malloc.h>
#include <sys/resource.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <csignal>
#include <cstdio>

#include "dataplane/control_server.h"
#include "dataplane/core/log.h"
#include "dataplane/core/options.h"
#include "dataplane/data_plane.h"
#include "dataplane/grpc_common.h"
#include "dataplane/metrics_server.h"
#include "dataplane/stats.h"
#include "dataplane/tls_context.h"

namespace {

// A flag value that cannot be used exits with status 2, like a bad flag; anything else with 1.
int fail(const absl::Status& status) {
  std::fprintf(stderr, "json-tcp-lb: %s\n", std::string(status.message()).c_str());
  return status.code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
}

// -check: the files are read as a start would read them; nothing listens.
int check(const jsontcplb::Options& o) {
  using namespace jsontcplb;
  if (o.tls_listen()) {
    if (auto tls = make_client_tls(o); !tls.ok()) return fail(tls.status());
  }
  if (o.tls_target) {
    if (auto tls = make_target_tls(o); !tls.ok()) return fail(tls.status());
  }
  if (o.control.enabled()) {
    if (auto security = load_server_security(o.control); !security.ok()) {
      return fail(security.status());
    }
  }
  std::string targets;
  for (const TargetAddress& t : o.targets)
    str_append(targets, targets.empty() ? "" : ", ", t.to_string());
  std::printf("json-tcp-lb: the flags are good\n");
  std::printf("clients: %s:%u%s\n", o.addr.c_str(), o.port, o.tls_listen() ? " (TLS)" : "");
  std::printf("targets: %zu x %d connections%s: %s\n", o.targets.size(), o.connections,
              o.tls_target ? " (TLS)" : "", targets.c_str());
  std::printf("control API: %s%s\n", o.control.addr.c_str(),
              o.control.token_file.empty() ? "" : " (bearer token)");
  std::printf("metrics: %s\n", o.metrics_addr.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace jsontcplb;
  std::signal(SIGPIPE, SIG_IGN);
  ParsedOptions parsed = parse_options({argv + 1, static_cast<std::size_t>(argc - 1)});
  switch (parsed.kind) {
    case ParsedOptions::Kind::kHelp:
      std::fputs(parsed.message.c_str(), stdout);
      return 0;
    case ParsedOptions::Kind::kError:
      std::fprintf(stderr, "json-tcp-lb: %s (see json-tcp-lb -h)\n", parsed.message.c_str());
      return 2;
    case ParsedOptions::Kind::kRun:
      break;
  }
  const Options& options = parsed.options;
  set_log_level(options.log_level);
  if (options.check) return check(options);
  // Every client and target connection is a file descriptor: use all the hard limit allows.
  if (rlimit limit{}; ::getrlimit(RLIMIT_NOFILE, &limit) == 0) {
    limit.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &limit);
    if (limit.rlim_cur < 4096) {
      LB_LOG(kWarn, "file descriptor limit is ", static_cast<std::uint64_t>(limit.rlim_cur),
             "; each client and target connection uses one (raise it with ulimit -n or "
             "LimitNOFILE=)");
    }
  }
  // Batches are 64 KiB heap blocks that the queue and the ledgers fill and drain many times a
  // second. By default glibc gives the top of the heap back to the kernel whenever 128 KiB of
  // it are free, so the next batches page-fault fresh zeroed pages (measured: about 15,000
  // faults per GB moved). Keep what a full queue uses; the data plane trims once it is idle.
  ::mallopt(M_TRIM_THRESHOLD,
            static_cast<int>(std::min<std::size_t>(options.queue_bytes, 1 << 30)));
  // Setting the trim threshold also freezes glibc's mmap threshold at 128 KiB, which would
  // make every 256 KiB read block a fresh mmap (page faults on every read). Keep blocks up to
  // glibc's largest threshold on the heap.
  ::mallopt(M_MMAP_THRESHOLD, 32 << 20);
  boost::asio::io_context io(1);
  auto stats = std::make_shared<Stats>();
  auto data_plane = DataPlane::create(io, options, stats);
  if (!data_plane.ok()) return fail(data_plane.status());
  (*data_plane)->publish_metrics();  // the first scrape sees every series, if only zeros
  std::unique_ptr<MetricsServer> metrics_server;
  if (options.metrics_addr != "off") {
    auto started = MetricsServer::start(options.metrics_addr, stats->registry());
    if (!started.ok()) return fail(started.status());
    metrics_server = *std::move(started);
  }
  std::unique_ptr<ControlServer> control;
  if (options.control.enabled()) {
    auto started = ControlServer::start(options, io, *data_plane);
    if (!started.ok()) return fail(started.status());
    control = *std::move(started);
  }
  (*data_plane)->start();
  io.run();
  if (control) control->shutdown(io, **data_plane);
  return 0;
}
