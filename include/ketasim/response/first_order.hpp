#pragma once
// The exponential integrator of a first-order linear filter y' = gain u(t) - decay y, exact when
// the input u varies linearly across a step. Response structures use it for every state they
// carry (effect site, benefit states), so they need no ODE solver and no step-size control.

#include <cstdint>
#include <cstring>

namespace ketasim::response {

// One step of length h with u going linearly from u0 to u1.
double first_order_step(double y, double decay_per_h, double gain, double u0, double u1, double h);

// The same update with its coefficients cached per step length: the grid repeats a few step
// lengths (the output step, and 5 minutes near doses written as s + k/12 h, whose differences take
// a dozen values that differ in the last bits and alternate from step to step), so exp() runs a
// handful of times per patient instead of once per grid point. Each step length's coefficients
// are computed once from first_order_step by linearity (again only when two lengths share a slot):
// the result is bit for bit what computing them afresh at every step gives, whatever order the
// step lengths come in, and agrees with first_order_step itself to rounding.
class FirstOrderFilter {
 public:
  FirstOrderFilter(double decay_per_h, double gain) : decay_per_h_(decay_per_h), gain_(gain) {}
  double step(double y, double u0, double u1, double h) {
    if (h <= 0.0) return y;
    const Coefficients& c = coefficients(h);
    return y * c.decay + gain_ * (u0 * c.weight0 + u1 * c.weight1);
  }
  // The factor of y in a step of length h (1 for h <= 0). For an input that is 0 at both ends,
  // step(y, 0, 0, h) is y * decay(h) bit for bit: its input term, gain * (0 * w0 + 0 * w1), is +0.
  double decay(double h) { return h <= 0.0 ? 1.0 : coefficients(h).decay; }

 private:
  struct Coefficients {
    double step_h = -1.0, decay = 1.0, weight0 = 0.0, weight1 = 0.0;
  };
  // Direct-mapped on the bits of h: a step length always lands in the same slot, so a lookup is
  // one comparison (a linear search over a dozen alternating lengths cost more than the step). A
  // collision only means recomputing the same coefficients.
  static constexpr int kSlots = 64;
  static int slot_of(double h) {
    std::uint64_t bits;
    std::memcpy(&bits, &h, sizeof bits);
    return static_cast<int>((bits * 0x9E3779B97F4A7C15ull) >> 58);  // top 6 bits: 0-63
  }
  const Coefficients& coefficients(double h) {
    const int slot = slot_of(h);
    if (slots_[slot].step_h == h) return slots_[slot];
    return set_step(slot, h);
  }
  // Computes h's coefficients into its slot.
  const Coefficients& set_step(int slot, double h);
  double decay_per_h_, gain_;
  Coefficients slots_[kSlots];
};

}  // namespace ketasim::response
