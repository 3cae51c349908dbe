#include "ketasim/calibration/calibration.hpp"

#include <nlopt.hpp>
#include <tbb/parallel_for.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <exception>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <sstream>

#include "ketasim/core/error.hpp"
#include "ketasim/core/interrupt.hpp"
#include "ketasim/core/yaml_input.hpp"
#include "ketasim/trial/endpoint_rules.hpp"
#include "ketasim/trial/engine.hpp"

namespace ketasim::calibration {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string format_number(double value, int digits = 6) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.*g", digits, value);
  return buffer;
}

double parse_visit(const InputNode& node) { return node.quantity(Dimension::time) / 24.0; }

std::string override_key(const Target& t) {
  std::string key = t.study_path;
  for (const auto& o : t.overrides) key += "\n" + o.key_path + "=" + o.value;
  return key;
}

double rate_se(double p, double n) { return std::sqrt(std::max(p * (1.0 - p), 1e-12) / n); }

}  // namespace

double target_residual(const Target& target, double simulated) {
  const double excess = simulated - target.observed;
  switch (target.bound) {
    case Target::Bound::upper: return std::max(excess, 0.0) / target.se;
    case Target::Bound::lower: return std::min(excess, 0.0) / target.se;
    case Target::Bound::none: break;
  }
  return excess / target.se;
}

bool target_met(const Target& target, double simulated) {
  switch (target.bound) {
    case Target::Bound::upper: return simulated <= target.observed;
    case Target::Bound::lower: return simulated >= target.observed;
    case Target::Bound::none: break;
  }
  return std::abs(simulated - target.observed) <= target.tolerance;
}

const char* endpoint_name(Endpoint endpoint) {
  switch (endpoint) {
    case Endpoint::response: return "response";
    case Endpoint::remission: return "remission";
    case Endpoint::mean_change: return "mean_change";
  }
  return "?";
}

const char* objective_kind_name(ObjectiveKind kind) { return kind == ObjectiveKind::expected ? "expected" : "counts"; }

double visit_noise_sd(double ou_sd_points, double ou_half_life_h, double rater_sd_points, double t_h) {
  if (!(t_h > 0.0)) return 0.0;  // day 0 is the entry assessment itself (the baseline, no noise)
  const double theta = std::log(2.0) / ou_half_life_h;
  const double ou_var = ou_sd_points * ou_sd_points * -std::expm1(-2.0 * theta * t_h);
  return std::sqrt(ou_var + rater_sd_points * rater_sd_points);
}

double round_significant(double value, int digits) {
  if (value == 0.0 || !std::isfinite(value)) return value;
  return std::stod(format_number(value, digits));
}

