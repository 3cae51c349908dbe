#pragma once
// e^A of a small dense matrix: the exact solver's propagators (a few per patient, one per step
// length). Scaling and squaring with the Pade approximants of degree 3, 5, 7, 9 or 13 chosen by
// the 1-norm as in Higham (2005), "The scaling and squaring method for the matrix exponential
// revisited", SIAM J. Matrix Anal. Appl. 26(4):1179-1193, Algorithm 2.3: the algorithm Eigen's
// MatrixBase::exp() implements for double, with the same thresholds and coefficients. Written out
// with plain loops for the sizes a compartment model has: Eigen's dynamic-size products, LU and
// triangular solves (blocking and packing meant for large matrices) took ~2.6 us per 8x8
// exponential, 13% of a P1 run with summary output.

namespace ketasim::pk {

inline constexpr int kMaxExpSize = 32;

// Scratch space of one thread: no allocation per exponential.
struct MatrixExpWorkspace {
  static constexpr int kElements = kMaxExpSize * kMaxExpSize;
  double scaled[kElements], a2[kElements], a4[kElements], a6[kElements], a8[kElements];
  double u[kElements], v[kElements], tmp[kElements];
  int pivot[kMaxExpSize];
};

// result = e^a, both m x m column-major (leading dimension m), 1 <= m <= kMaxExpSize, not
// aliased. A non-finite a gives non-finite entries (the caller's plausibility checks see them).
void matrix_exp(const double* a, int m, double* result, MatrixExpWorkspace& ws);

}  // namespace ketasim::pk
