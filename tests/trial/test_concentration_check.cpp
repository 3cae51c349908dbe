// The engine's physical-concentration check (src/trial/concentration_check.hpp) against the rule
// it replaced, applied value by value: c >= -1e-6 ng/mL and finite, for every value.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <vector>

#include "../../src/trial/concentration_check.hpp"

using ketasim::trial::ConcentrationCheck;

namespace {

bool reference(const std::vector<double>& values) {
  for (double c : values) {
    if (!(c >= -1e-6) || !std::isfinite(c)) return false;
  }
  return true;
}

bool checked(const std::vector<double>& values) {
  ConcentrationCheck check;
  for (double c : values) check.add(c);
  return check.ok();
}

}  // namespace

TEST_CASE("ConcentrationCheck gives the per-value rule's verdict", "[trial]") {
  const double inf = std::numeric_limits<double>::infinity(), nan = std::numeric_limits<double>::quiet_NaN();
  const double just_below = std::nextafter(-1e-6, -1.0);
  const std::vector<std::vector<double>> cases{
      {},
      {0.0},
      {-0.0, 12.5, 3.0},
      {-1e-6, 4.0},        // the allowance itself passes
      {4.0, just_below},   // one ulp beyond fails
      {1.0, -2e-6, 3.0},
      {1.0, nan, 3.0},
      {nan},
      {1.0, 2.0, inf},
      {-inf, 1.0},
      {nan, -5.0},         // a NaN first must not hide a later negative
      {1e308, 1e308, 1e308},  // large but finite: c - c stays 0 (no overflow in the sum)
      {std::numeric_limits<double>::denorm_min(), 5.0},
  };
  for (const auto& values : cases) {
    INFO("case of " << values.size() << " values, first " << (values.empty() ? 0.0 : values.front()));
    CHECK(checked(values) == reference(values));
  }
  // NaN or infinity anywhere in a long curve, including the last value.
  std::vector<double> curve(2809, 10.0);
  for (const double bad : {nan, inf, -inf, -1.0}) {
    for (const std::size_t at : {std::size_t{0}, std::size_t{1404}, curve.size() - 1}) {
      std::vector<double> c = curve;
      c[at] = bad;
      INFO("bad value " << bad << " at " << at);
      CHECK_FALSE(checked(c));
    }
  }
  CHECK(checked(curve));
}
