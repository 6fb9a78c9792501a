#include "cli/interrupt.h"

#include <pthread.h>
#include <signal.h>

#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>

namespace jsontcplb::cli {
namespace {

std::mutex g_mu;
std::condition_variable g_woken;           // notified on an interrupt
bool g_guarded = false;                    // a CancelOnInterrupt lives; guarded by g_mu
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
      if (!g_guarded) std::_Exit(128 + sig);
      g_interrupted = true;
      if (g_context != nullptr) g_context->TryCancel();
      g_woken.notify_all();
    }
  }).detach();
}

CancelOnInterrupt::CancelOnInterrupt(grpc::ClientContext* context) {
  std::lock_guard lock(g_mu);
  g_guarded = true;
  g_context = context;
  g_interrupted = false;
}

CancelOnInterrupt::~CancelOnInterrupt() {
  std::lock_guard lock(g_mu);
  g_guarded = false;
  g_context = nullptr;
}

void CancelOnInterrupt::set_context(grpc::ClientContext* context) {
  std::lock_guard lock(g_mu);
  g_context = context;
  if (g_interrupted && context != nullptr) context->TryCancel();
}

bool CancelOnInterrupt::wait_for(std::chrono::nanoseconds duration) const {
  std::unique_lock lock(g_mu);
  return g_woken.wait_for(lock, duration, [] { return g_interrupted; });
}

bool CancelOnInterrupt::interrupted() const {
  std::lock_guard lock(g_mu);
  return g_interrupted;
}

}  // namespace jsontcplb::cli
