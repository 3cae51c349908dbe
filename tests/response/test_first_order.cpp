// Unit tests of src/response/first_order.cpp: the exponential integrator against closed forms.
#include "ketasim/response/first_order.hpp"

#include <catch2/catch.hpp>

#include <cmath>

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

