#pragma once
// `ketasim optimize`: the best regimen for one arm over a set of candidate regimens, under
// constraints on sessions and dose, with costs (config blocks `optimize:` and `costs:`,
// docs/optimize.md). Every candidate is simulated on the same virtual patients (common random
// numbers), so differences between candidates are not sampling noise between cohorts; the winner
// is then re-simulated on fresh patients (another seed) so the value reported for it is not
// inflated by having been picked as the best (the winner's curse).
#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "ketasim/core/yaml_input.hpp"
#include "ketasim/trial/study.hpp"
#include "ketasim/trial/sweep.hpp"

namespace ketasim::trial {

enum class Objective {
  remission,                // rate at the objective visit (maximize)
  response,                 // rate at the objective visit (maximize)
  days_in_remission,        // mean days in remission from day 0 to the visit (maximize)
  sessions_per_remission,   // mean sessions taken to the visit / remission rate (minimize)
  cost_per_remission,       // mean cost per patient-course / remission rate (minimize; needs costs)
  cost_per_remission_week,  // mean cost / mean weeks in remission (minimize; needs costs)
};
const char* objective_name(Objective objective);
bool objective_maximized(Objective objective);

// Per-session cost of a route: the sum of its listed components, plus drug cost per mg given.
struct SessionCost {
  double fixed = 0.0;
  double per_mg = 0.0;
};

struct CostSpec {
  bool given = false;
  std::string currency;                          // a label, e.g. USD
  std::map<std::string, SessionCost> per_session;  // by route name (pk::route_name)
  double per_visit = 0.0;                        // per study visit attended after day 0
  std::string note;                              // sources, or that the figures are an example
};

struct OptimizeSpec {
  std::string arm;            // the arm whose regimen the candidates change
  int arm_index = -1;
  SweepPlan candidates;       // a sweep block (grid and/or scenarios) applied to `arm`
  Objective objective = Objective::remission;
  double visit_d = 0.0;       // one of the study's visits
  int visit_index = 0;
  // Constraints on the *scheduled* sessions of the candidate arm (NaN: none).
  double max_sessions = std::numeric_limits<double>::quiet_NaN();
  double sessions_within_h = std::numeric_limits<double>::quiet_NaN();  // counted in [0, within]
  double max_dose_mg = std::numeric_limits<double>::quiet_NaN();         // per session, mg-dosed regimens
  double max_dose_mg_per_kg = std::numeric_limits<double>::quiet_NaN();  // per session, mg/kg-dosed regimens
  double min_interval_h = std::numeric_limits<double>::quiet_NaN();      // between consecutive sessions
  std::uint64_t fresh_seed = 0;  // the re-evaluation's seed; never the study's own
  int bootstrap = 400;           // paired bootstrap replicates (CIs, probability the best is best)
  std::string reference;         // an arm of the base config, for incremental cost (optional)
  int reference_index = -1;
  CostSpec costs;
  SourceLocation location;       // of the `optimize:` block
  SourceLocation constraints_location;
};

// Reads `optimize:` and `costs:` of a parsed config into `problems` (file, key, line). Returns
// nothing useful when problems were added. Checked by `ketasim check` through load_study.
OptimizeSpec parse_optimize(const StudyConfig& config, Diagnostics& problems);

// Scheduled sessions of an arm's regimen against the constraints: empty when they are met,
// otherwise why not ("14 sessions in the first 84 d, more than 12").
std::string constraint_violation(const OptimizeSpec& spec, const pk::Regimen& regimen);
// The same for every candidate (expand_sweep of spec.candidates), in order.
std::vector<std::string> candidate_violations(const OptimizeSpec& spec, const std::vector<StudyConfig>& candidates);

// One candidate: its value and the numbers behind it, over the candidate arm's ok patients.
struct CandidateResult {
  std::string label;
  std::vector<Override> overrides;
  bool feasible = false;
  std::string infeasible_because;
  long long patients_ok = 0;
  double objective = std::numeric_limits<double>::quiet_NaN();
  double objective_lower = std::numeric_limits<double>::quiet_NaN();  // 95% paired-bootstrap percentile
  double objective_upper = std::numeric_limits<double>::quiet_NaN();
  double remission = std::numeric_limits<double>::quiet_NaN();         // rate at the visit
  double response = std::numeric_limits<double>::quiet_NaN();
  double days_in_remission = std::numeric_limits<double>::quiet_NaN();  // mean per patient
  double sessions_scheduled = std::numeric_limits<double>::quiet_NaN();  // to the visit, per patient (plan)
  double sessions_taken = std::numeric_limits<double>::quiet_NaN();      // to the visit, mean per patient
  double cost_per_patient = std::numeric_limits<double>::quiet_NaN();    // NaN without costs
  double cost_per_remission = std::numeric_limits<double>::quiet_NaN();
  double cost_per_remission_week = std::numeric_limits<double>::quiet_NaN();
  double incremental_cost_per_remission = std::numeric_limits<double>::quiet_NaN();  // vs reference
  bool pareto = false;  // not dominated in (remission up, cost or sessions down) among feasible ones
};

struct OptimizeResult {
  std::vector<CandidateResult> candidates;
  int best = -1;       // index into candidates (feasible only)
  int runner_up = -1;  // -1 with a single feasible candidate
  double probability_best_beats_runner_up = std::numeric_limits<double>::quiet_NaN();
  CandidateResult best_fresh;       // the winner re-simulated with fresh_seed
  CandidateResult runner_up_fresh;  // the runner-up on the same fresh patients
  double reference_remission = std::numeric_limits<double>::quiet_NaN();
  double reference_cost_per_patient = std::numeric_limits<double>::quiet_NaN();
};

// Evaluates every candidate (an InputError naming the constraints when none is feasible).
// Deterministic for a seed whatever the thread count.
OptimizeResult optimize(const Study& study, const OptimizeSpec& spec,
                        const std::function<void(int done, int total)>& on_progress = {});

}  // namespace ketasim::trial
