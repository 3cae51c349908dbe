#include "ketasim/trial/survival.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace ketasim::trial {

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kMaxLogHazardRatio = 20.0;  // |log HR| beyond this is reported as not estimable
}

std::vector<double> distinct_times(const double* time, long n) {
  std::vector<double> t;
  for (long i = 0; i < n; ++i) {
    if (std::isfinite(time[i])) t.push_back(time[i]);
  }
  std::sort(t.begin(), t.end());
  t.erase(std::unique(t.begin(), t.end()), t.end());
  return t;
}

EventCounts count_events(const std::vector<double>& grid, const double* time, const std::int8_t* event, long n) {
  EventCounts c(grid.size());
  for (long i = 0; i < n; ++i) {
    if (std::isnan(time[i])) continue;
    const auto at = std::lower_bound(grid.begin(), grid.end(), time[i]);
    if (at == grid.end() || *at != time[i]) throw std::invalid_argument("count_events: time not on the grid");
    const std::size_t k = static_cast<std::size_t>(at - grid.begin());
    (event[i] == 1 ? c.events : c.censored)[k] += 1;
  }
  return c;
}

KaplanMeier kaplan_meier(const std::vector<double>& grid, const EventCounts& c, double z) {
  const std::size_t n = grid.size();
  KaplanMeier km;
  km.at_risk.assign(n, 0);
  km.survival.assign(n, kNaN);
  km.lower.assign(n, kNaN);
  km.upper.assign(n, kNaN);
  long long at_risk = 0;
  for (std::size_t k = 0; k < n; ++k) at_risk += c.events[k] + c.censored[k];
  double s = 1.0, greenwood = 0.0;  // greenwood: sum d / (n (n - d)), the variance of log S
  for (std::size_t k = 0; k < n; ++k) {
    km.at_risk[k] = at_risk;
    const long long d = c.events[k];
    if (d > 0) {
      s *= 1.0 - static_cast<double>(d) / at_risk;
      greenwood += d < at_risk ? static_cast<double>(d) / (static_cast<double>(at_risk) * (at_risk - d))
                               : std::numeric_limits<double>::infinity();
    }
    km.survival[k] = s;
    if (s > 0.0) {
      const double se = std::sqrt(greenwood);
      km.lower[k] = s * std::exp(-z * se);
      km.upper[k] = std::min(1.0, s * std::exp(z * se));
    }
    at_risk -= d + c.censored[k];
  }
  return km;
}

namespace {

// R's survival:::findq for one probability: x, y are the curve's times and 1 - S, starting at
// (0, 0); y is non-decreasing. NaN entries of y (an undefined interval bound) are dropped, as
// approx() does. xmax is the last time anyone was observed.
double findq(std::vector<double> x, std::vector<double> y, double p, double xmax) {
  const double tol = std::sqrt(std::numeric_limits<double>::epsilon());
  std::vector<double> xs, ys;
  for (std::size_t i = 0; i < y.size(); ++i) {
    if (std::isnan(y[i])) continue;
    // duplicated(y): keep the first time each value of 1 - S appears
    if (std::find(ys.begin(), ys.end(), y[i]) != ys.end()) continue;
    xs.push_back(x[i]);
    ys.push_back(y[i]);
  }
  if (ys.empty() || *std::max_element(ys.begin(), ys.end()) < p) return kNaN;
  const std::size_t n = ys.size();
  // approx(y +/- tol, 1:n, p, "constant", f = 1): the first index whose value reaches p.
  auto first_reaching = [&](double shift) -> long {
    for (std::size_t i = 0; i < n; ++i) {
      if (ys[i] + shift >= p) return static_cast<long>(i);
    }
    return -1;
  };
  const long i1 = first_reaching(tol), i2 = first_reaching(-tol);
  if (std::abs(p - ys[n - 1]) < tol) return i1 < 0 ? kNaN : (xs[i1] + xmax) / 2.0;
  if (i1 < 0 || i2 < 0) return kNaN;
  return (xs[i1] + xs[i2]) / 2.0;
}

}  // namespace

Quantile km_quantile(const std::vector<double>& grid, const EventCounts& c, const KaplanMeier& km, double p) {
  // survfit's curve has a row per time at which anyone was observed.
  std::vector<double> x{0.0}, f{0.0}, fl{0.0}, fu{0.0};
  double xmax = kNaN;
  for (std::size_t k = 0; k < grid.size(); ++k) {
    if (c.events[k] + c.censored[k] == 0) continue;
    x.push_back(grid[k]);
    f.push_back(1.0 - km.survival[k]);
    fl.push_back(1.0 - km.lower[k]);
    fu.push_back(1.0 - km.upper[k]);
    xmax = grid[k];
  }
  if (x.size() == 1) return {kNaN, kNaN, kNaN};
  return {findq(x, f, p, xmax), findq(x, fl, p, xmax), findq(x, fu, p, xmax)};
}

