#pragma once

#include <cstdint>
#include <optional>

namespace jsontcplb {

/// Bytes of this connection the peer's TCP has acknowledged (`tcpi_bytes_acked`), counted from
/// the start of the connection. Still readable after a reset, holding its last value.
std::optional<std::uint64_t> tcp_bytes_acked(int fd);

}  // namespace jsontcplb
