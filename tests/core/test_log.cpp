// Logger: levels filter what reaches the stream; every line carries the level; no global state.
#include <catch2/catch.hpp>

#include <sstream>

#include "ketasim/core/log.hpp"

using namespace ketasim;

TEST_CASE("Logger levels: quiet < warning < info < debug", "[core][log]") {
  std::ostringstream out;
  const Logger log(out, LogLevel::info);
  log.warning("w");
  log.info("i");
  log.debug("d");
  CHECK(out.str() == "ketasim: warning: w\nketasim: info: i\n");
  CHECK(log.warnings() == 1);
  CHECK(log.enabled(LogLevel::info));
  CHECK_FALSE(log.enabled(LogLevel::debug));
}

TEST_CASE("Quiet loggers print nothing but still count warnings", "[core][log]") {
  std::ostringstream out;
  const Logger log(out, LogLevel::quiet);
  log.warning("w");
  log.info("i");
  CHECK(out.str().empty());
  CHECK(log.warnings() == 1);
}

TEST_CASE("Multi-line messages keep the prefix on every line", "[core][log]") {
  std::ostringstream out;
  Logger(out, LogLevel::debug).debug("a\nb");
  CHECK(out.str() == "ketasim: debug: a\nketasim: debug: b\n");
}

TEST_CASE("CLI flags map to levels, --quiet wins", "[core][log]") {
  CHECK(log_level_from_flags(false, 0) == LogLevel::warning);
  CHECK(log_level_from_flags(false, 1) == LogLevel::info);
  CHECK(log_level_from_flags(false, 3) == LogLevel::debug);
  CHECK(log_level_from_flags(true, 2) == LogLevel::quiet);
}
