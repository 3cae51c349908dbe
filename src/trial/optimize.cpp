#include "ketasim/trial/optimize.hpp"

#include <nlopt.h>
#include <tbb/parallel_for.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cmath>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>

#include "ketasim/core/error.hpp"
#include "ketasim/core/units.hpp"
#include "ketasim/pk/model.hpp"
#include "ketasim/pk/regimen.hpp"
#include "ketasim/population/random_stream.hpp"
#include "ketasim/trial/engine.hpp"
#include "ketasim/trial/statistics.hpp"

namespace ketasim::trial {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

struct ObjectiveInfo {
  Objective objective;
  const char* name;
  bool maximized;
  bool needs_costs;
};
constexpr ObjectiveInfo kObjectives[] = {
    {Objective::remission, "remission", true, false},
    {Objective::response, "response", true, false},
    {Objective::days_in_remission, "days_in_remission", true, false},
    {Objective::sessions_per_remission, "sessions_per_remission", false, false},
    {Objective::cost_per_remission, "cost_per_remission", false, true},
    {Objective::cost_per_remission_week, "cost_per_remission_week", false, true},
};

const ObjectiveInfo& info(Objective o) {
  for (const auto& i : kObjectives) {
    if (i.objective == o) return i;
  }
  return kObjectives[0];
}

std::string short_number(double x) {
  std::ostringstream os;
  os << x;
  return os.str();
}

CostSpec parse_costs(const InputNode& node) {
  CostSpec costs;
  costs.given = true;
  node.check_keys({"currency", "per_session", "per_visit", "note"});
  costs.currency = node.required("currency").text();
  if (const auto n = node.optional("note")) costs.note = n->text();
  if (const auto v = node.optional("per_visit")) costs.per_visit = v->nonnegative_number();
  for (const auto& [route_text, entry] : node.required("per_session").entries()) {
    pk::Route route{};
    if (!pk::parse_route(route_text, route)) {
      entry.fail("expected a route (iv_infusion, iv_bolus, intranasal, oral), found '" + route_text + "'");
      continue;
    }
    SessionCost cost;
    // Components are listed by name (drug, clinic, monitoring, ...) so a reader sees what is counted;
    // `drug_per_mg` scales with the amount given.
    for (const auto& [component, value] : entry.entries()) {
      if (component == "drug_per_mg") {
        cost.per_mg = value.nonnegative_number();
      } else {
        cost.fixed += value.nonnegative_number();
      }
    }
    costs.per_session[pk::route_name(route)] = cost;
  }
  return costs;
}

// NLopt algorithms that need no derivatives, draw no random numbers (NLopt's generator is one
// global state: a stochastic algorithm would make parallel searches depend on their timing) and
// cope with a lattice's steps. Model-based local methods (LN_BOBYQA, LN_COBYLA) are left out: the
// rounding makes the objective piecewise constant, their smooth models stall on its steps, and on
// the closed-form test (tests/trial/test_optimize.cpp) they stopped 1 and 13 lattice steps short.
constexpr const char* kSearchAlgorithms[] = {"GN_DIRECT_L", "GN_DIRECT", "GN_DIRECT_L_NOSCAL", "LN_SBPLX",
                                             "LN_NELDERMEAD"};
constexpr std::size_t kMaxSearchVariables = 4;
// NLopt's DIRECT takes finite values best: a point that must not win gets a large finite one.
constexpr double kWorst = 1e30;

SearchSpec parse_search(const InputNode& node) {
  SearchSpec search;
  node.check_keys({"method", "algorithm", "max_evaluations", "variables"});
  const std::string method = node.required("method").choice({"grid", "nlopt"});
  search.continuous = method == "nlopt";
  if (!search.continuous) {
    for (const char* key : {"algorithm", "max_evaluations", "variables"}) {
      if (node.has(key)) node.child(key).fail("only meaningful with `method: nlopt`");
    }
    return search;
  }
  if (const auto a = node.optional("algorithm")) {
    search.algorithm = a->text();
    const auto known = std::find_if(std::begin(kSearchAlgorithms), std::end(kSearchAlgorithms),
                                    [&](const char* name) { return search.algorithm == name; });
    if (known == std::end(kSearchAlgorithms)) {
      std::string list;
      for (const char* name : kSearchAlgorithms) list += (list.empty() ? "" : ", ") + std::string(name);
      a->fail("expected a deterministic derivative-free NLopt algorithm (" + list + "), found '" + search.algorithm + "'");
    }
  }
  if (const auto m = node.optional("max_evaluations")) {
    const long long n = m->integer();
    if (n < 2 || n > 10000) m->fail("expected 2 to 10000 evaluations");
    search.max_evaluations = static_cast<int>(n);
  }
  const InputNode variables = node.required("variables");
  const auto entries = variables.sequence();
  if (variables.is_sequence() && (entries.empty() || entries.size() > kMaxSearchVariables)) {
    variables.fail("expected 1 to " + std::to_string(kMaxSearchVariables) + " variables");
  }
  for (const auto& entry : entries) {
    if (!entry.is_map()) {
      entry.fail("expected a mapping {key: ..., range: [from, to], step: ..., unit: ..., name: ...}");
      continue;
    }
    entry.check_keys({"key", "name", "range", "step", "unit"});
    SearchVariable v;
    std::ostringstream origin;
    const SourceLocation where = entry.location();
    origin << entry.key_path() << " at " << where.file << ':' << where.line << ':' << where.column;
    v.origin = origin.str();
    const InputNode key = entry.required("key");
    v.key = key.text();
    if (key.is_scalar() && (v.key.empty() || v.key.rfind("arms.", 0) == 0 || v.key == "name" ||
                            v.key.find("..") != std::string::npos || v.key.front() == '.' || v.key.back() == '.')) {
      key.fail("expected a dotted key of the optimized arm such as regimen.dose, found '" + v.key + "'");
    }
    for (const auto& other : search.variables) {
      if (other.key == v.key) key.fail("'" + v.key + "' is searched twice");
    }
    // Range and step: numbers with one unit ([7d, 28d], step: 1d), or bare numbers with `unit`.
    const InputNode range = entry.required("range");
    const auto ends = range.sequence();
    std::string unit;
    if (const auto u = entry.optional("unit")) {
      unit = u->text();
      if (u->is_scalar() && unit != "1" && !parse_unit(unit)) {
        u->fail("unknown unit '" + unit + "'; expected a unit such as mg, mg/kg, d, h, min (or 1)");
      }
    }
    if (range.is_sequence() && ends.size() != 2) range.fail("expected [from, to]");
    std::optional<Quantity> from, to, step;
    if (ends.size() == 2) {
      from = parse_quantity(ends[0].text());
      to = parse_quantity(ends[1].text());
      if (!from || !to || from->unit != to->unit) {
        range.fail("expected two numbers with one unit (e.g. [7d, 28d], or bare numbers with `unit`)");
        from.reset();
      } else if (!from->unit.empty() && !unit.empty()) {
        entry.child("unit").fail("the range carries a unit ('" + from->unit + "') and so does `unit`: give it in one place");
      } else if (!(to->value > from->value)) {
        range.fail("expected from < to (an empty range has nothing to search)");
      }
    }
    if (const auto st = entry.optional("step")) {
      step = parse_quantity(st->text());
      if (!step || (from && step->unit != from->unit)) {
        st->fail("expected a number in the range's unit");
      } else if (!(step->value > 0.0)) {
        st->fail("expected a positive step");
      } else if (from && to && step->value > to->value - from->value) {
        st->fail("the step is larger than the range: use a grid entry for a single value");
      } else {
        v.step = step->value;
      }
    }
    if (from && to) {
      v.lower = from->value;
      v.upper = to->value;
      unit = unit.empty() ? from->unit : unit;
    }
    v.unit = unit.empty() ? "1" : unit;
    if (const auto n = entry.optional("name")) {
      v.name = n->text();
      if (n->is_scalar() && !is_identifier(v.name)) n->fail("expected a name of letters, digits and _, found '" + v.name + "'");
    } else {
      for (char c : v.key) v.name += c == '.' ? '_' : c;
    }
    search.variables.push_back(v);
  }
  return search;
}

std::string value_text(double x) {
  std::ostringstream os;
  os.precision(12);
  os << x;
  return os.str();
}

}  // namespace

