#include "controlplane/dns_watcher.h"

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <set>

#include "controlplane/fleet_stats.h"
#include "dataplane/core/log.h"
#include "dataplane/coro.h"

namespace jsontcplb::controlplane {

using tcp = asio::ip::tcp;

struct DnsWatcher::Name {
  Name(asio::io_context& io, std::string t)
      : text(std::move(t)),
        address(std::get<TargetAddress>(parse_target_address(text))),
        resolver(io),
        timer(io),
        backoff(std::chrono::milliseconds(200), std::chrono::milliseconds(5000)) {}
  std::string text;
  TargetAddress address;
  tcp::resolver resolver;
  asio::steady_timer timer;
  Backoff backoff;
  std::string error;  // of the last lookup, empty when it succeeded
  std::chrono::steady_clock::time_point added = std::chrono::steady_clock::now();
  bool looked_up = false;  // a lookup has ended
  bool stopped = false;
};

DnsWatcher::DnsWatcher(asio::io_context& io, FleetStats& stats, std::function<void()> on_change)
    : io_(io), stats_(stats), on_change_(std::move(on_change)) {}

DnsWatcher::~DnsWatcher() { stop(); }

void DnsWatcher::set_names(const std::vector<std::string>& names,
                           std::chrono::milliseconds refresh) {
  refresh_ = refresh;
  const std::set<std::string> wanted(names.begin(), names.end());
  for (auto it = names_.begin(); it != names_.end();) {
    if (wanted.count(it->first) != 0) {
      ++it;
      continue;
    }
    it->second->stopped = true;
    it->second->resolver.cancel();
    it->second->timer.cancel();
    answers_.erase(it->first);
    it = names_.erase(it);
  }
  for (const std::string& text : wanted) {
    if (names_.count(text) != 0) continue;
    auto name = std::make_shared<Name>(io_, text);
    names_.emplace(text, name);
    co_spawn(io_, resolve_loop(name), log_if_thrown("dns " + text));
  }
}

asio::awaitable<void> DnsWatcher::resolve_loop(std::shared_ptr<Name> name) {
  while (!name->stopped) {
    auto [ec, results] = co_await name->resolver.async_resolve(
        name->address.host, std::to_string(name->address.port), tcp::resolver::numeric_service,
        kUseAwaitable);
    if (name->stopped) co_return;
    const bool first = !std::exchange(name->looked_up, true);
    bool changed = first;
    std::chrono::milliseconds wait = refresh_;
    if (!ec && !results.empty()) {
      std::set<std::string> seen;
      std::vector<TargetAddress> found;
      for (const auto& entry : results) {
        TargetAddress a{entry.endpoint().address().to_string(), entry.endpoint().port()};
        if (seen.insert(a.to_string()).second) found.push_back(std::move(a));
      }
      std::sort(found.begin(), found.end(), [](const TargetAddress& a, const TargetAddress& b) {
        return a.to_string() < b.to_string();
      });
      stats_.dns_lookup(true);
      if (!name->error.empty()) LB_LOG(kInfo, "dns ", name->text, ": resolves again");
      name->error.clear();
      name->backoff.reset();
      auto& answer = answers_[name->text];
      if (answer != found) {
        LB_LOG(kInfo, "dns ", name->text, ": ", found.size(), " address(es)");
        answer = std::move(found);
        changed = true;
      }
    } else {
      stats_.dns_lookup(false);
      const std::string error = ec ? ec.message() : std::string("no addresses");
      if (error != name->error) {
        LB_LOG(kWarn, "dns ", name->text, ": lookup failed: ", error, "; keeping the last good ",
               "answer (", answers_[name->text].size(), " address(es)) and retrying");
      }
      name->error = error;
      wait = std::min(refresh_, name->backoff.next());
    }
    if (changed) on_change_();
    name->timer.expires_after(wait);
    co_await name->timer.async_wait(kUseAwaitable);
  }
}

bool DnsWatcher::awaiting_first_lookup(const std::vector<std::string>& names) const {
  const auto now = std::chrono::steady_clock::now();
  for (const std::string& text : names) {
    auto it = names_.find(text);
    if (it != names_.end() && !it->second->looked_up && now - it->second->added < kFirstLookup) {
      return true;
    }
  }
  return false;
}

std::vector<std::string> DnsWatcher::conditions() const {
  std::vector<std::string> out;
  for (const auto& [text, name] : names_) {
    if (name->error.empty()) continue;
    auto it = answers_.find(text);
    const std::size_t kept = it == answers_.end() ? 0 : it->second.size();
    out.push_back(str_cat("dns ", text, ": lookup failed: ", name->error, "; keeping ", kept,
                          " address(es) from the last good answer"));
  }
  return out;
}

}  // namespace jsontcplb::controlplane
