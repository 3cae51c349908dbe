#include "ketasim/calibration/uncertainty.hpp"

#include <Eigen/Dense>

#include <algorithm>
#include <cmath>
#include <limits>

#include "ketasim/core/error.hpp"

namespace ketasim::calibration {

namespace {

double to_working(const UncertainParameter& p, double value) { return p.log_scale ? std::log(value) : value; }
double from_working(const UncertainParameter& p, double w) { return p.log_scale ? std::exp(w) : w; }

}  // namespace

ParameterUncertainty estimate_uncertainty(const std::vector<UncertainParameter>& parameters,
                                          const std::function<std::vector<double>(const std::vector<double>&)>& residuals,
                                          double step_log, double step_fraction) {
  const int p = static_cast<int>(parameters.size());
  ParameterUncertainty u;
  std::vector<double> values;
  for (const auto& q : parameters) {
    if (q.log_scale && !(q.lower > 0.0)) throw RuntimeFailure("uncertainty: log-scale parameter " + q.name + " needs a positive lower bound");
    u.names.push_back(q.name);
    u.log_scale.push_back(q.log_scale);
    u.estimate_working.push_back(to_working(q, q.estimate));
    values.push_back(q.estimate);
  }
  const std::vector<double> r0 = residuals(values);
  ++u.evaluations;
  const int m = static_cast<int>(r0.size());
  u.targets = m;
  for (double r : r0) u.objective += r * r;

  Eigen::MatrixXd jacobian(m, p);
  for (int i = 0; i < p; ++i) {
    const auto& q = parameters[static_cast<std::size_t>(i)];
    const double w = u.estimate_working[static_cast<std::size_t>(i)];
    const double lo = to_working(q, q.lower), hi = to_working(q, q.upper);
    const double h = q.log_scale ? step_log : step_fraction * (hi - lo);
    // Optimisers stop within their tolerance of a bound (SBPLX left relapse_hazard at 0.0499999 of
    // 0.05), so "on a bound" means within 1e-4 of the working range, not bit-equal.
    const double near = 1e-4 * (hi - lo);
    u.at_bound.push_back(w <= lo + near || w >= hi - near);
    const bool up_ok = w + h <= hi, down_ok = w - h >= lo;
    auto at = [&](double wi) {
      std::vector<double> v = values;
      v[static_cast<std::size_t>(i)] = from_working(q, wi);
      ++u.evaluations;
      return residuals(v);
    };
    std::vector<double> plus, minus;
    double span = 0.0;
    if (up_ok && down_ok) {
      plus = at(w + h), minus = at(w - h), span = 2.0 * h;
    } else if (up_ok) {
      plus = at(w + h), minus = r0, span = h;
    } else if (down_ok) {
      plus = r0, minus = at(w - h), span = h;
    } else {  // bounds narrower than one step: difference across the whole range
      plus = at(hi), minus = at(lo), span = hi - lo;
    }
    for (int k = 0; k < m; ++k) jacobian(k, i) = (plus[static_cast<std::size_t>(k)] - minus[static_cast<std::size_t>(k)]) / span;
  }

  const Eigen::MatrixXd information = jacobian.transpose() * jacobian;  // F = J' W J (W inside r)
  // Correlation form: eigenvalues comparable across parameters of different units.
  Eigen::VectorXd d(p);
  for (int i = 0; i < p; ++i) d(i) = information(i, i) > 0.0 ? 1.0 / std::sqrt(information(i, i)) : 0.0;
  const Eigen::MatrixXd correlation = d.asDiagonal() * information * d.asDiagonal();
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eigen(correlation);
  const Eigen::VectorXd lambda = eigen.eigenvalues();
  const Eigen::MatrixXd vectors = eigen.eigenvectors();
  const double lambda_max = p > 0 ? lambda(p - 1) : 0.0;
  Eigen::MatrixXd pseudo_inverse = Eigen::MatrixXd::Zero(p, p);
  std::vector<bool> undetermined(static_cast<std::size_t>(p), false);
  for (int j = 0; j < p; ++j) {
    if (lambda(j) > kIdentifiableRatio * lambda_max && lambda_max > 0.0) {
      pseudo_inverse += vectors.col(j) * vectors.col(j).transpose() / lambda(j);
    } else {
      for (int i = 0; i < p; ++i) {
        if (std::abs(vectors(i, j)) > 0.1) undetermined[static_cast<std::size_t>(i)] = true;
      }
    }
  }
  for (int i = 0; i < p; ++i) {
    if (d(i) == 0.0) undetermined[static_cast<std::size_t>(i)] = true;  // no target moves it at all
  }
  const int dof = m - p;
  u.scale_factor = dof > 0 ? std::max(1.0, u.objective / dof) : 1.0;
  const Eigen::MatrixXd covariance = u.scale_factor * (d.asDiagonal() * pseudo_inverse * d.asDiagonal());

  const double inf = std::numeric_limits<double>::infinity();
  u.covariance.assign(static_cast<std::size_t>(p), std::vector<double>(static_cast<std::size_t>(p), 0.0));
  for (int i = 0; i < p; ++i) {
    for (int j = 0; j < p; ++j) u.covariance[static_cast<std::size_t>(i)][static_cast<std::size_t>(j)] = covariance(i, j);
    const auto& q = parameters[static_cast<std::size_t>(i)];
    const double se = undetermined[static_cast<std::size_t>(i)] ? inf : std::sqrt(std::max(covariance(i, i), 0.0));
    u.se_working.push_back(se);
    const double w = u.estimate_working[static_cast<std::size_t>(i)];
    const double lo = std::isfinite(se) ? from_working(q, w - 1.96 * se) : (q.log_scale ? 0.0 : -inf);
    const double hi = std::isfinite(se) ? from_working(q, w + 1.96 * se) : inf;
    u.lower95.push_back(lo);
    u.upper95.push_back(hi);
    // Determined: the data give an interval narrower than the range the calibration allowed.
    u.determined.push_back(std::isfinite(se) && 2.0 * 1.96 * se < to_working(q, q.upper) - to_working(q, q.lower));
  }
  for (int j = 0; j < p; ++j) {
    u.eigenvalues.push_back(lambda(j));
  }
  u.eigenvectors.assign(static_cast<std::size_t>(p), std::vector<double>(static_cast<std::size_t>(p), 0.0));
  for (int i = 0; i < p; ++i) {
    for (int j = 0; j < p; ++j) u.eigenvectors[static_cast<std::size_t>(i)][static_cast<std::size_t>(j)] = vectors(i, j);
  }
  return u;
}

}  // namespace ketasim::calibration
