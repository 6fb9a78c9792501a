#include "dataplane/reader_threads.h"

namespace jsontcplb {

ReaderThreads::ReaderThreads(std::size_t count) {
  for (std::size_t i = 0; i < count; ++i) {
    auto t = std::make_unique<Thread>();
    t->thread = std::thread([io = &t->io] { io->run(); });
    threads_.push_back(std::move(t));
  }
}

ReaderThreads::~ReaderThreads() {
  for (auto& t : threads_) t->work.reset();
  for (auto& t : threads_) t->thread.join();
}

asio::any_io_executor ReaderThreads::next() {
  Thread& t = *threads_[next_];
  next_ = (next_ + 1) % threads_.size();
  return t.io.get_executor();
}

}  // namespace jsontcplb
