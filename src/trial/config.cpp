#include "ketasim/trial/config.hpp"

#include <algorithm>
#include <sstream>

namespace ketasim::trial {

const char* background_name(Background background) {
  switch (background) {
    case Background::none: return "none";
    case Background::saline: return "saline";
    case Background::active_placebo: return "active_placebo";
    case Background::oral_antidepressant: return "oral_antidepressant";
  }
  return "?";
}

std::string resolve_relative(const std::string& base_file, const std::string& path) {
  if (path.empty() || path.front() == '/') return path;
  const auto slash = base_file.find_last_of('/');
  return slash == std::string::npos ? path : base_file.substr(0, slash + 1) + path;
}

Override parse_override(const std::string& text) {
  const auto eq = text.find('=');
  if (eq == std::string::npos || eq == 0) {
    throw InputError(SourceLocation{"--set", text, 0, 0}, "expected key.path=value");
  }
  return {text.substr(0, eq), text.substr(eq + 1)};
}

namespace {

void apply_override(YAML::Node root, const Override& o) {
  std::vector<std::string> parts;
  std::stringstream ss(o.key_path);
  for (std::string part; std::getline(ss, part, '.');) parts.push_back(part);
  YAML::Node node = root;
  for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
    const std::string& p = parts[i];
    if (node.IsSequence()) {
      std::size_t index = 0;
      try {
        index = std::stoul(p);
      } catch (...) {
        index = node.size();
      }
      if (index >= node.size()) {
        throw InputError(SourceLocation{"--set", o.key_path, 0, 0},
                         "'" + p + "' is not an index of the list (size " + std::to_string(node.size()) + ")");
      }
      node.reset(node[index]);
    } else {
      // Unknown intermediate keys are created; validation then reports them as unknown keys.
      if (!node[p].IsDefined()) node[p] = YAML::Node(YAML::NodeType::Map);
      node.reset(node[p]);
    }
  }
  YAML::Node value;
  try {
    value = YAML::Load(o.value);
  } catch (const YAML::Exception& e) {
    throw InputError(SourceLocation{"--set", o.key_path, 0, 0}, "value is not valid YAML: " + e.msg);
  }
  if (node.IsSequence()) {
    std::size_t index = 0;
    try {
      index = std::stoul(parts.back());
    } catch (...) {
      throw InputError(SourceLocation{"--set", o.key_path, 0, 0}, "expected a list index");
    }
    if (index >= node.size()) throw InputError(SourceLocation{"--set", o.key_path, 0, 0}, "index out of range");
    node[index] = value;
  } else {
    node[parts.back()] = value;
  }
}

TruncatedNormalSpec parse_truncated_normal(const InputNode& node, TruncatedNormalSpec spec) {
  node.check_keys({"mean", "sd", "min", "max"});
  if (const auto v = node.optional("mean")) spec.mean = v->number();
  if (const auto v = node.optional("sd")) spec.sd = v->nonnegative_number();
  if (const auto v = node.optional("min")) spec.min = v->number();
  if (const auto v = node.optional("max")) spec.max = v->number();
  if (!(spec.min < spec.max)) node.fail("expected min < max");
  if (spec.mean < spec.min || spec.mean > spec.max) node.fail("expected min <= mean <= max");
  return spec;
}

void parse_cohort(const InputNode& node, StudyConfig& config) {
  node.check_keys({"patients", "weight_kg", "age_y", "female_fraction", "baseline_madrs", "population_file"});
  // With a population file the cohort defaults to all of its rows.
  if (node.has("patients") || !node.has("population_file")) {
    const long long n = node.required("patients").integer();
    if (n < 1) node.child("patients").fail("expected at least 1 patient");
    config.cohort.patients = n;
  } else {
    config.cohort.patients = -1;
  }
  auto& c = config.cohort;
  if (const auto v = node.optional("weight_kg")) c.weight_kg = parse_truncated_normal(*v, c.weight_kg);
  if (const auto v = node.optional("age_y")) c.age_y = parse_truncated_normal(*v, c.age_y);
  if (const auto v = node.optional("baseline_madrs")) c.baseline_madrs = parse_truncated_normal(*v, c.baseline_madrs);
  if (c.weight_kg.min <= 0.0) node.child("weight_kg").fail("body weight must be positive (min > 0)");
  if (const auto v = node.optional("female_fraction")) {
    c.female_fraction = v->number();
    if (c.female_fraction < 0.0 || c.female_fraction > 1.0) v->fail("expected a fraction in [0, 1]");
  }
  if (const auto v = node.optional("population_file")) c.population_file = resolve_relative(config.path, v->text());
}

void parse_arm(const InputNode& node, StudyConfig& config, std::vector<std::string>& seen) {
  node.check_keys({"name", "model", "regimen", "background"});
  ArmConfig arm;
  arm.name = node.required("name").text();
  if (std::find(seen.begin(), seen.end(), arm.name) != seen.end()) node.child("name").fail("duplicate arm name");
  seen.push_back(arm.name);
  const InputNode model_node = node.required("model");
  arm.regimen = pk::parse_regimen(node.required("regimen"));
  if (const auto b = node.optional("background")) {
    const std::string text = b->choice({"none", "saline", "active_placebo", "oral_antidepressant"});
    for (Background bg : {Background::none, Background::saline, Background::active_placebo,
                          Background::oral_antidepressant}) {
      if (text == background_name(bg)) arm.background = bg;
    }
  }
  if (model_node.is_scalar()) {
    arm.model_path = resolve_relative(config.path, model_node.text());
    try {
      arm.model = std::make_shared<const pk::PkModel>(pk::load_model(arm.model_path));
    } catch (const InputError& e) {
      // Problems inside the model file name that file; say which config key pointed there.
      for (const auto& m : e.messages()) model_node.fail("in model file: " + m);
      return;
    }
    if (!arm.model->find_route(arm.regimen.route)) {
      std::string routes;
      for (const auto& r : arm.model->routes) routes += (routes.empty() ? "" : ", ") + std::string(pk::route_name(r.route));
      node.child("regimen").child("route").fail(std::string("model '") + arm.model->name + "' has no route '" +
                                                pk::route_name(arm.regimen.route) + "'; it has: " + routes);
    }
  } else {
    model_node.text();
  }
  config.arms.push_back(arm);
}

void parse_endpoints(const InputNode& node, StudyConfig& config) {
  node.check_keys({"model", "visits", "primary_visit", "remission_threshold", "response_fraction", "relapse"});
  config.response_model_path = resolve_relative(config.path, node.required("model").text());
  auto& e = config.endpoints;
  e.visits_d.clear();
  for (const auto& v : node.required("visits").sequence()) {
    const double day = v.quantity(Dimension::time) / 24.0;
    if (day < 0.0) v.fail("a visit cannot be before the first dose");
    if (day * 24.0 > config.duration_h + 1e-9) v.fail("visit is beyond the end of the study (study.duration)");
    if (!e.visits_d.empty() && day <= e.visits_d.back()) v.fail("visits must be in increasing order");
    e.visits_d.push_back(day);
  }
  if (const auto v = node.optional("primary_visit")) {
    e.primary_visit_d = v->quantity(Dimension::time) / 24.0;
    if (std::find(e.visits_d.begin(), e.visits_d.end(), e.primary_visit_d) == e.visits_d.end()) {
      v->fail("the primary visit must be one of the visits");
    }
  } else if (!e.visits_d.empty()) {
    e.primary_visit_d = e.visits_d.back();
  }
  if (const auto v = node.optional("remission_threshold")) e.remission_threshold = v->nonnegative_number();
  if (const auto v = node.optional("response_fraction")) {
    e.response_fraction = v->positive_number();
    if (e.response_fraction > 1.0) v->fail("expected a fraction in (0, 1]");
  }
  if (const auto r = node.optional("relapse")) {
    r->check_keys({"threshold", "consecutive_visits"});
    if (const auto v = r->optional("threshold")) e.relapse_threshold = v->positive_number();
    if (const auto v = r->optional("consecutive_visits")) {
      e.relapse_consecutive = static_cast<int>(v->integer());
      if (e.relapse_consecutive < 1) v->fail("expected at least 1");
    }
  }
}

void parse_outputs(const InputNode& node, StudyConfig& config) {
  node.check_keys({"concentration", "time_step", "batch_patients"});
  if (const auto v = node.optional("concentration")) {
    const std::string c = v->choice({"full", "summary", "none"});
    config.concentration = c == "full"      ? ConcentrationOutput::full
                           : c == "none"    ? ConcentrationOutput::none
                                            : ConcentrationOutput::summary;
  }
  if (const auto v = node.optional("time_step")) {
    config.output_step_h = v->quantity(Dimension::time);
    if (v->is_scalar() && !(config.output_step_h > 0.0)) v->fail("expected a positive time step");
  }
  if (const auto v = node.optional("batch_patients")) {
    config.batch_patients = static_cast<int>(v->integer());
    if (config.batch_patients < 1 || config.batch_patients > 65536) v->fail("expected 1 to 65536");
  }
}

void parse_solver(const InputNode& node, StudyConfig& config) {
  node.check_keys({"method", "relative_tolerance", "absolute_tolerance_mg"});
  if (const auto v = node.optional("method")) {
    const std::string m = v->choice({"auto", "exact", "ode"});
    config.solver = m == "exact" ? StudyConfig::SolverChoice::exact
                    : m == "ode" ? StudyConfig::SolverChoice::ode
                                 : StudyConfig::SolverChoice::automatic;
  }
  if (const auto v = node.optional("relative_tolerance")) config.tolerances.relative = v->positive_number();
  if (const auto v = node.optional("absolute_tolerance_mg")) config.tolerances.absolute_mg = v->positive_number();
}

}  // namespace

