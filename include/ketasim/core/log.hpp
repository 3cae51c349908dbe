#pragma once
// Leveled diagnostics for humans on stderr (warnings, progress notes, debug detail). A Logger is
// created by the command line front end and passed explicitly to whatever wants to say
// something; there is no global logger, so library code without one stays silent and tests can
// capture output in a string stream.
#include <iosfwd>
#include <string>

namespace ketasim {

enum class LogLevel {
  quiet = 0,    // --quiet: errors only (errors are exceptions, printed by main, never through here)
  warning = 1,  // default
  info = 2,     // --verbose
  debug = 3,    // --verbose --verbose
};

const char* log_level_name(LogLevel level);

class Logger {
 public:
  // `out` must outlive the logger (std::cerr in the CLI).
  Logger(std::ostream& out, LogLevel level) : out_(&out), level_(level) {}

  LogLevel level() const { return level_; }
  bool enabled(LogLevel level) const { return level != LogLevel::quiet && level <= level_; }

  // One line each: "ketasim: warning: <message>".
  void warning(const std::string& message) const { write(LogLevel::warning, message); }
  void info(const std::string& message) const { write(LogLevel::info, message); }
  void debug(const std::string& message) const { write(LogLevel::debug, message); }
  void write(LogLevel level, const std::string& message) const;

  std::size_t warnings() const { return warnings_; }  // warnings emitted (or suppressed) so far

 private:
  std::ostream* out_;
  LogLevel level_;
  mutable std::size_t warnings_ = 0;
};

// Log level from the CLI flags: --quiet wins; each --verbose raises it one step above warning.
LogLevel log_level_from_flags(bool quiet, int verbose);

}  // namespace ketasim
