#pragma once

#include <optional>
#include <string_view>

namespace jsontcplb {

/// What the metrics endpoint needs from an HTTP/1.x request head (the bytes up to and
/// including the blank line).
struct HttpRequestHead {
  std::string_view method;
  std::string_view path;    ///< Without the query string.
  bool keep_alive = false;  ///< HTTP/1.1 unless "Connection: close"; HTTP/1.0 only when asked.
};

/// Where the head ends: the offset just past "\r\n\r\n" (or "\n\n"), if `data` holds it.
std::optional<std::size_t> find_head_end(std::string_view data);

/// Parses a request head; nullopt when it is not HTTP/1.0 or 1.1 (answer 400).
std::optional<HttpRequestHead> parse_request_head(std::string_view head);

}  // namespace jsontcplb
