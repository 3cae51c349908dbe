#include "ketasim/trial/statistics.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <vector>

using ketasim::AncovaDifference;
using ketasim::ancova_difference;
using ketasim::Interval;
using ketasim::MeanSummary;
using ketasim::mean_difference;
using ketasim::newcombe_difference_interval;
using ketasim::newcombe_paired_difference_interval;
using ketasim::standardized_difference;
using ketasim::summarize_mean;
using ketasim::wilson_interval;

namespace {

// Published limits are printed to 4 decimals, so agreement can only be checked to rounding:
// 1e-4 (half a unit in the 4th decimal is 5e-5; 1e-4 leaves room for the authors' own rounding).
constexpr double kPublishedTolerance = 1e-4;

void check_interval(const Interval& actual, double lower, double upper) {
  INFO("expected [" << lower << ", " << upper << "], got [" << actual.lower << ", "
                    << actual.upper << "]");
  CHECK(std::fabs(actual.lower - lower) <= kPublishedTolerance);
  CHECK(std::fabs(actual.upper - upper) <= kPublishedTolerance);
}

}  // namespace

TEST_CASE("wilson_interval reproduces Newcombe (1998) single-proportion examples", "[stats]") {
  // Newcombe RG (1998) Two-sided confidence intervals for the single proportion: comparison of
  // seven methods. Stat Med 17:857-872, Table I, method 3 (score, no continuity correction).
  // Values as quoted by the propint R package tests (m-Py/propint,
  // tests/testthat/test_Single_Proportion_CI.R).
  check_interval(wilson_interval(81, 263), 0.2553, 0.3662);
  check_interval(wilson_interval(15, 148), 0.0624, 0.1605);
  // 0/20: upper 0.1611 is implied by Newcombe (1998) Stat Med 17:873, Table II example (e),
  // 0/10 - 0/20, whose lower limit -0.1611 equals minus the Wilson upper limit for 0/20.
  check_interval(wilson_interval(0, 20), 0.0, 0.1611);
}

TEST_CASE("wilson_interval edge cases", "[stats]") {
  SECTION("0/n and n/n have exact 0 and 1 bounds and match the closed form z^2/(n+z^2)") {
    const double z = 1.959963984540054;
    const Interval none = wilson_interval(0, 20);
    CHECK(none.lower == 0.0);
    CHECK(none.upper == Approx(z * z / (20.0 + z * z)).epsilon(1e-14));
    const Interval all = wilson_interval(20, 20);
    CHECK(all.upper == 1.0);
    CHECK(all.lower == Approx(1.0 - none.upper).epsilon(1e-14));
  }
  SECTION("n = 0 gives a NaN interval") {
    const Interval empty = wilson_interval(0, 0);
    CHECK(std::isnan(empty.lower));
    CHECK(std::isnan(empty.upper));
  }
  SECTION("symmetry and a wider interval for larger z") {
    const Interval a = wilson_interval(3, 17);
    const Interval b = wilson_interval(14, 17);
    CHECK(a.lower == Approx(1.0 - b.upper).epsilon(1e-14));
    CHECK(a.upper == Approx(1.0 - b.lower).epsilon(1e-14));
    const Interval wide = wilson_interval(3, 17, 2.575829303549);
    CHECK(wide.lower < a.lower);
    CHECK(wide.upper > a.upper);
  }
  SECTION("impossible counts are rejected") {
    CHECK_THROWS_AS(wilson_interval(5, 4), std::invalid_argument);
    CHECK_THROWS_AS(wilson_interval(-1, 4), std::invalid_argument);
    CHECK_THROWS_AS(wilson_interval(0, -1), std::invalid_argument);
    CHECK_THROWS_AS(wilson_interval(1, 4, 0.0), std::invalid_argument);
    CHECK_THROWS_AS(wilson_interval(1, 4, std::nan("")), std::invalid_argument);
  }
}

