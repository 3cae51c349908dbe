#pragma once
// The exponential integrator of a first-order linear filter y' = gain u(t) - decay y, exact when
// the input u varies linearly across a step. Response structures use it for every state they
// carry (effect site, benefit states), so they need no ODE solver and no step-size control.

namespace ketasim::response {

// One step of length h with u going linearly from u0 to u1.
double first_order_step(double y, double decay_per_h, double gain, double u0, double u1, double h);

// The same update with its coefficients cached per step length: the grid repeats a few step
// lengths (the output step, and 5 minutes near doses written as s + k/12 h, whose differences take
// a dozen values that differ in the last bits and alternate from step to step), so exp() runs a
// handful of times per patient instead of once per grid point. Each step length keeps its own
// coefficients, computed once from first_order_step by linearity: the result is bit for bit what
// computing them afresh at every step gives, whatever order the step lengths come in (and agrees
// with first_order_step itself to rounding).
class FirstOrderFilter {
 public:
  FirstOrderFilter(double decay_per_h, double gain) : decay_per_h_(decay_per_h), gain_(gain) {}
  double step(double y, double u0, double u1, double h) {
    if (h <= 0.0) return y;
    const Coefficients& c = coefficients(h);
    return y * c.decay + gain_ * (u0 * c.weight0 + u1 * c.weight1);
  }

 private:
  struct Coefficients {
    double step_h = -1.0, decay = 1.0, weight0 = 0.0, weight1 = 0.0;
  };
  static constexpr int kSlots = 32;
  const Coefficients& coefficients(double h) {
    if (slots_[last_].step_h == h) return slots_[last_];
    for (int i = 0; i < used_; ++i) {
      if (slots_[i].step_h == h) return slots_[last_ = i];
    }
    return set_step(h);
  }
  // Computes h's coefficients into a free slot (round robin once all are used).
  const Coefficients& set_step(double h);
  double decay_per_h_, gain_;
  Coefficients slots_[kSlots];
  int used_ = 0, next_ = 0, last_ = 0;
};

}  // namespace ketasim::response
