#include "kiln/train/interrupt.h"

#include <atomic>
#include <csignal>

namespace kiln::train {
namespace {

volatile std::sig_atomic_t g_interrupted = 0;
std::atomic<int> g_guards{0};
struct sigaction g_old_int, g_old_term;

extern "C" void on_signal(int sig) {
  if (g_interrupted != 0) {
    // Second signal: give up waiting for the step to finish.
    std::signal(sig, SIG_DFL);
    std::raise(sig);
    return;
  }
  g_interrupted = 1;
}

}  // namespace

InterruptGuard::InterruptGuard() {
  if (g_guards.fetch_add(1) != 0) return;  // nested fit() calls share the outer handler
  g_interrupted = 0;
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &g_old_int);
  sigaction(SIGTERM, &sa, &g_old_term);
}

InterruptGuard::~InterruptGuard() {
  if (g_guards.fetch_sub(1) != 1) return;
  sigaction(SIGINT, &g_old_int, nullptr);
  sigaction(SIGTERM, &g_old_term, nullptr);
}

bool interrupt_requested() { return g_interrupted != 0; }
void clear_interrupt() { g_interrupted = 0; }

}  // namespace kiln::train
