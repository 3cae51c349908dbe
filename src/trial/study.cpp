#include "ketasim/trial/study.hpp"

#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

#include "ketasim/core/digest.hpp"
#include "ketasim/trial/optimize.hpp"

namespace ketasim::trial {

namespace {

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

void add_input(Study& study, const std::string& role, const std::string& path) {
  for (const auto& f : study.inputs) {
    if (f.path == path) return;
  }
  std::string text = read_text(path);
  study.inputs.push_back({role, path, sha256_hex(text), std::move(text)});
}

// A mapping's value by key without yaml-cpp's zombie nodes (which throw on Mark()/IsScalar()).
YAML::Node child(const YAML::Node& map, const std::string& key) {
  if (!map.IsMap()) return YAML::Node(YAML::NodeType::Undefined);
  for (const auto& kv : map) {
    if (kv.first.IsScalar() && kv.first.Scalar() == key) return kv.second;
  }
  return YAML::Node(YAML::NodeType::Undefined);
}

void append(std::vector<std::string>& all, const std::vector<std::string>& more) {
  all.insert(all.end(), more.begin(), more.end());
}

// An arm's background must be one the response model defines; `key` (maybe undefined) places the message.
void check_background(const response::ResponseModel& model, const std::string& name, const YAML::Node& key,
                      const std::string& config_path, std::size_t arm, Diagnostics& problems) {
  if (model.background_index(name) >= 0) return;
  SourceLocation at{config_path, "arms[" + std::to_string(arm) + "].background", 0, 0};
  if (key.IsDefined() && key.Mark().line >= 0) {
    at.line = key.Mark().line + 1;
    at.column = key.Mark().column + 1;
  }
  problems.add(at, "expected a background of the response model " + model.path + " (" + model.background_names() +
                       "), found '" + name + "'");
}

// When the config itself has problems, the sweep block and the arms' backgrounds are still
// checked on the raw tree, so that one run lists every problem of every part.
void raw_checks(const std::string& path, const std::string& text, const std::vector<Override>& overrides,
                const response::ResponseModel* model, std::vector<std::string>& problems) {
  YAML::Node root;
  try {
    root = parse_yaml_text(text, path).root;
  } catch (const std::exception&) {
    return;  // already reported by the config parser
  }
  for (const auto& o : overrides) {
    if (o.key_path == "sweep" || o.key_path.rfind("sweep.", 0) == 0) return;  // the override's own message is enough
  }
  Diagnostics d;
  const auto file = std::make_shared<const std::string>(path);
  std::vector<std::string> arm_names;
  const YAML::Node arms = child(root, "arms");
  if (arms.IsSequence()) {
    for (std::size_t i = 0; i < arms.size(); ++i) {
      const YAML::Node arm_name = child(arms[i], "name"), background = child(arms[i], "background");
      arm_names.push_back(arm_name.IsScalar() ? arm_name.Scalar() : "");
      if (!model || !background.IsScalar()) continue;
      check_background(*model, background.Scalar(), background, path, i, d);
    }
  }
  const YAML::Node sweep = child(root, "sweep");
  if (sweep.IsDefined() && !sweep.IsNull()) parse_sweep_block(InputNode(sweep, file, "sweep", &d), arm_names);
  append(problems, d.messages());
}

}  // namespace

void check_response_model(const StudyConfig& config, const response::ResponseModel& model, Diagnostics& problems) {
  const SourceLocation where{model.path, "potency", 0, 0};
  for (std::size_t i = 0; i < config.arms.size(); ++i) {
    const ArmConfig& arm = config.arms[i];
    // Point at the key in the config when it is there (a default background has no line).
    const YAML::Node arms = child(config.effective, "arms");
    const YAML::Node key = arms.IsSequence() && i < arms.size() ? child(arms[i], "background") : YAML::Node();
    check_background(model, arm.background, key, config.path, i, problems);
    if (!arm.model) continue;
    for (const auto& m : arm.model->moieties) {
      if (std::isnan(model.ki_um_for(m.name))) {
        problems.add(where, "no Ki for moiety '" + m.name + "' of model '" + arm.model->name + "' (arm '" + arm.name + "')");
      }
    }
  }
}

void check_population(const std::vector<StudyConfig>& points, const population::PopulationTable& table,
                      const Logger* log) {
  const StudyConfig& c = points.front();
  if (c.cohort.patients > static_cast<long long>(table.rows())) {
    throw InputError(SourceLocation{c.path, "cohort.patients", 0, 0},
                     "asks for " + std::to_string(c.cohort.patients) + " patients but " + table.path + " has " +
                         std::to_string(table.rows()));
  }
  // Columns no arm's model uses are kept (they may be for other tools) and only noted; a cell that
  // is not a number is an error only in a column something reads.
  Diagnostics problems;
  for (std::size_t k = 0; k < table.columns.size(); ++k) {
    const std::string& column = table.columns[k];
    const auto bad = table.bad_cell.find(k);
    bool used = column == "WT" || column == "AGE" || column == "SEX";
    if (column == "ID") continue;
    for (const StudyConfig& point : points) {
      for (const auto& arm : point.arms) {
        for (const auto& v : arm.model->variability) used |= column == "ETA_" + arm.model->parameters[v.parameter].name;
        for (const auto& p : arm.model->parameters) used |= column == p.name;
      }
    }
    if (used && bad != table.bad_cell.end()) {
      problems.add(SourceLocation{table.path, column, bad->second.line, static_cast<int>(k + 1)},
                   column == "SEX" ? "expected 0 (male), 1 (female), M or F, found '" + bad->second.text + "'"
                                   : "expected a finite number or '.' (missing), found '" + bad->second.text + "'");
    }
    if (!used && log) {
      log->info(table.path + ": column '" + column + "' is not used by any arm's model (kept, ignored)");
    }
  }
  problems.throw_if_any();
}

Study load_study(const std::string& path, const std::vector<Override>& overrides, const Logger* log) {
  const YamlDocument doc = load_yaml_file(path);
  return load_study(path, doc.text, overrides, log);
}

Study load_study(const std::string& path, const std::string& text, const std::vector<Override>& overrides,
                 const Logger* log) {
  Study study;
  std::vector<std::string> problems;
  bool config_ok = true;
  try {
    study.config = parse_study_config(path, text, overrides);
  } catch (const InputError& e) {
    append(problems, e.messages());
    config_ok = false;
  }
  // The response model is read even when the config has problems elsewhere, so that every
  // problem of every file shows in one run (its path is all it needs).
  if (!study.config.response_model_path.empty() || !config_ok) {
    std::string rm_path = study.config.response_model_path;
    if (rm_path.empty()) {
      // The config did not parse: find the model's path in the raw tree, if it is there.
      try {
        const YamlDocument doc = parse_yaml_text(text, path);
        const YAML::Node model = child(child(doc.root, "endpoints"), "model");
        if (model.IsScalar()) rm_path = resolve_relative(path, model.Scalar());
      } catch (const std::exception&) {
      }
    }
    if (!rm_path.empty() && regular_file(rm_path)) {
      try {
        study.response_model = std::make_shared<const response::ResponseModel>(response::load_response_model(rm_path));
      } catch (const InputError& e) {
        append(problems, e.messages());
      }
    }
  }
  if (config_ok) {
    try {
      study.sweep = parse_sweep(study.config);
      study.points = expand_sweep(study.config, study.sweep, log);
    } catch (const InputError& e) {
      append(problems, e.messages());
      config_ok = false;
    }
  }
  if (config_ok && study.config.effective.IsMap() && study.config.effective["optimize"].IsDefined() &&
      !study.config.effective["optimize"].IsNull()) {
    Diagnostics d;
    auto spec = std::make_shared<OptimizeSpec>(parse_optimize(study.config, d));
    if (d.empty()) {
      try {
        // Every candidate is a validated config (a bad value names its candidates entry).
        const std::vector<StudyConfig> candidates = expand_sweep(study.config, spec->candidates);
        // Constraints are on the scheduled sessions, known before anything is simulated.
        std::string why;
        bool any_feasible = false;
        for (std::size_t c = 0; c < candidates.size(); ++c) {
          const std::string v = constraint_violation(*spec, candidates[c].arms[spec->arm_index].regimen);
          any_feasible |= v.empty();
          if (!v.empty() && c < 5) why += "; " + spec->candidates.points[c].label + ": " + v;
        }
        if (!any_feasible) {
          d.add(spec->constraints_location, "no candidate meets the constraints (" +
                                                std::to_string(candidates.size()) + " candidates" + why +
                                                (candidates.size() > 5 ? "; ..." : "") + ")");
        }
      } catch (const InputError& e) {
        append(problems, e.messages());
      }
      study.optimize = spec;
    }
    append(problems, d.messages());
  } else if (config_ok && study.config.effective.IsMap() && study.config.effective["costs"].IsDefined() &&
             !study.config.effective["costs"].IsNull()) {
    const YAML::Node costs = study.config.effective["costs"];
    Diagnostics d;
    d.add(SourceLocation{study.config.path, "costs", costs.Mark().line + 1, costs.Mark().column + 1},
          "`costs` is read by `ketasim optimize` only; add an `optimize:` block or remove it");
    append(problems, d.messages());
  }
  if (!config_ok) raw_checks(path, text, overrides, study.response_model.get(), problems);
  if (config_ok && study.response_model) {
    Diagnostics d;
    for (const auto& point : study.points) check_response_model(point, *study.response_model, d);
    std::set<std::string> seen;
    for (const auto& m : d.messages()) {
      if (seen.insert(m).second) problems.push_back(m);
    }
  }
  if (config_ok && !study.config.cohort.population_file.empty()) {
    try {
      study.population = std::make_shared<const population::PopulationTable>(
          population::load_population_csv(study.config.cohort.population_file));
      check_population(study.points, *study.population, log);
    } catch (const InputError& e) {
      append(problems, e.messages());
    }
  }
  if (!problems.empty()) throw InputError(problems);
  study.inputs.push_back({"config", path, sha256_hex(text), text});
  for (const auto& point : study.points) {
    for (const auto& arm : point.arms) add_input(study, "pk_model", arm.model_path);
  }
  add_input(study, "response_model", study.response_model->path);
  if (study.population) add_input(study, "population", study.population->path);
  return study;
}

}  // namespace ketasim::trial