TEST_CASE("newcombe_difference_interval reproduces Newcombe (1998) Table II", "[stats]") {
  // Newcombe RG (1998) Interval estimation for the difference between independent proportions:
  // comparison of eleven methods. Stat Med 17:873-890, Table II, method 10 (hybrid score, no
  // continuity correction); the difference is p1 - p2 = x1/n1 - x2/n2.
  // Cross-checked against independent quotations: (a), (b) in the propint R package tests
  // (m-Py/propint, tests/testthat/test_Two_Independent_Props_CI.R); (d) in the ratesci R
  // package tests (PeteLaud/ratesci, tests/testthat/test3.R, "Newcombe RD example (d)");
  // all eight in several other projects' test tables that quote Table II.
  struct Example {
    const char* label;
    long x1, n1, x2, n2;
    double lower, upper;
  };
  const Example table_ii[] = {
      {"(a) 56/70 - 48/80", 56, 70, 48, 80, 0.0524, 0.3339},
      {"(b) 9/10 - 3/10", 9, 10, 3, 10, 0.1705, 0.8090},
      {"(c) 6/7 - 2/7", 6, 7, 2, 7, 0.0582, 0.8062},
      {"(d) 5/56 - 0/29", 5, 56, 0, 29, -0.0381, 0.1926},
      {"(e) 0/10 - 0/20", 0, 10, 0, 20, -0.1611, 0.2775},
      {"(f) 0/10 - 0/10", 0, 10, 0, 10, -0.2775, 0.2775},
      {"(g) 10/10 - 0/20", 10, 10, 0, 20, 0.6791, 1.0000},
      {"(h) 10/10 - 0/10", 10, 10, 0, 10, 0.6075, 1.0000},
  };
  for (const Example& e : table_ii) {
    INFO(e.label);
    check_interval(newcombe_difference_interval(e.x1, e.n1, e.x2, e.n2), e.lower, e.upper);
  }
}

TEST_CASE("newcombe_difference_interval edge cases", "[stats]") {
  SECTION("swapping the groups negates the interval") {
    const Interval forward = newcombe_difference_interval(56, 70, 48, 80);
    const Interval backward = newcombe_difference_interval(48, 80, 56, 70);
    CHECK(backward.lower == Approx(-forward.upper).epsilon(1e-14));
    CHECK(backward.upper == Approx(-forward.lower).epsilon(1e-14));
  }
  SECTION("extreme counts stay within [-1, 1]") {
    const Interval top = newcombe_difference_interval(10, 10, 0, 10);
    CHECK(top.upper == 1.0);
    const Interval bottom = newcombe_difference_interval(0, 10, 10, 10);
    CHECK(bottom.lower == -1.0);
  }
  SECTION("an empty group gives a NaN interval") {
    const Interval empty = newcombe_difference_interval(3, 10, 0, 0);
    CHECK(std::isnan(empty.lower));
    CHECK(std::isnan(empty.upper));
  }
  SECTION("impossible counts are rejected") {
    CHECK_THROWS_AS(newcombe_difference_interval(11, 10, 0, 10), std::invalid_argument);
    CHECK_THROWS_AS(newcombe_difference_interval(1, 10, -1, 10), std::invalid_argument);
  }
}

TEST_CASE("summarize_mean", "[stats]") {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  SECTION("hand-checkable sample") {
    // 2,4,4,4,5,5,7,9: sum 40, mean 5, squared deviations sum to 32, so sd = sqrt(32/7).
    const std::vector<double> v = {2, 4, 4, 4, 5, 5, 7, 9};
    const MeanSummary s = summarize_mean(v.data(), static_cast<long>(v.size()));
    const double sd = std::sqrt(32.0 / 7.0);
    const double half = 1.959963984540054 * sd / std::sqrt(8.0);
    CHECK(s.n == 8);
    CHECK(s.mean == Approx(5.0).epsilon(1e-15));
    CHECK(s.sd == Approx(sd).epsilon(1e-14));
    CHECK(s.ci_lower == Approx(5.0 - half).epsilon(1e-14));
    CHECK(s.ci_upper == Approx(5.0 + half).epsilon(1e-14));
  }
  SECTION("NaN values are skipped, not counted") {
    const std::vector<double> v = {nan, 2, 4, 4, nan, 4, 5, 5, 7, 9, nan};
    const MeanSummary s = summarize_mean(v.data(), static_cast<long>(v.size()));
    CHECK(s.n == 8);
    CHECK(s.mean == Approx(5.0).epsilon(1e-15));
    CHECK(s.sd == Approx(std::sqrt(32.0 / 7.0)).epsilon(1e-14));
  }
  SECTION("large offset does not cancel (two-pass variance)") {
    // MADRS-like values around 1e9 with spread 1: a one-pass sum-of-squares formula loses it.
    const std::vector<double> v = {1e9 + 1, 1e9 + 2, 1e9 + 3};
    const MeanSummary s = summarize_mean(v.data(), 3);
    CHECK(s.sd == Approx(1.0).epsilon(1e-12));
  }
  SECTION("empty, all-NaN and single-value samples") {
    const MeanSummary empty = summarize_mean(nullptr, 0);
    CHECK(empty.n == 0);
    CHECK(std::isnan(empty.mean));
    CHECK(std::isnan(empty.ci_lower));
    const std::vector<double> all_nan = {nan, nan};
    CHECK(summarize_mean(all_nan.data(), 2).n == 0);
    const double one = 3.5;
    const MeanSummary single = summarize_mean(&one, 1);
    CHECK(single.n == 1);
    CHECK(single.mean == 3.5);
    CHECK(std::isnan(single.sd));
    CHECK(std::isnan(single.ci_upper));
  }
  SECTION("invalid arguments") {
    CHECK_THROWS_AS(summarize_mean(nullptr, -1), std::invalid_argument);
    const double one = 1.0;
    CHECK_THROWS_AS(summarize_mean(&one, 1, -1.0), std::invalid_argument);
  }
}

