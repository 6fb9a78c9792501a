#include "dataplane/core/target_choice.h"

namespace jsontcplb {

std::size_t next_target(std::size_t failed, std::size_t spread, std::size_t count,
                        const std::function<bool(std::size_t)>& healthy) {
  if (count <= 1) return 0;
  const std::size_t others = count - 1;
  const std::size_t first = spread % others;
  auto candidate = [&](std::size_t k) { return (failed + 1 + (first + k) % others) % count; };
  for (std::size_t k = 0; k < others; ++k) {
    if (healthy(candidate(k))) return candidate(k);
  }
  return candidate(0);
}

std::size_t choose_target(const Placement& p, std::size_t count,
                          const std::function<bool(std::size_t)>& healthy) {
  if (p.home && (p.home_ready || !p.failed || !p.current)) return *p.home;
  if (p.failed && p.current) return next_target(*p.current, p.spread, count, healthy);
  return p.current.value_or(0);
}

}  // namespace jsontcplb
