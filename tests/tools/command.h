#pragma once

#include <chrono>
#include <iosfwd>
#include <string>
#include <vector>

namespace lbtest {

/// How a finished command ended and what it printed.
struct CommandResult {
  int exit_code = -1;      ///< 128+N when killed by signal N.
  bool timed_out = false;  ///< It ran past the timeout and was killed.
  std::string out;         ///< Its stdout.
  std::string err;         ///< Its stderr.
};

/// For test failure messages: the exit code, then stdout and stderr.
std::ostream& operator<<(std::ostream& os, const CommandResult& result);

/// Runs `binary args...` to completion with stdin from /dev/null, capturing stdout and stderr
/// separately; kills it (SIGKILL) when it runs longer than `timeout`. Throws
/// std::runtime_error if it cannot be started.
CommandResult run_command(const std::string& binary, const std::vector<std::string>& args,
                          std::chrono::milliseconds timeout = std::chrono::seconds(30));

}  // namespace lbtest
