#pragma once
// Ctrl-C / SIGTERM / SIGHUP during a run: the handler only records the signal; the engine polls between
// batches and unwinds with an exception, so that destructors (ResultsFile removes its temporary
// file) leave nothing behind at the output path.
namespace ketasim {

// Installs handlers for SIGINT, SIGTERM and SIGHUP. Each handler fires once and then restores the default
// action, so a second Ctrl-C terminates at once if a batch never returns. Safe to call repeatedly.
void install_interrupt_handlers();

// True once SIGINT, SIGTERM or SIGHUP arrived after install_interrupt_handlers().
bool interrupt_requested();

// The signal number that was received, or 0.
int interrupt_signal();

// Throws ketasim::RuntimeFailure ("interrupted by SIGINT") when a signal arrived.
void throw_if_interrupted();

// Forgets a received signal (tests; a library caller that handled the interruption).
void clear_interrupt_request();

}  // namespace ketasim
