#pragma once
// Internal to the trial engine: whether a patient's concentrations are physical. Solver round-off
// may dip a hair below zero (down to -1e-6 ng/mL is accepted); a real negative, an infinity or NaN
// fails the patient. Fed one value at a time inside the loop that computes them, it keeps the
// smallest value (comparisons skip NaN) and a sum of c - c (0 for finite c, NaN for NaN or an
// infinity): two short dependency chains and no compare-and-branch per value.
#include <limits>

namespace ketasim::trial {

class ConcentrationCheck {
 public:
  void add(double c) {
    smallest_ = c < smallest_ ? c : smallest_;
    not_finite_ += c - c;
  }
  // Same verdict as requiring c >= -1e-6 and std::isfinite(c) of every value added.
  bool ok() const { return smallest_ >= -1e-6 && not_finite_ == 0.0; }

 private:
  double smallest_ = std::numeric_limits<double>::infinity();
  double not_finite_ = 0.0;
};

}  // namespace ketasim::trial
