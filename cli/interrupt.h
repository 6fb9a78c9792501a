#pragma once

#include <grpcpp/client_context.h>

namespace jsontcplb::cli {

/// Ctrl-C for a synchronous gRPC client. Blocks SIGINT and SIGTERM in the calling thread (and
/// so in every thread started after it, gRPC's included; call it first thing in main) and
/// starts a thread that waits for them. A signal cancels the call registered with
/// CancelOnInterrupt, if there is one; otherwise the process exits at once with 128 + signal.
void install_interrupt_handler();

/// While it lives, an interrupt cancels `context` (TryCancel) instead of exiting.
class CancelOnInterrupt {
 public:
  explicit CancelOnInterrupt(grpc::ClientContext* context);
  ~CancelOnInterrupt();
  CancelOnInterrupt(const CancelOnInterrupt&) = delete;
  CancelOnInterrupt& operator=(const CancelOnInterrupt&) = delete;

  /// Whether a signal cancelled the call.
  bool interrupted() const;
};

}  // namespace jsontcplb::cli