CalibrationSpec load_calibration(const std::string& path) {
  const YamlDocument doc = load_yaml_file(path);
  Diagnostics d;
  const auto file = std::make_shared<const std::string>(path);
  const InputNode root(doc.root, file, "", &d);
  root.check_keys({"name", "description", "start_model", "outputs", "parameters", "targets", "optimizer"});
  CalibrationSpec spec;
  spec.path = path;
  spec.text = doc.text;
  spec.name = root.required("name").text();
  if (const auto v = root.optional("description")) spec.description = v->text();
  spec.start_model_path = resolve_relative(path, root.required("start_model").text());

  for (const auto& o : root.required("outputs").sequence()) {
    o.check_keys({"name", "path"});
    spec.outputs.push_back({o.required("name").text(), resolve_relative(path, o.required("path").text())});
  }
  if (root.has("outputs") && spec.outputs.empty()) root.child("outputs").fail("expected at least one output model");

  // The starting model: its values are the default starting points, and it must load.
  response::ResponseModel start_model;
  bool have_start = false;
  if (root.has("start_model")) {
    try {
      start_model = response::load_response_model(spec.start_model_path);
      have_start = true;
    } catch (const InputError& e) {
      for (const auto& m : e.messages()) root.child("start_model").fail("in response model: " + m);
    }
  }

  for (const auto& [name, node] : root.required("parameters").entries()) {
    node.check_keys({"unit", "start", "min", "max", "scale", "rationale"});
    FittedParameter p;
    p.name = name;
    // The starting model's parameter table says which names exist and their dimensions.
    if (!have_start) continue;
    const int index = start_model.parameters.index(name);
    if (index < 0) {
      std::string known;
      for (const auto& n : start_model.parameters.names) known += (known.empty() ? "" : ", ") + n;
      node.fail("unknown response-model parameter '" + name + "'; known: " + known);
      continue;
    }
    const Dimension dim = start_model.parameters.dimensions[static_cast<std::size_t>(index)];
    p.unit = dim == Dimension::dimensionless ? "1" : canonical_unit(dim);
    if (const auto u = node.optional("unit")) {
      p.unit = u->text();
      const auto unit = parse_unit(p.unit);
      if (!unit || unit->dimension != dim) {
        u->fail(std::string("expected a ") + dimension_name(dim) + " unit (" + accepted_units(dim) + "), found '" + p.unit + "'");
        continue;
      }
      p.to_canonical = unit->to_canonical;
    } else if (dim != Dimension::dimensionless) {
      node.fail(std::string("a ") + dimension_name(dim) + " parameter needs a unit (" + accepted_units(dim) + ")");
      continue;
    }
    p.lower = node.required("min").number() * p.to_canonical;
    p.upper = node.required("max").number() * p.to_canonical;
    if (const auto s = node.optional("start")) {
      p.start = s->number() * p.to_canonical;
    } else if (have_start) {
      p.start = *start_model.parameters.find(name);
    } else {
      p.start = kNaN;
    }
    if (const auto s = node.optional("scale")) p.log_scale = s->choice({"linear", "log"}) == "log";
    if (const auto r = node.optional("rationale")) p.rationale = r->text();
    if (!(p.lower < p.upper)) node.fail("expected min < max");
    if (p.lower < 0.0) node.child("min").fail("response-model parameters are non-negative");
    // Whether a value is allowed is the loader's rule: try both bounds on a copy of the model.
    for (const double bound : {p.lower, p.upper}) {
      response::ResponseModel probe = start_model;
      *probe.parameters.find(name) = bound;
      if (!response::parameter_allowed(probe, name, bound)) {
        node.child(bound == p.lower ? "min" : "max").fail("outside what the response model allows for '" + name + "'");
      }
    }
    if (p.log_scale && !(p.lower > 0.0)) node.child("min").fail("a log-scale parameter needs min > 0");
    if (std::isfinite(p.start) && (p.start < p.lower || p.start > p.upper)) {
      node.fail("the start value " + format_number(p.start / p.to_canonical) + " " + p.unit + " is outside [min, max]");
    }
    spec.parameters.push_back(p);
  }
  if (root.has("parameters") && spec.parameters.empty()) root.child("parameters").fail("expected at least one parameter to fit");

  const InputNode optimizer = root.required("optimizer");
  optimizer.check_keys({"objective", "algorithm", "max_evaluations", "relative_tolerance", "objective_tolerance", "initial_step",
                        "restarts", "patients", "seed"});
  auto& o = spec.optimizer;
  // Smooth by default for benefit_v2 (issue 10); counts otherwise, so v1 calibrations replay.
  o.objective = have_start && start_model.structure_name == "benefit_v2"
                    ? ObjectiveKind::expected
                    : ObjectiveKind::counts;
  if (const auto v = optimizer.optional("objective")) {
    o.objective = v->choice({"counts", "expected"}) == "expected" ? ObjectiveKind::expected : ObjectiveKind::counts;
  }
  if (const auto v = optimizer.optional("algorithm")) {
    o.algorithm = v->text();
    const nlopt_algorithm a = nlopt_algorithm_from_string(o.algorithm.c_str());
    if (static_cast<int>(a) < 0 || o.algorithm.rfind("LN_", 0) != 0) {
      v->fail("expected a derivative-free local NLopt algorithm (LN_BOBYQA, LN_NELDERMEAD, LN_SBPLX, LN_COBYLA, ...), found '" +
              o.algorithm + "'");
    }
  }
  if (const auto v = optimizer.optional("max_evaluations")) {
    o.max_evaluations = static_cast<int>(v->integer());
    if (o.max_evaluations < 1) v->fail("expected at least 1");
  }
  if (const auto v = optimizer.optional("relative_tolerance")) o.relative_tolerance = v->nonnegative_number();
  if (const auto v = optimizer.optional("objective_tolerance")) o.objective_tolerance = v->nonnegative_number();
  if (const auto v = optimizer.optional("restarts")) {
    o.restarts = static_cast<int>(v->integer());
    if (o.restarts < 0 || o.restarts > 10) v->fail("expected 0 to 10 restarts");
  }
  if (const auto v = optimizer.optional("initial_step")) {
    o.initial_step = v->positive_number();
    if (o.initial_step > 1.0) v->fail("expected a step in (0, 1] of each parameter's range");
  }
  if (const auto v = optimizer.optional("patients")) {
    o.patients = v->integer();
    if (o.patients < 1) v->fail("expected at least 1 patient");
  }
  if (const auto v = optimizer.optional("seed")) {
    const long long s = v->integer();
    if (s < 0) v->fail("expected a non-negative seed");
    o.seed = static_cast<std::uint64_t>(s);
  }

  std::map<std::string, trial::StudyConfig> studies;  // by study + overrides, for the checks below
  std::vector<std::string> seen;
  for (const auto& node : root.required("targets").sequence()) {
    node.check_keys({"name", "study", "set", "arm", "versus", "visit", "endpoint", "observed", "n", "sd", "se",
                     "tolerance", "weight", "bound", "source"});
    Target t;
    t.name = node.required("name").text();
    if (std::find(seen.begin(), seen.end(), t.name) != seen.end()) node.child("name").fail("duplicate target name");
    seen.push_back(t.name);
    t.study_file = node.required("study").text();
    t.study_path = resolve_relative(path, t.study_file);
    if (const auto s = node.optional("set")) {
      for (const auto& [key, value] : s->entries()) t.overrides.push_back({key, YAML::Dump(value.yaml())});
    }
    t.arm = node.required("arm").text();
    if (const auto v = node.optional("versus")) t.versus = v->text();
    t.visit_d = parse_visit(node.required("visit"));
    const std::string e = node.required("endpoint").choice({"response", "remission", "mean_change"});
    t.endpoint = e == "remission" ? Endpoint::remission : e == "mean_change" ? Endpoint::mean_change : Endpoint::response;
    t.observed = node.required("observed").number();
    const double lowest = t.versus.empty() ? 0.0 : -1.0;  // a difference of rates may be negative
    if (t.endpoint != Endpoint::mean_change && (t.observed < lowest || t.observed > 1.0)) {
      node.child("observed").fail("a rate is a fraction in [0, 1]");
    }
    if (const auto v = node.optional("n")) t.n = v->positive_number();
    if (const auto v = node.optional("sd")) t.sd = v->positive_number();
    if (const auto v = node.optional("se")) {
      t.se = v->positive_number();
    } else if (t.n <= 0.0) {
      node.fail("give n (patients behind the observed value) or se");
    } else if (t.endpoint == Endpoint::mean_change) {
      if (t.sd <= 0.0) node.fail("a mean change needs sd (with n) or se");
      else t.se = t.sd / std::sqrt(t.n);
    } else {
      t.se = rate_se(t.observed, t.n);
    }
    t.tolerance = 1.96 * t.se;
    if (const auto v = node.optional("tolerance")) t.tolerance = v->positive_number();
    if (const auto v = node.optional("bound")) {
      t.bound = v->choice({"upper", "lower"}) == "upper" ? Target::Bound::upper : Target::Bound::lower;
      // A bound has no sampling SE: its se is the penalty scale, and "met" means the bound holds.
      if (!node.has("se")) v->fail("a one-sided target needs se (the scale of the penalty when the bound is crossed)");
      if (node.has("tolerance")) node.child("tolerance").fail("a one-sided target is met when its bound holds; it has no tolerance");
    }
    if (const auto v = node.optional("weight")) t.weight = v->nonnegative_number();
    if (const auto v = node.optional("source")) t.source = v->text();
    // The study must load with these overrides, have the arm and the visit.
    const std::string key = override_key(t);
    if (!studies.count(key)) {
      try {
        studies.emplace(key, trial::load_study(t.study_path, t.overrides).config);
      } catch (const InputError& err) {
        for (const auto& m : err.messages()) node.child("study").fail("in study config: " + m);
        spec.targets.push_back(t);
        continue;
      }
    }
    const trial::StudyConfig& config = studies.at(key);
    const bool has_arm = std::any_of(config.arms.begin(), config.arms.end(), [&](const auto& a) { return a.name == t.arm; });
    if (!has_arm) {
      std::string arms;
      for (const auto& a : config.arms) arms += (arms.empty() ? "" : ", ") + a.name;
      node.child("arm").fail("study '" + t.study_file + "' has no arm '" + t.arm + "'; it has: " + arms);
    }
    if (!t.versus.empty() &&
        !std::any_of(config.arms.begin(), config.arms.end(), [&](const auto& a) { return a.name == t.versus; })) {
      node.child("versus").fail("study '" + t.study_file + "' has no arm '" + t.versus + "'");
    }
    if (!t.versus.empty() && !node.has("se")) node.fail("a difference between arms needs se (the SE of the difference)");
    const bool has_visit = std::any_of(config.endpoints.visits_d.begin(), config.endpoints.visits_d.end(),
                                       [&](double v) { return std::abs(v - t.visit_d) < 1e-6; });
    if (!has_visit) node.child("visit").fail("not one of the visits of study '" + t.study_file + "'");
    spec.targets.push_back(t);
  }
  if (root.has("targets") && spec.targets.empty()) root.child("targets").fail("expected at least one target");
  d.throw_if_any();
  for (auto& p : spec.parameters) {
    if (!std::isfinite(p.start)) p.start = std::clamp(*start_model.parameters.find(p.name), p.lower, p.upper);
  }
  return spec;
}

