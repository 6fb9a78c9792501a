#pragma once

#include <iosfwd>
#include <span>

namespace jsontcplb::cli {

inline constexpr int kExitOk = 0;
/// The server refused or failed the request, or could not be reached.
inline constexpr int kExitFailed = 1;
/// Unknown command or flag, or a bad value.
inline constexpr int kExitUsage = 2;

/// Runs `lbctl args...` (without the program name): results go to `out`, errors to `err`.
/// Returns the exit code.
int run_lbctl(std::span<const char* const> args, std::ostream& out, std::ostream& err);

}  // namespace jsontcplb::cli
