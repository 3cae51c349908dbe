#pragma once
// Calibration of the response model (spec 5.4): chosen parameters of a starting response model are
// fitted by weighted least squares to trial outcomes (targets), each target being one arm of a
// normal study config at one visit. Every evaluation simulates the same virtual patients (same
// seed, same cohort size: common random numbers), so the objective changes only through the
// parameters. The calibration file format is documented in calibrations/README.md.
#include <cstdint>
#include <functional>
#include <memory>
#include <iosfwd>
#include <string>
#include <vector>

#include "ketasim/calibration/uncertainty.hpp"
#include "ketasim/response/response_model.hpp"
#include "ketasim/trial/study.hpp"

namespace ketasim::calibration {

// One fitted parameter. Values are kept in the response model's internal units (rates per hour,
// times in hours); `unit` is what the calibration file wrote them in (for messages and output).
struct FittedParameter {
  std::string name;        // a name of the response model's parameter table
  std::string unit;        // e.g. "1/d"; "1" for dimensionless
  double to_canonical = 1.0;
  double start = 0.0;      // internal units; NaN = take the starting model's value
  double lower = 0.0;
  double upper = 0.0;
  bool log_scale = false;  // the optimiser moves log(value) (lower must be > 0)
  std::string rationale;   // why it is fitted (copied into the output model)
};

enum class Endpoint { response, remission, mean_change };
const char* endpoint_name(Endpoint endpoint);

struct Target {
  std::string name;
  std::string study_path;                 // a normal ketasim study config (resolved path)
  std::string study_file;                 // the same path as written in the calibration file
  std::vector<trial::Override> overrides; // `set:` of the target, applied before the calibration's own
  std::string arm;
  std::string versus;      // optional second arm: the target is arm minus versus (e.g. drug vs placebo)
  double visit_d = 0.0;
  Endpoint endpoint = Endpoint::response;
  double observed = 0.0;   // fraction for rates, MADRS points for mean change
  double n = 0.0;          // patients behind the observed value
  double sd = 0.0;         // SD of the change (mean_change only)
  double se = 0.0;         // standard error used as the residual scale
  double tolerance = 0.0;  // |simulated - observed| allowed (default 1.96 SE)
  double weight = 1.0;     // extra multiplier on the squared residual
  // One-sided targets: a source that gives only an inequality (an ordering, "lost by day 10") is a
  // bound on the simulated value, not a value to match. `observed` is then the bound and `se` the
  // scale of the penalty when it is crossed; inside the bound the residual is 0.
  enum class Bound { none, upper, lower };
  Bound bound = Bound::none;
  std::string source;
};

// (simulated - observed) / se, or for a one-sided target only the part that crosses the bound.
double target_residual(const Target& target, double simulated);
// |simulated - observed| <= tolerance, or for a one-sided target: the bound holds.
bool target_met(const Target& target, double simulated);

// What a rate target's simulated value is:
// - counts: the fraction of virtual patients whose flag is set (the rates `run` reports). With
//   common random numbers this is piecewise constant in the parameters (steps of one patient).
// - expected: per patient still in the study, the probability of the flag given the noise-free
//   expected score and the visit noise (EndpointRules::responder_probability and friends), and
//   for a mean change the expected observed score; smooth in the parameters. Dropouts keep their
//   imputed flags (path-dependent, as counts) and leave the mean change as in `run`.
enum class ObjectiveKind { counts, expected };
const char* objective_kind_name(ObjectiveKind kind);

struct OptimizerSettings {
  ObjectiveKind objective = ObjectiveKind::counts;  // default: expected for benefit_v2 start models
  std::string algorithm = "LN_BOBYQA";
  int max_evaluations = 200;
  double relative_tolerance = 1e-4;  // on the parameters (NLopt xtol_rel, in the scaled space)
  double objective_tolerance = 0.0;  // NLopt ftol_rel; 0 = off (the objective has flat steps, see calibrate)
  int restarts = 2;                  // fresh starts from the best point (halved step each time)
  double initial_step = 0.1;         // in the scaled space, where each parameter's range is [0, 1]
  long long patients = 1000;         // per target study (every arm sees the same patients)
  std::uint64_t seed = 1;
};

struct OutputModel {
  std::string name;
  std::string path;  // resolved
};

struct CalibrationSpec {
  std::string path;
  std::string text;               // verbatim calibration file
  std::string name;
  std::string description;
  std::string start_model_path;   // resolved
  std::vector<OutputModel> outputs;
  std::vector<FittedParameter> parameters;
  std::vector<Target> targets;
  OptimizerSettings optimizer;
};

// Reads and validates a calibration file (InputError listing every problem). Target study configs
// are loaded and their arms and visits checked here, so mistakes surface before any fitting.
CalibrationSpec load_calibration(const std::string& path);

struct TargetResult {
  double simulated = 0.0;
  double residual = 0.0;  // (simulated - observed) / SE
  long long patients = 0; // virtual patients behind `simulated`
  bool within_tolerance = false;
};

struct CalibrationResult {
  std::vector<double> start;   // internal units
  std::vector<double> fitted;  // internal units, rounded to 6 significant digits (what is written)
  double start_objective = 0.0;
  double objective = 0.0;      // sum of weighted squared residuals at `fitted`
  std::vector<TargetResult> start_targets;
  std::vector<TargetResult> targets;
  int evaluations = 0;
  int rounds = 0;              // optimiser runs (1 + restarts used)
  std::string status;          // NLopt's result code
  double seconds = 0.0;
  response::ResponseModel model;  // starting model with the fitted values
  ParameterUncertainty uncertainty;  // Gauss-Newton approximation at `fitted` (uncertainty.hpp)
};

// Evaluates the targets for a parameter vector (internal units). Study configs are loaded once;
// each distinct (study, set) pair is simulated once per evaluation.
class Objective {
 public:
  explicit Objective(const CalibrationSpec& spec);
  std::vector<TargetResult> evaluate(const std::vector<double>& values) const;  // spec's objective kind
  std::vector<TargetResult> evaluate(const std::vector<double>& values, ObjectiveKind kind) const;
  double sum_of_squares(const std::vector<TargetResult>& results) const;
  response::ResponseModel model_with(const std::vector<double>& values) const;
  const response::ResponseModel& start_model() const { return start_model_; }