std::vector<double> lattice_values(const SearchSpec& search, const std::vector<double>& values) {
  std::vector<double> out(values.size());
  for (std::size_t i = 0; i < values.size(); ++i) {
    const SearchVariable& v = search.variables[i];
    double x = std::clamp(values[i], v.lower, v.upper);
    if (v.step > 0.0) {
      // lower + k step (not accumulated), the largest k that stays within the range
      const double top = std::floor((v.upper - v.lower) / v.step + 1e-9);
      x = v.lower + std::clamp(std::round((x - v.lower) / v.step), 0.0, top) * v.step;
    }
    out[i] = std::stod(value_text(x));  // the value as the override writes it
  }
  return out;
}

std::vector<Override> search_overrides(const OptimizeSpec& spec, const std::vector<double>& values) {
  std::vector<Override> out;
  for (std::size_t i = 0; i < values.size(); ++i) {
    const SearchVariable& v = spec.search.variables[i];
    const std::string text = value_text(values[i]) + (v.unit == "1" ? "" : " " + v.unit);
    out.emplace_back("arms." + std::to_string(spec.arm_index) + "." + v.key, text,
                     v.origin + ", value " + text);
  }
  return out;
}

std::vector<std::vector<double>> lattice_search(const SearchSpec& search,
                                                const std::function<double(const std::vector<double>&)>& cost) {
  const std::size_t n = search.variables.size();
  std::vector<std::vector<double>> evaluated;
  std::map<std::vector<double>, double> seen;  // lattice point -> its cost
  struct Context {
    const SearchSpec* search;
    const std::function<double(const std::vector<double>&)>* cost;
    std::vector<std::vector<double>>* evaluated;
    std::map<std::vector<double>, double>* seen;
    nlopt_opt opt;
  };
  nlopt_opt opt = nlopt_create(nlopt_algorithm_from_string(search.algorithm.c_str()), static_cast<unsigned>(n));
  if (!opt) throw std::runtime_error("NLopt could not create " + search.algorithm);
  std::vector<double> lower(n), upper(n), x(n), step(n), tolerance(n);
  for (std::size_t i = 0; i < n; ++i) {
    const SearchVariable& v = search.variables[i];
    lower[i] = v.lower;
    upper[i] = v.upper;
    x[i] = 0.5 * (v.lower + v.upper);  // local algorithms start mid-range
    step[i] = 0.25 * (v.upper - v.lower);
    // Converged when steps are within half a lattice spacing (or 1e-4 of the range without one).
    tolerance[i] = v.step > 0.0 ? 0.5 * v.step : 1e-4 * (v.upper - v.lower);
  }
  Context context{&search, &cost, &evaluated, &seen, opt};
  nlopt_set_lower_bounds(opt, lower.data());
  nlopt_set_upper_bounds(opt, upper.data());
  nlopt_set_initial_step(opt, step.data());
  nlopt_set_xtol_abs(opt, tolerance.data());
  // Requests that round to a lattice point already seen are free; this bounds them too.
  nlopt_set_maxeval(opt, 20 * search.max_evaluations);
  nlopt_set_min_objective(
      opt,
      [](unsigned dim, const double* point, double*, void* data) -> double {
        auto& c = *static_cast<Context*>(data);
        const std::vector<double> at = lattice_values(*c.search, std::vector<double>(point, point + dim));
        const auto it = c.seen->find(at);
        if (it != c.seen->end()) return it->second;
        if (static_cast<int>(c.evaluated->size()) >= c.search->max_evaluations) {
          nlopt_force_stop(c.opt);
          return kWorst;
        }
        const double value = (*c.cost)(at);
        const double bounded = std::isfinite(value) ? std::min(value, kWorst) : kWorst;
        c.evaluated->push_back(at);
        c.seen->emplace(at, bounded);
        return bounded;
      },
      &context);
  double best = 0.0;
  const nlopt_result status = nlopt_optimize(opt, x.data(), &best);
  nlopt_destroy(opt);
  // Stopping at the evaluation budget, or because steps fell below the lattice, is the normal end;
  // anything else is a defect worth reporting rather than a silently partial search.
  if (status < 0 && status != NLOPT_FORCED_STOP && status != NLOPT_ROUNDOFF_LIMITED) {
    throw std::runtime_error("NLopt " + search.algorithm + " failed (code " + std::to_string(status) + ")");
  }
  return evaluated;
}

