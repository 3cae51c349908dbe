#include "ketasim/core/interrupt.hpp"

#include <atomic>
#include <csignal>
#include <string>

#include "ketasim/core/error.hpp"

namespace ketasim {
namespace {

// The one justified global: a signal handler can reach nothing else. A lock-free atomic is both
// async-signal-safe to store and safe for worker threads to read.
std::atomic<int> received_signal{0};
static_assert(std::atomic<int>::is_always_lock_free, "signal handlers may only touch lock-free atomics");

extern "C" void record_signal(int signal_number) { received_signal.store(signal_number, std::memory_order_relaxed); }

void install_for(int signal_number) {
  if (signal_number == SIGHUP) {
    // Started under nohup: SIGHUP is ignored on purpose and stays so.
    struct sigaction current {};
    if (sigaction(SIGHUP, nullptr, &current) == 0 && current.sa_handler == SIG_IGN) return;
  }
  struct sigaction action {};
  action.sa_handler = record_signal;
  sigemptyset(&action.sa_mask);
  // SA_RESETHAND: the second signal gets the default action (terminate), the user's way out.
  // SA_RESTART: a signal must not make unrelated blocking I/O fail with EINTR.
  action.sa_flags = SA_RESETHAND | SA_RESTART;
  sigaction(signal_number, &action, nullptr);
}

}  // namespace

void install_interrupt_handlers() {
  install_for(SIGINT);
  install_for(SIGTERM);
  install_for(SIGHUP);  // the terminal closed (ssh dropped): clean up like SIGTERM
}

bool interrupt_requested() { return received_signal.load(std::memory_order_relaxed) != 0; }

int interrupt_signal() { return received_signal.load(std::memory_order_relaxed); }

void throw_if_interrupted() {
  const int signal_number = interrupt_signal();
  if (signal_number == 0) return;
  const std::string name = signal_number == SIGINT    ? "SIGINT"
                           : signal_number == SIGTERM ? "SIGTERM"
                           : signal_number == SIGHUP  ? "SIGHUP"
                                                      : std::to_string(signal_number);
  throw RuntimeFailure("interrupted by " + name);
}

void clear_interrupt_request() { received_signal.store(0, std::memory_order_relaxed); }

}  // namespace ketasim
