// matrix_exp against closed forms and against Eigen's MatrixBase::exp (an independent
// implementation of the same algorithm). Tolerances:
//  - Scaling and squaring with these Pade degrees has backward error <= u = 2^-53 in the argument
//    (Higham 2005, Table 2.3), so the forward error is about cond x u: for exp(x), |x| u relative,
//    plus one rounding per squaring (2^s of them compound). 2e-14 relative covers |x| <= 50
//    (50 u = 5.6e-15, 2^4 squarings x 2u = 3.6e-15) with a factor ~2 to spare; a wrong
//    coefficient or threshold gives errors of 1e-10 and more.
//  - Against Eigen: both are within ~1e-15 x ||A|| e^||A|| of the truth, so they agree to 1e-13 of
//    ||e^A|| (Frobenius) for the norms tested (<= 40); they differ only in the order of additions.
#include <catch2/catch.hpp>

#include <unsupported/Eigen/MatrixFunctions>

#include <cmath>
#include <limits>
#include <memory>
#include <random>
#include <vector>

#include "ketasim/pk/matrix_exp.hpp"

using namespace ketasim::pk;

namespace {

std::vector<double> exp_of(const std::vector<double>& a, int m) {
  auto ws = std::make_unique<MatrixExpWorkspace>();  // ~70 kB: not on the test's stack
  std::vector<double> out(static_cast<std::size_t>(m) * m);
  matrix_exp(a.data(), m, out.data(), *ws);
  return out;
}

}  // namespace

TEST_CASE("matrix_exp of a 1x1 matrix is exp() in every Pade branch and with squarings", "[matrix_exp]") {
  // Norms below theta_3, theta_5, theta_7, theta_9, theta_13, and far above it (4 squarings).
  for (double x : {0.0, 0.01, -0.2, 0.9, -2.0, 5.0, -12.0, 30.0, -50.0}) {
    const double got = exp_of({x}, 1)[0];
    INFO("x = " << x);
    REQUIRE(std::abs(got - std::exp(x)) <= 2e-14 * std::exp(x));
  }
}

TEST_CASE("matrix_exp of a rotation generator is the rotation", "[matrix_exp]") {
  for (double theta : {0.005, 0.1, 1.0, 3.0, 10.0, 40.0}) {
    // [[0, -theta], [theta, 0]] column-major: e^A = [[cos, -sin], [sin, cos]].
    const auto e = exp_of({0.0, theta, -theta, 0.0}, 2);
    INFO("theta = " << theta);
    const double tol = 2e-14 * std::max(1.0, theta);  // |x| u, as for the scalar case
    REQUIRE(std::abs(e[0] - std::cos(theta)) <= tol);
    REQUIRE(std::abs(e[1] - std::sin(theta)) <= tol);
    REQUIRE(std::abs(e[2] + std::sin(theta)) <= tol);
    REQUIRE(std::abs(e[3] - std::cos(theta)) <= tol);
  }
}

TEST_CASE("matrix_exp of a two-compartment system matches Sylvester's formula and keeps mass", "[matrix_exp]") {
  // Central <-> peripheral with elimination to a sink: K (column j = flows out of j), h in hours.
  const double k10 = 0.4, k12 = 1.5, k21 = 0.3;
  for (double h : {1.0 / 12.0, 1.0, 24.0}) {
    // The 2x2 block: [[-(k10 + k12), k21], [k12, -k21]] h with eigenvalues l1, l2 (real, distinct):
    // e^A = (e^l1 (A - l2 I) - e^l2 (A - l1 I)) / (l1 - l2).
    const double a11 = -(k10 + k12) * h, a12 = k21 * h, a21 = k12 * h, a22 = -k21 * h;
    const double tr = a11 + a22, det = a11 * a22 - a12 * a21;
    const double disc = std::sqrt(tr * tr / 4 - det);
    const double l1 = tr / 2 + disc, l2 = tr / 2 - disc;
    auto sylvester = [&](double aij, bool diagonal) {
      return (std::exp(l1) * (aij - (diagonal ? l2 : 0.0)) - std::exp(l2) * (aij - (diagonal ? l1 : 0.0))) / (l1 - l2);
    };
    // Three states (central, peripheral, sink), column-major.
    const std::vector<double> a = {a11, a21, k10 * h, a12, a22, 0.0, 0.0, 0.0, 0.0};
    const auto e = exp_of(a, 3);
    INFO("h = " << h);
    // Relative to each entry's own scale (the largest is 1): |A| u with |A| <= 50.
    REQUIRE(std::abs(e[0] - sylvester(a11, true)) <= 2e-14);
    REQUIRE(std::abs(e[1] - sylvester(a21, false)) <= 2e-14);
    REQUIRE(std::abs(e[3] - sylvester(a12, false)) <= 2e-14);
    REQUIRE(std::abs(e[4] - sylvester(a22, true)) <= 2e-14);
    // Mass balance: every column of a closed system's propagator sums to 1; the sink keeps its own.
    for (int j = 0; j < 3; ++j) REQUIRE(std::abs(e[j * 3] + e[j * 3 + 1] + e[j * 3 + 2] - 1.0) <= 1e-14);
    REQUIRE(e[8] == 1.0);
  }
}