const char* objective_name(Objective objective) { return info(objective).name; }
bool objective_maximized(Objective objective) { return info(objective).maximized; }

OptimizeSpec parse_optimize(const StudyConfig& config, Diagnostics& problems) {
  OptimizeSpec spec;
  const YAML::Node& root = config.effective;
  const auto file = std::make_shared<const std::string>(config.path);
  const YAML::Node block = root.IsMap() ? root["optimize"] : YAML::Node();
  const InputNode node(block, file, "optimize", &problems);
  spec.location = node.location();
  if (!node.defined()) {
    problems.add(SourceLocation{config.path, "optimize", 0, 0},
                 "`ketasim optimize` needs an `optimize:` block (docs/optimize.md)");
    return spec;
  }
  node.check_keys({"arm", "candidates", "search", "objective", "visit", "constraints", "fresh_seed", "bootstrap",
                   "reference"});
  if (const auto s = node.optional("search")) spec.search = parse_search(*s);
  const YAML::Node sweep = root.IsMap() ? root["sweep"] : YAML::Node();
  if (sweep.IsDefined() && !sweep.IsNull()) {
    InputNode(sweep, file, "sweep", &problems).fail("`optimize` and `sweep` cannot be combined: candidates are the optimize block's");
  }

  std::vector<std::string> arm_names;
  for (const auto& a : config.arms) arm_names.push_back(a.name);
  auto arm_index = [&](const InputNode& n) {
    const std::string name = n.text();
    const auto it = std::find(arm_names.begin(), arm_names.end(), name);
    if (it == arm_names.end()) {
      std::string list;
      for (const auto& a : arm_names) list += (list.empty() ? "" : ", ") + a;
      n.fail("expected an arm of the study (" + list + "), found '" + name + "'");
      return -1;
    }
    return static_cast<int>(it - arm_names.begin());
  };
  const InputNode arm = node.required("arm");
  spec.arm = arm.text();
  if (arm.is_scalar()) spec.arm_index = arm_index(arm);
  if (const auto r = node.optional("reference")) {
    spec.reference = r->text();
    spec.reference_index = arm_index(*r);
    if (spec.reference_index >= 0 && spec.reference_index == spec.arm_index) {
      r->fail("the reference must be another arm than the optimized one");
    }
  }

  // Candidates: a sweep block whose keys are relative to the optimized arm. With a continuous
  // search they are optional: without them the search runs once, on the arm as written.
  const InputNode candidates = spec.search.continuous ? node.child("candidates") : node.required("candidates");
  if (!candidates.defined()) spec.candidates.points.push_back({});
  if (candidates.is_map()) {
    if (candidates.has("arms")) candidates.child("arms").fail("candidates always apply to `optimize.arm`; remove `arms`");
    YAML::Node relative(YAML::NodeType::Map);
    for (const auto& kv : candidates.yaml()) relative[kv.first] = kv.second;  // same nodes: lines kept
    YAML::Node arms(YAML::NodeType::Sequence);
    arms.push_back(spec.arm);
    relative["arms"] = arms;
    if (spec.arm_index >= 0) {
      spec.candidates = parse_sweep_block(InputNode(relative, file, "optimize.candidates", &problems), arm_names);
      spec.candidates.effective = config.effective;
      for (const auto& v : spec.search.variables) {
        for (const auto& d : spec.candidates.dimensions) {
          if (d.key == v.key) {
            node.child("search").fail("'" + v.key + "' is both a grid entry of `candidates` and a search variable");
          }
        }
      }
    }
  } else if (candidates.defined()) {
    candidates.fail("expected a mapping with `grid:` and/or `scenarios:` (as in `sweep:`)");
  }

  const InputNode objective = node.required("objective");
  std::vector<std::string_view> names;
  for (const auto& i : kObjectives) names.emplace_back(i.name);
  if (objective.is_scalar()) {
    const std::string text = objective.text();
    bool found = false;
    for (const auto& i : kObjectives) {
      if (text == i.name) {
        spec.objective = i.objective;
        found = true;
      }
    }
    if (!found) {
      std::string list;
      for (const auto& n : names) list += (list.empty() ? "" : ", ") + std::string(n);
      objective.fail("expected one of " + list + ", found '" + text + "'");
    }
  } else {
    objective.fail("expected an objective name such as remission or cost_per_remission");
  }

  const InputNode visit = node.required("visit");
  if (visit.is_scalar()) {
    spec.visit_d = visit.quantity(Dimension::time) / 24.0;
    const auto& visits = config.endpoints.visits_d;
    const auto it = std::find(visits.begin(), visits.end(), spec.visit_d);
    if (it == visits.end()) {
      visit.fail("expected one of the study's visits (endpoints.visits), found '" + visit.text() + "'");
    } else {
      spec.visit_index = static_cast<int>(it - visits.begin());
    }
  }

  if (const auto c = node.optional("constraints")) {
    spec.constraints_location = c->location();
    c->check_keys({"max_sessions", "sessions_within", "max_dose_per_session", "min_interval"});
    if (const auto m = c->optional("max_sessions")) {
      spec.max_sessions = static_cast<double>(m->integer());
      if (spec.max_sessions < 1) m->fail("expected at least 1 session");
      const InputNode within = c->required("sessions_within");
      if (within.is_scalar()) {
        spec.sessions_within_h = within.quantity(Dimension::time);
        if (!(spec.sessions_within_h > 0.0)) within.fail("expected a positive duration");
      }
    } else if (c->has("sessions_within")) {
      c->child("sessions_within").fail("only meaningful with `max_sessions`");
    }
    if (const auto d = c->optional("max_dose_per_session")) {
      // One limit per dosing unit: [84 mg] for intranasal esketamine, [1 mg/kg] for IV ketamine.
      for (const auto& limit : d->is_sequence() ? d->sequence() : std::vector<InputNode>{*d}) {
        const auto [value, dimension] = limit.quantity_of({Dimension::amount, Dimension::amount_per_weight});
        if (!(value > 0.0)) limit.fail("expected a positive dose");
        (dimension == Dimension::amount ? spec.max_dose_mg : spec.max_dose_mg_per_kg) = value;
      }
    }
    if (const auto i = c->optional("min_interval")) {
      spec.min_interval_h = i->quantity(Dimension::time);
      if (!(spec.min_interval_h > 0.0)) i->fail("expected a positive interval");
    }
  }

  spec.fresh_seed = config.seed + 1;  // any other seed gives other patients (counter-based streams)
  if (const auto s = node.optional("fresh_seed")) {
    const long long seed = s->integer();
    if (seed < 0) s->fail("expected a non-negative seed");
    spec.fresh_seed = static_cast<std::uint64_t>(seed);
    if (spec.fresh_seed == config.seed) s->fail("the fresh seed must differ from study.seed (the search's patients)");
  }
  if (const auto b = node.optional("bootstrap")) {
    const long long n = b->integer();
    if (n < 20 || n > 100000) b->fail("expected 20 to 100000 replicates");
    spec.bootstrap = static_cast<int>(n);
  }

  const YAML::Node costs = root.IsMap() ? root["costs"] : YAML::Node();
  if (costs.IsDefined() && !costs.IsNull()) spec.costs = parse_costs(InputNode(costs, file, "costs", &problems));
  if (info(spec.objective).needs_costs && !spec.costs.given) {
    objective.fail(std::string("objective ") + info(spec.objective).name + " needs a `costs:` block");
  }
  if (spec.costs.given) {
    // Every route the study can give (the base arms; candidates are checked when expanded).
    for (const auto& a : config.arms) {
      if (a.regimen.dose > 0.0 && !spec.costs.per_session.count(pk::route_name(a.regimen.route))) {
        problems.add(SourceLocation{config.path, "costs.per_session", 0, 0},
                     std::string("no cost for route ") + pk::route_name(a.regimen.route) + " (arm '" + a.name + "')");
      }
    }
  }
  return spec;
}

