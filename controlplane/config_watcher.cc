#include "controlplane/config_watcher.h"

#include <sys/inotify.h>
#include <unistd.h>

#include <array>
#include <boost/asio/co_spawn.hpp>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "dataplane/core/log.h"
#include "dataplane/coro.h"

namespace jsontcplb::controlplane {

ConfigWatcher::ConfigWatcher(asio::io_context& io, std::string path, std::function<void()> on_event)
    : io_(io),
      path_(std::move(path)),
      on_event_(std::move(on_event)),
      inotify_(io),
      reread_timer_(io) {}

void ConfigWatcher::start() {
  auto self = shared_from_this();
  const int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  std::filesystem::path dir = std::filesystem::absolute(path_).parent_path();
  if (fd < 0 || ::inotify_add_watch(fd, dir.c_str(),
                                    IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE |
                                        IN_DELETE | IN_ATTRIB) < 0) {
    LB_LOG(kWarn, "config ", path_, ": cannot watch ", dir.string(), " (", std::strerror(errno),
           "); re-reading it every ", kRereadInterval.count(), "s instead");
    if (fd >= 0) ::close(fd);
  } else {
    inotify_.assign(fd);
    co_spawn(
        io_, [self] { return self->inotify_loop(); }, log_if_thrown("config watch"));
  }
  co_spawn(
      io_, [self] { return self->reread_loop(); }, log_if_thrown("config re-read"));
}

void ConfigWatcher::stop() {
  stopped_ = true;
  boost::system::error_code ignored;
  inotify_.close(ignored);
  reread_timer_.cancel();
}

asio::awaitable<void> ConfigWatcher::inotify_loop() {
  auto self = shared_from_this();
  // Events are not parsed: anything in the directory may be the config (a rename onto it, a
  // symlink swap, an editor's write), and the caller compares the contents anyway.
  alignas(inotify_event) std::array<char, 4096> events;
  while (!stopped_) {
    auto [ec, n] = co_await inotify_.async_read_some(asio::buffer(events), kUseAwaitable);
    if (stopped_ || ec == asio::error::operation_aborted) co_return;
    if (ec) {
      LB_LOG(kWarn, "config ", path_, ": the directory watch stopped (", ec.message(),
             "); the periodic re-read goes on");
      co_return;
    }
    if (n > 0) on_event_();
  }
}

asio::awaitable<void> ConfigWatcher::reread_loop() {
  auto self = shared_from_this();
  while (!stopped_) {
    reread_timer_.expires_after(kRereadInterval);
    auto [ec] = co_await reread_timer_.async_wait(kUseAwaitable);
    if (stopped_ || ec) co_return;
    on_event_();
  }
}

}  // namespace jsontcplb::controlplane
