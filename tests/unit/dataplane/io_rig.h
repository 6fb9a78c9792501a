#pragma once

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "dataplane/core/log.h"
#include "dataplane/line_queue.h"
#include "dataplane/stats.h"
#include "dataplane/upstream.h"
#include "dataplane/worker.h"
#include "tests/tools/line_format.h"

namespace jsontcplb::testing {

/// The pieces the data plane's owners share (a line queue, stats, a dialer) on an io_context
/// that the test's own thread runs in bounded steps, so a test needs no whole data plane.
class IoRig {
 public:
  static constexpr std::chrono::milliseconds kWait{20000};

  IoRig() { set_log_level(LogLevel::kError); }

  /// Runs the io_context until `done` holds; false after `timeout`.
  bool run_until(const std::function<bool()>& done, std::chrono::milliseconds timeout = kWait) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done()) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      io.run_for(std::chrono::milliseconds(2));
    }
    return true;
  }

  /// Queues test lines `first`..`first + count - 1` of stream 0 of `run`, as a session would
  /// (admitted, then pushed), in batches of `per_batch` lines.
  void offer(const std::string& run, std::uint64_t first, std::uint64_t count,
             std::uint64_t per_batch = 50) {
    for (std::uint64_t seq = first; seq < first + count;) {
      std::string text;
      std::size_t lines = 0;
      for (; lines < per_batch && seq < first + count; ++lines, ++seq) {
        lbtest::append_line(text, run, 0, seq, 100);
      }
      queue->admit(text.size());
      queue->push(Batch(text, lines));
    }
  }

  /// Upstream::connect with plain TCP and short deadlines.
  static Dialer loopback_dialer() {
    return [](const TargetAddress& target) {
      static const Upstream::ConnectSettings settings{.timeout = std::chrono::seconds(5),
                                                      .tls = nullptr,
                                                      .verify_host = false,
                                                      .user_timeout_ms = 10000};
      return Upstream::connect(target, settings);
    };
  }

  /// A WorkerEnv over this rig's queue and stats.
  WorkerEnv env(Dialer dial) const {
    WorkerEnv e;
    e.queue = queue;
    e.stats = stats;
    e.dial = std::move(dial);
    return e;
  }

  asio::io_context io{1};
  asio::executor_work_guard<asio::io_context::executor_type> work{io.get_executor()};
  std::shared_ptr<Stats> stats = std::make_shared<Stats>();
  std::shared_ptr<LineQueue> queue =
      std::make_shared<LineQueue>(io.get_executor(), 16 * 1024 * 1024, 64 * 1024);
};

}  // namespace jsontcplb::testing