std::string constraint_violation(const OptimizeSpec& spec, const pk::Regimen& regimen) {
  const std::vector<pk::Session> sessions = pk::expand_sessions(regimen);
  if (regimen.dose <= 0.0) return "";  // placebo: nothing given
  if (!std::isnan(spec.max_sessions)) {
    const auto n = std::count_if(sessions.begin(), sessions.end(),
                                 [&](const pk::Session& s) { return s.time_h <= spec.sessions_within_h; });
    if (static_cast<double>(n) > spec.max_sessions) {
      return std::to_string(n) + " sessions in the first " + short_number(spec.sessions_within_h / 24.0) +
             " d, more than " + short_number(spec.max_sessions);
    }
  }
  const double limit = regimen.dose_per_kg ? spec.max_dose_mg_per_kg : spec.max_dose_mg;
  if (!std::isnan(limit)) {
    for (const auto& s : sessions) {
      if (s.dose > limit * (1.0 + 1e-12)) {
        return "a session of " + short_number(s.dose) + (regimen.dose_per_kg ? " mg/kg" : " mg") + ", above " +
               short_number(limit);
      }
    }
  }
  if (!std::isnan(spec.min_interval_h)) {
    for (std::size_t i = 1; i < sessions.size(); ++i) {
      const double gap_h = sessions[i].time_h - sessions[i - 1].time_h;
      if (gap_h < spec.min_interval_h * (1.0 - 1e-12)) {
        return "sessions " + short_number(gap_h / 24.0) + " d apart, less than " +
               short_number(spec.min_interval_h / 24.0) + " d";
      }
    }
  }
  return "";
}

