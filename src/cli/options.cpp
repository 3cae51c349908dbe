// Numbers given on the command line, checked with messages that say the limit and why.
#include <cerrno>
#include <cstdlib>
#include <string>

#include "commands.hpp"
#include "ketasim/core/error.hpp"
#include "ketasim/core/limits.hpp"

namespace ketasim::cli {

long long parse_count_option(const std::string& option, const std::string& text, long long min, long long max,
                             const std::string& what) {
  if (text.empty()) return 0;
  errno = 0;
  char* end = nullptr;
  const long long value = std::strtoll(text.c_str(), &end, 10);
  if (errno != 0 || end != text.c_str() + text.size() || value < min || value > max) {
    throw InputError(SourceLocation{option, "", 0, 0}, "expected a whole number of " + what + " from " +
                                                           std::to_string(min) + " to " + std::to_string(max) +
                                                           ", found '" + text + "'");
  }
  return value;
}

std::uint64_t parse_seed_option(const std::string& text) {
  errno = 0;
  char* end = nullptr;
  const bool digits = !text.empty() && text.find_first_not_of("0123456789") == std::string::npos;
  const unsigned long long value = std::strtoull(text.c_str(), &end, 10);
  if (!digits || errno != 0 || end != text.c_str() + text.size() || value > static_cast<unsigned long long>(limits::kMaxSeed)) {
    throw InputError(SourceLocation{"--seed", "", 0, 0},
                     "expected a whole number from 0 to " + std::to_string(limits::kMaxSeed) +
                         " (the results file stores the seed as a signed 64-bit integer), found '" + text + "'");
  }
  return value;
}

}  // namespace ketasim::cli
