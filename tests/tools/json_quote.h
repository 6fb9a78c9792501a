#pragma once

#include <string>
#include <string_view>

namespace lbtest {

/// `text` as a JSON string literal, quotes included.
std::string json_quote(std::string_view text);

}  // namespace lbtest
