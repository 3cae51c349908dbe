#include "ketasim/trial/statistics.hpp"

#include <Eigen/Dense>
#include <boost/math/distributions/students_t.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

namespace ketasim {

double sorted_percentile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return std::numeric_limits<double>::quiet_NaN();
  const double h = static_cast<double>(sorted.size() - 1) * q;
  const std::size_t lo = static_cast<std::size_t>(std::floor(h));
  const std::size_t hi = std::min(lo + 1, sorted.size() - 1);
  if (std::isinf(sorted[lo]) || std::isinf(sorted[hi])) return sorted[h - static_cast<double>(lo) < 0.5 ? lo : hi];
  return sorted[lo] + (h - static_cast<double>(lo)) * (sorted[hi] - sorted[lo]);
}

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

void check_counts(const char* function, long successes, long n) {
  if (n < 0 || successes < 0 || successes > n) {
    throw std::invalid_argument(std::string(function) + ": need 0 <= successes <= n, got " +
                                std::to_string(successes) + " of " + std::to_string(n));
  }
}

void check_z(const char* function, double z) {
  if (!(z > 0.0) || !std::isfinite(z)) {
    throw std::invalid_argument(std::string(function) + ": z must be finite and > 0, got " +
                                std::to_string(z));
  }
}

}  // namespace

Interval wilson_interval(long successes, long n, double z) {
  check_counts("wilson_interval", successes, n);
  check_z("wilson_interval", z);
  if (n == 0) return {kNaN, kNaN};
  const double x = static_cast<double>(successes);
  const double m = static_cast<double>(n);
  const double z2 = z * z;
  // Closed form of the roots of (p_hat - p)^2 = z^2 p (1 - p) / n.
  const double root = z * std::sqrt(z2 + 4.0 * x * (m - x) / m);
  const double denominator = 2.0 * (m + z2);
  double lower = (2.0 * x + z2 - root) / denominator;
  double upper = (2.0 * x + z2 + root) / denominator;
  // The exact bounds at 0/n and n/n are 0 and 1; rounding could leave them an ulp off, which
  // would show up as "0 excluded" in a report.
  if (successes == 0) lower = 0.0;
  if (successes == n) upper = 1.0;
  return {std::max(0.0, lower), std::min(1.0, upper)};
}

Interval newcombe_difference_interval(long x1, long n1, long x2, long n2, double z) {
  check_counts("newcombe_difference_interval (group 1)", x1, n1);
  check_counts("newcombe_difference_interval (group 2)", x2, n2);
  check_z("newcombe_difference_interval", z);
  if (n1 == 0 || n2 == 0) return {kNaN, kNaN};
  const double p1 = static_cast<double>(x1) / static_cast<double>(n1);
  const double p2 = static_cast<double>(x2) / static_cast<double>(n2);
  const Interval w1 = wilson_interval(x1, n1, z);
  const Interval w2 = wilson_interval(x2, n2, z);
  const double difference = p1 - p2;
  // Each limit combines the two single-proportion distances on the side that moves the
  // difference that way. Since sqrt(a^2 + b^2) <= a + b, the limits stay within
  // [l1 - u2, u1 - l2], hence within [-1, 1] with no clamp.
  const double lower = difference - std::hypot(p1 - w1.lower, w2.upper - p2);
  const double upper = difference + std::hypot(w1.upper - p1, p2 - w2.lower);
  return {lower, upper};
}

MeanSummary summarize_mean(const double* values, long n, double z) {
  if (n < 0) throw std::invalid_argument("summarize_mean: n must be >= 0, got " + std::to_string(n));
  check_z("summarize_mean", z);
  // Two passes (mean, then squared deviations) rather than sum of squares minus square of sum,
  // which cancels catastrophically for MADRS-sized values with small spread.
  long count = 0;
  double sum = 0.0;
  for (long i = 0; i < n; ++i) {
    if (std::isnan(values[i])) continue;
    sum += values[i];
    ++count;
  }
  if (count == 0) return {0, kNaN, kNaN, kNaN, kNaN};
  const double mean = sum / static_cast<double>(count);
  if (count == 1) return {1, mean, kNaN, kNaN, kNaN};
  double squares = 0.0;
  for (long i = 0; i < n; ++i) {
    if (std::isnan(values[i])) continue;
    const double deviation = values[i] - mean;
    squares += deviation * deviation;
  }
  const double sd = std::sqrt(squares / static_cast<double>(count - 1));
  const double half_width = z * sd / std::sqrt(static_cast<double>(count));
  return {count, mean, sd, mean - half_width, mean + half_width};
}

