#include "dataplane/core/target_address.h"

#include <charconv>
#include <set>

#include "dataplane/core/str_cat.h"

namespace jsontcplb {

std::string TargetAddress::to_string() const {
  if (host.find(':') != std::string::npos) return str_cat("[", host, "]:", port);
  return str_cat(host, ":", port);
}

std::variant<TargetAddress, std::string> parse_target_address(std::string_view text,
                                                              bool allow_port_zero) {
  auto bad = [&](std::string_view rule) {
    return str_cat("bad target address \"", text, "\": ", rule);
  };
  TargetAddress out;
  std::string_view port_text;
  if (text.starts_with('[')) {
    auto close = text.find(']');
    if (close == std::string_view::npos) return bad("missing ']' after IPv6 address");
    out.host = std::string(text.substr(1, close - 1));
    if (text.substr(close + 1).size() < 2 || text[close + 1] != ':') {
      return bad("expected [IPv6]:PORT");
    }
    port_text = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return bad("expected HOST:PORT");
    out.host = std::string(text.substr(0, colon));
    if (out.host.find(':') != std::string::npos) {
      return bad("IPv6 addresses need brackets, e.g. [::1]:9999");
    }
    port_text = text.substr(colon + 1);
  }
  if (out.host.empty()) return bad("empty host");
  for (char c : out.host) {
    if (c == ' ' || c == '/' || c == '[' || c == ']' || c == ',') {
      return bad("host contains an invalid character");
    }
  }
  const unsigned min_port = allow_port_zero ? 0 : 1;
  const std::string range = str_cat(min_port, " to 65535");
  unsigned port = 0;
  auto [ptr, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || ec != std::errc() || ptr != port_text.data() + port_text.size()) {
    return bad(str_cat("port must be a number from ", range));
  }
  if (port < min_port || port > 65535) return bad(str_cat("port must be from ", range));
  out.port = static_cast<std::uint16_t>(port);
  return out;
}

std::variant<std::vector<TargetAddress>, std::string> parse_target_list(std::string_view text) {
  std::vector<TargetAddress> out;
  std::set<std::string> seen;
  while (true) {
    auto comma = text.find(',');
    std::string_view entry = text.substr(0, comma);
    while (!entry.empty() && entry.front() == ' ') entry.remove_prefix(1);
    while (!entry.empty() && entry.back() == ' ') entry.remove_suffix(1);
    if (entry.empty()) {
      if (comma == std::string_view::npos && out.empty()) return std::string("no target given");
      return std::string("empty entry in target list");
    }
    auto parsed = parse_target_address(entry);
    if (auto* error = std::get_if<std::string>(&parsed)) return *error;
    auto& address = std::get<TargetAddress>(parsed);
    if (!seen.insert(address.to_string()).second) {
      return str_cat("duplicate target \"", entry, "\"");
    }
    out.push_back(std::move(address));
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return out;
}

}  // namespace jsontcplb
