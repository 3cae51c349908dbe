#pragma once
// The current UTC time as text, for provenance (results files, calibrated model files).
#include <ctime>
#include <string>

namespace ketasim::cli {

// `format` is a strftime format, e.g. "%Y-%m-%dT%H:%M:%SZ" (ISO 8601) or "%Y-%m-%d".
inline std::string utc_now(const char* format) {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char buffer[64];
  std::strftime(buffer, sizeof buffer, format, &utc);
  return buffer;
}

}  // namespace ketasim::cli
