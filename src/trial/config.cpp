#include "ketasim/trial/config.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <limits>
#include <sstream>

#include "ketasim/core/limits.hpp"

namespace ketasim::trial {

Override parse_override(const std::string& text) {
  const auto eq = text.find('=');
  if (eq == std::string::npos || eq == 0) {
    throw InputError(SourceLocation{"--set", text, 0, 0}, "expected key.path=value");
  }
  return {text.substr(0, eq), text.substr(eq + 1)};
}

std::string message_key_path(const std::string& dotted) {
  std::string out;
  std::stringstream ss(dotted);
  for (std::string part; std::getline(ss, part, '.');) {
    const bool index = !part.empty() && std::all_of(part.begin(), part.end(), [](unsigned char c) { return std::isdigit(c); });
    if (index && !out.empty()) {
      out += "[" + part + "]";
    } else {
      out += (out.empty() ? "" : ".") + part;
    }
  }
  return out;
}

namespace {

// A copy of an override's value without source marks: yaml-cpp would otherwise give the value the
// line/column of the --set text (1:1), which points at the wrong place of the config file. Without
// marks, messages fall back to the enclosing key's line in the file and say where the value came from.
YAML::Node without_marks(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Scalar: return YAML::Node(node.Scalar());
    case YAML::NodeType::Sequence: {
      YAML::Node out(YAML::NodeType::Sequence);
      for (const auto& item : node) out.push_back(without_marks(item));
      return out;
    }
    case YAML::NodeType::Map: {
      YAML::Node out(YAML::NodeType::Map);
      for (const auto& kv : node) out[kv.first.Scalar()] = without_marks(kv.second);
      return out;
    }
    default: return YAML::Node(YAML::NodeType::Null);
  }
}

std::string override_origin(const Override& o) {
  return o.origin.empty() ? "--set " + o.key_path + "=" + o.value : o.origin;
}

SourceLocation override_location(const Override& o) {
  return SourceLocation{o.origin.empty() ? "--set" : o.origin, o.key_path, 0, 0};
}

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
        throw InputError(override_location(o),
                         "'" + p + "' is not an index of the list (size " + std::to_string(node.size()) + ")");
      }
      node.reset(node[index]);
    } else {
      if (node.IsScalar()) {
        throw InputError(override_location(o), "'" + p + "' cannot be set inside a value ('" +
                                                   node.Scalar() + "' is not a mapping or a list)");
      }
      // Unknown intermediate keys are created; validation then reports them as unknown keys.
      if (!node[p].IsDefined() || node[p].IsNull()) node[p] = YAML::Node(YAML::NodeType::Map);
      node.reset(node[p]);
    }
  }
  YAML::Node value;
  try {
    const YAML::Node loaded = YAML::Load(o.value);
    // Before without_marks walks it: an alias cycle or bomb would recurse without end.
    check_yaml_structure(loaded, override_origin(o));
    value = without_marks(loaded);
  } catch (const YAML::Exception& e) {
    throw InputError(override_location(o), "value is not valid YAML: " + e.msg);
  }
  if (node.IsScalar()) {
    throw InputError(override_location(o), "'" + parts.back() + "' cannot be set inside a value ('" + node.Scalar() +
                                               "' is not a mapping or a list)");
  }
  if (node.IsSequence()) {
    std::size_t index = 0;
    try {
      index = std::stoul(parts.back());
    } catch (...) {
      throw InputError(override_location(o), "expected a list index");
    }
    if (index >= node.size()) throw InputError(override_location(o), "index out of range");
    node[index] = value;
  } else {
    node[parts.back()] = value;
  }
}

