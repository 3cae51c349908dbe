#pragma once
// The one front door: a study as every command sees it. load_study reads the config (with --set
// overrides), its sweep, every arm's PK model, the response model and the population file, checks
// them against each other, and reports every problem of every part at once. check, pk, run and
// calibrate all call it, so a study that `check` accepts is one that `run` accepts.
#include <memory>
#include <string>
#include <vector>

#include "ketasim/core/log.hpp"
#include "ketasim/population/population_file.hpp"
#include "ketasim/response/response_model.hpp"
#include "ketasim/trial/config.hpp"
#include "ketasim/trial/sweep.hpp"

namespace ketasim::trial {

// A file the study was built from, for provenance in the results file.
struct InputFile {
  std::string role;    // config, pk_model, response_model, population, event_data
  std::string path;
  std::string sha256;
  std::string text;
};

struct OptimizeSpec;    // trial/optimize.hpp
struct WithdrawalSpec;  // trial/withdrawal.hpp

struct Study {
  StudyConfig config;               // the base config (with --set overrides)
  SweepPlan sweep;                  // one point with no overrides when there is no sweep
  std::vector<StudyConfig> points;  // one validated config per sweep point
  std::shared_ptr<const response::ResponseModel> response_model;
  std::shared_ptr<const population::PopulationTable> population;  // null without a population file
  std::vector<InputFile> inputs;
  // The `optimize:` and `costs:` blocks when the config has them (null otherwise), checked here so
  // that `check` and `optimize` agree.
  std::shared_ptr<const OptimizeSpec> optimize;
  // The `withdrawal:` block (randomized withdrawal) when the config has one, null otherwise.
  std::shared_ptr<const WithdrawalSpec> withdrawal;
};

// Throws InputError with every problem found (file, key path, line, what was expected).
Study load_study(const std::string& path, const std::vector<Override>& overrides = {}, const Logger* log = nullptr);
// The same from text already read (`path` names it in messages and anchors relative paths).
Study load_study(const std::string& path, const std::string& text, const std::vector<Override>& overrides,
                 const Logger* log = nullptr);

// The checks load_study makes between a config and a response model / population table; the
// calibration uses them when it pairs target studies with a starting model.
void check_response_model(const StudyConfig& config, const response::ResponseModel& model, Diagnostics& problems);
void check_population(const std::vector<StudyConfig>& points, const population::PopulationTable& table,
                      const Logger* log);
// An event data set against the arms that dose from it: CMT where the arm's route doses, a route
// the model has for each record (IV: bolus without RATE/DUR, infusion with), whole intranasal
// devices, no record after the end of the study. ADDL doses after the end are dropped from `table`.
void check_event_doses(const std::vector<StudyConfig>& points, population::PopulationTable& table);

}  // namespace ketasim::trial
