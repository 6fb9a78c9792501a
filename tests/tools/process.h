#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace lbtest {

/// Runs the real json-tcp-lb binary (or any other, such as lb-sink) as a child process and
/// collects its log (stderr and stdout) on a thread, so tests can wait for log lines and for
/// the exit status.
class ProxyProcess {
 public:
  /// Sees every output line (without its '\n'; a last line without one at EOF too) on the
  /// reader thread, before it is added to the log; returns whether to keep it in log(). It
  /// must not call back into this object.
  using LineHandler = std::function<bool(std::string_view line)>;

  /// Starts `binary` with `args`. Throws std::runtime_error if it cannot be started.
  ProxyProcess(std::string binary, std::vector<std::string> args);
  /// The same, with every output line shown to `on_line` first.
  ProxyProcess(std::string binary, std::vector<std::string> args, LineHandler on_line);
  /// Kills the process (SIGKILL) if it still runs.
  ~ProxyProcess();
  ProxyProcess(const ProxyProcess&) = delete;
  ProxyProcess& operator=(const ProxyProcess&) = delete;

  /// The port from the "listening on HOST:PORT" log line; 0 if it did not appear in time.
  std::uint16_t wait_for_port(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  /// Waits until `needle` occurs at least `count` times in the log.
  bool wait_for_log(std::string_view needle, std::chrono::milliseconds timeout, int count = 1);
  int count_log(std::string_view needle) const;
  std::string log() const;

  /// The child's process id (it stays valid until wait_exit() has reaped it).
  int pid() const { return pid_; }
  void signal(int sig);
  /// Waits for the process to exit; its exit code (128+N when killed by signal N).
  std::optional<int> wait_exit(std::chrono::milliseconds timeout);

 private:
  void read_output(int fd);
  void append_output(std::string_view text);  // mu_ held

  LineHandler on_line_;
  std::string partial_line_;  // output after the last '\n' (only with on_line_)
  int pid_ = -1;
  std::optional<int> exit_code_;
  std::thread reader_;
  mutable std::mutex mu_;
  std::condition_variable changed_;
  std::string log_;
  bool eof_ = false;
};

}  // namespace lbtest