// Timing problems that only show once the schedule is laid out: a negative start, a phase whose
// `until` is not after the phase's own first dose (it would overlap the previous phase and give no
// dose), and intranasal sessions whose devices take longer than the dosing interval.
void check_regimen_timing(const InputNode& node, const pk::Regimen& regimen) {
  if (const auto start = node.optional("start")) {
    if (regimen.start_h < 0.0) start->fail("expected a start >= 0 (time of the first dose after day 0)");
  }
  const auto phases = node.child("schedule").is_sequence() ? node.child("schedule").sequence() : std::vector<InputNode>{};
  double next_h = regimen.start_h;
  for (std::size_t k = 0; k < regimen.phases.size() && k < phases.size(); ++k) {
    const pk::SchedulePhase& phase = regimen.phases[k];
    if (!(phase.every_h > 0.0)) return;
    double last_h = next_h - phase.every_h;
    if (phase.count >= 0) {
      last_h = next_h + (phase.count - 1) * phase.every_h;
    } else if (phase.until_h <= next_h + 1e-9) {
      std::ostringstream os;
      os << "this phase would start on day " << next_h / 24.0 << " (after the previous phase) but ends (until, counted "
         << "from the first dose) on day " << phase.until_h / 24.0 << ": phases overlap and this one gives no dose";
      phases[k].child("until").fail(os.str());
    } else {
      last_h = next_h + std::ceil((phase.until_h - 1e-9 - next_h) / phase.every_h - 1.0) * phase.every_h;
    }
    if (regimen.route == pk::Route::intranasal) {
      const int devices = phase.devices_override > 0 ? phase.devices_override : regimen.devices_per_session;
      if ((devices - 1) * regimen.device_interval_h >= phase.every_h) {
        phases[k].child("every").fail("the " + std::to_string(devices) +
                                      " devices of one session take longer than the dosing interval");
      }
    }
    next_h = last_h + phase.every_h;
  }
}

