#pragma once
// The exponential integrator of a first-order linear filter y' = gain u(t) - decay y, exact when
// the input u varies linearly across a step. Response structures use it for every state they
// carry (effect site, benefit states), so they need no ODE solver and no step-size control.

namespace ketasim::response {

// One step of length h with u going linearly from u0 to u1.
double first_order_step(double y, double decay_per_h, double gain, double u0, double u1, double h);

// The same update with its coefficients cached for the last step length: the grid repeats a few
// step lengths (5 min near doses, the output step elsewhere), so exp() runs a handful of times per
// patient instead of once per grid point. Gives exactly first_order_step's result.
class FirstOrderFilter {
 public:
  FirstOrderFilter(double decay_per_h, double gain) : decay_per_h_(decay_per_h), gain_(gain) {}
  double step(double y, double u0, double u1, double h) {
    if (h <= 0.0) return y;
    if (h != step_h_) set_step(h);
    return y * decay_ + gain_ * (u0 * weight0_ + u1 * weight1_);
  }

 private:
  void set_step(double h);
  double decay_per_h_, gain_;
  double step_h_ = -1.0, decay_ = 1.0, weight0_ = 0.0, weight1_ = 0.0;
};

}  // namespace ketasim::response
