#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <cstddef>
#include <memory>
#include <thread>
#include <vector>

namespace jsontcplb {

namespace asio = boost::asio;

/// The extra I/O threads of `-threads N` (N-1 of them), each running its own io_context until
/// destroyed. Client sessions live on them: reading (the kernel copy), TLS decryption and line
/// splitting happen here, and finished batches are posted to the data-plane thread, which owns
/// the queue, the workers and every target connection without locks.
class ReaderThreads {
 public:
  explicit ReaderThreads(std::size_t count);
  ~ReaderThreads();
  ReaderThreads(const ReaderThreads&) = delete;
  ReaderThreads& operator=(const ReaderThreads&) = delete;

  /// The next thread's executor, round robin (a session keeps the one it was given).
  asio::any_io_executor next();

 private:
  struct Thread {
    asio::io_context io{1};
    asio::executor_work_guard<asio::io_context::executor_type> work{io.get_executor()};
    std::thread thread;
  };
  std::vector<std::unique_ptr<Thread>> threads_;
  std::size_t next_ = 0;
};

}  // namespace jsontcplb
