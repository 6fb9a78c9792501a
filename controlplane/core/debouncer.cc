#include "controlplane/core/debouncer.h"

#include <algorithm>

namespace jsontcplb::controlplane {

Debouncer::Clock::time_point Debouncer::touch(Clock::time_point now) {
  if (!first_) first_ = now;
  due_ = std::min(now + quiet_, *first_ + max_delay_);
  return *due_;
}

}  // namespace jsontcplb::controlplane