std::vector<std::string> candidate_violations(const OptimizeSpec& spec, const std::vector<StudyConfig>& candidates) {
  std::vector<std::string> out;
  for (const auto& c : candidates) out.push_back(constraint_violation(spec, c.arms[spec.arm_index].regimen));
  return out;
}

namespace {

// One arm's per-patient numbers behind every objective, over its ok patients.
struct PatientValues {
  std::vector<double> remission, response, days_in_remission, sessions, cost;
  std::size_t size() const { return remission.size(); }
};

PatientValues patient_values(const PatientOutcomes& o, int arm, const OptimizeSpec& spec, const pk::Regimen& regimen) {
  PatientValues v;
  const double visit_d = spec.visit_d;
  const int nv = o.n_visits, nd = o.n_doses;
  double per_session_fixed = 0.0, per_mg = 0.0;
  if (spec.costs.given && regimen.dose > 0.0) {
    const auto it = spec.costs.per_session.find(pk::route_name(regimen.route));
    if (it != spec.costs.per_session.end()) {
      per_session_fixed = it->second.fixed;
      per_mg = it->second.per_mg;
    }
  }
  for (long long p = 0; p < o.n_patients; ++p) {
    const std::size_t ap = static_cast<std::size_t>(arm) * o.n_patients + static_cast<std::size_t>(p);
    if (o.status[ap] != 0) continue;
    const std::int8_t* rem = &o.remission_by_visit[ap * nv];
    v.remission.push_back(rem[spec.visit_index]);
    v.response.push_back(o.response_by_visit[ap * nv + spec.visit_index]);
    // Days in remission: a visit's state holds until the next visit (what a clinic sees).
    double days = 0.0;
    for (int k = 0; k + 1 < nv && o.visits_d[k] < visit_d; ++k) {
      days += rem[k] ? std::min(o.visits_d[k + 1], visit_d) - o.visits_d[k] : 0.0;
    }
    v.days_in_remission.push_back(days);
    // Sessions and visits a patient attends: up to the objective visit, and not after dropping out.
    const double until_d = std::isnan(o.dropout_time_d[ap]) ? visit_d : std::min(visit_d, o.dropout_time_d[ap]);
    double sessions = 0.0, cost = 0.0;
    if (regimen.dose > 0.0) {
      for (int k = 0; k < nd; ++k) {
        const std::size_t i = ap * nd + k;
        if (o.dose_taken[i] != 1 || !(o.dose_time_h[i] / 24.0 <= until_d)) continue;
        sessions += 1.0;
        cost += per_session_fixed + per_mg * o.dose_amount_mg[i];
      }
    }
    for (int k = 0; k < nv; ++k) {
      if (o.visits_d[k] > 0.0 && o.visits_d[k] <= until_d) cost += spec.costs.per_visit;
    }
    v.sessions.push_back(sessions);
    v.cost.push_back(cost);
  }
  return v;
}

// Means over the patients listed in `index` (a bootstrap sample) or over all (index empty).
struct Means {
  double remission = 0, response = 0, days = 0, sessions = 0, cost = 0;
};
Means means(const PatientValues& v, const std::vector<std::uint32_t>* index) {
  Means m;
  const std::size_t n = index ? index->size() : v.size();
  if (n == 0) return Means{kNaN, kNaN, kNaN, kNaN, kNaN};
  for (std::size_t k = 0; k < n; ++k) {
    const std::size_t i = index ? (*index)[k] : k;
    m.remission += v.remission[i];
    m.response += v.response[i];
    m.days += v.days_in_remission[i];
    m.sessions += v.sessions[i];
    m.cost += v.cost[i];
  }
  m.remission /= n;
  m.response /= n;
  m.days /= n;
  m.sessions /= n;
  m.cost /= n;
  return m;
}

double ratio(double numerator, double denominator) {
  return denominator > 0.0 ? numerator / denominator : std::numeric_limits<double>::infinity();
}

double objective_value(Objective o, const Means& m) {
  switch (o) {
    case Objective::remission: return m.remission;
    case Objective::response: return m.response;
    case Objective::days_in_remission: return m.days;
    case Objective::sessions_per_remission: return ratio(m.sessions, m.remission);
    case Objective::cost_per_remission: return ratio(m.cost, m.remission);
    case Objective::cost_per_remission_week: return ratio(m.cost, m.days / 7.0);
  }
  return kNaN;
}

bool better(Objective o, double a, double b) { return objective_maximized(o) ? a > b : a < b; }

// Bootstrap samples of patient positions 0..n-1, the same for every candidate (paired): from the
// optimize stream keyed by the study seed, replicate r as the "patient" counter.
std::vector<std::vector<std::uint32_t>> bootstrap_samples(std::uint64_t seed, std::size_t n, int replicates) {
  std::vector<std::vector<std::uint32_t>> samples(static_cast<std::size_t>(replicates));
  for (int r = 0; r < replicates; ++r) {
    RandomStream stream(seed, Stream::optimize_bootstrap, static_cast<std::uint64_t>(r));
    auto& s = samples[static_cast<std::size_t>(r)];
    s.resize(n);
    for (auto& i : s) i = static_cast<std::uint32_t>(std::min<double>(std::floor(stream.uniform() * n), n - 1));
  }
  return samples;
}

void fill(CandidateResult& c, const OptimizeSpec& spec, const PatientValues& v,
          const std::vector<std::vector<std::uint32_t>>& samples, std::vector<double>& replicate_values) {
  c.patients_ok = static_cast<long long>(v.size());
  const Means m = means(v, nullptr);
  c.remission = m.remission;
  c.response = m.response;
  c.days_in_remission = m.days;
  c.sessions_taken = m.sessions;
  if (spec.costs.given) {
    c.cost_per_patient = m.cost;
    c.cost_per_remission = ratio(m.cost, m.remission);
    c.cost_per_remission_week = ratio(m.cost, m.days / 7.0);
  }
  c.objective = objective_value(spec.objective, m);
  replicate_values.clear();
  for (const auto& s : samples) replicate_values.push_back(objective_value(spec.objective, means(v, &s)));
  std::vector<double> sorted = replicate_values;
  std::sort(sorted.begin(), sorted.end());
  c.objective_lower = sorted_percentile(sorted, 0.025);
  c.objective_upper = sorted_percentile(sorted, 0.975);
}

}  // namespace

