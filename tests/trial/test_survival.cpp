// trial/survival.hpp on hand-worked examples (the comparison with R's survival package is
// tests/python/test_survival_r.py). Tolerance 1e-12: closed forms in double precision.
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "ketasim/trial/survival.hpp"

using namespace ketasim::trial;

TEST_CASE("Kaplan-Meier by hand") {
  // times 1, 2, 2+, 3, 4+: at risk 5, 4, -, 2, 1
  // S(1) = 4/5, S(2) = 4/5 * 3/4 = 3/5, S(3) = 3/5 * 1/2 = 3/10
  // Greenwood var(log S) at 3: 1/(5*4) + 1/(4*3) + 1/(2*1) = 0.05 + 0.08333 + 0.5
  const std::vector<double> t{1, 2, 2, 3, 4};
  const std::vector<std::int8_t> e{1, 1, 0, 1, 0};
  const std::vector<double> grid = distinct_times(t.data(), 5);
  REQUIRE(grid == std::vector<double>{1, 2, 3, 4});
  const EventCounts c = count_events(grid, t.data(), e.data(), 5);
  const KaplanMeier km = kaplan_meier(grid, c);
  CHECK(km.at_risk == std::vector<long long>{5, 4, 2, 1});
  CHECK(km.survival[0] == Approx(0.8).margin(1e-12));
  CHECK(km.survival[1] == Approx(0.6).margin(1e-12));
  CHECK(km.survival[2] == Approx(0.3).margin(1e-12));
  CHECK(km.survival[3] == Approx(0.3).margin(1e-12));
  const double se = std::sqrt(0.05 + 1.0 / 12.0 + 0.5);
  CHECK(km.lower[2] == Approx(0.3 * std::exp(-1.959963984540054 * se)).margin(1e-12));
  CHECK(km.upper[2] == Approx(std::min(1.0, 0.3 * std::exp(1.959963984540054 * se))).margin(1e-12));
  // Median: S first <= 0.5 at 3.
  CHECK(km_quantile(grid, c, km).estimate == 3.0);
  const std::vector<double> off{1.5};
  const std::vector<std::int8_t> one{1};
  CHECK_THROWS(count_events(grid, off.data(), one.data(), 1));
}

TEST_CASE("Cox with one event time per group equals the closed form") {
  // Group 0: events at 1 and 2 of 2; group 1: event at 3 (1 patient). Distinct times, so no ties:
  // L(b) = [1 / (2 + e^b)] [1 / (1 + e^b)] [e^b / e^b]  -> maximised as b -> -inf: not estimable.
  EventCounts g0(3), g1(3);
  g0.events = {1, 1, 0};
  g1.events = {0, 0, 1};
  CHECK(std::isnan(cox_two_groups(g0, g1).hazard_ratio));
  // One event in each group at the same time with both at risk (2 vs 2, then censored): Efron's
  // L(b) = e^b / [(2 + 2e^b) (2 + 2e^b - (1 + e^b)/2)], maximised at b = 0 by symmetry;
  // information = sum over l of m(1 - m) with m = 1/2: 0.5.
  EventCounts a(2), b(2);
  a.events = {1, 0};
  a.censored = {0, 1};
  b.events = {1, 0};
  b.censored = {0, 1};
  const CoxResult r = cox_two_groups(a, b);
  CHECK(r.log_hr == Approx(0.0).margin(1e-12));
  CHECK(r.se == Approx(std::sqrt(2.0)).margin(1e-12));
  CHECK(r.logrank_chisq == Approx(0.0).margin(1e-12));
  CHECK(r.logrank_p == Approx(1.0).margin(1e-12));
}
