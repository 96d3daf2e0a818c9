#pragma once
// Ctrl-C during training: while an InterruptGuard lives, SIGINT and SIGTERM
// only set a flag; the training loop checks it after each step, saves a
// checkpoint and returns. A second Ctrl-C while the flag is set restores the
// default action, so a stuck program can still be killed.
namespace kiln::train {

class InterruptGuard {
 public:
  InterruptGuard();
  ~InterruptGuard();
  InterruptGuard(const InterruptGuard&) = delete;
  InterruptGuard& operator=(const InterruptGuard&) = delete;
};

/// True once SIGINT or SIGTERM arrived while a guard was alive.
bool interrupt_requested();
/// Clears the flag (the next fit() starts fresh).
void clear_interrupt();

}  // namespace kiln::train