namespace {

// One simulated candidate: its config and the per-patient values behind every objective.
struct Evaluation {
  CandidateResult head;  // label, overrides, discrete point, search values
  StudyConfig config;
  PatientValues values;
  PatientValues reference;  // the reference arm's (unchanged by candidates: kept from the first)
};

std::string search_label(const OptimizeSpec& spec, const std::string& discrete_label, const std::vector<double>& values) {
  std::string label = discrete_label;
  for (std::size_t i = 0; i < values.size(); ++i) {
    label += (label.empty() ? "" : " ") + spec.search.variables[i].name + "=" + value_text(values[i]);
  }
  return label;
}

// A candidate's overrides: its discrete point's, then the searched variables' values.
std::vector<Override> candidate_overrides(const OptimizeSpec& spec, int discrete, const std::vector<double>& values) {
  std::vector<Override> out = spec.candidates.points[static_cast<std::size_t>(discrete)].overrides;
  const std::vector<Override> searched = search_overrides(spec, values);
  out.insert(out.end(), searched.begin(), searched.end());
  return out;
}

// The candidate as a validated config: the base's text with its own overrides and the candidate's.
StudyConfig candidate_config(const StudyConfig& base, const std::vector<Override>& candidate) {
  std::vector<Override> all = base.overrides;
  all.insert(all.end(), candidate.begin(), candidate.end());
  return parse_study_config(base.path, base.yaml_text, all);
}

Evaluation evaluate(const Study& study, const OptimizeSpec& spec, int discrete, const std::vector<double>& values) {
  Evaluation e;
  e.head.discrete = discrete;
  e.head.search_values = values;
  e.head.label = search_label(spec, spec.candidates.points[static_cast<std::size_t>(discrete)].label, values);
  e.head.overrides = candidate_overrides(spec, discrete, values);
  e.config = candidate_config(study.config, e.head.overrides);
  const PatientOutcomes o = simulate_outcomes(e.config, *study.response_model, study.population.get());
  e.values = patient_values(o, spec.arm_index, spec, e.config.arms[spec.arm_index].regimen);
  if (spec.reference_index >= 0) {
    e.reference = patient_values(o, spec.reference_index, spec, study.config.arms[spec.reference_index].regimen);
  }
  return e;
}

// The value the search minimizes: the objective (negated when maximized), +inf when it must not win.
double search_cost(const OptimizeSpec& spec, const Evaluation& e) {
  if (!constraint_violation(spec, e.config.arms[spec.arm_index].regimen).empty()) return kInf;
  const double value = objective_value(spec.objective, means(e.values, nullptr));
  if (std::isnan(value)) return kInf;
  return objective_maximized(spec.objective) ? -value : value;
}

}  // namespace