Objective::Objective(const CalibrationSpec& spec) : spec_(spec), start_model_(response::load_response_model(spec.start_model_path)) {
  std::map<std::string, int> index;
  for (int k = 0; k < static_cast<int>(spec.targets.size()); ++k) {
    const Target& t = spec.targets[k];
    const std::string key = override_key(t);
    auto it = index.find(key);
    if (it == index.end()) {
      // The calibration's cohort size and seed, and nothing but endpoints: output times only at 0
      // so the PK grid holds just the dosing windows and the visits.
      std::vector<trial::Override> overrides = t.overrides;
      overrides.push_back({"cohort.patients", std::to_string(spec.optimizer.patients)});
      overrides.push_back({"study.seed", std::to_string(spec.optimizer.seed)});
      overrides.push_back({"outputs.concentration", "none"});
      overrides.push_back({"outputs.time_step", "100000 h"});
      // The front door, as for `run`; then the starting model must fit the study too.
      trial::Study loaded = trial::load_study(t.study_path, overrides);
      Diagnostics problems;
      trial::check_response_model(loaded.config, start_model_, problems);
      problems.throw_if_any();
      Study s{std::move(loaded.config), {}, {}, {}, {}, loaded.population};
      it = index.emplace(key, static_cast<int>(studies_.size())).first;
      studies_.push_back(std::move(s));
    }
    Study& s = studies_[it->second];
    s.targets.push_back(k);
    int arm = 0;
    while (s.config.arms[arm].name != t.arm) ++arm;
    int visit = 0;
    while (std::abs(s.config.endpoints.visits_d[visit] - t.visit_d) >= 1e-6) ++visit;
    int versus = -1;
    if (!t.versus.empty()) {
      versus = 0;
      while (s.config.arms[versus].name != t.versus) ++versus;
    }
    s.versus_index.push_back(versus);
    s.arm_index.push_back(arm);
    s.visit_index.push_back(visit);
  }
}

