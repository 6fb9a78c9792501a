#include "dataplane/metrics_server.h"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <list>
#include <thread>

#include "dataplane/core/config_validation.h"
#include "dataplane/core/http_request.h"
#include "dataplane/core/log.h"
#include "dataplane/core/str_cat.h"
#include "dataplane/coro.h"

namespace jsontcplb {
namespace {

using asio::ip::tcp;
using Clock = std::chrono::steady_clock;

// What the server counts about itself, in the registry it serves.
struct HttpCounters {
  explicit HttpCounters(prometheus::Registry& registry)
      : requests(prometheus::BuildCounter()
                     .Name("jsontcplb_metrics_http_requests_total")
                     .Help("Requests to the metrics endpoint, by response status code")
                     .Register(registry)),
        ok(requests.Add({{"code", "200"}})),
        bad_request(requests.Add({{"code", "400"}})),
        not_found(requests.Add({{"code", "404"}})),
        not_allowed(requests.Add({{"code", "405"}})),
        too_large(requests.Add({{"code", "431"}})),
        dropped(prometheus::BuildCounter()
                    .Name("jsontcplb_metrics_http_dropped_connections_total")
                    .Help("Metrics connections closed before a whole request came, by reason "
                          "(timeout: no whole request within the request timeout; evicted: "
                          "the connection cap was reached and it had waited longest, or every "
                          "connection was busy and it was the new one)")
                    .Register(registry)),
        timed_out(dropped.Add({{"reason", "timeout"}})),
        evicted(dropped.Add({{"reason", "evicted"}})) {}
  prometheus::Family<prometheus::Counter>& requests;
  prometheus::Counter& ok;
  prometheus::Counter& bad_request;
  prometheus::Counter& not_found;
  prometheus::Counter& not_allowed;
  prometheus::Counter& too_large;
  prometheus::Family<prometheus::Counter>& dropped;
  prometheus::Counter& timed_out;
  prometheus::Counter& evicted;
};

std::string response(std::string_view status, std::string_view content_type, std::string_view body,
                     bool keep_alive, bool head_only) {
  std::string out = str_cat("HTTP/1.1 ", status, "\r\nContent-Type: ", content_type,
                            "\r\nContent-Length: ", body.size(), "\r\n",
                            keep_alive ? "" : "Connection: close\r\n", "\r\n");
  if (!head_only) out += body;
  return out;
}

}  // namespace

class MetricsServer::Impl : public std::enable_shared_from_this<Impl> {
 public:
  Impl(std::shared_ptr<prometheus::Registry> registry, MetricsServerLimits limits)
      : registry_(std::move(registry)), counters_(*registry_), limits_(limits) {}

  absl::Status listen(const TargetAddress& bind) {
    boost::system::error_code ec;
    const auto ip = asio::ip::make_address(bind.host, ec);
    if (ec) return absl::InvalidArgumentError(str_cat("bad metrics address ", bind.host));
    const tcp::endpoint endpoint(ip, bind.port);
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return absl::UnavailableError(ec.message());
    return absl::OkStatus();
  }
  std::uint16_t port() const {
    boost::system::error_code ec;
    return acceptor_.local_endpoint(ec).port();
  }

  void run() {
    co_spawn(io_, accept_loop(shared_from_this()), log_if_thrown("metrics server"));
    thread_ = std::thread([this] { io_.run(); });
  }
  void stop() {
    asio::post(io_, [this] {
      boost::system::error_code ec;
      acceptor_.close(ec);
      for (Connection& c : connections_) c.socket.close(ec);
    });
    if (thread_.joinable()) thread_.join();
  }

 private:
  struct Connection {
    explicit Connection(tcp::socket s) : socket(std::move(s)) {}
    tcp::socket socket;
    bool waiting = true;  // for (the rest of) a request head
    Clock::time_point waiting_since = Clock::now();
  };
  using Connections = std::list<Connection>;

  static asio::awaitable<void> accept_loop(std::shared_ptr<Impl> self) {
    asio::steady_timer pause(self->io_);
    while (self->acceptor_.is_open()) {
      auto [ec, socket] = co_await self->acceptor_.async_accept(kUseAwaitable);
      if (!self->acceptor_.is_open()) break;
      if (ec) {  // EMFILE and the like: the data plane's accept loop reports those
        pause.expires_after(std::chrono::milliseconds(100));
        co_await pause.async_wait(kUseAwaitable);
        continue;
      }
      if (self->connections_.size() >= self->limits_.max_connections && !self->evict_one()) {
        boost::system::error_code ignored;
        socket.close(ignored);  // every connection is busy answering: refuse this one
        self->counters_.evicted.Increment();
        continue;
      }
      self->connections_.emplace_front(std::move(socket));
      co_spawn(self->io_, serve(self, self->connections_.begin()),
               log_if_thrown("metrics connection"));
    }
  }