TEST_CASE("mean_difference uses the Welch standard error", "[stats]") {
  // a: n 50, mean -12, sd 8; b: n 40, mean -7, sd 10.
  // SE = sqrt(64/50 + 100/40) = sqrt(1.28 + 2.5) = sqrt(3.78).
  const MeanSummary a = {50, -12.0, 8.0, 0.0, 0.0};
  const MeanSummary b = {40, -7.0, 10.0, 0.0, 0.0};
  const auto d = mean_difference(a, b);
  const double half = 1.959963984540054 * std::sqrt(3.78);
  CHECK(d.difference == -5.0);
  CHECK(d.ci_lower == Approx(-5.0 - half).epsilon(1e-14));
  CHECK(d.ci_upper == Approx(-5.0 + half).epsilon(1e-14));

  SECTION("no interval without an sd on both sides") {
    const MeanSummary single = {1, -3.0, std::numeric_limits<double>::quiet_NaN(), 0.0, 0.0};
    const auto e = mean_difference(a, single);
    CHECK(e.difference == -9.0);
    CHECK(std::isnan(e.ci_lower));
    CHECK(std::isnan(e.ci_upper));
  }
}

TEST_CASE("newcombe_paired_difference_interval: identities and edge cases", "[stats]") {
  // phi = 0 (here: a margin of the 2x2 table is empty, the reference never succeeds) makes the
  // paired interval the square-and-add of the same two Wilson intervals as the independent one.
  const Interval paired = newcombe_paired_difference_interval(0, 30, 0, 70);
  const Interval independent = newcombe_difference_interval(30, 100, 0, 100);
  CHECK(paired.lower == Approx(independent.lower).margin(1e-15));
  CHECK(paired.upper == Approx(independent.upper).margin(1e-15));
  // Discordant pairs only in one direction, both margins filled: positively correlated outcomes
  // (phi > 0) give a narrower interval than treating the arms as independent samples.
  const Interval correlated = newcombe_paired_difference_interval(40, 10, 0, 50);
  const Interval as_independent = newcombe_difference_interval(50, 100, 40, 100);
  CHECK(correlated.upper - correlated.lower < 0.6 * (as_independent.upper - as_independent.lower));
  CHECK(correlated.lower > 0.0);
  CHECK(correlated.lower < 0.1);
  CHECK(correlated.upper > 0.1);
  // A table with every cell filled, against the reference implementation of the formula in
  // tests/python/test_comparisons.py (written separately from Newcombe 1998b, eqs. for method 10):
  // 0.036667651823713, 0.256932823654976.
  const Interval filled = newcombe_paired_difference_interval(30, 25, 10, 35);
  CHECK(filled.lower == Approx(0.036667651823713).margin(1e-12));
  CHECK(filled.upper == Approx(0.256932823654976).margin(1e-12));
  const Interval empty = newcombe_paired_difference_interval(0, 0, 0, 0);
  CHECK(std::isnan(empty.lower));
  CHECK_THROWS_AS(newcombe_paired_difference_interval(-1, 0, 0, 1), std::invalid_argument);
  const Interval all = newcombe_paired_difference_interval(0, 10, 0, 0);
  CHECK(all.upper <= 1.0);
}