std::vector<std::vector<double>> search_corners(const SearchSpec& search) {
  const std::size_t n = search.variables.size();
  std::vector<std::vector<double>> corners;
  for (std::size_t mask = 0; mask < (std::size_t{1} << n); ++mask) {
    std::vector<double> x(n);
    for (std::size_t i = 0; i < n; ++i) x[i] = (mask >> i) & 1 ? search.variables[i].upper : search.variables[i].lower;
    corners.push_back(lattice_values(search, x));
  }
  return corners;
}

std::vector<StudyConfig> corner_configs(const StudyConfig& base, const OptimizeSpec& spec) {
  std::vector<StudyConfig> out;
  if (!spec.search.continuous) return out;
  const auto corners = search_corners(spec.search);
  for (std::size_t d = 0; d < spec.candidates.points.size(); ++d) {
    for (const auto& corner : corners) {
      out.push_back(candidate_config(base, candidate_overrides(spec, static_cast<int>(d), corner)));
    }
  }
  return out;
}

OptimizeResult optimize(const Study& study, const OptimizeSpec& spec,
                        const std::function<void(int done, int total)>& on_progress) {
  OptimizeResult result;
  const int discrete_total = static_cast<int>(spec.candidates.points.size());
  std::vector<std::vector<Evaluation>> by_discrete(static_cast<std::size_t>(discrete_total));
  // Discrete candidates in parallel (each also runs its patients in parallel); results land by
  // index, and each search is sequential and deterministic, so the answer does not depend on the
  // order they finish in. Infeasible candidates are simulated too, so users see what a constraint
  // costs.
  const int total = spec.search.continuous ? discrete_total * spec.search.max_evaluations : discrete_total;
  std::atomic<int> done{0};
  std::mutex progress_mutex;
  auto progress = [&] {
    if (!on_progress) return;
    const std::lock_guard<std::mutex> lock(progress_mutex);
    on_progress(++done, total);
  };
  tbb::parallel_for(0, discrete_total, [&](int d) {
    auto& out = by_discrete[static_cast<std::size_t>(d)];
    if (!spec.search.continuous) {
      out.push_back(evaluate(study, spec, d, {}));
      progress();
      return;
    }
    lattice_search(spec.search, [&](const std::vector<double>& values) {
      out.push_back(evaluate(study, spec, d, values));
      progress();
      return search_cost(spec, out.back());
    });
  });
  std::vector<Evaluation> evaluations;
  for (auto& list : by_discrete) {
    for (auto& e : list) evaluations.push_back(std::move(e));
  }
  const int n_candidates = static_cast<int>(evaluations.size());
  std::vector<std::vector<double>> replicate_values(evaluations.size());
  std::vector<std::vector<std::uint32_t>> samples;
  for (int c = 0; c < n_candidates; ++c) {
    const Evaluation& e = evaluations[static_cast<std::size_t>(c)];
    CandidateResult r = e.head;
    const pk::Regimen& regimen = e.config.arms[spec.arm_index].regimen;
    r.infeasible_because = constraint_violation(spec, regimen);
    r.feasible = r.infeasible_because.empty();
    const auto sessions = pk::expand_sessions(regimen);
    r.sessions_scheduled = regimen.dose > 0.0 ? static_cast<double>(std::count_if(
                                                    sessions.begin(), sessions.end(),
                                                    [&](const pk::Session& s) { return s.time_h <= spec.visit_d * 24.0; }))
                                              : 0.0;
    if (spec.costs.given && regimen.dose > 0.0 && !spec.costs.per_session.count(pk::route_name(regimen.route))) {
      throw InputError(SourceLocation{study.config.path, "costs.per_session", 0, 0},
                       std::string("no cost for route ") + pk::route_name(regimen.route) + " (candidate '" + r.label + "')");
    }
    if (c == 0 && spec.reference_index >= 0) {
      const Means m = means(e.reference, nullptr);
      result.reference_remission = m.remission;
      if (spec.costs.given) result.reference_cost_per_patient = m.cost;
    }
    // Paired bootstrap: the positions index ok patients, the same set in every candidate when no
    // simulation failed (failures are reported by `run`; here they only shrink the sample).
    if (samples.empty()) samples = bootstrap_samples(study.config.seed, e.values.size(), spec.bootstrap);
    if (e.values.size() == samples.front().size()) {
      fill(r, spec, e.values, samples, replicate_values[c]);
    } else {
      const auto own = bootstrap_samples(study.config.seed, e.values.size(), spec.bootstrap);
      fill(r, spec, e.values, own, replicate_values[c]);
    }
    if (spec.reference_index >= 0 && spec.costs.given) {
      r.incremental_cost_per_remission =
          (r.cost_per_patient - result.reference_cost_per_patient) / (r.remission - result.reference_remission);
    }
    result.candidates.push_back(std::move(r));
  }

  // Best and runner-up among feasible candidates; ties go to the earlier candidate.
  for (int c = 0; c < n_candidates; ++c) {
    const CandidateResult& r = result.candidates[c];
    if (!r.feasible || std::isnan(r.objective)) continue;
    if (result.best < 0 || better(spec.objective, r.objective, result.candidates[result.best].objective)) {
      result.runner_up = result.best;
      result.best = c;
    } else if (result.runner_up < 0 || better(spec.objective, r.objective, result.candidates[result.runner_up].objective)) {
      result.runner_up = c;
    }
  }
  if (result.best < 0) {
    std::string why;
    for (const auto& r : result.candidates) why += "\n  " + r.label + ": " + r.infeasible_because;
    throw InputError(spec.constraints_location, "no candidate meets the constraints:" + why);
  }
  if (result.runner_up >= 0) {
    const auto& a = replicate_values[result.best];
    const auto& b = replicate_values[result.runner_up];
    double wins = 0.0;
    for (std::size_t k = 0; k < a.size() && k < b.size(); ++k) {
      wins += better(spec.objective, a[k], b[k]) ? 1.0 : (a[k] == b[k] ? 0.5 : 0.0);
    }
    result.probability_best_beats_runner_up = wins / static_cast<double>(std::min(a.size(), b.size()));
  }

  // Pareto front among feasible candidates: remission up, burden (cost if given, else sessions) down.
  for (int c = 0; c < n_candidates; ++c) {
    CandidateResult& r = result.candidates[c];
    if (!r.feasible) continue;
    const auto burden = [&](const CandidateResult& x) { return spec.costs.given ? x.cost_per_patient : x.sessions_taken; };
    bool dominated = false;
    for (int d = 0; d < n_candidates && !dominated; ++d) {
      const CandidateResult& o = result.candidates[d];
      if (d == c || !o.feasible) continue;
      dominated = o.remission >= r.remission && burden(o) <= burden(r) &&
                  (o.remission > r.remission || burden(o) < burden(r));
    }
    r.pareto = !dominated;
  }

  // The winner (and the runner-up) on fresh patients: a seed the search never saw.
  auto fresh = [&](int c) {
    StudyConfig config = evaluations[static_cast<std::size_t>(c)].config;
    config.seed = spec.fresh_seed;
    const PatientOutcomes o = simulate_outcomes(config, *study.response_model, study.population.get());
    const PatientValues v = patient_values(o, spec.arm_index, spec, config.arms[spec.arm_index].regimen);
    CandidateResult r = result.candidates[c];
    std::vector<double> ignored;
    fill(r, spec, v, bootstrap_samples(spec.fresh_seed, v.size(), spec.bootstrap), ignored);
    return r;
  };
  result.best_fresh = fresh(result.best);
  if (result.runner_up >= 0) result.runner_up_fresh = fresh(result.runner_up);
  return result;
}

}  // namespace ketasim::trial
