#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

namespace jsontcplb::controlplane {

namespace asio = boost::asio;

/// Says when the config file may have changed: inotify on the file's directory, since a
/// Kubernetes ConfigMap update swaps a `..data` symlink there (a watch on the file itself would
/// go on watching the old one), and a periodic re-read as the fallback for file systems
/// without inotify. The caller debounces and compares contents. Control-plane thread.
class ConfigWatcher : public std::enable_shared_from_this<ConfigWatcher> {
 public:
  static constexpr std::chrono::seconds kRereadInterval{10};

  ConfigWatcher(asio::io_context& io, std::string path, std::function<void()> on_event);
  /// Starts watching; without inotify only the periodic re-read is left (logged).
  void start();
  void stop();

 private:
  asio::awaitable<void> inotify_loop();
  asio::awaitable<void> reread_loop();

  asio::io_context& io_;
  std::string path_;
  std::function<void()> on_event_;
  asio::posix::stream_descriptor inotify_;
  asio::steady_timer reread_timer_;
  bool stopped_ = false;
};

}  // namespace jsontcplb::controlplane