response::ResponseModel Objective::model_with(const std::vector<double>& values) const {
  response::ResponseModel model = start_model_;
  for (std::size_t i = 0; i < spec_.parameters.size(); ++i) *model.parameters.find(spec_.parameters[i].name) = values[i];
  return model;
}

std::vector<TargetResult> Objective::evaluate(const std::vector<double>& values) const {
  return evaluate(values, spec_.optimizer.objective);
}

std::vector<TargetResult> Objective::evaluate(const std::vector<double>& values, ObjectiveKind kind) const {
  const response::ResponseModel model = model_with(values);
  std::vector<TargetResult> results(spec_.targets.size());
  const auto noise_parameter = [&](const char* name) {
    const double* v = model.parameters.find(name);
    if (!v) throw RuntimeFailure(std::string("calibrate: objective 'expected' needs response-model parameter '") + name + "'");
    return *v;
  };
  // The studies are independent and each writes only its own targets' results, so they run side by
  // side (a calibration's studies are small: one batch each, so without this one core did all the
  // work). Every study is simulated exactly as in a serial loop: the results do not depend on the
  // thread count.
  tbb::parallel_for(std::size_t{0}, studies_.size(), [&](std::size_t study_index) {
    const Study& s = studies_[study_index];
    const std::size_t n_visits = s.config.endpoints.visits_d.size();
    // objective: expected. Per arm and visit, the sums over ok patients that replace the counts.
    std::vector<double> p_response, p_remission, e_change;
    std::function<void(const trial::PatientVisits&)> visitor;
    if (kind == ObjectiveKind::expected) {
      const double ou_sd = noise_parameter("ou_sd_points"), ou_half_life = noise_parameter("ou_half_life"),
                   rater_sd = noise_parameter("rater_sd_points");
      std::vector<double> sd(n_visits);
      for (std::size_t v = 0; v < n_visits; ++v) {
        sd[v] = visit_noise_sd(ou_sd, ou_half_life, rater_sd, s.config.endpoints.visits_d[v] * 24.0);
      }
      std::vector<char> needed(s.config.arms.size() * n_visits, 0);
      for (std::size_t j = 0; j < s.targets.size(); ++j) {
        needed[s.arm_index[j] * n_visits + s.visit_index[j]] = 1;
        if (s.versus_index[j] >= 0) needed[s.versus_index[j] * n_visits + s.visit_index[j]] = 1;
      }
      p_response.assign(needed.size(), 0.0);
      p_remission.assign(needed.size(), 0.0);
      e_change.assign(needed.size(), 0.0);
      const trial::EndpointRules rules(s.config.endpoints);
      visitor = [&, sd, needed, rules](const trial::PatientVisits& p) {
        for (int v = 0; v < p.n_visits; ++v) {
          const std::size_t i = static_cast<std::size_t>(p.arm) * n_visits + v;
          if (!needed[i]) continue;
          if (std::isnan(p.madrs[v])) {  // left the study: the imputed flags, no change (as `run`)
            p_response[i] += p.response_by_visit[v];
            p_remission[i] += p.remission_by_visit[v];
            continue;
          }
          // Day 0 is the baseline assessment itself (sd 0, score = baseline).
          const double mu = sd[v] > 0.0 ? static_cast<double>(p.expected[v]) : static_cast<double>(p.madrs[v]);
          p_response[i] += rules.responder_probability(p.baseline, mu, sd[v]);
          p_remission[i] += rules.remitter_probability(mu, sd[v]);
          e_change[i] += trial::EndpointRules::expected_observed_score(mu, sd[v]) - p.baseline;
        }
      };
    }
    const trial::TrialSummary summary = trial::simulate_endpoints(s.config, model, s.population.get(), visitor);
    // The simulated value of one arm at one visit, as the objective kind defines it.
    const auto arm_value = [&](int a, int visit, Endpoint endpoint) {
      const trial::ArmSummary& arm = summary.arms[a];
      const trial::VisitSummary& v = arm.visits[visit];
      if (arm.n == 0) return kNaN;
      const double n = static_cast<double>(arm.n);
      const double observed = static_cast<double>(std::max<long long>(v.observed, 1));
      const std::size_t i = static_cast<std::size_t>(a) * n_visits + visit;
      const bool smooth = kind == ObjectiveKind::expected;
      switch (endpoint) {
        case Endpoint::response: return (smooth ? p_response[i] : static_cast<double>(v.responders)) / n;
        case Endpoint::remission: return (smooth ? p_remission[i] : static_cast<double>(v.remitters)) / n;
        case Endpoint::mean_change: return (smooth ? e_change[i] : v.sum_change) / observed;
      }
      return kNaN;
    };
    for (std::size_t j = 0; j < s.targets.size(); ++j) {
      const Target& t = spec_.targets[s.targets[j]];
      TargetResult& r = results[s.targets[j]];
      r.patients = summary.arms[s.arm_index[j]].n;
      r.simulated = arm_value(s.arm_index[j], s.visit_index[j], t.endpoint);
      // arm minus the comparator arm, same endpoint and visit
      if (s.versus_index[j] >= 0) r.simulated -= arm_value(s.versus_index[j], s.visit_index[j], t.endpoint);
      r.residual = target_residual(t, r.simulated);
      r.within_tolerance = target_met(t, r.simulated);
    }
  });
  return results;
}


