#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tests/tools/host_port.h"

namespace lbtest {

struct RelayOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;  ///< 0: any free port (see Relay::port()).
  std::vector<HostPort> targets;
  unsigned threads = 2;  ///< Accepted connections are spread over this many I/O threads.
  /// true: move the bytes with splice(2) through a pipe, never into user space (zero copies);
  /// false: read(2) into a 64 KiB buffer and write(2) it out (the two copies of any proxy).
  bool splice = true;
};

/// The least work a TCP proxy can do, for benchmarks: each accepted connection gets one
/// connection of its own to the next target (round robin) and its bytes are forwarded as they
/// come, with no lines, no buffering beyond one read and no guarantees. It shows the ceiling
/// that the machine, not the proxy, sets. When the client closes, the relay half-closes the
/// target connection, waits for the target to close, then closes the client. Runs its own
/// threads; throws std::system_error if the listener cannot be bound.
class Relay {
 public:
  explicit Relay(RelayOptions options);
  /// Stops the threads and drops every connection.
  ~Relay();
  Relay(const Relay&) = delete;
  Relay& operator=(const Relay&) = delete;

  std::uint16_t port() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace lbtest