void parse_arm(const InputNode& node, StudyConfig& config, std::vector<std::string>& seen) {
  node.check_keys({"name", "model", "regimen", "background"});
  ArmConfig arm;
  arm.name = node.required("name").text();
  // An arm's name labels its results (the `arm` dimension), where an empty label would be
  // indistinguishable from damage.
  if (node.has("name") && arm.name.empty()) node.child("name").fail("expected a non-empty arm name");
  if (std::find(seen.begin(), seen.end(), arm.name) != seen.end()) node.child("name").fail("duplicate arm name");
  seen.push_back(arm.name);
  const InputNode model_node = node.required("model");
  const InputNode regimen_node = node.required("regimen");
  const std::size_t errors_before = regimen_node.diagnostics().messages().size();
  arm.regimen = pk::parse_regimen(regimen_node);
  if (arm.regimen.from_data()) {
    arm.regimen.data_path = resolve_relative(config.path, arm.regimen.data_path);
    if (!regular_file(arm.regimen.data_path)) {
      regimen_node.child("data").fail("event data set '" + arm.regimen.data_path +
                                      "' not found (paths are relative to the config file)");
    }
  } else if (regimen_node.diagnostics().messages().size() == errors_before) {
    check_regimen_timing(regimen_node, arm.regimen);
  }
  // Checked against the response model's backgrounds by the study loader (trial/study.hpp).
  if (const auto b = node.optional("background")) arm.background = b->text();
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

// endpoints.comparisons: {reference: NAME} (every other arm vs NAME) or {pairs: [{arm, reference}]};
// without it, every arm after the first vs the first.
void parse_comparisons(const std::optional<InputNode>& node, StudyConfig& config) {
  auto& out = config.endpoints.comparisons;
  out.clear();
  const int n_arms = static_cast<int>(config.arms.size());
  auto arm_index = [&](const InputNode& name) {
    const std::string text = name.text();
    for (int a = 0; a < n_arms; ++a) {
      if (config.arms[a].name == text) return a;
    }
    name.fail("no arm named '" + text + "' (arms[].name)");
    return -1;
  };
  if (!node) {
    for (int a = 1; a < n_arms; ++a) out.emplace_back(a, 0);
    return;
  }
  node->check_keys({"reference", "pairs"});
  const auto reference = node->optional("reference");
  const auto pairs = node->optional("pairs");
  if (reference.has_value() == pairs.has_value()) {
    node->fail("expected either 'reference' (every other arm vs it) or 'pairs', not both or neither");
    return;
  }
  if (reference) {
    const int r = arm_index(*reference);
    if (r < 0) return;
    for (int a = 0; a < n_arms; ++a) {
      if (a != r) out.emplace_back(a, r);
    }
    return;
  }
  for (const auto& pair : pairs->sequence()) {
    pair.check_keys({"arm", "reference"});
    const int a = arm_index(pair.required("arm")), r = arm_index(pair.required("reference"));
    if (a < 0 || r < 0) continue;
    if (a == r) pair.fail("an arm cannot be compared with itself");
    out.emplace_back(a, r);
  }
}

void parse_endpoints(const InputNode& node, StudyConfig& config) {
  node.check_keys({"model", "visits", "primary_visit", "remission_threshold", "response_fraction", "relapse",
                   "power", "dropout", "comparisons", "parameter_uncertainty"});
  const InputNode model = node.required("model");
  config.response_model_path = resolve_relative(config.path, model.text());
  if (model.is_scalar() && !regular_file(config.response_model_path)) {
    model.fail("response model file '" + config.response_model_path + "' not found (paths are relative to the config file)");
  }
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
  parse_comparisons(node.optional("comparisons"), config);
  if (const auto d = node.optional("dropout")) {
    d->check_keys({"rate_per_week", "lack_of_improvement_per_week", "imputation"});
    e.dropout_per_week = d->required("rate_per_week").nonnegative_number();
    if (const auto v = d->optional("lack_of_improvement_per_week")) {
      e.dropout_lack_of_improvement_per_week = v->nonnegative_number();
    }
    if (const auto imputation = d->optional("imputation")) {
      e.dropout_locf = imputation->choice({"non_responder", "locf"}) == "locf";
    }
  }
  if (const auto p = node.optional("power")) {
    p->check_keys({"replicates", "patients_per_replicate"});
    const long long replicates = p->required("replicates").integer();
    const long long per_replicate = p->required("patients_per_replicate").integer();
    if (p->has("replicates") && replicates < 1) p->child("replicates").fail("expected at least 1 replicate");
    if (p->has("patients_per_replicate") && per_replicate < 2) {
      p->child("patients_per_replicate").fail("expected at least 2 patients per arm and replicate");
    }
    e.power_replicates = static_cast<int>(replicates);
    e.power_patients_per_replicate = static_cast<int>(per_replicate);
  }
  if (const auto u = node.optional("parameter_uncertainty")) {
    u->check_keys({"draws"});
    const InputNode draws = u->required("draws");
    if (draws.defined()) {
      const long long k = draws.integer();
      if (k < 2 || k > 1000) draws.fail("expected 2 to 1000 parameter draws");
      e.parameter_draws = static_cast<int>(std::clamp(k, 0LL, 1000LL));
    }
  }
}

void parse_outputs(const InputNode& node, StudyConfig& config) {
  node.check_keys({"concentration", "time_step", "after_each_dose", "times", "sampling_times", "response_state",
                   "batch_patients"});
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
  if (const auto v = node.optional("after_each_dose")) {
    config.output_after_each_dose_h.clear();
    for (const auto& t : v->sequence()) {
      // A bare 0 (the dose time itself) needs no unit.
      const bool zero = t.is_scalar() && (t.yaml().Scalar() == "0" || t.yaml().Scalar() == "0.0");
      const double h = zero ? 0.0 : t.quantity(Dimension::time);
      if (t.is_scalar() && !(h >= 0.0)) t.fail("expected a time >= 0 after the dose");
      config.output_after_each_dose_h.push_back(h);
    }
  }
  if (const auto v = node.optional("times")) {
    config.output_times_h.clear();
    for (const auto& t : v->sequence()) {
      const double h = t.quantity(Dimension::time);
      if (t.is_scalar() && !(h >= 0.0 && h <= config.duration_h + 1e-9)) {
        t.fail("expected a time within the study (0 to study.duration)");
      }
      config.output_times_h.push_back(h);
    }
  }
  if (const auto v = node.optional("sampling_times")) {
    config.sampling_times_h.clear();
    const auto times = v->sequence();
    if (v->is_sequence() && times.empty()) v->fail("expected at least one sampling time");
    if (static_cast<long long>(times.size()) > limits::kMaxSessions) {
      v->fail("at most " + std::to_string(limits::kMaxSessions) + " sampling times");
    }
    for (const auto& t : times) {
      const bool zero = t.is_scalar() && (t.yaml().Scalar() == "0" || t.yaml().Scalar() == "0.0");
      const double h = zero ? 0.0 : t.quantity(Dimension::time);
      if (t.is_scalar() && !(h >= 0.0 && h <= config.duration_h + 1e-9)) {
        t.fail("expected a sampling time within the study (0 to study.duration)");
      }
      config.sampling_times_h.push_back(h);
    }
    std::sort(config.sampling_times_h.begin(), config.sampling_times_h.end());
    config.sampling_times_h.erase(std::unique(config.sampling_times_h.begin(), config.sampling_times_h.end()),
                                  config.sampling_times_h.end());
    // DV needs an observation error: without one in any arm's model the key would do nothing.
    const bool any = std::any_of(config.arms.begin(), config.arms.end(),
                                 [](const ArmConfig& a) { return a.model && !a.model->residual_error.empty(); });
    const bool models_read = std::all_of(config.arms.begin(), config.arms.end(), [](const ArmConfig& a) { return a.model != nullptr; });
    if (!any && models_read && !config.arms.empty()) {
      v->fail("no arm's PK model has a residual_error block (docs/model-format.md), so there is no DV to simulate");
    }
  }
  if (const auto v = node.optional("response_state")) config.store_response_state = v->boolean();
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
  // Outside these, Dormand-Prince either cannot meet the tolerance in double precision (steps
  // shrink without end) or takes steps so coarse the amounts are garbage.
  if (const auto v = node.optional("relative_tolerance")) {
    config.tolerances.relative = v->positive_number();
    if (config.tolerances.relative > 0.0 && (config.tolerances.relative < 1e-14 || config.tolerances.relative > 0.1)) {
      v->fail("expected a relative tolerance from 1e-14 to 0.1");
    }
  }
  if (const auto v = node.optional("absolute_tolerance_mg")) {
    config.tolerances.absolute_mg = v->positive_number();
    if (config.tolerances.absolute_mg > 0.0 && (config.tolerances.absolute_mg < 1e-20 || config.tolerances.absolute_mg > 1.0)) {
      v->fail("expected an absolute tolerance from 1e-20 to 1 mg");
    }
  }
}

}  // namespace

