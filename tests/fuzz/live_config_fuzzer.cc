// The control API's request validation (dataplane/core/live_config.h), driven the way
// dataplane/control_server.cc drives it, by a script of requests, one a line:
//
//   set ADDRESS[=CONNECTIONS]... [connections=N] [failback=MS]   SetTargets (whole list)
//   add ADDRESS[=CONNECTIONS]                                      AddTarget
//   remove ADDRESS                                                 RemoveTarget
//   connections N [ADDRESS]                                        SetConnections
//
// Words are separated by spaces; numbers are decimal; a line that is none of these is skipped.
// The data plane starts from the default command line's config.
//
// Properties: the config stays valid after every accepted request (validate() passes, so a
// sequence of accepted calls can never build a config a restart would refuse); an accepted
// edit clears config_version and did what it was asked; a refusal is INVALID_ARGUMENT with a
// message naming the request field.

#include <charconv>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "dataplane/core/config_validation.h"
#include "dataplane/core/live_config.h"
#include "dataplane/core/options.h"
#include "dataplane/core/target_address.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using jsontcplb::LiveConfig;
using jsontcplb::TargetAddress;
using jsontcplb::TargetSpec;

constexpr std::size_t kMaxRequests = 64;

std::vector<std::string_view> split(std::string_view text, char separator) {
  std::vector<std::string_view> out;
  for (;;) {
    const std::size_t at = text.find(separator);
    if (!text.substr(0, at).empty()) out.push_back(text.substr(0, at));
    if (at == std::string_view::npos) return out;
    text.remove_prefix(at + 1);
  }
}

template <typename Int>
std::optional<Int> number(std::string_view text) {
  Int value{};
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size()) return std::nullopt;
  return value;
}

// "ADDRESS=N" (the last '=' splits, since an address may hold one) or "ADDRESS".
jsontcplb::RequestedTarget requested(std::string_view word) {
  const std::size_t eq = word.rfind('=');
  if (eq != std::string_view::npos) {
    if (auto n = number<std::uint32_t>(word.substr(eq + 1))) {
      return {std::string(word.substr(0, eq)), *n};
    }
  }
  return {std::string(word), 0};
}

// Refusals: INVALID_ARGUMENT naming a field of the request.
void check_refusal(const absl::Status& status, std::string_view field) {
  FUZZ_CHECK(absl::IsInvalidArgument(status), "not INVALID_ARGUMENT: " + status.ToString());
  FUZZ_CHECK(std::string(status.message()).starts_with(field),
             "message does not name " + std::string(field) + ": " + status.ToString());
}

// parse_address in control_server.cc: the address must parse before anything is changed.
std::optional<TargetAddress> address_of(std::string_view text) {
  auto parsed = jsontcplb::parse_target_address(text);
  if (auto* error = std::get_if<std::string>(&parsed)) {
    FUZZ_CHECK(!error->empty(), "a refusal needs a message");
    return std::nullopt;
  }
  return std::get<TargetAddress>(parsed);
}

// Accepted: the new config must be valid, and becomes the current one.
void accept(LiveConfig& config, LiveConfig next, std::string_view request) {
  const absl::Status status = jsontcplb::validate(next);
  FUZZ_CHECK(status.ok(), "accepted \"" + std::string(request) +
                              "\" into an invalid config: " + status.ToString());
  config = std::move(next);
}

void set_targets(LiveConfig& config, const std::vector<std::string_view>& words,
                 std::string_view line) {
  std::vector<jsontcplb::RequestedTarget> targets;
  std::optional<std::uint32_t> connections;
  std::optional<std::chrono::milliseconds> failback;
  for (std::size_t i = 1; i < words.size(); ++i) {
    if (words[i].starts_with("connections=")) {
      connections = number<std::uint32_t>(words[i].substr(12));
    } else if (words[i].starts_with("failback=")) {
      if (auto ms = number<std::int64_t>(words[i].substr(9)))
        failback = std::chrono::milliseconds(*ms);
    } else {
      targets.push_back(requested(words[i]));
    }
  }
  auto parsed = jsontcplb::parse_targets(targets, "config.targets");
  if (!parsed.ok()) return check_refusal(parsed.status(), "config.targets");
  FUZZ_CHECK(parsed->size() == targets.size(), "parse_targets lost or added an entry");
  FUZZ_CHECK(jsontcplb::check_targets(*parsed, "t").ok(), "parse_targets passed a bad list");
  LiveConfig next = config;
  next.targets = *std::move(parsed);
  if (connections && *connections != 0) next.connections = *connections;
  if (failback) next.failback_interval = *failback;
  next.config_version = "pushed";
  if (const absl::Status status = jsontcplb::validate(next, "config."); !status.ok()) {
    return check_refusal(status, "config.");
  }
  accept(config, std::move(next), line);
}