TEST_CASE("matrix_exp of Van Loan's augmented matrix gives the infusion integral", "[matrix_exp]") {
  // exp([[-k h, h], [0, 0]]) = [[e^{-kh}, (1 - e^{-kh}) / k], [0, 1]]: the amount after h hours of a
  // unit-rate infusion into a one-compartment model.
  for (double kh : {0.003, 0.1, 0.7, 1.5, 6.0, 45.0}) {
    const double h = 2.0, k = kh / h;
    const auto e = exp_of({-kh, 0.0, h, 0.0}, 2);
    INFO("k h = " << kh);
    REQUIRE(std::abs(e[0] - std::exp(-kh)) <= 2e-14);
    REQUIRE(std::abs(e[2] - -std::expm1(-kh) / k) <= 2e-14 * h);
    REQUIRE(e[1] == 0.0);
    REQUIRE(e[3] == 1.0);
  }
}

TEST_CASE("matrix_exp of a nilpotent matrix is its finite series", "[matrix_exp]") {
  // Strictly upper triangular N (column-major): e^N = I + N + N^2 / 2 exactly in real arithmetic.
  const double p = 0.7, q = -1.3, r = 2.1;  // N(0,1) = p, N(1,2) = q, N(0,2) = r
  const auto e = exp_of({0, 0, 0, p, 0, 0, r, q, 0}, 3);
  const double expected[] = {1, 0, 0, p, 1, 0, r + p * q / 2, q, 1};
  for (int k = 0; k < 9; ++k) REQUIRE(std::abs(e[k] - expected[k]) <= 1e-15 * 4);
}

TEST_CASE("matrix_exp agrees with Eigen's exp at every size and norm range", "[matrix_exp]") {
  std::mt19937_64 rng(20261203);
  std::normal_distribution<double> normal;
  // Sizes 1-17 take the compile-time kernels, 18-32 the run-time one.
  for (int m : {1, 2, 3, 4, 5, 8, 9, 10, 13, 17, 18, 20, 32}) {
    for (double norm : {0.01, 0.2, 0.9, 2.0, 8.0, 40.0}) {
      Eigen::MatrixXd a(m, m);
      for (int j = 0; j < m; ++j) {
        for (int i = 0; i < m; ++i) a(i, j) = normal(rng);
      }
      a *= norm / a.cwiseAbs().colwise().sum().maxCoeff();  // 1-norm = norm: picks the branch
      const Eigen::MatrixXd reference = a.exp();
      const auto got = exp_of(std::vector<double>(a.data(), a.data() + m * m), m);
      const Eigen::Map<const Eigen::MatrixXd> mine(got.data(), m, m);
      INFO("m = " << m << ", 1-norm = " << norm);
      REQUIRE((mine - reference).norm() <= 1e-13 * reference.norm());
    }
  }
}

TEST_CASE("matrix_exp of a matrix holding NaN or infinity is not finite", "[matrix_exp]") {
  for (double bad : {std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity()}) {
    const auto e = exp_of({-1.0, 0.5, bad, -2.0}, 2);
    bool any_non_finite = false;
    for (double v : e) any_non_finite |= !std::isfinite(v);
    REQUIRE(any_non_finite);
  }
}
