// NCA on sampled curves. The log-down rule integrates a declining exponential exactly: 1e-12
// relative (rounding only); the linear rule on the same curve is off by ~(k dt)^2/12 = 2e-3 here,
// so the test tells the two apart.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <utility>
#include <vector>

#include "ketasim/pk/nca.hpp"

using namespace ketasim::pk;

TEST_CASE("Log-down AUC is exact for an exponential", "[pk][nca]") {
  const double c0 = 100.0, k = 0.3;
  std::vector<double> t, c;
  for (int i = 0; i <= 24; ++i) {
    t.push_back(i * 0.5);
    c.push_back(c0 * std::exp(-k * t.back()));
  }
  const double exact = c0 / k * (1.0 - std::exp(-k * 12.0));
  CHECK(auc_linear_up_log_down(t.data(), c.data(), 25) == Approx(exact).epsilon(1e-12));
  // A rise is integrated linearly: a straight line is exact.
  const double tl[3] = {0, 1, 3}, cl[3] = {0, 2, 6};
  CHECK(auc_linear_up_log_down(tl, cl, 3) == Approx(9.0).epsilon(1e-15));
}

TEST_CASE("A log-down step equals the exact integral of the exponential through its two samples", "[pk][nca]") {
  // One declining step (dt, c0 > c1) against the exponential's integral dt (c0 - c1) / ln(c0 / c1),
  // evaluated in long double (64-bit significand) as (c0 - c1) / log1p((c0 - c1) / c1): c0 - c1 is
  // exact there and log1p keeps full relative precision as c1 nears c0, where ln(c0 / c1) in double
  // loses ~1e-16 / u relative (u = (c0 - c1) / (c0 + c1)). Drops from 1e-10 to 0.9 of c0 cover both
  // branches of the rule (series for u <= 1/8, log beyond) and their boundary. Tolerance 8 eps:
  // the series branch rounds at most ~3 times (u, the polynomial, the products), the log branch
  // ~5 (the ratio, whose eps/2 becomes eps/2 / ln(c0 / c1) <= 2 eps since ln(9/7) > 1/4, the log,
  // the division and product).
  const double eps = std::numeric_limits<double>::epsilon();
  int steps = 0;
  for (double drop = 1e-10; drop < 0.9; drop *= 1.07) {
    for (double dt : {1.0 / 12.0, 1.0, 7.0}) {
      const double c0 = 37.25, c1 = c0 * (1.0 - drop);
      const double t[2] = {0.0, dt}, c[2] = {c0, c1};
      const long double d = static_cast<long double>(c0) - c1;
      const long double exact = dt * d / std::log1p(d / c1);
      const double got = auc_linear_up_log_down(t, c, 2);
      INFO("drop " << drop << " dt " << dt);
      CHECK(std::abs(got - static_cast<double>(exact)) <= 8 * eps * static_cast<double>(exact));
      ++steps;
    }
  }
  CHECK(steps > 300);
}

TEST_CASE("The AUC of a long curve is its steps' terms added in order, bit for bit", "[pk][nca]") {
  // Long curves take the two-steps-per-operation path in blocks of 256; a curve of two samples
  // takes the one-step path checked against long double above. Summing single steps in order must
  // give the long curve's AUC bit for bit: rises, small drops (series), large drops (log form), a
  // repeated time, zeros, a NaN sample, odd and even lengths, across the block boundaries.
  std::vector<double> t{0.0}, c{0.0};
  for (int i = 1; i < 700; ++i) {
    t.push_back(i % 97 == 0 ? t.back() : t.back() + (i % 3 == 0 ? 1.0 : 5.0 / 60.0));
    const double drop = (i % 11 == 0) ? 0.6 : (i % 5 == 0 ? -0.3 : 0.01 * (i % 13));  // < 0: a rise
    c.push_back(i == 300 || i == 301 ? 0.0 : (c.back() > 0.0 ? c.back() : 50.0) * (1.0 - drop));
  }
  for (const int n : {699, 700, 257, 258, 3}) {
    INFO("n " << n);
    double in_order = 0.0;
    for (int i = 1; i < n; ++i) in_order += auc_linear_up_log_down(&t[i - 1], &c[i - 1], 2);
    CHECK(auc_linear_up_log_down(t.data(), c.data(), n) == in_order);
  }
  c[400] = std::numeric_limits<double>::quiet_NaN();
  CHECK(std::isnan(auc_linear_up_log_down(t.data(), c.data(), 700)));
  CHECK_FALSE(std::isnan(auc_linear_up_log_down(t.data(), c.data(), 400)));
}

