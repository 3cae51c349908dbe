#pragma once
// `ketasim optimize`: the best regimen for one arm over a set of candidate regimens, under
// constraints on sessions and dose, with costs (config blocks `optimize:` and `costs:`,
// docs/optimize.md). Every candidate is simulated on the same virtual patients (common random
// numbers), so differences between candidates are not sampling noise between cohorts; the winner
// is then re-simulated on fresh patients (another seed) so the value reported for it is not
// inflated by having been picked as the best (the winner's curse).
#include <cstdint>
#include <functional>
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

// A decision variable searched continuously (`optimize.search.variables`): a key of the optimized
// arm, its range, and the lattice clinics use (whole days, 0.05 mg/kg). A value is rounded to the
// lattice before it is simulated, so every candidate is a regimen a clinic could give.
struct SearchVariable {
  std::string key;     // relative to the arm, e.g. regimen.dose
  std::string name;    // the candidate coordinate's name in the results file
  std::string unit;    // appended to the value in the override ("mg/kg"); "1" for a bare number
  double lower = 0.0, upper = 0.0;
  double step = 0.0;   // lattice spacing from `lower`; 0: not rounded
  std::string origin;  // "optimize.search.variables[0] at file:line:col", for messages about a value
};

struct SearchSpec {
  bool continuous = false;              // `method: nlopt`; otherwise every candidate is evaluated
  std::string algorithm = "GN_DIRECT_L";  // a deterministic derivative-free NLopt algorithm
  int max_evaluations = 30;             // distinct lattice points simulated per discrete candidate
  std::vector<SearchVariable> variables;
};

struct OptimizeSpec {
  std::string arm;            // the arm whose regimen the candidates change
  int arm_index = -1;
  SweepPlan candidates;       // a sweep block (grid and/or scenarios) applied to `arm`: the discrete
                              // candidates (one point with no overrides when absent)
  SearchSpec search;          // continuous variables searched within each discrete candidate
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

// The overrides of one searched point: the variables' values (rounded to their lattice) on the
// optimized arm. `values` are in the variables' units.
std::vector<Override> search_overrides(const OptimizeSpec& spec, const std::vector<double>& values);
// Rounds values to each variable's lattice within its range (what is simulated).
std::vector<double> lattice_values(const SearchSpec& search, const std::vector<double>& values);

// The 2^k corners of the search box (on the lattice). The session and dose constraints are
// monotone in a dose, a count or an interval, so some corner meets them when any point does.
std::vector<std::vector<double>> search_corners(const SearchSpec& search);
// Every discrete candidate at every corner, as validated configs (what `check` validates of a
// continuous search before anything runs); empty without a continuous search.
std::vector<StudyConfig> corner_configs(const StudyConfig& base, const OptimizeSpec& spec);

// The continuous search of one discrete candidate: NLopt (`search.algorithm`) minimizes `cost`
// over the variables' box, with every requested point rounded to the lattice; each distinct lattice
// point is passed to `cost` once, at most `search.max_evaluations` of them. Returns the distinct
// points in the order they were evaluated. `cost` gets lattice values; it returns +inf for a
// point that must not win (infeasible, or no value).
std::vector<std::vector<double>> lattice_search(const SearchSpec& search,
                                                const std::function<double(const std::vector<double>&)>& cost);

// One candidate: its value and the numbers behind it, over the candidate arm's ok patients.
struct CandidateResult {
  std::string label;
  std::vector<Override> overrides;
  int discrete = 0;                     // index into OptimizeSpec::candidates.points
  std::vector<double> search_values;    // values of search.variables (empty without a search)
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