double Objective::sum_of_squares(const std::vector<TargetResult>& results) const {
  double sum = 0.0;
  for (std::size_t k = 0; k < results.size(); ++k) {
    // Every virtual patient failing an arm is not a fit: make it the worst possible point.
    if (!std::isfinite(results[k].residual)) return 1e300;
    sum += spec_.targets[k].weight * results[k].residual * results[k].residual;
  }
  return sum;
}

namespace {

// The optimiser works on [0, 1] per parameter (linear or log between min and max), so one
// initial step and one tolerance fit parameters of very different sizes.
double to_scaled(const FittedParameter& p, double value) {
  if (p.log_scale) return (std::log(value) - std::log(p.lower)) / (std::log(p.upper) - std::log(p.lower));
  return (value - p.lower) / (p.upper - p.lower);
}
double from_scaled(const FittedParameter& p, double x) {
  x = std::clamp(x, 0.0, 1.0);
  if (p.log_scale) return std::exp(std::log(p.lower) + x * (std::log(p.upper) - std::log(p.lower)));
  return p.lower + x * (p.upper - p.lower);
}

struct FitState {
  const CalibrationSpec* spec;
  const Objective* objective;
  const std::function<void(int, double, const std::vector<double>&)>* progress;
  int evaluations = 0;
  std::exception_ptr error;  // NLopt swallows exceptions: keep the first and rethrow it after
};

double nlopt_objective(const std::vector<double>& x, std::vector<double>& /*gradient*/, void* data) {
  auto* s = static_cast<FitState*>(data);
  std::vector<double> values(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) values[i] = from_scaled(s->spec->parameters[i], x[i]);
  try {
    const double f = s->objective->sum_of_squares(s->objective->evaluate(values));
    ++s->evaluations;
    if (*s->progress) (*s->progress)(s->evaluations, f, values);
    return f;
  } catch (...) {
    s->error = std::current_exception();
    throw nlopt::forced_stop();
  }
}

std::string result_name(nlopt::result r) {
  const char* name = nlopt_result_to_string(static_cast<nlopt_result>(r));
  return name ? name : "UNKNOWN";
}

}  // namespace

ParameterUncertainty parameter_uncertainty(const CalibrationSpec& spec, const Objective& objective,
                                           const std::vector<double>& values) {
  std::vector<UncertainParameter> parameters;
  for (std::size_t i = 0; i < spec.parameters.size(); ++i) {
    const auto& p = spec.parameters[i];
    parameters.push_back({p.name, p.log_scale, p.lower, p.upper, values[i]});
  }
  return estimate_uncertainty(parameters, [&](const std::vector<double>& v) {
    const auto results = objective.evaluate(v);
    std::vector<double> r(results.size());
    for (std::size_t k = 0; k < results.size(); ++k) {
      if (!std::isfinite(results[k].residual)) throw RuntimeFailure("calibrate: a target is not finite near the fit: " + spec.targets[k].name);
      r[k] = std::sqrt(spec.targets[k].weight) * results[k].residual;
    }
    return r;
  });
}