TEST_CASE("Every width of the step terms gives the same AUC bits", "[pk][nca]") {
  // The terms are computed four (AVX2), two (SSE2) or one at a time; the CPU decides which the
  // engine takes, so each must equal the one-step-at-a-time rule bit for bit. The curve has every
  // kind of step (rises, series and log-form drops, repeated times, zeros), and the lengths leave
  // 0-3 steps for the scalar tail after the vector loop.
  std::vector<double> t{0.0}, c{0.0};
  for (int i = 1; i < 600; ++i) {
    t.push_back(i % 89 == 0 ? t.back() : t.back() + (i % 4 == 0 ? 1.0 : 5.0 / 60.0));
    const double drop = (i % 7 == 0) ? 0.45 : (i % 6 == 0 ? -0.2 : 0.013 * (i % 10));
    c.push_back(i == 200 ? 0.0 : (c.back() > 0.0 ? c.back() : 80.0) * (1.0 - drop));
  }
  // Short windows, not only the whole curve: a term one ulp off is far below the ulp of a long
  // sum and would vanish in it (a planted change of the product's association did, over 600 steps).
  int windows = 0;
  for (std::size_t first = 0; first + 9 <= t.size(); ++first) {
    for (const int n : {2, 3, 5, 6, 9}) {
      INFO("samples " << first << " + " << n);
      const double one_at_a_time = auc_linear_up_log_down_width(&t[first], &c[first], n, 1);
      const double two = auc_linear_up_log_down_width(&t[first], &c[first], n, 2);
      const double four = auc_linear_up_log_down_width(&t[first], &c[first], n, 4);
      CHECK(std::memcmp(&two, &one_at_a_time, sizeof two) == 0);
      CHECK(std::memcmp(&four, &one_at_a_time, sizeof four) == 0);
      ++windows;
    }
  }
  CHECK(windows > 2900);
  for (const int n : {600, 599, 598, 597, 258}) {
    INFO("n " << n);
    const double one_at_a_time = auc_linear_up_log_down_width(t.data(), c.data(), n, 1);
    CHECK(auc_linear_up_log_down_width(t.data(), c.data(), n, 2) == one_at_a_time);
    CHECK(auc_linear_up_log_down_width(t.data(), c.data(), n, 4) == one_at_a_time);
    CHECK(auc_linear_up_log_down(t.data(), c.data(), n) == one_at_a_time);
  }
}

TEST_CASE("Cmax/Tmax, trough, AUC(0-24) and half-life of a mono-exponential interval", "[pk][nca]") {
  // Linear rise to 50 ng/mL at 1 h after a dose at t = 10 h, then decay with t1/2 = 4 h, to t = 58 h.
  const double half_life = 4.0, k = std::log(2.0) / half_life;
  std::vector<double> t, c;
  for (int i = 0; i <= 48 * 4; ++i) {
    const double s = i * 0.25;
    t.push_back(10.0 + s);
    c.push_back(s <= 1.0 ? 50.0 * s : 50.0 * std::exp(-k * (s - 1.0)));
  }
  const NcaResult r = nca_interval(t.data(), c.data(), static_cast<int>(t.size()), 10.0, 58.0);
  CHECK(r.cmax_ng_per_ml == 50.0);
  CHECK(r.tmax_h == 1.0);
  CHECK(r.trough_ng_per_ml == Approx(50.0 * std::exp(-k * 47.0)).epsilon(1e-12));
  CHECK(r.half_life_h == Approx(half_life).epsilon(1e-9));
  const double auc24 = 25.0 + 50.0 / k * (1.0 - std::exp(-k * 23.0));
  CHECK(r.auc_0_24_h_ng_per_ml == Approx(auc24).epsilon(1e-12));
  const double auc_tau = 25.0 + 50.0 / k * (1.0 - std::exp(-k * 47.0));
  CHECK(r.auc_interval_h_ng_per_ml == Approx(auc_tau).epsilon(1e-12));
}