 private:
  struct Study {
    trial::StudyConfig config;
    std::vector<int> targets;
    std::vector<int> arm_index, visit_index;  // per target of this study
    std::vector<int> versus_index;            // per target: the `versus` arm, -1 without one
    std::shared_ptr<const population::PopulationTable> population;
  };
  const CalibrationSpec& spec_;
  response::ResponseModel start_model_;
  std::vector<Study> studies_;
};

// The total SD of the visit noise at time t_h (hours since day 0) in response::observe_scores:
// an OU process started at 0 on day 0 (stationary SD ou_sd, half-life ou_half_life_h) plus rater
// error: sqrt(ou_sd^2 (1 - exp(-2 theta t)) + rater_sd^2), theta = ln 2 / half-life.
double visit_noise_sd(double ou_sd_points, double ou_half_life_h, double rater_sd_points, double t_h);

// The Gauss-Newton parameter uncertainty (uncertainty.hpp) at `values` (internal units), with the
// residuals of the calibration's objective kind weighted by sqrt(weight).
ParameterUncertainty parameter_uncertainty(const CalibrationSpec& spec, const Objective& objective,
                                           const std::vector<double>& values);

// Runs the fit, then estimates the parameter uncertainty at the fitted values (2 more evaluations
// per parameter). `progress` (may be empty) is called after every evaluation.
CalibrationResult calibrate(const CalibrationSpec& spec,
                            const std::function<void(int evaluation, double objective, const std::vector<double>& values)>& progress = {});

// Writes the starting model's file with the fitted values (in the units that file uses), the
// output name, a provenance line and a `calibration:` section (targets, observed, achieved,
// residuals, objective, command, date, seed, patients). Written to a temporary file, then renamed.
void write_calibrated_model(const CalibrationSpec& spec, const CalibrationResult& result, const OutputModel& output,
                            const std::string& command, const std::string& date);

// 6 significant digits: the precision of the written model, applied before the final evaluation so
// the reported achieved values are exactly those of the file.
double round_significant(double value, int digits = 6);

}  // namespace ketasim::calibration
