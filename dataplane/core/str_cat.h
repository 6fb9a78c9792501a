#pragma once

#include <charconv>
#include <concepts>
#include <string>
#include <string_view>
#include <type_traits>

namespace jsontcplb {

// Debian's Abseil is built with its own absl::string_view, so str_cat does not take
// std::string_view; this small variadic concatenation does, and covers what we format.
namespace str_cat_internal {

inline void append(std::string& out, std::string_view s) { out.append(s); }
inline void append(std::string& out, char c) { out.push_back(c); }
template <typename T>
requires(std::integral<T> && !std::same_as<T, char> &&
         !std::same_as<T, bool>) void append(std::string& out, T value) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
  out.append(buf, end);
}
template <typename T>
requires std::same_as<T, bool>
void append(std::string& out, T value) { out.append(value ? "true" : "false"); }
void append(std::string& out, double value);

}  // namespace str_cat_internal

/// Appends each argument (strings, chars, integers, doubles) to `out`.
template <typename... Args>
void str_append(std::string& out, const Args&... args) {
  (str_cat_internal::append(out, args), ...);
}

/// Concatenates strings, chars, integers and doubles.
template <typename... Args>
std::string str_cat(const Args&... args) {
  std::string out;
  str_append(out, args...);
  return out;
}

}  // namespace jsontcplb
