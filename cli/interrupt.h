#pragma once

#include <grpcpp/client_context.h>

#include <chrono>

namespace jsontcplb::cli {

/// Ctrl-C for a synchronous gRPC client. Blocks SIGINT and SIGTERM in the calling thread (and
/// so in every thread started after it, gRPC's included; call it first thing in main) and
/// starts a thread that waits for them. While a CancelOnInterrupt lives, a signal cancels the
/// call registered with it and wakes its wait_for; otherwise the process exits at once with
/// 128 + signal.
void install_interrupt_handler();

/// While it lives, an interrupt cancels the registered call (TryCancel) instead of exiting.
class CancelOnInterrupt {
 public:
  /// `context` may be null: an interrupt is then only noted (see wait_for, interrupted).
  explicit CancelOnInterrupt(grpc::ClientContext* context);
  ~CancelOnInterrupt();
  CancelOnInterrupt(const CancelOnInterrupt&) = delete;
  CancelOnInterrupt& operator=(const CancelOnInterrupt&) = delete;

  /// The call an interrupt cancels from now on (null: none). Cancelled at once when an
  /// interrupt came already. Set it back to null before `context` goes away.
  void set_context(grpc::ClientContext* context);
  /// Sleeps for `duration` or until an interrupt, whichever comes first; whether one came.
  bool wait_for(std::chrono::nanoseconds duration) const;
  /// Whether a signal came (and cancelled the call, if one was registered).
  bool interrupted() const;
};

}  // namespace jsontcplb::cli