CoxResult cox_two_groups(const EventCounts& g0, const EventCounts& g1, double z) {
  CoxResult r{kNaN, kNaN, kNaN, kNaN, kNaN, kNaN, kNaN, 0};
  const std::size_t n = g0.events.size();
  if (g1.events.size() != n) throw std::invalid_argument("cox_two_groups: groups on different grids");
  std::vector<long long> risk0(n), risk1(n);  // at risk just before each time
  long long left0 = 0, left1 = 0, events0 = 0, events1 = 0;
  for (std::size_t k = 0; k < n; ++k) {
    left0 += g0.events[k] + g0.censored[k];
    left1 += g1.events[k] + g1.censored[k];
    events0 += g0.events[k];
    events1 += g1.events[k];
  }
  for (std::size_t k = 0; k < n; ++k) {
    risk0[k] = left0;
    risk1[k] = left1;
    left0 -= g0.events[k] + g0.censored[k];
    left1 -= g1.events[k] + g1.censored[k];
  }
  // Log-rank (survdiff, rho = 0): observed minus expected events of group 1, hypergeometric variance.
  double o_minus_e = 0.0, variance = 0.0;
  for (std::size_t k = 0; k < n; ++k) {
    const double d = static_cast<double>(g0.events[k] + g1.events[k]);
    const double m = static_cast<double>(risk0[k] + risk1[k]);
    if (d == 0.0) continue;
    o_minus_e += g1.events[k] - d * risk1[k] / m;
    if (m > 1.0) variance += d * (risk0[k] / m) * (risk1[k] / m) * (m - d) / (m - 1.0);
  }
  if (variance > 0.0) {
    r.logrank_chisq = o_minus_e * o_minus_e / variance;
    r.logrank_p = std::erfc(std::sqrt(r.logrank_chisq / 2.0));  // upper tail of chi-square, 1 df
  }
  if (events0 == 0 || events1 == 0) return r;

  // Efron: at a time with d tied events (d1 of them in group 1), the l-th of them (l = 0..d-1)
  // sees the risk set minus l/d of the tied events' weights.
  auto evaluate = [&](double beta, double& loglik, double& score, double& information) {
    const double w = std::exp(beta);
    loglik = 0.0;
    score = 0.0;
    information = 0.0;
    for (std::size_t k = 0; k < n; ++k) {
      const long long d = g0.events[k] + g1.events[k];
      if (d == 0) continue;
      const double s_all = risk0[k] + risk1[k] * w, s_one = risk1[k] * w;
      const double d_all = g0.events[k] + g1.events[k] * w, d_one = g1.events[k] * w;
      loglik += g1.events[k] * beta;
      score += static_cast<double>(g1.events[k]);
      for (long long l = 0; l < d; ++l) {
        const double f = static_cast<double>(l) / d;
        const double denom = s_all - f * d_all, mean = (s_one - f * d_one) / denom;
        loglik -= std::log(denom);
        score -= mean;
        information += mean - mean * mean;  // the covariate is 0/1, so its second moment is its mean
      }
    }
  };
  double beta = 0.0, loglik, score, information;
  evaluate(beta, loglik, score, information);
  for (int it = 1; it <= 50; ++it) {
    if (!(information > 0.0)) return r;
    double next = beta + score / information;
    double next_loglik, next_score, next_information;
    evaluate(next, next_loglik, next_score, next_information);
    // Step halving, as coxph does, when Newton overshoots.
    for (int h = 0; h < 30 && next_loglik < loglik; ++h) {
      next = (beta + next) / 2.0;
      evaluate(next, next_loglik, next_score, next_information);
    }
    const bool done = std::abs(next_loglik - loglik) <= 1e-12 * std::abs(loglik);
    beta = next;
    loglik = next_loglik;
    score = next_score;
    information = next_information;
    r.iterations = it;
    // Diverging (monotone likelihood: one group's hazard effectively zero; R warns "coefficient
    // may be infinite"): the log-likelihood flattens, so convergence alone would report e^-28.
    if (std::abs(beta) > kMaxLogHazardRatio) return r;
    if (done) {
      if (!(information > 0.0)) return r;
      r.log_hr = beta;
      r.se = 1.0 / std::sqrt(information);
      r.hazard_ratio = std::exp(beta);
      r.lower = std::exp(beta - z * r.se);
      r.upper = std::exp(beta + z * r.se);
      return r;
    }
  }
  return r;
}

}  // namespace ketasim::trial
