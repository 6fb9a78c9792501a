// parse_target_address, parse_target_list and the listen/metrics address parsers on any text.
//
// Properties: no crash; a refusal has a message; an accepted address prints (to_string) as text
// that parses again to the same value, so what the data plane reports and logs can be fed
// back to it (lbctl, the control plane) unchanged; an accepted list has no address twice and
// its printed form parses to the same list.

#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "dataplane/core/config_validation.h"
#include "dataplane/core/target_address.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using jsontcplb::TargetAddress;

void check_round_trip(std::string_view text, bool allow_port_zero) {
  auto parsed = jsontcplb::parse_target_address(text, allow_port_zero);
  if (auto* error = std::get_if<std::string>(&parsed)) {
    FUZZ_CHECK(!error->empty(), "a refusal needs a message");
    return;
  }
  const TargetAddress& address = std::get<TargetAddress>(parsed);
  FUZZ_CHECK(!address.host.empty(), "accepted an empty host");
  FUZZ_CHECK(allow_port_zero || address.port != 0, "accepted port 0");
  const std::string printed = address.to_string();
  auto again = jsontcplb::parse_target_address(printed, allow_port_zero);
  FUZZ_CHECK(std::holds_alternative<TargetAddress>(again),
             "to_string() \"" + printed + "\" does not parse: " + std::get<std::string>(again));
  FUZZ_CHECK(std::get<TargetAddress>(again) == address,
             "\"" + printed + "\" parses to another address");
  FUZZ_CHECK(std::get<TargetAddress>(again).to_string() == printed, "to_string() is not stable");
}

void check_list(std::string_view text) {
  auto parsed = jsontcplb::parse_target_list(text);
  if (auto* error = std::get_if<std::string>(&parsed)) {
    FUZZ_CHECK(!error->empty(), "a refusal needs a message");
    return;
  }
  const auto& list = std::get<std::vector<TargetAddress>>(parsed);
  FUZZ_CHECK(!list.empty(), "accepted an empty list");
  std::set<std::string> seen;
  std::string printed;
  for (const TargetAddress& address : list) {
    FUZZ_CHECK(seen.insert(address.to_string()).second, "duplicate " + address.to_string());
    if (!printed.empty()) printed += ",";
    printed += address.to_string();
  }
  auto again = jsontcplb::parse_target_list(printed);
  FUZZ_CHECK(std::holds_alternative<std::vector<TargetAddress>>(again),
             "\"" + printed + "\" does not parse: " + std::get<std::string>(again));
  FUZZ_CHECK(std::get<std::vector<TargetAddress>>(again) == list,
             "\"" + printed + "\" parses to another list");
}

template <typename Parse>
void check_no_crash(Parse parse, std::string_view text) {
  auto parsed = parse(text);
  if (auto* error = std::get_if<std::string>(&parsed)) {
    FUZZ_CHECK(!error->empty(), "a refusal needs a message");
  } else {
    (void)jsontcplb::is_loopback_host(std::get<TargetAddress>(parsed).host);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  check_round_trip(text, false);
  check_round_trip(text, true);
  check_list(text);
  check_no_crash(jsontcplb::parse_listen_address, text);
  check_no_crash(jsontcplb::parse_metrics_address, text);
  (void)jsontcplb::is_loopback_host(text);
  return 0;
}
