#pragma once
// The `cohort:` block of a study config: covariate distributions of the virtual patients, or a
// population file of individuals. Parsed here so that population/ depends on nothing above it.
#include <string>

#include "ketasim/core/yaml_input.hpp"

namespace ketasim::population {

struct TruncatedNormalSpec {
  double mean = 0.0;
  double sd = 0.0;
  double min = 0.0;
  double max = 0.0;
};

struct CohortConfig {
  long long patients = 0;  // -1: every row of the population file
  TruncatedNormalSpec weight_kg{80.0, 15.0, 45.0, 150.0};
  TruncatedNormalSpec age_y{45.0, 12.0, 18.0, 75.0};
  double female_fraction = 0.5;
  TruncatedNormalSpec baseline_madrs{37.3, 5.5, 28.0, 60.0};
  std::string population_file;  // optional CSV of patients (ID, WT, AGE, SEX, ETA_<param>...), resolved
  // false: every random effect is zero (PK etas, response-model effects) for typical-value
  // scenarios; covariates, adherence, dropout and visit noise still vary.
  bool variability = true;
  // true when arms dose from an event data set (arms[i].regimen.data): that file is the cohort
  // (population_file holds its path, one patient per ID) and read by load_event_csv.
  bool event_data = false;
};

// Reads `cohort:` (problems go to the node's Diagnostics). `config_path` anchors relative paths.
// With `event_data` the patients come from the arms' event data set: `patients` defaults to every
// ID in it and `population_file` is an error (covariates go in the event data set).
CohortConfig parse_cohort(const InputNode& node, const std::string& config_path, bool event_data = false);

}  // namespace ketasim::population
