#include "ketasim/response/first_order.hpp"

#include <cmath>

namespace ketasim::response {

double first_order_step(double y, double decay_per_h, double gain, double u0, double u1, double h) {
  if (h <= 0.0) return y;
  const double kh = decay_per_h * h;
  if (kh < 1e-8) {  // no decay over the step: plain trapezoid, avoids 0/0
    return y + gain * 0.5 * (u0 + u1) * h;
  }
  const double e = std::exp(-kh);
  const double one_minus_e = -std::expm1(-kh);
  // integral_0^h e^{-k(h-s)} u(s) ds for u linear from u0 to u1
  const double integral = u0 * one_minus_e / decay_per_h +
                          (u1 - u0) / h * (h / decay_per_h - one_minus_e / (decay_per_h * decay_per_h));
  return y * e + gain * integral;
}

const FirstOrderFilter::Coefficients& FirstOrderFilter::set_step(int slot, double h) {
  Coefficients& c = slots_[slot];
  c.step_h = h;
  // Weights of u0 and u1 in first_order_step's integral, obtained from it by linearity.
  c.decay = first_order_step(1.0, decay_per_h_, 0.0, 0.0, 0.0, h);
  c.weight0 = first_order_step(0.0, decay_per_h_, 1.0, 1.0, 0.0, h);
  c.weight1 = first_order_step(0.0, decay_per_h_, 1.0, 0.0, 1.0, h);
  return c;
}

}  // namespace ketasim::response
