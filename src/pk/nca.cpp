#include "ketasim/pk/nca.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace ketasim::pk {

namespace {

// The AUC over samples [0, n) and, on the way, over [0, n_partial): the partial sum after the
// same terms in the same order, so it equals auc_linear_up_log_down(t, c, n_partial) bit for bit
// without computing its terms (and their logarithms) a second time.
double auc_with_partial(const double* t, const double* c, int n, int n_partial, double* partial) {
  double auc = 0.0;
  *partial = 0.0;
  for (int i = 1; i < n; ++i) {
    const double dt = t[i] - t[i - 1];
    if (dt > 0.0) {
      const double c0 = c[i - 1], c1 = c[i];
      // Declining exponentials are integrated exactly by the log rule; rises use the linear rule.
      if (c1 < c0 && c1 > 0.0) {
        auc += dt * (c0 - c1) / std::log(c0 / c1);
      } else {
        auc += 0.5 * dt * (c0 + c1);
      }
    }
    if (i == n_partial - 1) *partial = auc;
  }
  return auc;
}

}  // namespace

double auc_linear_up_log_down(const double* t, const double* c, int n) {
  double unused;
  return auc_with_partial(t, c, n, 0, &unused);
}

NcaResult nca_interval(const double* t, const double* c, int n, double start_h, double end_h) {
  NcaResult r;
  r.half_life_h = std::numeric_limits<double>::quiet_NaN();
  const int first = static_cast<int>(std::lower_bound(t, t + n, start_h - 1e-9) - t);
  const int last = static_cast<int>(std::upper_bound(t, t + n, end_h + 1e-9) - t);  // exclusive
  if (last - first < 2) return r;
  int imax = first;
  for (int i = first; i < last; ++i) {
    if (c[i] > c[imax]) imax = i;
  }
  r.cmax_ng_per_ml = c[imax];
  r.tmax_h = t[imax] - start_h;
  r.trough_ng_per_ml = c[last - 1];
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

}  // namespace ketasim::pk