namespace {

// Says, after each message about a value that an override set, where that value came from.
std::vector<std::string> annotate_overrides(const std::vector<std::string>& messages,
                                            const std::vector<Override>& overrides) {
  std::vector<std::string> out;
  for (const auto& m : messages) {
    std::string annotated = m;
    // The last override of a key wins, so search from the back.
    for (auto o = overrides.rbegin(); o != overrides.rend(); ++o) {
      const std::string key = "key '" + message_key_path(o->key_path);
      const auto at = m.find(key);
      if (at == std::string::npos) continue;
      const char next = at + key.size() < m.size() ? m[at + key.size()] : '\0';
      if (next != '\'' && next != '.' && next != '[') continue;
      annotated += " (value from " + override_origin(*o) + ")";
      break;
    }
    out.push_back(annotated);
  }
  return out;
}

}  // namespace

StudyConfig load_study_config(const std::string& path, const std::vector<Override>& overrides) {
  const YamlDocument doc = load_yaml_file(path);
  return parse_study_config(path, doc.text, overrides);
}

StudyConfig parse_study_config(const std::string& path, const std::string& text, const std::vector<Override>& overrides) {
  YamlDocument doc = parse_yaml_text(text, path);
  return parse_study_tree(path, doc.text, doc.root, {}, overrides);
}

