#include "ketasim/core/log.hpp"

#include <ostream>

namespace ketasim {

const char* log_level_name(LogLevel level) {
  switch (level) {
    case LogLevel::quiet: return "quiet";
    case LogLevel::warning: return "warning";
    case LogLevel::info: return "info";
    case LogLevel::debug: return "debug";
  }
  return "?";
}

void Logger::write(LogLevel level, const std::string& message) const {
  if (level == LogLevel::warning) ++warnings_;
  if (!enabled(level)) return;
  // Multi-line messages keep the prefix on every line so that grep finds each of them.
  std::string::size_type start = 0;
  do {
    const auto end = message.find('\n', start);
    *out_ << "ketasim: " << log_level_name(level) << ": "
          << message.substr(start, end == std::string::npos ? std::string::npos : end - start) << '\n';
    start = end == std::string::npos ? std::string::npos : end + 1;
  } while (start != std::string::npos && start < message.size());
  out_->flush();
}

LogLevel log_level_from_flags(bool quiet, int verbose) {
  if (quiet) return LogLevel::quiet;
  if (verbose >= 2) return LogLevel::debug;
  if (verbose == 1) return LogLevel::info;
  return LogLevel::warning;
}

}  // namespace ketasim
