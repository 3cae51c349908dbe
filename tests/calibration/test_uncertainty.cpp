// Gauss-Newton parameter uncertainty (calibration/uncertainty.hpp) against closed forms: for a
// model linear in its (working-scale) parameters the Gauss-Newton covariance is exact,
// (A' A)^-1 with A the residuals' design matrix, so a linear problem is an independent reference
// for the finite differences, the scaling and the bound handling; a log-scale exponential model
// checks the working scale; a sum-only model checks that what the targets cannot separate is
// reported as not determined.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <vector>

#include "ketasim/calibration/uncertainty.hpp"

using namespace ketasim::calibration;

namespace {

// r_k = (a_k1 x1 + a_k2 x2 - y_k) / sigma_k: design A_k = a_k / sigma_k.
struct Linear2 {
  std::vector<double> a1, a2, y, sigma;
  std::vector<double> operator()(const std::vector<double>& x) const {
    std::vector<double> r(y.size());
    for (std::size_t k = 0; k < y.size(); ++k) r[k] = (a1[k] * x[0] + a2[k] * x[1] - y[k]) / sigma[k];
    return r;
  }
};

// The least-squares solution and (A'A)^-1 of a two-parameter problem, by the 2x2 normal equations.
struct Closed2 {
  double x1, x2, c11, c12, c22, s;  // s = residual sum of squares at the solution
};
Closed2 solve(const Linear2& m) {
  double s11 = 0, s12 = 0, s22 = 0, b1 = 0, b2 = 0;
  for (std::size_t k = 0; k < m.y.size(); ++k) {
    const double u = m.a1[k] / m.sigma[k], v = m.a2[k] / m.sigma[k], w = m.y[k] / m.sigma[k];
    s11 += u * u, s12 += u * v, s22 += v * v, b1 += u * w, b2 += v * w;
  }
  const double det = s11 * s22 - s12 * s12;
  Closed2 c{(s22 * b1 - s12 * b2) / det, (s11 * b2 - s12 * b1) / det, s22 / det, -s12 / det, s11 / det, 0.0};
  for (double r : m({c.x1, c.x2})) c.s += r * r;
  return c;
}

}  // namespace

TEST_CASE("Gauss-Newton covariance equals (A'A)^-1 for a linear model, scaled by S/(m-p) when the fit is poor",
          "[calibration][uncertainty]") {
  // Central differences of a linear function are exact up to rounding (relative 1e-9 covers it).
  Linear2 m{{1, 2, 3, 4, 5, 6}, {0.5, -1, 2, 0.3, 1, -2}, {1.2, 2.1, 3.9, 4.2, 5.1, 5.8}, {0.5, 0.5, 1, 1, 2, 2}};
  const Closed2 c = solve(m);
  const auto u = estimate_uncertainty({{"x1", false, -100, 100, c.x1}, {"x2", false, -100, 100, c.x2}}, m);
  INFO("S = " << c.s << " on 4 degrees of freedom");
  const double scale = std::max(1.0, c.s / 4.0);
  CHECK(u.scale_factor == Approx(scale).epsilon(1e-9));
  CHECK(u.objective == Approx(c.s).epsilon(1e-9));
  CHECK(u.covariance[0][0] == Approx(scale * c.c11).epsilon(1e-7));
  CHECK(u.covariance[0][1] == Approx(scale * c.c12).epsilon(1e-7));
  CHECK(u.covariance[1][1] == Approx(scale * c.c22).epsilon(1e-7));
  CHECK(u.lower95[0] == Approx(c.x1 - 1.96 * std::sqrt(scale * c.c11)).epsilon(1e-7));
  CHECK(u.upper95[1] == Approx(c.x2 + 1.96 * std::sqrt(scale * c.c22)).epsilon(1e-7));
  CHECK(u.determined[0]);
  CHECK(u.determined[1]);
  CHECK_FALSE(u.at_bound[0]);
  CHECK(u.evaluations == 5);  // one at the fit, two per parameter

  SECTION("a poor fit (large S) inflates the covariance by S/(m-p), a good one does not") {
    Linear2 noisy = m;
    noisy.y = {1, 6, 0, 9, 1, 12};
    const Closed2 cn = solve(noisy);
    REQUIRE(cn.s / 4.0 > 2.0);
    const auto un = estimate_uncertainty({{"x1", false, -100, 100, cn.x1}, {"x2", false, -100, 100, cn.x2}}, noisy);
    CHECK(un.scale_factor == Approx(cn.s / 4.0).epsilon(1e-9));
    CHECK(un.covariance[0][0] == Approx(cn.s / 4.0 * cn.c11).epsilon(1e-7));
    Linear2 exact = m;
    for (std::size_t k = 0; k < exact.y.size(); ++k) exact.y[k] = exact.a1[k] * 1.0 + exact.a2[k] * 0.5;
    const auto ue = estimate_uncertainty({{"x1", false, -100, 100, 1.0}, {"x2", false, -100, 100, 0.5}}, exact);
    CHECK(ue.scale_factor == 1.0);
    CHECK(ue.covariance[1][1] == Approx(c.c22).epsilon(1e-7));
  }
}