void add_target(LiveConfig& config, const std::vector<std::string_view>& words,
                std::string_view line) {
  if (words.size() != 2) return;
  const jsontcplb::RequestedTarget r = requested(words[1]);
  const auto address = address_of(r.address);
  if (!address) return;
  const bool known = config.find(*address) != nullptr;
  auto next = jsontcplb::with_target_added(config, {*address, r.connections});
  if (!next.ok()) return check_refusal(next.status(), "target.");
  FUZZ_CHECK(!known, "added " + address->to_string() + " twice");
  FUZZ_CHECK(next->targets.size() == config.targets.size() + 1, "add did not add one target");
  const TargetSpec* added = next->find(*address);
  FUZZ_CHECK(added != nullptr && added->connections == r.connections, "add lost the target");
  FUZZ_CHECK(next->config_version.empty(), "add kept config_version");
  accept(config, *std::move(next), line);
}

void remove_target(LiveConfig& config, const std::vector<std::string_view>& words,
                   std::string_view line) {
  if (words.size() != 2) return;
  const auto address = address_of(words[1]);
  if (!address) return;
  auto next = jsontcplb::with_target_removed(config, *address);
  if (!next.ok()) return check_refusal(next.status(), "address");
  FUZZ_CHECK(config.find(*address) != nullptr, "removed an unknown target");
  FUZZ_CHECK(next->targets.size() + 1 == config.targets.size(), "remove did not drop one");
  FUZZ_CHECK(next->find(*address) == nullptr, "the removed target is still there");
  FUZZ_CHECK(next->config_version.empty(), "remove kept config_version");
  accept(config, *std::move(next), line);
}

void set_connections(LiveConfig& config, const std::vector<std::string_view>& words,
                     std::string_view line) {
  if (words.size() < 2 || words.size() > 3) return;
  const auto connections = number<std::uint32_t>(words[1]);
  if (!connections) return;
  std::optional<TargetAddress> target;
  if (words.size() == 3) {
    target = address_of(words[2]);
    if (!target) return;
  }
  auto next = jsontcplb::with_connections(config, *connections, target);
  if (!next.ok()) {
    // A bad count is refused first; a good one only for a target that is not in the list.
    const bool bad_count = jsontcplb::validate_connections(*connections, "c").has_value();
    return check_refusal(next.status(), bad_count ? "connections" : "target");
  }
  FUZZ_CHECK(next->config_version.empty(), "connections kept config_version");
  if (target) {
    const TargetSpec* spec = next->find(*target);
    FUZZ_CHECK(spec != nullptr && next->connections_for(*spec) == *connections,
               "connections for a target not set");
  } else {
    for (const TargetSpec& t : next->targets) {
      FUZZ_CHECK(next->connections_for(t) == *connections, "connections for all not set");
    }
  }
  accept(config, *std::move(next), line);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  LiveConfig config = LiveConfig::from_options(jsontcplb::Options{});
  FUZZ_CHECK(jsontcplb::validate(config).ok(), "the default config is invalid");
  const std::string_view script(reinterpret_cast<const char*>(data), size);
  std::size_t requests = 0;
  for (std::string_view line : split(script, '\n')) {
    if (++requests > kMaxRequests) break;
    const std::vector<std::string_view> words = split(line, ' ');
    if (words.empty()) continue;
    if (words[0] == "set") {
      set_targets(config, words, line);
    } else if (words[0] == "add") {
      add_target(config, words, line);
    } else if (words[0] == "remove") {
      remove_target(config, words, line);
    } else if (words[0] == "connections") {
      set_connections(config, words, line);
    }
  }
  return 0;
}
