#include "ketasim/pk/matrix_exp.hpp"

#include <cmath>
#include <utility>

namespace ketasim::pk {

namespace {

// Every helper is a template on the size: M > 0 fixes m at compile time (the loops over a 4-17
// element column unrolled; with run-time bounds the loop control cost more than the arithmetic),
// M = 0 takes m as given.
#define KETASIM_FIXED_SIZE \
  if constexpr (M > 0) m = M

// c = a b (m x m, column-major); each coefficient adds its products in k order.
template <int M>
void multiply(const double* a, const double* b, int m, double* c) {
  KETASIM_FIXED_SIZE;
  for (int j = 0; j < m; ++j) {
    double* cj = c + j * m;
    for (int i = 0; i < m; ++i) cj[i] = 0.0;
    for (int k = 0; k < m; ++k) {
      const double bkj = b[j * m + k];
      const double* ak = a + k * m;
      for (int i = 0; i < m; ++i) cj[i] += ak[i] * bkj;
    }
  }
}

// out = sum_k coefficient[k] power[k] + coefficient_identity I over `count` powers.
template <int M>
void combine(const double* const* power, const double* coefficient, int count, double coefficient_identity, int m,
             double* out) {
  KETASIM_FIXED_SIZE;
  const int elements = m * m;
  for (int e = 0; e < elements; ++e) {
    double sum = coefficient[0] * power[0][e];
    for (int k = 1; k < count; ++k) sum += coefficient[k] * power[k][e];
    out[e] = sum;
  }
  for (int i = 0; i < m; ++i) out[i * m + i] += coefficient_identity;
}

// U (odd part) and V (even part) of the [q/q] Pade approximant r(A) = (V + U) / (V - U), with
// b[0..q] its coefficients (Higham 2005, eq. 2.3 and Table 2.3).
template <int M>
void pade_low(const double* a, int m, int q, const double* b, MatrixExpWorkspace& ws) {
  KETASIM_FIXED_SIZE;
  multiply<M>(a, a, m, ws.a2);
  if (q >= 5) multiply<M>(ws.a2, ws.a2, m, ws.a4);
  if (q >= 7) multiply<M>(ws.a4, ws.a2, m, ws.a6);
  if (q >= 9) multiply<M>(ws.a6, ws.a2, m, ws.a8);
  // Highest power first, as the Pade sums are usually written (and Eigen evaluates them).
  const double* powers[] = {ws.a8, ws.a6, ws.a4, ws.a2};
  const int count = (q - 1) / 2;  // A2 .. A(q-1)
  const double* const* highest = powers + (4 - count);
  double odd[4], even[4];
  for (int k = 0; k < count; ++k) {
    const int power = q - 1 - 2 * k;  // q-1, q-3, .., 2
    odd[k] = b[power + 1];
    even[k] = b[power];
  }
  combine<M>(highest, odd, count, b[1], m, ws.tmp);
  multiply<M>(a, ws.tmp, m, ws.u);
  combine<M>(highest, even, count, b[0], m, ws.v);
}

template <int M>
void pade13(const double* a, int m, MatrixExpWorkspace& ws) {
  KETASIM_FIXED_SIZE;
  static constexpr double b[] = {64764752532480000.0, 32382376266240000.0, 7771770303897600.0,
                                 1187353796428800.0,  129060195264000.0,   10559470521600.0,
                                 670442572800.0,      33522128640.0,       1323241920.0,
                                 40840800.0,          960960.0,            16380.0,
                                 182.0,               1.0};
  multiply<M>(a, a, m, ws.a2);
  multiply<M>(ws.a2, ws.a2, m, ws.a4);
  multiply<M>(ws.a4, ws.a2, m, ws.a6);
  const double* powers[] = {ws.a6, ws.a4, ws.a2};
  const int elements = m * m;
  // U = A [A6 (b13 A6 + b11 A4 + b9 A2) + b7 A6 + b5 A4 + b3 A2 + b1 I]
  const double high_odd[] = {b[13], b[11], b[9]};
  combine<M>(powers, high_odd, 3, 0.0, m, ws.v);  // scratch
  multiply<M>(ws.a6, ws.v, m, ws.tmp);
  const double low_odd[] = {b[7], b[5], b[3]};
  combine<M>(powers, low_odd, 3, b[1], m, ws.v);
  for (int e = 0; e < elements; ++e) ws.tmp[e] += ws.v[e];
  multiply<M>(a, ws.tmp, m, ws.u);
  // V = A6 (b12 A6 + b10 A4 + b8 A2) + b6 A6 + b4 A4 + b2 A2 + b0 I
  const double high_even[] = {b[12], b[10], b[8]};
  combine<M>(powers, high_even, 3, 0.0, m, ws.tmp);
  multiply<M>(ws.a6, ws.tmp, m, ws.v);
  const double low_even[] = {b[6], b[4], b[2]};
  combine<M>(powers, low_even, 3, b[0], m, ws.tmp);
  for (int e = 0; e < elements; ++e) ws.v[e] += ws.tmp[e];
}

// Solves d X = n in place (d is overwritten by its LU factors, n by X): Gaussian elimination with
// partial pivoting (LAPACK's dgetrf/dgetrs order). d = V - U is well conditioned for the degrees
// and scalings chosen (Higham 2005, section 2).
template <int M>
void solve_in_place(double* d, double* n, int m, int* pivot) {
  KETASIM_FIXED_SIZE;
  for (int k = 0; k < m; ++k) {
    int p = k;
    double largest = std::abs(d[k * m + k]);
    for (int i = k + 1; i < m; ++i) {
      const double v = std::abs(d[k * m + i]);
      if (v > largest) {
        largest = v;
        p = i;
      }
    }
    pivot[k] = p;
    if (p != k) {
      for (int j = 0; j < m; ++j) std::swap(d[j * m + k], d[j * m + p]);
    }
    const double diagonal = d[k * m + k];
    if (diagonal != 0.0) {
      for (int i = k + 1; i < m; ++i) d[k * m + i] /= diagonal;
    }
    for (int j = k + 1; j < m; ++j) {
      const double dkj = d[j * m + k];
      for (int i = k + 1; i < m; ++i) d[j * m + i] -= d[k * m + i] * dkj;
    }
  }
  for (int c = 0; c < m; ++c) {
    double* x = n + c * m;
    for (int k = 0; k < m; ++k) {
      if (pivot[k] != k) std::swap(x[k], x[pivot[k]]);
    }
    for (int k = 0; k < m; ++k) {  // unit lower triangle
      const double xk = x[k];
      for (int i = k + 1; i < m; ++i) x[i] -= d[k * m + i] * xk;
    }
    for (int k = m - 1; k >= 0; --k) {  // upper triangle
      x[k] /= d[k * m + k];
      const double xk = x[k];
      for (int i = 0; i < k; ++i) x[i] -= d[k * m + i] * xk;
    }
  }
}

template <int M>
void exp_sized(const double* a, int m, double* result, MatrixExpWorkspace& ws) {
  KETASIM_FIXED_SIZE;
  const int elements = m * m;
  double l1norm = 0.0;  // largest column sum of |a|
  for (int j = 0; j < m; ++j) {
    double column = 0.0;
    for (int i = 0; i < m; ++i) column += std::abs(a[j * m + i]);
    // NaN propagates: a NaN column makes the norm NaN, which takes the degree-13 branch below.
    l1norm = column > l1norm || column != column ? column : l1norm;
  }
  int squarings = 0;
  // theta_q of Higham (2005) Table 2.3: the largest norms for which the [q/q] approximant, unscaled,
  // has backward error at most 2^-53.
  if (l1norm < 1.495585217958292e-002) {
    static constexpr double b[] = {120.0, 60.0, 12.0, 1.0};
    pade_low<M>(a, m, 3, b, ws);
  } else if (l1norm < 2.539398330063230e-001) {
    static constexpr double b[] = {30240.0, 15120.0, 3360.0, 420.0, 30.0, 1.0};
    pade_low<M>(a, m, 5, b, ws);
  } else if (l1norm < 9.504178996162932e-001) {
    static constexpr double b[] = {17297280.0, 8648640.0, 1995840.0, 277200.0, 25200.0, 1512.0, 56.0, 1.0};
    pade_low<M>(a, m, 7, b, ws);
  } else if (l1norm < 2.097847961257068e+000) {
    static constexpr double b[] = {17643225600.0, 8821612800.0, 2075673600.0, 302702400.0, 30270240.0,
                                   2162160.0,     110880.0,     3960.0,       90.0,        1.0};
    pade_low<M>(a, m, 9, b, ws);
  } else {
    constexpr double theta13 = 5.371920351148152;
    std::frexp(l1norm / theta13, &squarings);
    if (squarings < 0 || !std::isfinite(l1norm)) squarings = 0;
    for (int e = 0; e < elements; ++e) ws.scaled[e] = std::ldexp(a[e], -squarings);  // exact
    pade13<M>(ws.scaled, m, ws);
  }
  // r = (V - U)^-1 (V + U), then r^(2^s).
  for (int e = 0; e < elements; ++e) {
    result[e] = ws.u[e] + ws.v[e];
    ws.tmp[e] = ws.v[e] - ws.u[e];
  }
  solve_in_place<M>(ws.tmp, result, m, ws.pivot);
  for (int s = 0; s < squarings; ++s) {
    multiply<M>(result, result, m, ws.tmp);
    for (int e = 0; e < elements; ++e) result[e] = ws.tmp[e];
  }
}

#undef KETASIM_FIXED_SIZE

}  // namespace

void matrix_exp(const double* a, int m, double* result, MatrixExpWorkspace& ws) {
  // Compile-time sizes for what compartment models have (up to 16 states, plus an infused column).
  switch (m) {
#define KETASIM_SIZE(M) \
  case M:               \
    exp_sized<M>(a, m, result, ws); \
    return;
    KETASIM_SIZE(1) KETASIM_SIZE(2) KETASIM_SIZE(3) KETASIM_SIZE(4) KETASIM_SIZE(5) KETASIM_SIZE(6)
    KETASIM_SIZE(7) KETASIM_SIZE(8) KETASIM_SIZE(9) KETASIM_SIZE(10) KETASIM_SIZE(11) KETASIM_SIZE(12)
    KETASIM_SIZE(13) KETASIM_SIZE(14) KETASIM_SIZE(15) KETASIM_SIZE(16) KETASIM_SIZE(17)
#undef KETASIM_SIZE
    default:
      exp_sized<0>(a, m, result, ws);
  }
}

}  // namespace ketasim::pk
