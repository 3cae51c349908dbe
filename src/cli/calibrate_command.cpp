// `ketasim calibrate FILE`: fit response-model parameters to trial targets (spec 5.4) and write
// the fitted models named in the file. Format: calibrations/README.md.
#include <cmath>
#include <ctime>
#include <iomanip>
#include <ostream>

#include "commands.hpp"
#include "utc_time.hpp"
#include "ketasim/calibration/calibration.hpp"
#include "ketasim/core/error.hpp"

namespace ketasim::cli {

namespace {

void print_targets(const calibration::CalibrationSpec& spec, const calibration::CalibrationResult& r, std::ostream& out) {
  out << std::left << std::setw(44) << "target" << std::right << std::setw(10) << "observed" << std::setw(10) << "start"
      << std::setw(10) << "achieved" << std::setw(10) << "residual" << "  within tolerance\n";
  for (std::size_t k = 0; k < spec.targets.size(); ++k) {
    const auto& t = spec.targets[k];
    out << std::left << std::setw(44) << t.name << std::right << std::fixed << std::setprecision(3) << std::setw(10)
        << t.observed << std::setw(10) << r.start_targets[k].simulated << std::setw(10) << r.targets[k].simulated
        << std::setw(10) << std::setprecision(2) << r.targets[k].residual << "  "
        << (r.targets[k].within_tolerance ? "yes" : "NO") << "\n";
  }
  out << std::defaultfloat;
}

// `--profile PARAM`: the objective of both kinds along one parameter (others at their start),
// on a uniform grid of the optimiser's scaled space (log for scale: log).
int profile_command(const calibration::CalibrationSpec& spec, const CalibrateOptions& o, std::ostream& out) {
  std::size_t index = spec.parameters.size();
  for (std::size_t i = 0; i < spec.parameters.size(); ++i) {
    if (spec.parameters[i].name == o.profile) index = i;
  }
  if (index == spec.parameters.size()) throw InputError(std::vector<std::string>{"calibrate --profile: '" + o.profile + "' is not a fitted parameter of " + spec.path});
  if (o.points < 2) throw InputError(std::vector<std::string>{"calibrate --points: expected at least 2"});
  const calibration::Objective objective(spec);
  const auto& p = spec.parameters[index];
  std::vector<double> values;
  for (const auto& q : spec.parameters) values.push_back(q.start);
  out << "# profile of " << p.name << " (" << p.unit << "), other parameters at start; objective = sum weight x residual^2\n";
  out << p.name << "\tcounts\texpected\n";
  for (int k = 0; k < o.points; ++k) {
    const double x = static_cast<double>(k) / (o.points - 1);
    values[index] = p.log_scale ? std::exp(std::log(p.lower) + x * (std::log(p.upper) - std::log(p.lower)))
                                : p.lower + x * (p.upper - p.lower);
    const double counts = objective.sum_of_squares(objective.evaluate(values, calibration::ObjectiveKind::counts));
    const double expected = objective.sum_of_squares(objective.evaluate(values, calibration::ObjectiveKind::expected));
    out << std::setprecision(6) << values[index] / p.to_canonical << "\t" << counts << "\t" << expected << std::endl;
  }
  return 0;
}

// `--evaluate`: the targets at the start values, tab-separated (for tools/calibration_loso.py).
int evaluate_command(const calibration::CalibrationSpec& spec, std::ostream& out) {
  const calibration::Objective objective(spec);
  std::vector<double> values;
  for (const auto& q : spec.parameters) values.push_back(q.start);
  const auto results = objective.evaluate(values);
  out << "target\tobserved\tse\tsimulated\tresidual\twithin_tolerance\n";
  for (std::size_t k = 0; k < spec.targets.size(); ++k) {
    const auto& t = spec.targets[k];
    out << std::setprecision(6) << t.name << "\t" << t.observed << "\t" << t.se << "\t" << results[k].simulated << "\t"
        << results[k].residual << "\t" << (results[k].within_tolerance ? "yes" : "no") << "\n";
  }
  out << "objective\t" << objective.sum_of_squares(results) << "\t" << calibration::objective_kind_name(spec.optimizer.objective)
      << "\n";
  return 0;
}

void print_uncertainty(const calibration::CalibrationSpec& spec, const calibration::ParameterUncertainty& u,
                       std::ostream& out) {
  out << "parameter uncertainty (Gauss-Newton at the fit; " << u.targets << " targets, " << u.names.size()
      << " parameters, objective " << std::setprecision(6) << u.objective << ", covariance scaled by " << u.scale_factor
      << "):\n";
  out << "parameter\tunit\testimate\tlower95\tupper95\tse_working\tscale\tat_bound\tdetermined\n";
  for (std::size_t i = 0; i < u.names.size(); ++i) {
    const auto& p = spec.parameters[i];
    const double estimate = u.log_scale[i] ? std::exp(u.estimate_working[i]) : u.estimate_working[i];
    out << std::setprecision(4) << u.names[i] << "\t" << p.unit << "\t" << estimate / p.to_canonical << "\t"
        << u.lower95[i] / p.to_canonical << "\t" << u.upper95[i] / p.to_canonical << "\t" << u.se_working[i] << "\t"
        << (u.log_scale[i] ? "log" : "linear") << "\t" << (u.at_bound[i] ? "yes" : "no") << "\t"
        << (u.determined[i] ? "yes" : "no") << "\n";
  }
  out << "eigenvalues of the correlation form of J'WJ (small = a direction the targets do not determine):";
  for (double l : u.eigenvalues) out << " " << std::setprecision(3) << l;
  out << "\nleast-determined direction:";
  for (std::size_t i = 0; i < u.names.size(); ++i) {
    if (std::abs(u.eigenvectors[i][0]) >= 0.2) out << " " << u.names[i] << " " << std::setprecision(2) << u.eigenvectors[i][0];
  }
  out << "\n" << std::defaultfloat;
}

// `--uncertainty`: the Gauss-Newton parameter uncertainty at the start values (a fitted model's
// values written as `start:`), for a fit made before this existed or a cross-validation refit.
int uncertainty_command(const calibration::CalibrationSpec& spec, std::ostream& out) {
  const calibration::Objective objective(spec);
  std::vector<double> values;
  for (const auto& q : spec.parameters) values.push_back(q.start);
  print_uncertainty(spec, calibration::parameter_uncertainty(spec, objective, values), out);
  return 0;
}

}  // namespace

int calibrate_command(const std::string& path, std::ostream& out, const CalibrateOptions& options) {
  const calibration::CalibrationSpec spec = calibration::load_calibration(path);
  if (!options.profile.empty()) return profile_command(spec, options, out);
  if (options.evaluate) return evaluate_command(spec, out);
  if (options.uncertainty) return uncertainty_command(spec, out);
  out << "calibration " << spec.name << ": " << spec.parameters.size() << " parameters, " << spec.targets.size()
      << " targets, " << spec.optimizer.algorithm << ", at most " << spec.optimizer.max_evaluations << " evaluations, "
      << spec.optimizer.patients << " patients per study, seed " << spec.optimizer.seed << ", objective "
      << calibration::objective_kind_name(spec.optimizer.objective) << "\n";
  const auto result = calibration::calibrate(spec, [&](int evaluation, double objective, const std::vector<double>& values) {
    out << "  eval " << std::setw(4) << evaluation << "  objective " << std::setprecision(6) << objective << "  [";
    for (std::size_t i = 0; i < values.size(); ++i) {
      out << (i ? " " : "") << spec.parameters[i].name << "=" << std::setprecision(4) << values[i] / spec.parameters[i].to_canonical;
    }
    out << "]" << std::endl;
  });
  out << std::setprecision(6) << "finished: " << result.status << " after " << result.evaluations << " evaluations in "
      << std::setprecision(3) << result.seconds << " s; objective " << std::setprecision(6) << result.start_objective
      << " -> " << result.objective << "\n";
  for (std::size_t i = 0; i < spec.parameters.size(); ++i) {
    const auto& p = spec.parameters[i];
    out << "  " << p.name << " = " << result.fitted[i] / p.to_canonical << " " << p.unit << "  (start "
        << p.start / p.to_canonical << ", bounds " << p.lower / p.to_canonical << "-" << p.upper / p.to_canonical << ")\n";
  }
  print_targets(spec, result, out);
  print_uncertainty(spec, result.uncertainty, out);
  const std::string command = "ketasim calibrate " + path;
  const std::string date = utc_now("%Y-%m-%d");
  for (const auto& o : spec.outputs) {
    calibration::write_calibrated_model(spec, result, o, command, date);
    out << "wrote " << o.path << "\n";
  }
  return 0;
}

}  // namespace ketasim::cli