  // Closes the connection that has waited longest for a request (its coroutine ends and
  // removes it). False when every connection is busy answering: the caller refuses the new one.
  bool evict_one() {
    Connection* oldest = nullptr;
    for (Connection& c : connections_) {
      if (c.waiting && c.socket.is_open() &&
          (oldest == nullptr || c.waiting_since < oldest->waiting_since)) {
        oldest = &c;
      }
    }
    if (oldest == nullptr) return false;
    boost::system::error_code ec;
    oldest->socket.close(ec);
    counters_.evicted.Increment();
    return true;
  }

  static asio::awaitable<void> serve(std::shared_ptr<Impl> self, Connections::iterator it) {
    co_await self->serve_connection(*it);
    self->connections_.erase(it);
  }

  asio::awaitable<void> serve_connection(Connection& c) {
    using namespace asio::experimental::awaitable_operators;
    asio::steady_timer deadline(io_);
    std::string buffer;
    std::array<char, 4096> chunk;
    for (;;) {
      c.waiting = true;
      c.waiting_since = Clock::now();
      deadline.expires_after(limits_.request_timeout);
      std::optional<std::size_t> head_end;
      while (!(head_end = find_head_end(buffer))) {
        if (buffer.size() > limits_.max_request_bytes) {
          counters_.too_large.Increment();
          co_await send(c, deadline,
                        response("431 Request Header Fields Too Large", "text/plain",
                                 "request head too large\n", false, false));
          co_return;
        }
        auto read = co_await (c.socket.async_read_some(asio::buffer(chunk), kUseAwaitable) ||
                              deadline.async_wait(kUseAwaitable));
        if (read.index() == 1) {
          counters_.timed_out.Increment();
          co_return;
        }
        auto [ec, n] = std::get<0>(read);
        if (ec) co_return;  // closed, reset, or evicted
        buffer.append(chunk.data(), n);
      }
      c.waiting = false;
      const std::string head = buffer.substr(0, *head_end);
      buffer.erase(0, *head_end);  // a pipelined next request stays
      const auto request = parse_request_head(head);
      std::string out;
      bool keep_alive = false;
      if (!request) {
        counters_.bad_request.Increment();
        out = response("400 Bad Request", "text/plain", "not an HTTP/1.x request\n", false, false);
      } else if (request->method != "GET" && request->method != "HEAD") {
        counters_.not_allowed.Increment();
        out = response("405 Method Not Allowed", "text/plain", "only GET and HEAD\n", false, false);
      } else if (request->path != "/metrics") {
        counters_.not_found.Increment();
        keep_alive = request->keep_alive;
        out = response("404 Not Found", "text/plain", "metrics are at /metrics\n", keep_alive,
                       request->method == "HEAD");
      } else {
        counters_.ok.Increment();
        keep_alive = request->keep_alive;
        out = response("200 OK", "text/plain; version=0.0.4; charset=utf-8",
                       prometheus::TextSerializer().Serialize(registry_->Collect()), keep_alive,
                       request->method == "HEAD");
      }
      if (!co_await send(c, deadline, std::move(out)) || !keep_alive) co_return;
    }
  }

  // Writes `data` within the write timeout; false when it could not.
  asio::awaitable<bool> send(Connection& c, asio::steady_timer& deadline, std::string data) {
    using namespace asio::experimental::awaitable_operators;
    deadline.expires_after(limits_.write_timeout);
    auto written = co_await (asio::async_write(c.socket, asio::buffer(data), kUseAwaitable) ||
                             deadline.async_wait(kUseAwaitable));
    co_return written.index() == 0 && !std::get<0>(std::get<0>(written));
  }

  asio::io_context io_{1};
  tcp::acceptor acceptor_{io_};
  std::shared_ptr<prometheus::Registry> registry_;
  HttpCounters counters_;
  MetricsServerLimits limits_;
  Connections connections_;  // io_ thread only
  std::thread thread_;
};

MetricsServer::~MetricsServer() {
  if (impl_) impl_->stop();
}

absl::StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::start(
    const std::string& address, std::shared_ptr<prometheus::Registry> registry,
    MetricsServerLimits limits) {
  auto parsed = parse_metrics_address(address);
  if (auto* e = std::get_if<std::string>(&parsed)) return absl::InvalidArgumentError(*e);
  TargetAddress bind = std::get<TargetAddress>(parsed);
  if (bind.host == "localhost") bind.host = "127.0.0.1";
  auto impl = std::make_shared<Impl>(std::move(registry), limits);
  if (auto status = impl->listen(bind); !status.ok()) {
    return absl::UnavailableError(
        str_cat("cannot serve metrics on ", address,
                " (address in use or not available: ", std::string(status.message()), ")"));
  }
  std::unique_ptr<MetricsServer> server(new MetricsServer());
  server->port_ = impl->port();
  bind.port = server->port_;
  impl->run();
  server->impl_ = std::move(impl);
  LB_LOG(kInfo, "metrics listening on ", bind.to_string(), " (Prometheus text format at /metrics)");
  return server;
}

}  // namespace jsontcplb