StudyConfig load_study_config(const std::string& path, const std::vector<Override>& overrides) {
  YamlDocument doc = load_yaml_file(path);
  for (const auto& o : overrides) apply_override(doc.root, o);
  Diagnostics diagnostics;
  StudyConfig config;
  config.path = path;
  config.yaml_text = doc.text;
  config.effective = doc.root;
  const InputNode root(doc.root, std::make_shared<const std::string>(path), "", &diagnostics);
  root.check_keys({"study", "cohort", "arms", "endpoints", "outputs", "solver", "sweep"});
  const InputNode study = root.required("study");
  study.check_keys({"name", "duration", "seed"});
  config.name = study.required("name").text();
  config.duration_h = study.required("duration").quantity(Dimension::time);
  if (study.has("duration") && !(config.duration_h > 0.0)) study.child("duration").fail("expected a positive duration");
  if (const auto s = study.optional("seed")) {
    const long long seed = s->integer();
    if (seed < 0) s->fail("expected a non-negative integer seed");
    config.seed = static_cast<std::uint64_t>(seed);
  }
  parse_cohort(root.required("cohort"), config);
  std::vector<std::string> seen;
  const auto arms = root.required("arms").sequence();
  if (root.has("arms") && arms.empty()) root.child("arms").fail("expected at least one arm");
  for (const auto& arm : arms) parse_arm(arm, config, seen);
  for (std::size_t i = 0; i < config.arms.size() && i < arms.size(); ++i) {
    const auto sessions = pk::expand_sessions(config.arms[i].regimen);
    if (!sessions.empty() && sessions.back().time_h > config.duration_h) {
      arms[i].child("regimen").child("schedule").fail("doses are scheduled after the end of the study (study.duration)");
    }
  }
  parse_endpoints(root.required("endpoints"), config);
  if (const auto o = root.optional("outputs")) parse_outputs(*o, config);
  if (const auto s = root.optional("solver")) parse_solver(*s, config);
  diagnostics.throw_if_any();
  return config;
}

pk::SolverKind solver_for(const StudyConfig& config, const pk::PkModel& model) {
  if (!model.linear || config.solver == StudyConfig::SolverChoice::ode) return pk::SolverKind::ode;
  return pk::SolverKind::exact;
}

}  // namespace ketasim::trial
