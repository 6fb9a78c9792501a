#include "cli/interrupt.h"

#include <pthread.h>
#include <signal.h>

#include <cstdlib>
#include <mutex>
#include <thread>

namespace jsontcplb::cli {
namespace {

std::mutex g_mu;
grpc::ClientContext* g_context = nullptr;  // guarded by g_mu
bool g_interrupted = false;                // guarded by g_mu

}  // namespace

void install_interrupt_handler() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  // Lives as long as the process; it only ever blocks in sigwait.
  std::thread([signals] {
    for (;;) {
      int sig = 0;
      if (sigwait(&signals, &sig) != 0) continue;
      std::lock_guard lock(g_mu);
      if (g_context == nullptr) std::_Exit(128 + sig);
      g_interrupted = true;
      g_context->TryCancel();
    }
  }).detach();
}

CancelOnInterrupt::CancelOnInterrupt(grpc::ClientContext* context) {
  std::lock_guard lock(g_mu);
  g_context = context;
  g_interrupted = false;
}

CancelOnInterrupt::~CancelOnInterrupt() {
  std::lock_guard lock(g_mu);
  g_context = nullptr;
}

bool CancelOnInterrupt::interrupted() const {
  std::lock_guard lock(g_mu);
  return g_interrupted;
}

}  // namespace jsontcplb::cli
