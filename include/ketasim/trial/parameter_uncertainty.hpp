#pragma once
// endpoints.parameter_uncertainty (issue 10): the study's endpoints at the primary visit re-run
// under K draws of the calibrated response model's parameters (response/parameter_draws.hpp), on
// the same virtual patients as the main run. The spread across draws is model (parameter)
// uncertainty; the Wilson / t intervals of the main run are Monte-Carlo error. `run` writes both
// and labels them separately.
#include <string>
#include <vector>

#include "ketasim/io/results_file.hpp"
#include "ketasim/trial/study.hpp"

namespace ketasim::trial {

struct ParameterDrawResults {
  std::vector<std::string> parameters;  // "name (unit)", internal units
  std::vector<double> values;           // [draw][parameter]
  std::vector<double> response, remission, change;  // [draw][arm] at the primary visit
  int draws = 0;
  int arms = 0;
};

// Runs the draws (study.config.endpoints.parameter_draws of them; the study must not be a sweep
// and its model must carry an uncertainty block: load_study checks both).
ParameterDrawResults simulate_parameter_draws(const Study& study);

// Writes the parameter_draw_* variables and their dimensions (io/results_schema.hpp).
void write_parameter_draws(const ParameterDrawResults& r, io::ResultsFile& file);

}  // namespace ketasim::trial