TEST_CASE("A parameter on its bound gets a one-sided difference and is flagged", "[calibration][uncertainty]") {
  Linear2 m{{1, 2, 3, 4}, {1, 0, 1, 0}, {1, 2, 3.5, 4}, {1, 1, 1, 1}};
  const Closed2 c = solve(m);
  // x1 at its upper bound: a central difference would step outside; a one-sided one is exact here.
  const auto u = estimate_uncertainty({{"x1", false, -10, c.x1, c.x1}, {"x2", false, -10, 10, c.x2}}, m);
  CHECK(u.at_bound[0]);
  CHECK_FALSE(u.at_bound[1]);
  const double scale = std::max(1.0, c.s / 2.0);
  CHECK(u.covariance[0][0] == Approx(scale * c.c11).epsilon(1e-7));
  CHECK(u.covariance[0][1] == Approx(scale * c.c12).epsilon(1e-7));
  // An optimiser's "on the bound" is within its tolerance of it (1e-6 of a range of 10 + x1 here).
  const double almost = c.x1 - 1e-6 * (c.x1 + 10);
  const auto v = estimate_uncertainty({{"x1", false, -10, c.x1, almost}, {"x2", false, -10, 10, c.x2}}, m);
  CHECK(v.at_bound[0]);
  const double inside = c.x1 - 1e-3 * (c.x1 + 10);
  const auto w = estimate_uncertainty({{"x1", false, -10, c.x1, inside}, {"x2", false, -10, 10, c.x2}}, m);
  CHECK_FALSE(w.at_bound[0]);
}

TEST_CASE("Log-scale parameters: intervals are ratios around the estimate", "[calibration][uncertainty]") {
  // r_k = (theta t_k - y_k) / sigma: d r / d log(theta) = theta t_k / sigma, so
  // var(log theta) = 1 / sum (theta t_k / sigma)^2 at the least-squares theta = sum t y / sum t^2.
  const std::vector<double> t{1, 2, 3, 4, 5}, y{2.1, 3.9, 6.2, 7.8, 10.1};
  const double sigma = 0.2;
  double sty = 0, stt = 0;
  for (std::size_t k = 0; k < t.size(); ++k) sty += t[k] * y[k], stt += t[k] * t[k];
  const double theta = sty / stt;
  auto residuals = [&](const std::vector<double>& v) {
    std::vector<double> r(t.size());
    for (std::size_t k = 0; k < t.size(); ++k) r[k] = (v[0] * t[k] - y[k]) / sigma;
    return r;
  };
  double s = 0;
  for (double r : residuals({theta})) s += r * r;
  const double var_log = std::max(1.0, s / 4.0) / (theta * theta * stt / (sigma * sigma));
  const auto u = estimate_uncertainty({{"theta", true, 0.01, 100, theta}}, residuals);
  // The residual is not linear in log(theta): a central difference with step h = 0.02 has relative
  // error h^2/6 ~ 7e-5 in the derivative, so 2e-4 in the variance; allow 1e-3.
  CHECK(u.covariance[0][0] == Approx(var_log).epsilon(1e-3));
  CHECK(u.estimate_working[0] == Approx(std::log(theta)).epsilon(1e-12));
  CHECK(u.lower95[0] == Approx(theta * std::exp(-1.96 * std::sqrt(var_log))).epsilon(1e-4));
  CHECK(u.upper95[0] == Approx(theta * std::exp(1.96 * std::sqrt(var_log))).epsilon(1e-4));
}

TEST_CASE("What the targets cannot separate is reported as not determined", "[calibration][uncertainty]") {
  SECTION("two parameters entering only as their sum") {
    auto residuals = [](const std::vector<double>& v) {
      return std::vector<double>{(v[0] + v[1] - 1.0) / 0.1, (2 * (v[0] + v[1]) - 2.1) / 0.1, (v[2] - 0.3) / 0.05};
    };
    const auto u = estimate_uncertainty({{"a", false, 0, 1, 0.4}, {"b", false, 0, 1, 0.62}, {"c", false, 0, 1, 0.3}},
                                        residuals);
    CHECK(std::isinf(u.se_working[0]));
    CHECK(std::isinf(u.se_working[1]));
    CHECK_FALSE(u.determined[0]);
    CHECK_FALSE(u.determined[1]);
    CHECK(u.determined[2]);
    CHECK(u.se_working[2] == Approx(0.05).epsilon(1e-7));
    CHECK(u.eigenvalues[0] < 1e-8 * u.eigenvalues[2]);
  }
  SECTION("a parameter that barely moves the targets: interval wider than its bounds") {
    auto residuals = [](const std::vector<double>& v) {
      return std::vector<double>{(0.001 * v[0] + v[1] - 1.0) / 0.1, (v[1] - 1.02) / 0.1};
    };
    const auto u = estimate_uncertainty({{"weak", false, 0, 10, 5.0}, {"strong", false, 0, 2, 0.99}}, residuals);
    CHECK(std::isfinite(u.se_working[0]));
    CHECK_FALSE(u.determined[0]);
    CHECK(u.determined[1]);
  }
}