StudyConfig parse_study_tree(const std::string& path, const std::string& text, YAML::Node tree,
                             const std::vector<Override>& applied, const std::vector<Override>& more) {
  for (const auto& o : more) apply_override(tree, o);
  std::vector<Override> overrides = applied;
  overrides.insert(overrides.end(), more.begin(), more.end());
  Diagnostics diagnostics;
  StudyConfig config;
  config.path = path;
  config.yaml_text = text;
  config.effective = tree;
  config.overrides = overrides;
  const InputNode root(tree, std::make_shared<const std::string>(path), "", &diagnostics);
  root.check_keys({"study", "cohort", "arms", "endpoints", "outputs", "solver", "sweep", "optimize", "costs", "withdrawal",
                   "response_parameters"});
  const InputNode study = root.required("study");
  study.check_keys({"name", "duration", "seed"});
  config.name = study.required("name").text();
  // The name becomes results/<name>.h5: a plain file name, never a path out of results/.
  if (study.has("name") && study.child("name").is_scalar() &&
      (config.name.empty() || config.name == "." || config.name == ".." || config.name.size() > 200 ||
       config.name.find_first_of(std::string("/\\\0", 3)) != std::string::npos || config.name.front() == '-')) {
    study.child("name").fail("expected a plain name usable as a file name (no '/', not '.' or '..', not starting "
                             "with '-', at most 200 characters), found '" + config.name + "'");
  }
  const std::size_t problems_before = diagnostics.messages().size();
  config.duration_h = study.required("duration").quantity(Dimension::time);
  const bool duration_read = diagnostics.messages().size() == problems_before;
  if (duration_read && study.has("duration") && !(config.duration_h > 0.0)) {
    study.child("duration").fail("expected a positive duration");
  } else if (duration_read && config.duration_h > limits::kMaxStudyDurationH) {
    study.child("duration").fail("a study may last at most 10 years (3650 d)");
  }
  // Without a valid duration every "beyond the end of the study" check would only echo that one
  // problem (a message per visit and dose): they are skipped, and the config fails anyway.
  if (diagnostics.messages().size() != problems_before) config.duration_h = std::numeric_limits<double>::infinity();
  if (const auto s = study.optional("seed")) {
    // Read exactly, nothing clamped: a seed outside the range is an error.
    const std::string text = s->text();
    errno = 0;
    char* end = nullptr;
    const unsigned long long seed = std::strtoull(text.c_str(), &end, 10);
    if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos || errno != 0 ||
        end != text.c_str() + text.size() || seed > static_cast<unsigned long long>(limits::kMaxSeed)) {
      if (s->is_scalar()) {
        s->fail("expected a whole number from 0 to " + std::to_string(limits::kMaxSeed) +
                " (the results file stores the seed as a signed 64-bit integer), found '" + text + "'");
      }
    } else {
      config.seed = seed;
    }
  }
  // Arms that dose from an event data set make that file the cohort; peeked here because the
  // cohort block comes first.
  bool event_data = false;
  {
    const YAML::Node& read_only = tree;  // const lookups: a missing key must not be added to the tree
    // A missing key gives a zombie node whose IsSequence()/IsMap() throw (found by fuzz_config):
    // test IsDefined() first.
    const YAML::Node arm_list = read_only.IsMap() ? read_only["arms"] : YAML::Node();
    if (arm_list.IsDefined() && arm_list.IsSequence()) {
      for (const auto& arm : arm_list) {
        const YAML::Node regimen = arm.IsDefined() && arm.IsMap() ? arm["regimen"] : YAML::Node();
        if (regimen.IsDefined() && regimen.IsMap() && regimen["data"].IsDefined()) event_data = true;
      }
    }
  }
  config.cohort = population::parse_cohort(root.required("cohort"), path, event_data);
  std::vector<std::string> seen;
  const auto arms = root.required("arms").sequence();
  if (root.has("arms") && arms.empty()) root.child("arms").fail("expected at least one arm");
  for (const auto& arm : arms) parse_arm(arm, config, seen);
  for (std::size_t i = 0; i < config.arms.size() && i < arms.size(); ++i) {
    const pk::Regimen& regimen = config.arms[i].regimen;
    if (!regimen.from_data()) continue;
    // One cohort per study (common random numbers: patient i is the same person in every arm), so
    // every arm that doses from a file names the same file.
    if (config.cohort.population_file.empty()) {
      config.cohort.population_file = regimen.data_path;
    } else if (config.cohort.population_file != regimen.data_path) {
      arms[i].child("regimen").child("data").fail("every arm that doses from a data set must name the same file (the "
                                                  "study's patients), found '" + regimen.data_path + "' and '" +
                                                  config.cohort.population_file + "'");
    }
  }
  for (std::size_t i = 0; i < config.arms.size() && i < arms.size(); ++i) {
    const auto sessions = pk::expand_sessions(config.arms[i].regimen);
    if (static_cast<long long>(sessions.size()) > limits::kMaxSessions) {
      arms[i].child("regimen").child("schedule").fail("more than " + std::to_string(limits::kMaxSessions) +
                                                      " dosing sessions");
    }
    if (!sessions.empty() && sessions.back().time_h > config.duration_h && config.duration_h > 0.0) {
      arms[i].child("regimen").child("schedule").fail("doses are scheduled after the end of the study (study.duration)");
    }
  }
  parse_endpoints(root.required("endpoints"), config);
  {
    // Each replicate compares two disjoint groups of patients, as a parallel-group trial would.
    const long long needed = 2LL * config.endpoints.power_replicates * config.endpoints.power_patients_per_replicate;
    if (needed > 0 && config.cohort.patients > 0 && config.cohort.patients < needed) {
      root.child("endpoints").child("power").fail(
          "needs 2 x replicates x patients_per_replicate = " + std::to_string(needed) +
          " patients in the cohort, found cohort.patients = " + std::to_string(config.cohort.patients));
    }
  }
  if (const auto o = root.optional("outputs")) parse_outputs(*o, config);
  if (config.output_step_h > 0.0 && std::isfinite(config.duration_h) &&
      config.duration_h / config.output_step_h + 1.0 > limits::kMaxGridPoints) {
    // Checked whatever outputs.concentration says: the grid is simulated either way.
    (root.has("outputs") ? root.child("outputs").child("time_step") : study.child("duration"))
        .fail("study.duration / outputs.time_step gives more than " + std::to_string(limits::kMaxGridPoints) +
              " time points per patient; use a longer time_step");
  }
  if (const auto s = root.optional("solver")) parse_solver(*s, config);
  if (const auto r = root.optional("response_parameters")) {
    // Names and values here; whether the model has such a parameter, in that dimension and within
    // its bounds, is checked against the model by the study loader.
    // Dotted names (placebo.oral_antidepressant.max_typical) may be written flat or, as a sweep
    // or --set key creates them, as nested mappings.
    std::function<void(const InputNode&, const std::string&)> read = [&](const InputNode& node, const std::string& prefix) {
      for (const auto& [key, value] : node.entries()) {
        const std::string name = prefix.empty() ? key : prefix + "." + key;
        if (value.is_map()) {
          read(value, name);
          continue;
        }
        const auto q = value.is_scalar() ? parse_quantity(value.text()) : std::nullopt;
        if (!q) {
          value.fail("expected a number, with the parameter's unit where it has one (e.g. 0.3 or 0.2 1/d)");
          continue;
        }
        ResponseParameterValue v{name, q->value, q->unit, value.location(), ""};
        for (const auto& o : overrides) {
          if (o.key_path == "response_parameters." + name || o.key_path == "response_parameters" ||
              ("response_parameters." + name).rfind(o.key_path + ".", 0) == 0) {
            v.origin = o.origin.empty() ? "--set " + o.key_path + "=" + o.value : o.origin;
          }
        }
        config.response_parameters.push_back(v);
      }
    };
    read(*r, "");
  }
  // The `sweep:` block is read by trial/sweep.hpp (the study loader reports its problems with these).
  if (!diagnostics.empty()) throw InputError(annotate_overrides(diagnostics.messages(), overrides));
  return config;
}

pk::SolverKind solver_for(const StudyConfig& config, const pk::PkModel& model) {
  if (!model.linear || config.solver == StudyConfig::SolverChoice::ode) return pk::SolverKind::ode;
  return pk::SolverKind::exact;
}

}  // namespace ketasim::trial