CalibrationResult calibrate(const CalibrationSpec& spec,
                            const std::function<void(int, double, const std::vector<double>&)>& progress) {
  const auto t0 = std::chrono::steady_clock::now();
  const Objective objective(spec);
  CalibrationResult result;
  const std::size_t n = spec.parameters.size();
  for (const auto& p : spec.parameters) result.start.push_back(p.start);
  result.start_targets = objective.evaluate(result.start);
  result.start_objective = objective.sum_of_squares(result.start_targets);

  std::vector<double> x(n), step(n);
  for (std::size_t i = 0; i < n; ++i) x[i] = to_scaled(spec.parameters[i], spec.parameters[i].start);
  FitState state{&spec, &objective, &progress, 0, nullptr};
  // Rates are patient counts and scores integers, so the objective is flat on steps of about
  // one patient: a trust region can shrink onto such a plateau far from the optimum. Each
  // restart begins again from the best point with a fresh (halved) step; it stops when a
  // restart no longer improves or the evaluation budget is spent.
  nlopt::result status = nlopt::FAILURE;
  double best = std::numeric_limits<double>::infinity();
  for (int round = 0; round <= spec.optimizer.restarts; ++round) {
    const int remaining = spec.optimizer.max_evaluations - state.evaluations;
    if (remaining <= 0) break;
    // A new optimiser each round: nothing of the previous trust region is carried over.
    nlopt::opt opt(static_cast<nlopt::algorithm>(nlopt_algorithm_from_string(spec.optimizer.algorithm.c_str())),
                   static_cast<unsigned>(n));
    opt.set_lower_bounds(std::vector<double>(n, 0.0));
    opt.set_upper_bounds(std::vector<double>(n, 1.0));
    opt.set_xtol_rel(spec.optimizer.relative_tolerance);
    opt.set_ftol_rel(spec.optimizer.objective_tolerance);
    opt.set_min_objective(nlopt_objective, &state);
    for (auto& s : step) s = spec.optimizer.initial_step / static_cast<double>(1 << round);
    opt.set_initial_step(step);
    opt.set_maxeval(remaining);
    const double previous = best;
    double value = 0.0;
    try {
      status = opt.optimize(x, value);
    } catch (const nlopt::roundoff_limited&) {
      status = nlopt::ROUNDOFF_LIMITED;  // x holds the best point found
      value = opt.last_optimum_value();
    } catch (const nlopt::forced_stop&) {
      if (state.error) std::rethrow_exception(state.error);
      throw_if_interrupted();
      throw RuntimeFailure("calibrate: the optimiser was stopped");
    } catch (const std::invalid_argument& e) {
      if (state.error) std::rethrow_exception(state.error);
      throw RuntimeFailure(std::string("calibrate: NLopt rejected the settings: ") + e.what());
    } catch (const std::runtime_error& e) {
      if (state.error) std::rethrow_exception(state.error);
      throw RuntimeFailure(std::string("calibrate: NLopt failed: ") + e.what());
    }
    best = std::min(best, value);
    ++result.rounds;
    if (!(best < previous - 1e-9 * std::max(1.0, std::abs(previous)))) break;
  }
  result.status = result_name(status);
  result.evaluations = state.evaluations;
  for (std::size_t i = 0; i < n; ++i) {
    result.fitted.push_back(std::clamp(round_significant(from_scaled(spec.parameters[i], x[i])), spec.parameters[i].lower,
                                       spec.parameters[i].upper));
  }
  result.targets = objective.evaluate(result.fitted);
  result.objective = objective.sum_of_squares(result.targets);
  // Never report a fit worse than where it started (a maximum-evaluation stop on a poor step).
  if (result.objective > result.start_objective) {
    result.fitted = result.start;
    result.targets = result.start_targets;
    result.objective = result.start_objective;
  }
  result.model = objective.model_with(result.fitted);
  result.uncertainty = parameter_uncertainty(spec, objective, result.fitted);
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return result;
}

