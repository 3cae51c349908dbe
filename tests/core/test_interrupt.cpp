#include "ketasim/core/interrupt.hpp"

#include <catch2/catch.hpp>
#include <csignal>

#include "ketasim/core/error.hpp"

TEST_CASE("SIGINT and SIGTERM set the interrupt flag instead of killing the run", "[core][interrupt]") {
  ketasim::clear_interrupt_request();
  ketasim::install_interrupt_handlers();
  CHECK_FALSE(ketasim::interrupt_requested());
  CHECK_NOTHROW(ketasim::throw_if_interrupted());

  REQUIRE(std::raise(SIGINT) == 0);
  CHECK(ketasim::interrupt_requested());
  CHECK(ketasim::interrupt_signal() == SIGINT);
  CHECK_THROWS_WITH(ketasim::throw_if_interrupted(), "interrupted by SIGINT");

  ketasim::clear_interrupt_request();
  CHECK_FALSE(ketasim::interrupt_requested());
  REQUIRE(std::raise(SIGTERM) == 0);
  CHECK(ketasim::interrupt_signal() == SIGTERM);
  CHECK_THROWS_AS(ketasim::throw_if_interrupted(), ketasim::RuntimeFailure);

  // Leave no pending interrupt for the engine's tests that poll the flag.
  ketasim::clear_interrupt_request();
}
