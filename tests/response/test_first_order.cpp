// Unit tests of src/response/first_order.cpp: the exponential integrator against closed forms.
#include "ketasim/response/first_order.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

using ketasim::response::first_order_step;

namespace {

// Closed form of y' = gain u(t) - k y with u(t) = u0 + b t, b = (u1 - u0)/h, derived independently
// of the implementation: particular solution y_p(t) = gain (u0/k + b t/k - b/k^2), plus the
// homogeneous part (y0 - y_p(0)) e^{-k t}.
double closed_form_linear(double y0, double k, double gain, double u0, double u1, double h) {
  const double b = (u1 - u0) / h;
  auto yp = [&](double t) { return gain * (u0 / k + b * t / k - b / (k * k)); };
  return yp(h) + (y0 - yp(0.0)) * std::exp(-k * h);
}

}  // namespace

TEST_CASE("first_order_step is exact for a constant input", "[response]") {
  // y' = gain u - k y, u constant: y(h) = y0 e^{-kh} + gain u (1 - e^{-kh}) / k.
  for (double k : {0.012, 0.3, 5.0}) {
    for (double h : {0.05, 1.0, 48.0}) {
      const double y0 = 0.7, gain = 1.3, u = 0.4;
      const double expected = y0 * std::exp(-k * h) + gain * u * (1.0 - std::exp(-k * h)) / k;
      CHECK(first_order_step(y0, k, gain, u, u, h) == Approx(expected).epsilon(1e-12));
    }
  }
  // Steady state: starting at gain u / k, the state does not move.
  CHECK(first_order_step(2.0, 0.5, 1.0, 1.0, 1.0, 10.0) == Approx(2.0).epsilon(1e-14));
}

TEST_CASE("first_order_step is exact for a linearly varying input", "[response]") {
  for (double k : {0.012, 0.3, 5.0}) {
    for (double h : {0.05, 1.0, 48.0}) {
      const double y0 = 0.2, gain = 0.8, u0 = 0.9, u1 = 0.1;
      CHECK(first_order_step(y0, k, gain, u0, u1, h) == Approx(closed_form_linear(y0, k, gain, u0, u1, h)).epsilon(1e-9));
      CHECK(first_order_step(y0, k, gain, u1, u0, h) == Approx(closed_form_linear(y0, k, gain, u1, u0, h)).epsilon(1e-9));
    }
  }
  // Composition: two half steps of a linear input equal one full step (the integrator is exact).
  const double k = 0.2, gain = 1.0, u0 = 0.0, u1 = 1.0, h = 6.0;
  const double half = first_order_step(0.5, k, gain, u0, 0.5 * (u0 + u1), h / 2);
  CHECK(first_order_step(half, k, gain, 0.5 * (u0 + u1), u1, h / 2) ==
        Approx(first_order_step(0.5, k, gain, u0, u1, h)).epsilon(1e-12));
}

TEST_CASE("first_order_step tends to the trapezoid as k -> 0 and ignores empty steps", "[response]") {
  const double y0 = 1.5, gain = 2.0, u0 = 0.3, u1 = 0.9, h = 3.0;
  const double trapezoid = y0 + gain * 0.5 * (u0 + u1) * h;
  CHECK(first_order_step(y0, 0.0, gain, u0, u1, h) == Approx(trapezoid).epsilon(1e-15));
  CHECK(first_order_step(y0, 1e-12, gain, u0, u1, h) == Approx(trapezoid).epsilon(1e-10));
  // Either side of the switch to the trapezoid (k h = 1e-8) the results agree to O(k h).
  const double below = first_order_step(y0, 0.9e-8 / h, gain, u0, u1, h);
  const double above = first_order_step(y0, 1.1e-8 / h, gain, u0, u1, h);
  CHECK(above == Approx(below).epsilon(1e-7));
  // Small but not tiny k: the exact form stays accurate (no cancellation blow-up).
  CHECK(first_order_step(y0, 1e-5, gain, u0, u1, h) ==
        Approx(closed_form_linear(y0, 1e-5, gain, u0, u1, h)).epsilon(1e-7));
  CHECK(first_order_step(y0, 0.3, gain, u0, u1, 0.0) == y0);
  CHECK(first_order_step(y0, 0.3, gain, u0, u1, -1.0) == y0);
}


TEST_CASE("FirstOrderFilter's per-step-length cache gives the coefficients computed afresh, bit for bit", "[response]") {
  // The reference computes the coefficients from first_order_step at every step, as the filter
  // did before it cached them per step length. Step lengths as the engine's grid produces them
  // (1 h, and 5-minute steps differing in the last bits, alternating), then more distinct lengths
  // than the cache holds, revisited, so that slots are reused round robin.
  const double k = 0.00837856, gain = 1.0;
  auto reference = [&](double y, double u0, double u1, double h) {
    if (h <= 0.0) return y;
    const double decay = first_order_step(1.0, k, 0.0, 0.0, 0.0, h);
    const double w0 = first_order_step(0.0, k, 1.0, 1.0, 0.0, h);
    const double w1 = first_order_step(0.0, k, 1.0, 0.0, 1.0, h);
    return y * decay + gain * (u0 * w0 + u1 * w1);
  };
  std::vector<double> steps;
  for (int rep = 0; rep < 3; ++rep) {
    for (double s : {0.0, 336.0, 672.0, 1008.0}) {
      for (int i = 1; i <= 12; ++i) steps.push_back((s + i * (5.0 / 60.0)) - (s + (i - 1) * (5.0 / 60.0)));
      steps.push_back(1.0);
      steps.push_back(0.0);
    }
    for (int i = 0; i < 70; ++i) steps.push_back(0.01 * (1 + (i * 37) % 70));  // 70 lengths > the cache
  }
  ketasim::response::FirstOrderFilter filter(k, gain);
  double y = 0.0, y_ref = 0.0;
  for (std::size_t i = 0; i < steps.size(); ++i) {
    const double u0 = 0.5 + 0.4 * std::sin(0.1 * i), u1 = 0.5 + 0.4 * std::sin(0.1 * (i + 1));
    const double y_before = y;
    y = filter.step(y, u0, u1, steps[i]);
    y_ref = reference(y_ref, u0, u1, steps[i]);
    INFO("step " << i << " h " << steps[i]);
    REQUIRE(y == y_ref);  // bitwise: same coefficients, same arithmetic
    // and the integrator itself to rounding (the weights come from it by linearity)
    CHECK(y == Approx(first_order_step(y_before, k, gain, u0, u1, steps[i])).epsilon(1e-12));
  }
}