MeanDifference mean_difference(const MeanSummary& a, const MeanSummary& b, double z) {
  check_z("mean_difference", z);
  const double difference = a.mean - b.mean;
  if (a.n < 2 || b.n < 2) return {difference, kNaN, kNaN};
  const double se = std::sqrt(a.sd * a.sd / static_cast<double>(a.n) +
                              b.sd * b.sd / static_cast<double>(b.n));
  return {difference, difference - z * se, difference + z * se};
}

Interval newcombe_paired_difference_interval(long both, long first_only, long second_only, long neither, double z) {
  if (both < 0 || first_only < 0 || second_only < 0 || neither < 0) {
    throw std::invalid_argument("newcombe_paired_difference_interval: negative count");
  }
  check_z("newcombe_paired_difference_interval", z);
  const long n = both + first_only + second_only + neither;
  if (n == 0) return {kNaN, kNaN};
  const double a = both, b = first_only, c = second_only, d = neither;
  const double p1 = (a + b) / n, p2 = (a + c) / n;
  const Interval w1 = wilson_interval(both + first_only, n, z);
  const Interval w2 = wilson_interval(both + second_only, n, z);
  const double margins = (a + b) * (c + d) * (a + c) * (b + d);
  const double phi = margins > 0.0 ? (a * d - b * c) / std::sqrt(margins) : 0.0;
  const double l1 = p1 - w1.lower, u1 = w1.upper - p1, l2 = p2 - w2.lower, u2 = w2.upper - p2;
  const double below = std::sqrt(std::max(0.0, l1 * l1 - 2.0 * phi * l1 * u2 + u2 * u2));
  const double above = std::sqrt(std::max(0.0, u1 * u1 - 2.0 * phi * u1 * l2 + l2 * l2));
  return {std::max(-1.0, p1 - p2 - below), std::min(1.0, p1 - p2 + above)};
}

double standardized_difference(const MeanSummary& a, const MeanSummary& b) {
  const double pooled = std::sqrt((a.sd * a.sd + b.sd * b.sd) / 2.0);
  if (!(pooled > 0.0)) return kNaN;
  return (a.mean - b.mean) / pooled;
}

AncovaDifference ancova_difference(const double* y1, const double* baseline1, long n1, const double* y0,
                                   const double* baseline0, long n0, double level) {
  constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
  const long n = n1 + n0;
  AncovaDifference out{kNaN, kNaN, kNaN, kNaN, n - 3};
  if (n1 < 1 || n0 < 1 || n < 4) return out;
  // Baseline centred on its mean: the same fit, better conditioned normal equations.
  double mean_baseline = 0.0;
  for (long i = 0; i < n1; ++i) mean_baseline += baseline1[i];
  for (long i = 0; i < n0; ++i) mean_baseline += baseline0[i];
  mean_baseline /= static_cast<double>(n);
  Eigen::Matrix3d xtx = Eigen::Matrix3d::Zero();
  Eigen::Vector3d xty = Eigen::Vector3d::Zero();
  auto add = [&](double y, double group, double baseline) {
    const Eigen::Vector3d x(1.0, group, baseline - mean_baseline);
    xtx.noalias() += x * x.transpose();
    xty += x * y;
  };
  for (long i = 0; i < n1; ++i) add(y1[i], 1.0, baseline1[i]);
  for (long i = 0; i < n0; ++i) add(y0[i], 0.0, baseline0[i]);
  const Eigen::LDLT<Eigen::Matrix3d> ldlt(xtx);
  if (ldlt.info() != Eigen::Success || !(ldlt.vectorD().minCoeff() > 1e-12 * ldlt.vectorD().maxCoeff())) return out;
  const Eigen::Vector3d beta = ldlt.solve(xty);
  double rss = 0.0;
  auto residual = [&](double y, double group, double baseline) {
    const double r = y - (beta[0] + beta[1] * group + beta[2] * (baseline - mean_baseline));
    rss += r * r;
  };
  for (long i = 0; i < n1; ++i) residual(y1[i], 1.0, baseline1[i]);
  for (long i = 0; i < n0; ++i) residual(y0[i], 0.0, baseline0[i]);
  const double sigma2 = rss / static_cast<double>(out.df);
  const Eigen::Matrix3d covariance = sigma2 * ldlt.solve(Eigen::Matrix3d::Identity());
  out.difference = beta[1];
  out.se = std::sqrt(covariance(1, 1));
  const boost::math::students_t t(static_cast<double>(out.df));
  const double q = boost::math::quantile(t, 0.5 + level / 2.0);
  out.ci_lower = out.difference - q * out.se;
  out.ci_upper = out.difference + q * out.se;
  return out;
}

}  // namespace ketasim