namespace {

// Where a fitted parameter sits in the response-model YAML tree.
YAML::Node parameter_node(YAML::Node root, const std::string& name, std::string& field) {
  if (name.rfind("placebo.", 0) == 0) {
    const auto dot = name.find('.', 8);
    field = name.substr(dot + 1);
    return root["placebo"][name.substr(8, dot - 8)];
  }
  field = "value";
  return root["parameters"][name];
}

std::string yaml_text(double v) { return format_number(v); }

YAML::Node flow_list(const std::vector<double>& values) {
  YAML::Node n(YAML::NodeType::Sequence);
  for (double v : values) n.push_back(yaml_text(v));
  n.SetStyle(YAML::EmitterStyle::Flow);
  return n;
}

// The Gauss-Newton summary as the model file records it; `parameter_uncertainty` draws in a
// study read `estimate` and `covariance` back (response::ParameterDraws).
YAML::Node uncertainty_node(const CalibrationSpec& spec, const ParameterUncertainty& u) {
  YAML::Node n(YAML::NodeType::Map);
  n["method"] = "Gauss-Newton (Laplace) approximation at the fit: covariance = s2 (J' W J)^-1, J = d residual / d parameter "
                "by central differences of the smooth objective, s2 = max(1, objective / (targets - parameters)); "
                "working scale log(value) for log-scale parameters; estimate, covariance and bounds in internal units "
                "(rates per hour, times in hours); endpoints.parameter_uncertainty draws from it (docs/validation-v2.md)";
  n["scale_factor"] = yaml_text(u.scale_factor);
  n["evaluations"] = u.evaluations;
  YAML::Node names(YAML::NodeType::Sequence);
  YAML::Node scales(YAML::NodeType::Sequence);
  for (std::size_t i = 0; i < u.names.size(); ++i) {
    names.push_back(u.names[i]);
    scales.push_back(u.log_scale[i] ? "log" : "linear");
  }
  names.SetStyle(YAML::EmitterStyle::Flow);
  scales.SetStyle(YAML::EmitterStyle::Flow);
  n["parameters"] = names;
  n["working_scale"] = scales;
  n["estimate"] = flow_list(u.estimate_working);
  std::vector<double> lower, upper;  // internal units, as the estimate
  for (const auto& p : spec.parameters) lower.push_back(p.lower), upper.push_back(p.upper);
  n["bounds_lower"] = flow_list(lower);
  n["bounds_upper"] = flow_list(upper);
  YAML::Node cov(YAML::NodeType::Sequence);
  for (const auto& row : u.covariance) cov.push_back(flow_list(row));
  n["covariance"] = cov;
  YAML::Node table(YAML::NodeType::Map);
  for (std::size_t i = 0; i < u.names.size(); ++i) {
    const FittedParameter& p = spec.parameters[i];
    YAML::Node row(YAML::NodeType::Map);
    row["se_working"] = std::isfinite(u.se_working[i]) ? yaml_text(u.se_working[i]) : std::string("inf");
    row["lower95"] = yaml_text(u.lower95[i] / p.to_canonical);
    row["upper95"] = yaml_text(u.upper95[i] / p.to_canonical);
    row["unit"] = p.unit;
    row["at_bound"] = static_cast<bool>(u.at_bound[i]);
    row["determined"] = static_cast<bool>(u.determined[i]);
    table[u.names[i]] = row;
  }
  n["intervals"] = table;
  n["eigenvalues"] = flow_list(u.eigenvalues);
  return n;
}

}  // namespace

