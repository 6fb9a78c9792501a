#include "tests/tools/process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <stdexcept>

extern char** environ;

namespace lbtest {
namespace {

int count_occurrences(std::string_view haystack, std::string_view needle) {
  int n = 0;
  for (std::size_t pos = haystack.find(needle); pos != std::string_view::npos;
       pos = haystack.find(needle, pos + needle.size())) {
    ++n;
  }
  return n;
}

}  // namespace

ProxyProcess::ProxyProcess(std::string binary, std::vector<std::string> args)
    : ProxyProcess(std::move(binary), std::move(args), nullptr) {}

ProxyProcess::ProxyProcess(std::string binary, std::vector<std::string> args, LineHandler on_line)
    : on_line_(std::move(on_line)) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDERR_FILENO);
  // Nothing else of ours: Asio opens sockets without O_CLOEXEC, and a child holding a copy of a
  // test sink's listener would keep its port open after the sink closed it.
  posix_spawn_file_actions_addclosefrom_np(&actions, STDERR_FILENO + 1);
  std::vector<char*> argv;
  argv.push_back(binary.data());
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  int rc = ::posix_spawn(&pid, binary.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(fds[1]);
  if (rc != 0) {
    ::close(fds[0]);
    throw std::runtime_error("cannot start " + binary);
  }
  pid_ = pid;
  reader_ = std::thread([this, fd = fds[0]] { read_output(fd); });
}

ProxyProcess::~ProxyProcess() {
  if (!exit_code_) {
    ::kill(pid_, SIGKILL);
    wait_exit(std::chrono::seconds(10));
  }
  if (reader_.joinable()) reader_.join();
}

void ProxyProcess::read_output(int fd) {
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    std::lock_guard lock(mu_);
    if (n <= 0) {
      if (on_line_ && !partial_line_.empty() && on_line_(partial_line_)) log_ += partial_line_;
      partial_line_.clear();
      eof_ = true;
      changed_.notify_all();
      break;
    }
    append_output(std::string_view(buf, static_cast<std::size_t>(n)));
    changed_.notify_all();
  }
  ::close(fd);
}

void ProxyProcess::append_output(std::string_view text) {
  if (!on_line_) {
    log_ += text;
    return;
  }
  for (std::size_t end; (end = text.find('\n')) != std::string_view::npos;) {
    std::string_view line = text.substr(0, end);
    if (!partial_line_.empty()) {
      partial_line_ += line;
      line = partial_line_;
    }
    if (on_line_(line)) {
      log_ += line;
      log_ += '\n';
    }
    partial_line_.clear();
    text.remove_prefix(end + 1);
  }
  partial_line_ += text;
}

std::uint16_t ProxyProcess::wait_for_port(std::chrono::milliseconds timeout) {
  // The data port; the control API logs its own "control API listening on" line.
  constexpr std::string_view kNeedle = "json-tcp-lb listening on ";
  std::unique_lock lock(mu_);
  std::uint16_t port = 0;
  changed_.wait_for(lock, timeout, [&] {
    auto pos = log_.find(kNeedle);
    if (pos == std::string::npos) return eof_;
    auto end = log_.find_first_of(" ;\n", pos + kNeedle.size());
    if (end == std::string::npos) return eof_;
    auto colon = log_.rfind(':', end);
    port = static_cast<std::uint16_t>(std::atoi(log_.c_str() + colon + 1));
    return true;
  });
  return port;
}

bool ProxyProcess::wait_for_log(std::string_view needle, std::chrono::milliseconds timeout,
                                int count) {
  std::unique_lock lock(mu_);
  return changed_.wait_for(lock, timeout, [&] {
    return count_occurrences(log_, needle) >= count || eof_;
  }) && count_occurrences(log_, needle) >= count;
}

int ProxyProcess::count_log(std::string_view needle) const {
  std::lock_guard lock(mu_);
  return count_occurrences(log_, needle);
}

std::string ProxyProcess::log() const {
  std::lock_guard lock(mu_);
  return log_;
}

void ProxyProcess::signal(int sig) {
  if (!exit_code_) ::kill(pid_, sig);
}

std::optional<int> ProxyProcess::wait_exit(std::chrono::milliseconds timeout) {
  if (exit_code_) return exit_code_;
  {
    // The output pipe closes when the process exits (it holds the only write end).
    std::unique_lock lock(mu_);
    if (!changed_.wait_for(lock, timeout, [&] { return eof_; })) return std::nullopt;
  }
  int status = 0;
  if (::waitpid(pid_, &status, 0) != pid_) return std::nullopt;
  exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return exit_code_;
}

}  // namespace lbtest
