#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>

namespace jsontcplb {

/// All clients' reads together are offered about this much space (or one largest read).
inline constexpr std::size_t kReadSpaceBudget = 1 << 20;
/// Reads are not made smaller than this (or -read-buffer-bytes, if it is smaller).
inline constexpr std::size_t kSmallestRead = 64 * 1024;

/// How much one read from a client asks for, with `sessions` clients connected and
/// -read-buffer-bytes `largest`. Few clients read large: a 256 KiB read costs about the same
/// system call and wakeup as a 64 KiB one, so per byte the kernel work drops (measured: 5-23%
/// less proxy CPU per GB with 4 clients). Many clients read less each, so that reads held at
/// once (each can become a queued batch) stay near kReadSpaceBudget instead of growing with
/// the number of clients: a power of two between kSmallestRead and `largest`.
inline std::size_t read_size(std::size_t largest, std::size_t sessions) {
  const std::size_t smallest = std::min(kSmallestRead, largest);
  const std::size_t budget = std::max(kReadSpaceBudget, largest);
  const std::size_t share = std::bit_floor(budget / std::max<std::size_t>(sessions, 1));
  return std::clamp(share, smallest, largest);
}

}  // namespace jsontcplb
