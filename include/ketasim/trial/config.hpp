#pragma once
// A study config (configs/*.yaml): cohort, arms (model + regimen + background treatment),
// response model and endpoints, outputs, solver. Paths inside are relative to the config file.
// `--set key.path=value` overrides are applied to the YAML tree before validation, so they get the
// same checks (and the stored effective config is what actually ran).
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "ketasim/core/paths.hpp"
#include "ketasim/core/yaml_input.hpp"
#include "ketasim/pk/model.hpp"
#include "ketasim/pk/regimen.hpp"
#include "ketasim/pk/simulate.hpp"
#include "ketasim/population/cohort_config.hpp"

namespace ketasim::trial {

struct ArmConfig {
  std::string name;
  std::string model_path;
  std::shared_ptr<const pk::PkModel> model;
  pk::Regimen regimen;
  std::string background = "none";  // a background of the response model (its `placebo:` entries)
};

enum class ConcentrationOutput { full, summary, none };

struct EndpointConfig {
  std::vector<double> visits_d;        // sorted, first may be 0 (baseline)
  double primary_visit_d = 28.0;
  double remission_threshold = 12.0;   // MADRS <= threshold
  double response_fraction = 0.5;      // >= 50% reduction from baseline
  double relapse_threshold = 22.0;     // MADRS >= threshold ...
  int relapse_consecutive = 2;         // ... at this many consecutive visits after response
  double dropout_per_week = 0.0;       // hazard of leaving the study (0: nobody drops out)
  // Extra hazard per week times the fraction of baseline MADRS left at the last assessment
  // (efficacy-dependent dropout: patients who have not improved leave sooner).
  double dropout_lack_of_improvement_per_week = 0.0;
  bool dropout_locf = false;           // primary endpoint of dropouts: last observation (true) or non-responder
  // Between-arm comparisons as (arm, reference) indices into the arms, difference = arm - reference.
  // Empty in the config means every arm after the first vs the first (filled in by the parser).
  std::vector<std::pair<int, int>> comparisons;
  int power_replicates = 0;            // trials of power_patients_per_replicate per arm (0: no power)
  int power_patients_per_replicate = 0;
  // endpoints.parameter_uncertainty.draws: re-run the endpoints with this many draws of the
  // calibrated response model's parameters (0: none; response/parameter_draws.hpp).
  int parameter_draws = 0;
};

struct Override {
  Override() = default;
  Override(std::string key, std::string text, std::string from = {})
      : key_path(std::move(key)), value(std::move(text)), origin(std::move(from)) {}
  std::string key_path;  // dotted; list elements by index (arms.0.regimen.dose)
  std::string value;     // parsed as YAML
  // Where the value came from, for messages about it: empty means `--set key=value`; a sweep
  // point names its sweep entry ("sweep.grid[0].values[1] at sweep.yaml:8:45").
  std::string origin;
};

// One `response_parameters:` entry: a response-model parameter value that replaces the model
// file's for this study (sweeping it makes it a dimension of the results). Checked against the
// model by the study loader (trial/response_parameters.hpp).
struct ResponseParameterValue {
  std::string name;
  double value = 0.0;       // as written
  std::string unit;         // as written ("" for a bare number)
  SourceLocation where;     // of the value
  std::string origin;       // "--set ..." or the sweep entry that set it, empty when from the file
};

struct StudyConfig {
  std::string path;
  std::string yaml_text;      // verbatim, stored in results
  YAML::Node effective;       // after overrides (serialised to JSON in results)
  std::vector<Override> overrides;  // the overrides applied to yaml_text, in order (--set, sweep point)
  std::string name;
  double duration_h = 0.0;
  std::uint64_t seed = 1;
  population::CohortConfig cohort;
  std::vector<ArmConfig> arms;
  std::string response_model_path;
  EndpointConfig endpoints;
  ConcentrationOutput concentration = ConcentrationOutput::summary;
  double output_step_h = 1.0;
  std::vector<double> output_after_each_dose_h;  // offsets after every session, merged into the time axis
  std::vector<double> output_times_h;            // extra output times (h since day 0)
  // Sampling times (h since day 0, sorted, unique) of simulated observations: IPRED and DV with
  // the arm model's residual error (outputs.sampling_times); empty: none.
  std::vector<double> sampling_times_h;
  bool store_response_state = false;             // occupancy, benefit state and expected MADRS at visits
  enum class SolverChoice { automatic, exact, ode } solver = SolverChoice::automatic;
  pk::OdeTolerances tolerances;
  int batch_patients = 256;
  std::vector<ResponseParameterValue> response_parameters;
};

// Loads, applies overrides and validates; throws InputError listing every problem (a problem in a
// value that an override set says so: "(value from --set key=value)"). The `sweep:` block is
// left to trial/sweep.hpp; trial/study.hpp loads a whole study (config, sweep, response model,
// population) and is what commands use.
StudyConfig load_study_config(const std::string& path, const std::vector<Override>& overrides = {});
// The same from text already read (`path` names it in messages and anchors relative paths).
StudyConfig parse_study_config(const std::string& path, const std::string& text,
                               const std::vector<Override>& overrides = {});
// The same from a parsed tree; `applied` are overrides already in it (kept for messages and the
// stored config), `more` are applied here.
StudyConfig parse_study_tree(const std::string& path, const std::string& text, YAML::Node root,
                             const std::vector<Override>& applied, const std::vector<Override>& more);
// "arms.0.regimen.dose" -> "arms[0].regimen.dose", the form key paths take in messages.
std::string message_key_path(const std::string& dotted);
Override parse_override(const std::string& text);  // "key.path=value"

// The solver an arm uses: exact for linear models unless the config asks for the ODE solver.
pk::SolverKind solver_for(const StudyConfig& config, const pk::PkModel& model);

}  // namespace ketasim::trial
