#pragma once
// Parameter uncertainty of a least-squares calibration (issue 10): the Gauss-Newton (Laplace)
// approximation at the fit. The objective is S(theta) = sum_k w_k r_k(theta)^2 with r_k the
// target's residual in SE units, i.e. -2 log-likelihood up to a constant if the targets are
// independent and normal with those SEs. Near the optimum S ~ S_hat + (theta - theta_hat)' F
// (theta - theta_hat) with F = J' W J (J = dr/dtheta), so cov(theta_hat) ~ F^-1. When the targets
// scatter more than their SEs allow (S_hat / (m - p) > 1) the covariance is scaled by that ratio,
// as in ordinary nonlinear regression.
//
// Working scale: log(value) for a parameter the calibration moves on a log scale, the value itself
// otherwise; intervals are symmetric there (so log-scale intervals are ratios).
//
// The Jacobian comes from central differences of the smooth objective (`objective: expected`); a
// parameter at or near a bound gets a one-sided difference. Eigenvalues of the correlation form of
// F below `kIdentifiableRatio` x the largest mark directions the targets do not determine.
#include <functional>
#include <string>
#include <vector>

namespace ketasim::calibration {

struct UncertainParameter {
  std::string name;
  bool log_scale = false;
  double lower = 0.0, upper = 0.0;  // bounds, internal units
  double estimate = 0.0;            // fitted value, internal units
};

struct ParameterUncertainty {
  std::vector<std::string> names;
  std::vector<bool> log_scale;
  std::vector<double> estimate_working;            // log(value) or value
  std::vector<std::vector<double>> covariance;     // working scale, scaled by `scale_factor`
  std::vector<double> se_working;                  // sqrt of the diagonal; +inf when not determined
  std::vector<double> lower95, upper95;            // internal units (exp of working bounds for log)
  std::vector<bool> at_bound;                      // the fit sits on a calibration bound
  std::vector<bool> determined;                    // finite SE and 95% interval narrower than the bounds
  std::vector<double> eigenvalues;                 // of the correlation form of F, ascending
  std::vector<std::vector<double>> eigenvectors;   // column j belongs to eigenvalue j
  double objective = 0.0;                          // S at the fit
  int targets = 0;                                 // m
  double scale_factor = 1.0;                       // max(1, S / (m - p))
  int evaluations = 0;                             // residual evaluations used
};

// Smallest eigenvalue (relative to the largest) of the correlation form of F treated as a
// direction the targets determine. Below it the covariance uses a pseudo-inverse and the
// parameters loading on that direction get an infinite SE.
inline constexpr double kIdentifiableRatio = 1e-8;

// `residuals(values)` returns sqrt(w_k) r_k for every target at parameter values in internal
// units. `step_log` is the central-difference step on log scale, `step_fraction` that of a linear
// parameter as a fraction of its bounds' range.
ParameterUncertainty estimate_uncertainty(const std::vector<UncertainParameter>& parameters,
                                          const std::function<std::vector<double>(const std::vector<double>&)>& residuals,
                                          double step_log = 0.02, double step_fraction = 0.01);

}  // namespace ketasim::calibration
