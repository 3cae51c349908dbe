#include "ketasim/pk/nca.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "ketasim/core/pair.hpp"

namespace ketasim::pk {

namespace {

// Coefficients of u / atanh(u) as a series in u^2 (the reciprocal of atanh(u)/u = sum u^2k/(2k+1)),
// exact fractions rounded to double: 1, -1/3, -4/45, -44/945, -428/14175, -10196/467775,
// -10719068/638512875, -25865068/1915538625, -5472607916/488462349375.
constexpr double kUOverAtanh[] = {1.0,
                                  -1.0 / 3.0,
                                  -4.0 / 45.0,
                                  -44.0 / 945.0,
                                  -428.0 / 14175.0,
                                  -10196.0 / 467775.0,
                                  -10719068.0 / 638512875.0,
                                  -25865068.0 / 1915538625.0,
                                  -5472607916.0 / 488462349375.0};

// The log rule's term dt (c0 - c1) / ln(c0 / c1) for 0 < c1 < c0. With u = (c0 - c1) / (c0 + c1),
// ln(c0 / c1) = 2 atanh(u) and c0 - c1 = u (c0 + c1), so the term is dt (c0 + c1) / 2 u / atanh(u):
// the trapezoid times a factor just under 1. For u <= 1/8 (c0 / c1 <= 9/7: every 5-minute step
// and most hourly ones) the nine-term series of u / atanh(u) is exact to 5e-19 relative (the
// first neglected terms, summed) and costs one division and a polynomial instead of a division,
// a log and a second division; it also avoids the log form's cancellation as c1 nears c0
// (relative error ~1e-16 / u there). Larger drops take the log form.
template <typename T>
[[gnu::always_inline]] inline T series_factor(T u) {
  // Estrin's scheme: four dependent levels instead of Horner's eight.
  const double* b = kUOverAtanh;
  const T y = u * u, y2 = y * y, y4 = y2 * y2;
  const T low = (b[0] + b[1] * y) + y2 * (b[2] + b[3] * y);
  const T high = ((b[4] + b[5] * y) + y2 * (b[6] + b[7] * y)) + y4 * b[8];
  return low + y4 * high;
}

// One step's term: the series for a small drop, the trapezoid for a rise (the factor 1 keeps the
// trapezoid's bits), 0 for a repeated time, and NaN for a drop beyond the series' range, which
// the caller replaces by the log form.
inline double step_term(double dt, double c0, double c1) {
  if (!(dt > 0.0)) return 0.0;
  const double sum = c0 + c1;
  if (!(c1 < c0 && c1 > 0.0)) return 0.5 * dt * sum;  // rise (or a NaN sample): linear rule
  const double u = (c0 - c1) / sum;
  return u <= 0.125 ? 0.5 * dt * sum * series_factor(u) : std::numeric_limits<double>::quiet_NaN();
}

// W doubles from memory at any alignment (V: a GCC/Clang vector of W doubles).
template <typename V>
[[gnu::always_inline]] inline V load_vector(const double* p) {
  V v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// Terms of steps [1, n) of (t, c) into terms[0, n - 1), as step_term gives them: W steps per
// operation (GCC/Clang vector extensions: W = 2 on SSE2, 4 with AVX2) and no branch, every step
// computing the series and the select keeping what its rule needs; each lane does step_term's
// operations in its order (no fused multiply-add: the AVX2 version is built without FMA), so
// both widths give step_term's bits.
template <typename V, int W>
[[gnu::always_inline]] inline void step_terms_vector(const double* t, const double* c, int n, double* terms) {
  const V zero = V{} + 0.0, one = zero + 1.0, half = zero + 0.5, limit = zero + 0.125;
  const V nan = zero + std::numeric_limits<double>::quiet_NaN();
  int i = 1;
  for (; i + W - 1 < n; i += W) {
    const V dt = load_vector<V>(t + i) - load_vector<V>(t + i - 1);
    const V c0 = load_vector<V>(c + i - 1), c1 = load_vector<V>(c + i);
    const V sum = c0 + c1;
    const V u = (c0 - c1) / sum;
    const auto down = (c1 < c0) & (c1 > zero);
    const V factor = down ? (u <= limit ? series_factor(u) : nan) : one;
    const V term = dt > zero ? half * dt * sum * factor : zero;
    std::memcpy(terms + i - 1, &term, sizeof term);
  }
  for (; i < n; ++i) terms[i - 1] = step_term(t[i] - t[i - 1], c[i - 1], c[i]);
}

// The log rule's term of step j (samples j - 1 to j) as a division and a logarithm: for a drop
// beyond the series' reach, where step_terms leaves NaN (a NaN sample stays NaN).
inline double log_form_term(const double* t, const double* c, int j) {
  const double dt = t[j] - t[j - 1], c0 = c[j - 1], c1 = c[j];
  return dt * (c0 - c1) / std::log(c0 / c1);
}

using Quad = double __attribute__((vector_size(32)));

// Built for AVX2 (without FMA) and used when the CPU has it: the terms were ~17% of a P1 patient's
// time at two per operation. Same bits as the SSE2 loop (each lane the scalar operations).
[[gnu::target("avx2")]] void step_terms_avx2(const double* t, const double* c, int n, double* terms) {
  step_terms_vector<Quad, 4>(t, c, n, terms);
}

// width: 4 (AVX2 when the CPU has it, else 2), 2 (SSE2) or 1 (step_term one step at a time).
void step_terms(const double* t, const double* c, int n, double* terms, int width) {
  if (width == 4 && __builtin_cpu_supports("avx2")) {
    step_terms_avx2(t, c, n, terms);
  } else if (width >= 2) {
    step_terms_vector<Pair, 2>(t, c, n, terms);
  } else {
    for (int i = 1; i < n; ++i) terms[i - 1] = step_term(t[i] - t[i - 1], c[i - 1], c[i]);
  }
}

// The AUC over samples [0, n) and, on the way, over [0, n_partial): the partial sum after the
// same terms in the same order, so it equals auc_linear_up_log_down(t, c, n_partial) bit for bit
// without computing its terms (and their logarithms) a second time. Terms are made a block at a
// time, several per operation, then added in order: the sum, not the terms, is the dependency
// chain.
double auc_with_partial(const double* t, const double* c, int n, int n_partial, double* partial, int width = 4) {
  constexpr int kBlock = 256;
  double terms[kBlock];
  double auc = 0.0;
  *partial = 0.0;
  for (int begin = 1; begin < n; begin += kBlock) {
    const int count = std::min(kBlock, n - begin);
    step_terms(t + begin - 1, c + begin - 1, count + 1, terms, width);
    for (int k = 0; k < count; ++k) {
      double term = terms[k];
      if (term != term) term = log_form_term(t, c, begin + k);
      auc += term;
      if (begin + k == n_partial - 1) *partial = auc;
    }
  }
  return auc;
}

}  // namespace

double auc_linear_up_log_down(const double* t, const double* c, int n) {
  double unused;
  return auc_with_partial(t, c, n, 0, &unused);
}

double auc_linear_up_log_down_width(const double* t, const double* c, int n, int width) {
  double unused;
  return auc_with_partial(t, c, n, 0, &unused, width);
}

namespace {

// The index of the first largest sample of c[first, last) (NaN samples never win; a NaN first
// sample stays): the first i with c[i] > every earlier value. Two passes, neither a chain through
// the interval: the largest value by a two-lane scan (each lane keeps `c > best ? c : best`, the
// scalar rule), then the first sample equal to it. The first sample equal to the largest is the
// one the scalar rule ends on: every earlier value is smaller, and -0 == +0 keeps the earlier one.
int first_maximum(const double* c, int first, int last) {
  const double start = c[first];
  if (start != start) return first;
  Pair best = splat(start);
  int i = first + 1;
  for (; i + 1 < last; i += 2) {
    const Pair v = load_pair(c + i);
    best = v > best ? v : best;
  }
  double largest = best[1] > best[0] ? best[1] : best[0];
  if (i < last && c[i] > largest) largest = c[i];
  int at = first;
  while (!(c[at] == largest)) ++at;
  return at;
}

// The samples of the interval [start_h, end_h]: [first, last), ends included to 1e-9 h.
void interval_samples(const double* t, int n, double start_h, double end_h, int& first, int& last) {
  first = static_cast<int>(std::lower_bound(t, t + n, start_h - 1e-9) - t);
  last = static_cast<int>(std::upper_bound(t, t + n, end_h + 1e-9) - t);
}

// Cmax, Tmax (after start_h) and the trough of samples [first, last), at least two of them.
int peak_and_trough(const double* t, const double* c, int first, int last, double start_h, NcaResult& r) {
  const int imax = first_maximum(c, first, last);
  r.cmax_ng_per_ml = c[imax];
  r.tmax_h = t[imax] - start_h;
  r.trough_ng_per_ml = c[last - 1];
  return imax;
}

// The whole table, or (terminal_phase false) Cmax, Tmax, trough and the interval's AUC only: the
// same numbers, computed the same way, without AUC(0-24) and the terminal-phase search, whose
// backward scan over the interval's drug-free tail cost the trial engine, which stores neither.
NcaResult nca(const double* t, const double* c, int n, double start_h, double end_h, bool terminal_phase) {
  NcaResult r;
  r.half_life_h = std::numeric_limits<double>::quiet_NaN();
  int first, last;
  interval_samples(t, n, start_h, end_h, first, last);
  if (last - first < 2) return r;
  const int imax = peak_and_trough(t, c, first, last, start_h, r);
  if (!terminal_phase) {
    double unused;
    r.auc_interval_h_ng_per_ml = auc_with_partial(t + first, c + first, last - first, 0, &unused);
    return r;
  }
  const int last24 = static_cast<int>(std::upper_bound(t, t + n, std::min(end_h, start_h + 24.0) + 1e-9) - t);
  r.auc_interval_h_ng_per_ml =
      auc_with_partial(t + first, c + first, last - first, last24 - first, &r.auc_0_24_h_ng_per_ml);
  // Terminal phase: the last three samples above Cmax/1000 after Tmax.
  int picked[3];
  int count = 0;
  for (int i = last - 1; i > imax && count < 3; --i) {
    if (c[i] >= r.cmax_ng_per_ml * 1e-3 && c[i] > 0.0) picked[count++] = i;
  }
  if (count == 3) {
    double sx = 0, sy = 0, sxx = 0, sxy = 0;
    for (int k = 0; k < 3; ++k) {
      const double x = t[picked[k]], y = std::log(c[picked[k]]);
      sx += x; sy += y; sxx += x * x; sxy += x * y;
    }
    const double slope = (3 * sxy - sx * sy) / (3 * sxx - sx * sx);
    if (slope < 0.0) r.half_life_h = std::log(2.0) / -slope;
  }
  return r;
}

}  // namespace

NcaResult nca_interval(const double* t, const double* c, int n, double start_h, double end_h) {
  return nca(t, c, n, start_h, end_h, true);
}

NcaResult nca_exposure(const double* t, const double* c, int n, double start_h, double end_h) {
  return nca(t, c, n, start_h, end_h, false);
}

void nca_exposures(const double* t, const double* c, int n, const double* bounds_h, int n_intervals,
                   NcaScratch& scratch, NcaResult* out) {
  // Each interval's samples as nca() finds them, its Cmax, Tmax and trough; the steps they cover.
  scratch.first.resize(n_intervals);
  scratch.last.resize(n_intervals);
  int* first = scratch.first.data();
  int* last = scratch.last.data();
  int lowest = n, highest = 0;
  for (int k = 0; k < n_intervals; ++k) {
    interval_samples(t, n, bounds_h[k], bounds_h[k + 1], first[k], last[k]);
    NcaResult& r = out[k];
    r = NcaResult{};
    r.half_life_h = std::numeric_limits<double>::quiet_NaN();
    if (last[k] - first[k] < 2) {
      last[k] = first[k];  // no steps to add: the AUC stays 0, as in nca()
      continue;
    }
    lowest = std::min(lowest, first[k]);
    highest = std::max(highest, last[k]);
    peak_and_trough(t, c, first[k], last[k], bounds_h[k], r);
  }
  if (highest - lowest < 2) return;
  // Every step's term once (terms[j]: the step from sample j - 1 to j), as auc_with_partial makes
  // them: vector terms, and the log form where the series does not reach.
  scratch.terms.resize(n);
  double* terms = scratch.terms.data();
  step_terms(t + lowest, c + lowest, highest - lowest, terms + lowest + 1, 4);
  for (int j = lowest + 1; j < highest; ++j) {
    if (terms[j] != terms[j]) terms[j] = log_form_term(t, c, j);
  }
  // Each interval's AUC is its terms added in order from 0, a chain of dependent additions; four
  // intervals at a time in lockstep, so that four chains run side by side.
  for (int k0 = 0; k0 < n_intervals; k0 += 4) {
    const int lanes = std::min(4, n_intervals - k0);
    const double* p[4];
    int steps[4];
    double auc[4] = {0.0, 0.0, 0.0, 0.0};
    int common = std::numeric_limits<int>::max();
    for (int l = 0; l < lanes; ++l) {
      steps[l] = std::max(0, last[k0 + l] - first[k0 + l] - 1);
      p[l] = terms + first[k0 + l] + 1;
      common = std::min(common, steps[l]);
    }
    for (int l = lanes; l < 4; ++l) p[l] = p[0];  // a spare lane repeats lane 0; its sum is dropped
    for (int j = 0; j < common; ++j) {
      auc[0] += p[0][j];
      auc[1] += p[1][j];
      auc[2] += p[2][j];
      auc[3] += p[3][j];
    }
    for (int l = 0; l < lanes; ++l) {
      for (int j = common; j < steps[l]; ++j) auc[l] += p[l][j];
      out[k0 + l].auc_interval_h_ng_per_ml = auc[l];
    }
  }
}

}  // namespace ketasim::pk
