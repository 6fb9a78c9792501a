#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace jsontcplb {

/// The whole file, or nothing when it cannot be read.
std::optional<std::string> read_file(const std::string& path);

/// `text` without leading and trailing whitespace (a token file's final newline, say).
std::string_view trim_space(std::string_view text);

}  // namespace jsontcplb
