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

#include "ketasim/core/yaml_input.hpp"
#include "ketasim/pk/model.hpp"
#include "ketasim/pk/regimen.hpp"
#include "ketasim/pk/simulate.hpp"

namespace ketasim::trial {

struct TruncatedNormalSpec {
  double mean = 0.0;
  double sd = 0.0;
  double min = 0.0;
  double max = 0.0;
};

struct CohortConfig {
  long long patients = 0;
  TruncatedNormalSpec weight_kg{80.0, 15.0, 45.0, 150.0};
  TruncatedNormalSpec age_y{45.0, 12.0, 18.0, 75.0};
  double female_fraction = 0.5;
  TruncatedNormalSpec baseline_madrs{37.3, 5.5, 28.0, 60.0};
  std::string population_file;  // optional CSV of patients (ID, WT, AGE, SEX, ETA_<param>...)
};

enum class Background { none, saline, active_placebo, oral_antidepressant };
const char* background_name(Background background);

struct ArmConfig {
  std::string name;
  std::string model_path;
  std::shared_ptr<const pk::PkModel> model;
  pk::Regimen regimen;
  Background background = Background::none;
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
  bool dropout_locf = false;           // primary endpoint of dropouts: last observation (true) or non-responder
  int power_replicates = 0;            // trials of power_patients_per_replicate per arm (0: no power)
  int power_patients_per_replicate = 0;
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

struct StudyConfig {
  std::string path;
  std::string yaml_text;      // verbatim, stored in results
  YAML::Node effective;       // after overrides (serialised to JSON in results)
  std::vector<Override> overrides;  // the overrides applied to yaml_text, in order (--set, sweep point)
  std::string name;
  double duration_h = 0.0;
  std::uint64_t seed = 1;
  CohortConfig cohort;
  std::vector<ArmConfig> arms;
  std::string response_model_path;
  EndpointConfig endpoints;
  ConcentrationOutput concentration = ConcentrationOutput::summary;
  double output_step_h = 1.0;
  enum class SolverChoice { automatic, exact, ode } solver = SolverChoice::automatic;
  pk::OdeTolerances tolerances;
  int batch_patients = 256;
};

// Loads, applies overrides and validates; throws InputError listing every problem (a problem in a
// value that an override set says so: "(value from --set key=value)"). The `sweep:` block is
// validated too, but not expanded (trial/sweep.hpp does that).
StudyConfig load_study_config(const std::string& path, const std::vector<Override>& overrides = {});
// The same from text already read (`path` names it in messages and anchors relative paths).
StudyConfig parse_study_config(const std::string& path, const std::string& text,
                               const std::vector<Override>& overrides = {});
// "arms.0.regimen.dose" -> "arms[0].regimen.dose", the form key paths take in messages.
std::string message_key_path(const std::string& dotted);
Override parse_override(const std::string& text);  // "key.path=value"

// The solver an arm uses: exact for linear models unless the config asks for the ODE solver.
pk::SolverKind solver_for(const StudyConfig& config, const pk::PkModel& model);

// Resolves a path written in a file relative to that file's folder.
std::string resolve_relative(const std::string& base_file, const std::string& path);

}  // namespace ketasim::trial