TEST_CASE("newcombe_paired_difference_interval covers the true difference about 95% of the time", "[stats]") {
  // Correlated pairs: (X, Y) with P(X=1) = 0.55, P(Y=1) = 0.40 and P(both) = 0.35 (phi ~ 0.6, as for
  // the same patients in two arms). 4000 trials of n = 150, a fixed linear congruential generator
  // so the test is deterministic. Newcombe (1998) reports coverage close to nominal for method 10;
  // the Monte Carlo SD of the coverage is sqrt(0.95 * 0.05 / 4000) = 0.0034, so [0.935, 0.965] is
  // +-4 SD. A wrong sign of the phi term gives ~0.99 here, the independent interval ~0.995.
  const double p_both = 0.35, p_first_only = 0.20, p_second_only = 0.05;
  const double truth = p_first_only - p_second_only;
  std::uint64_t state = 12345;
  auto uniform = [&state] {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<double>(state >> 11) * 0x1.0p-53;
  };
  int covered = 0, independent_covered = 0;
  const int trials = 4000;
  for (int t = 0; t < trials; ++t) {
    long cells[4] = {0, 0, 0, 0};
    for (int i = 0; i < 150; ++i) {
      const double u = uniform();
      ++cells[u < p_both ? 0 : u < p_both + p_first_only ? 1 : u < p_both + p_first_only + p_second_only ? 2 : 3];
    }
    const Interval ci = newcombe_paired_difference_interval(cells[0], cells[1], cells[2], cells[3]);
    covered += ci.lower <= truth && truth <= ci.upper;
    const Interval ind = newcombe_difference_interval(cells[0] + cells[1], 150, cells[0] + cells[2], 150);
    independent_covered += ind.lower <= truth && truth <= ind.upper;
  }
  const double coverage = static_cast<double>(covered) / trials;
  CHECK(coverage > 0.935);
  CHECK(coverage < 0.965);
  // The independent interval ignores the correlation and over-covers: the reason for the paired one.
  CHECK(static_cast<double>(independent_covered) / trials > 0.98);
}

TEST_CASE("standardized_difference is the difference over the pooled SD", "[stats]") {
  // By hand: means -25 and -18, SDs 9 and 11: pooled sqrt((81 + 121) / 2) = sqrt(101).
  const MeanSummary a{100, -25.0, 9.0, 0, 0}, b{100, -18.0, 11.0, 0, 0};
  CHECK(standardized_difference(a, b) == Approx(-7.0 / std::sqrt(101.0)).margin(1e-14));
  const MeanSummary none{1, 3.0, std::nan(""), 0, 0};
  CHECK(std::isnan(standardized_difference(a, none)));
}

TEST_CASE("ancova_difference equals R's lm(y ~ group + baseline) and confint", "[stats]") {
  // Reference from R 4.2 (Debian r-base-core), printed with %.15g:
  //   d <- data.frame(y = c(y1, y0), g = c(rep(1, 7), rep(0, 6)), b = c(b1, b0))
  //   fit <- lm(y ~ g + b, data = d); coef(fit)["g"]; sqrt(vcov(fit)["g", "g"]); confint(fit)["g", ]
  const double y1[] = {-20, -15, -22, -8, -17, -25, -12}, b1[] = {36, 30, 40, 28, 33, 41, 31};
  const double y0[] = {-10, -6, -14, -3, -9, -12}, b0[] = {35, 29, 38, 30, 34, 37};
  const AncovaDifference a = ancova_difference(y1, b1, 7, y0, b0, 6);
  // Both sides solve the same 3x3 least-squares problem in double precision: agreement to ~1e-13.
  CHECK(a.difference == Approx(-7.66159903751504).epsilon(1e-12));
  CHECK(a.se == Approx(0.928205843527599).epsilon(1e-12));
  CHECK(a.ci_lower == Approx(-9.72977054011957).epsilon(1e-12));
  CHECK(a.ci_upper == Approx(-5.5934275349105).epsilon(1e-12));
  CHECK(a.df == 10);
  // Without a baseline effect and with equal baselines the estimate is the plain mean difference;
  // a constant baseline makes the design singular: NaN, not a number from a singular solve.
  const double flat[] = {30, 30, 30, 30};
  const double ya[] = {1, 2, 3, 4}, yb[] = {0, 1, 2, 3};
  CHECK(std::isnan(ancova_difference(ya, flat, 4, yb, flat, 4).difference));
  CHECK(std::isnan(ancova_difference(ya, b1, 1, yb, b0, 2).difference));  // n < 4
}