void write_calibrated_model(const CalibrationSpec& spec, const CalibrationResult& result, const OutputModel& output,
                            const std::string& command, const std::string& date) {
  YAML::Node root = YAML::Clone(load_yaml_file(spec.start_model_path).root);
  root["name"] = output.name;
  root["provenance"] = "calibrated by `" + command + "` (" + date + ", " + spec.optimizer.algorithm + ", " +
                       std::to_string(spec.optimizer.patients) + " patients per study, seed " +
                       std::to_string(spec.optimizer.seed) + ") starting from " + spec.start_model_path;
  for (std::size_t i = 0; i < spec.parameters.size(); ++i) {
    const FittedParameter& p = spec.parameters[i];
    std::string field;
    YAML::Node node = parameter_node(root, p.name, field);
    const double fitted = result.fitted[i];
    if (field == "onset") {
      // Placebo onsets are quantities ("10d"): keep the unit the starting model used.
      std::string unit = "h";
      if (const auto q = parse_quantity(node["onset"].as<std::string>()); q && !q->unit.empty()) unit = q->unit;
      const auto u = parse_unit(unit);
      node["onset"] = yaml_text(fitted / (u ? u->to_canonical : 1.0)) + " " + unit;
    } else if (field == "value") {
      // An optional parameter the starting model leaves at its default gets an entry of its own.
      if (!node["unit"]) node["unit"] = p.unit.empty() ? std::string("1") : p.unit;
      const auto u = parse_unit(node["unit"].as<std::string>());
      node["value"] = yaml_text(fitted / (u ? u->to_canonical : 1.0));
    } else {
      node[field] = yaml_text(fitted);
    }
    std::string rationale = node["rationale"] ? node["rationale"].as<std::string>() : std::string();
    rationale += " | Calibrated by " + spec.path + ": start " + yaml_text(p.start / p.to_canonical) + ", fitted " +
                 yaml_text(fitted / p.to_canonical) + " " + p.unit + " (bounds " + yaml_text(p.lower / p.to_canonical) +
                 "-" + yaml_text(p.upper / p.to_canonical) + ")" + (p.rationale.empty() ? "" : "; " + p.rationale);
    node["rationale"] = rationale;
  }

  YAML::Node cal(YAML::NodeType::Map);
  cal["calibration_file"] = spec.path;
  cal["name"] = spec.name;
  cal["command"] = command;
  cal["date"] = date;
  cal["start_model"] = spec.start_model_path;
  cal["algorithm"] = spec.optimizer.algorithm;
  cal["status"] = result.status;
  cal["evaluations"] = result.evaluations;
  cal["optimiser_rounds"] = result.rounds;
  cal["seconds"] = yaml_text(round_significant(result.seconds, 3));
  cal["seed"] = spec.optimizer.seed;
  cal["patients_per_study"] = spec.optimizer.patients;
  cal["objective"]["start"] = yaml_text(result.start_objective);
  cal["objective"]["fitted"] = yaml_text(result.objective);
  cal["objective"]["definition"] = "sum over targets of weight x ((simulated - observed) / SE)^2";
  cal["objective"]["kind"] = objective_kind_name(spec.optimizer.objective);
  for (std::size_t i = 0; i < spec.parameters.size(); ++i) {
    const FittedParameter& p = spec.parameters[i];
    YAML::Node n(YAML::NodeType::Map);
    n["unit"] = p.unit;
    n["start"] = yaml_text(p.start / p.to_canonical);
    n["fitted"] = yaml_text(result.fitted[i] / p.to_canonical);
    n["min"] = yaml_text(p.lower / p.to_canonical);
    n["max"] = yaml_text(p.upper / p.to_canonical);
    n["scale"] = p.log_scale ? "log" : "linear";
    cal["parameters"][p.name] = n;
  }
  int met = 0;
  for (std::size_t k = 0; k < spec.targets.size(); ++k) {
    const Target& t = spec.targets[k];
    const TargetResult& r = result.targets[k];
    met += r.within_tolerance;
    YAML::Node n(YAML::NodeType::Map);
    n["name"] = t.name;
    n["study"] = t.study_file;
    if (!t.overrides.empty()) {
      for (const auto& o : t.overrides) n["set"][o.key_path] = o.value;
    }
    n["arm"] = t.arm;
    if (!t.versus.empty()) n["versus"] = t.versus;
    n["visit_d"] = yaml_text(t.visit_d);
    n["endpoint"] = endpoint_name(t.endpoint);
    n["observed"] = yaml_text(t.observed);
    n["se"] = yaml_text(round_significant(t.se, 4));
    if (t.n > 0) n["n"] = yaml_text(t.n);
    if (t.bound == Target::Bound::none) n["tolerance"] = yaml_text(round_significant(t.tolerance, 4));
    else n["bound"] = t.bound == Target::Bound::upper ? "upper" : "lower";
    n["start"] = yaml_text(round_significant(result.start_targets[k].simulated, 4));
    n["achieved"] = yaml_text(round_significant(r.simulated, 4));
    n["residual"] = yaml_text(round_significant(r.residual, 3));
    n["within_tolerance"] = r.within_tolerance;
    n["virtual_patients"] = r.patients;
    if (!t.source.empty()) n["source"] = t.source;
    cal["targets"].push_back(n);
  }
  cal["targets_within_tolerance"] = std::to_string(met) + " of " + std::to_string(spec.targets.size());
  cal["uncertainty"] = uncertainty_node(spec, result.uncertainty);
  root["calibration"] = cal;

  YAML::Emitter emitter;
  emitter << YAML::Comment("Response model written by `" + command + "` on " + date + ".\n" +
                           "Do not edit the fitted values by hand: change " + spec.path +
                           " (or the starting model " + spec.start_model_path + ") and rerun.\n" +
                           "Structure: docs/response-model.md; fit and validation: docs/validation.md.");
  emitter << YAML::Newline << root;
  if (!emitter.good()) throw RuntimeFailure("calibrate: cannot serialise the model: " + emitter.GetLastError());
  const std::string temp = output.path + ".tmp";
  {
    std::ofstream out(temp);
    out << emitter.c_str() << "\n";
    if (!out) throw RuntimeFailure("calibrate: cannot write " + temp);
  }
  if (std::rename(temp.c_str(), output.path.c_str()) != 0) {
    std::remove(temp.c_str());
    throw RuntimeFailure("calibrate: cannot rename " + temp + " to " + output.path);
  }
  // What was written must load as a response model.
  (void)response::load_response_model(output.path);
}

}  // namespace ketasim::calibration