TEST_CASE("Cmax is the first sample of the largest value, and NaN samples never win", "[pk][nca]") {
  // Ties: the first. A NaN later in the interval is skipped; a NaN first sample is reported as
  // Cmax at the interval's start (the comparisons all fail), as the scalar scan always did.
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double t[7] = {0, 1, 2, 3, 4, 5, 6};
  const double tie[7] = {1, 5, 2, 5, 3, 1, 0.5};
  CHECK(nca_exposure(t, tie, 7, 0.0, 6.0).tmax_h == 1.0);
  const double later_nan[7] = {1, 2, nan, 7, 3, 7, 0.5};
  const NcaResult r = nca_exposure(t, later_nan, 7, 0.0, 6.0);
  CHECK(r.cmax_ng_per_ml == 7.0);
  CHECK(r.tmax_h == 3.0);
  const double first_nan[7] = {nan, 2, 4, 7, 3, 1, 0.5};
  const NcaResult f = nca_exposure(t, first_nan, 7, 0.0, 6.0);
  CHECK(std::isnan(f.cmax_ng_per_ml));
  CHECK(f.tmax_h == 0.0);
  for (int n : {2, 3, 4, 5, 6, 7}) {  // odd and even lengths: the peak in the last, unpaired sample
    std::vector<double> rising(t, t + n);
    INFO("n " << n);
    CHECK(nca_exposure(t, rising.data(), n, 0.0, n - 1.0).tmax_h == n - 1.0);
  }
}

TEST_CASE("Half-life is NaN when no terminal phase can be fitted", "[pk][nca]") {
  const double t[3] = {0, 1, 2}, c[3] = {0, 5, 10};
  CHECK(std::isnan(nca_interval(t, c, 3, 0.0, 2.0).half_life_h));
}

TEST_CASE("nca_interval's AUCs are bit for bit the AUC rule on the interval's samples", "[pk][nca]") {
  // nca_interval takes AUC(0-24) as a partial sum of the interval's AUC; it must equal applying
  // auc_linear_up_log_down to the first 24 h alone, exactly. Irregular samples (a repeated time,
  // a zero, rises and falls), intervals shorter and longer than 24 h, starts between samples.
  std::vector<double> t, c;
  for (int i = 0; i <= 400; ++i) {
    t.push_back(i < 100 ? i * (5.0 / 60.0) : 8.25 + (i - 100) * 0.37);
    c.push_back(i == 50 ? 0.0 : 40.0 * std::exp(-0.05 * t.back()) * (1.2 + std::sin(0.3 * i)));
  }
  t[200] = t[199];  // a zero-length step
  const int n = static_cast<int>(t.size());
  for (const auto& [start, end] : std::vector<std::pair<double, double>>{
           {0.0, 120.0}, {0.0, 20.0}, {3.0, 30.0}, {8.25, 24.0}, {7.9, 32.2}, {8.25, 9.0}, {0.0, 24.0}}) {
    INFO("interval " << start << " to " << end);
    const NcaResult r = nca_interval(t.data(), c.data(), n, start, end);
    const int first = static_cast<int>(std::lower_bound(t.begin(), t.end(), start - 1e-9) - t.begin());
    const int last = static_cast<int>(std::upper_bound(t.begin(), t.end(), end + 1e-9) - t.begin());
    const int last24 = static_cast<int>(std::upper_bound(t.begin(), t.end(), std::min(end, start + 24.0) + 1e-9) - t.begin());
    REQUIRE(last - first >= 2);
    CHECK(r.auc_interval_h_ng_per_ml == auc_linear_up_log_down(&t[first], &c[first], last - first));
    CHECK(r.auc_0_24_h_ng_per_ml == auc_linear_up_log_down(&t[first], &c[first], last24 - first));
    // What the trial engine takes per dose: the same Cmax, Tmax, trough and AUC, bit for bit,
    // and against an independent scan for the largest sample (first of equals).
    const NcaResult e = nca_exposure(t.data(), c.data(), n, start, end);
    CHECK(e.cmax_ng_per_ml == r.cmax_ng_per_ml);
    CHECK(e.tmax_h == r.tmax_h);
    CHECK(e.trough_ng_per_ml == r.trough_ng_per_ml);
    CHECK(e.auc_interval_h_ng_per_ml == r.auc_interval_h_ng_per_ml);
    const auto largest = std::max_element(c.begin() + first, c.begin() + last);
    CHECK(r.cmax_ng_per_ml == *largest);
    CHECK(r.tmax_h == t[static_cast<std::size_t>(largest - c.begin())] - start);
  }
}

