#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "controlplane/core/desired_state.h"
#include "dataplane/core/backoff.h"

namespace jsontcplb::controlplane {

namespace asio = boost::asio;

class FleetStats;

/// Resolves the config's DNS names ("name:port") again every refresh interval without ever
/// blocking the control plane's thread (asio's resolver runs getaddrinfo on a thread of its
/// own). A successful answer replaces that name's set; a failed lookup keeps the last good set
/// and is retried with backoff. Calls `on_change` when a set changed, and when a name's first
/// lookup ended. Control-plane thread.
class DnsWatcher {
 public:
  DnsWatcher(asio::io_context& io, FleetStats& stats, std::function<void()> on_change);
  ~DnsWatcher();

  /// Resolves exactly these names from now on (new ones at once; gone ones are forgotten).
  void set_names(const std::vector<std::string>& names, std::chrono::milliseconds refresh);
  void stop() { set_names({}, refresh_); }

  const DnsAnswers& answers() const { return answers_; }
  /// True while one of `names` has not finished its first lookup, for at most kFirstLookup
  /// after it was added (a first push should not leave out targets that are about to resolve).
  bool awaiting_first_lookup(const std::vector<std::string>& names) const;
  static constexpr std::chrono::seconds kFirstLookup{2};
  /// One line per name whose last lookup failed.
  std::vector<std::string> conditions() const;

 private:
  struct Name;
  asio::awaitable<void> resolve_loop(std::shared_ptr<Name> name);

  asio::io_context& io_;
  FleetStats& stats_;
  std::function<void()> on_change_;
  std::chrono::milliseconds refresh_{5000};
  std::map<std::string, std::shared_ptr<Name>> names_;
  DnsAnswers answers_;
};

}  // namespace jsontcplb::controlplane