TEST_CASE("nca_exposures gives each interval's nca_exposure bit for bit", "[pk][nca]") {
  // The engine's one-pass NCA over all doses against nca_exposure per interval (the reference it
  // must equal): 1-9 intervals (the sums go four at a time, then the rest), intervals of unequal
  // length, an empty and a one-sample interval, one reaching past the curve, tied maxima, -0 and
  // +0, NaN samples (a NaN first sample of an interval included), rises, series and log drops.
  std::vector<double> t, c;
  for (int i = 0; i < 400; ++i) {
    t.push_back(i < 60 ? i / 12.0 : 5.0 + (i - 60));
    const int phase = i % 57;
    c.push_back(phase < 3 ? 10.0 * phase : 30.0 * std::exp(-0.15 * (phase - 3)));
  }
  c[120] = c[119];                                    // a tie for nothing in particular
  c[171] = 30.0;                                      // ties the interval's peak, later
  c[200] = -0.0;
  c[201] = 0.0;
  c[250] = std::numeric_limits<double>::quiet_NaN();  // inside an interval
  c[300] = std::numeric_limits<double>::quiet_NaN();  // first sample of an interval (t = 245 h)
  std::vector<double> all_bounds = {0.0, 1.0, 1.0, 2.0 + 1.0 / 12.0, 20.0, 20.5, 77.0, 140.0, 245.0, 300.0, 400.0};
  NcaScratch scratch;
  for (int n_intervals = 1; n_intervals <= 10; ++n_intervals) {
    std::vector<NcaResult> got(n_intervals);
    nca_exposures(t.data(), c.data(), static_cast<int>(t.size()), all_bounds.data(), n_intervals, scratch, got.data());
    for (int k = 0; k < n_intervals; ++k) {
      INFO(n_intervals << " intervals, interval " << k << " [" << all_bounds[k] << ", " << all_bounds[k + 1] << "]");
      const NcaResult want =
          nca_exposure(t.data(), c.data(), static_cast<int>(t.size()), all_bounds[k], all_bounds[k + 1]);
      CHECK(std::memcmp(&got[k].cmax_ng_per_ml, &want.cmax_ng_per_ml, sizeof(double)) == 0);
      CHECK(std::memcmp(&got[k].tmax_h, &want.tmax_h, sizeof(double)) == 0);
      CHECK(std::memcmp(&got[k].trough_ng_per_ml, &want.trough_ng_per_ml, sizeof(double)) == 0);
      const bool both_nan = std::isnan(got[k].auc_interval_h_ng_per_ml) && std::isnan(want.auc_interval_h_ng_per_ml);
      CHECK((both_nan || std::memcmp(&got[k].auc_interval_h_ng_per_ml, &want.auc_interval_h_ng_per_ml, sizeof(double)) == 0));
      CHECK(std::isnan(got[k].half_life_h));
    }
  }
}

TEST_CASE("Cmax is the first sample equal to the largest, whatever the interval's length", "[pk][nca]") {
  // nca_exposure's two-pass search against the one-pass rule written out here: the first sample
  // greater than every earlier one (NaN never greater; a NaN first sample stays the answer).
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> level(0, 5);
  for (int n = 2; n <= 12; ++n) {
    for (int trial = 0; trial < 200; ++trial) {
      std::vector<double> t(n), c(n);
      for (int i = 0; i < n; ++i) {
        t[i] = i;
        const int v = level(rng);
        c[i] = v == 5 ? std::numeric_limits<double>::quiet_NaN() : v == 0 ? (i % 2 ? -0.0 : 0.0) : v;
      }
      int expected = 0;
      double best = c[0];
      for (int i = 1; i < n; ++i) {
        if (c[i] > best) {
          best = c[i];
          expected = i;
        }
      }
      const NcaResult r = nca_exposure(t.data(), c.data(), n, 0.0, n - 1.0);
      INFO("n " << n << " trial " << trial);
      CHECK(r.tmax_h == expected);
    }
  }
}
