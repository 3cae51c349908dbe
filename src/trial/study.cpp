#include "ketasim/trial/study.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

#include "ketasim/core/digest.hpp"
#include "ketasim/core/limits.hpp"
#include "ketasim/trial/optimize.hpp"
#include "ketasim/trial/withdrawal.hpp"
#include "ketasim/trial/response_parameters.hpp"

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
  with_response_parameters(model, config, problems);  // the values are checked against the model
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

void check_event_doses(const std::vector<StudyConfig>& points, population::PopulationTable& table) {
  Diagnostics problems;
  const StudyConfig& c = points.front();
  const int time_c = table.column("TIME"), amt_c = table.column("AMT"), cmt_c = table.column("CMT");
  const int duration_c = table.column("RATE") >= 0 ? table.column("RATE") : table.column("DUR");
  const char* duration_name = table.column("RATE") >= 0 ? "RATE" : "DUR";
  for (const StudyConfig& point : points) {
    if (point.cohort.population_file != c.cohort.population_file) {
      problems.add(SourceLocation{c.path, "sweep", 0, 0}, "a sweep point may not change the event data set (regimen.data): it is the study's cohort");
    }
  }
  std::set<std::string> seen;  // one message per problem, not one per sweep point
  auto add = [&](const char* column, int c_index, int line, const std::string& message) {
    if (seen.insert(std::to_string(line) + column + message).second) {
      problems.add(SourceLocation{table.path, column, line, c_index + 1}, message);
    }
  };
  for (const StudyConfig& point : points) {
    for (const ArmConfig& arm : point.arms) {
      if (!arm.regimen.from_data() || !arm.model) continue;
      const pk::PkModel& model = *arm.model;
      const pk::Route route = arm.regimen.route;
      const bool iv = route == pk::Route::iv_infusion || route == pk::Route::iv_bolus;
      for (const auto& doses : table.doses) {
        for (const pk::RecordedDose& d : doses) {
          if (d.additional) continue;  // its record is checked
          if (problems.messages().size() > 20) break;
          const pk::Route given = iv ? (d.duration_h > 0.0 ? pk::Route::iv_infusion : pk::Route::iv_bolus) : route;
          if (!iv && d.duration_h > 0.0) {
            add(duration_name, duration_c, d.line, std::string(duration_name) + " applies to IV doses; arm '" + arm.name +
                                                      "' doses by route " + pk::route_name(route));
            continue;
          }
          const pk::RouteDef* def = model.find_route(given);
          if (!def) {
            add(iv ? duration_name : "AMT", iv ? duration_c : amt_c, d.line,
                std::string("this record is an ") + pk::route_name(given) + (iv ? (d.duration_h > 0.0 ? " (it has a rate or duration)" : " (no RATE or DUR)") : "") +
                    " but model '" + model.name + "' of arm '" + arm.name + "' has no route " + pk::route_name(given));
            continue;
          }
          if (d.cmt > 0 && !def->inputs.empty()) {
            const int expected = def->inputs.front().compartment + 1;
            if (d.cmt > static_cast<int>(model.compartments.size())) {
              add("CMT", cmt_c, d.line, "unknown CMT " + std::to_string(d.cmt) + " for model '" + model.name + "' (arm '" +
                                            arm.name + "'), which has compartments 1 to " +
                                            std::to_string(model.compartments.size()) + "; its " + pk::route_name(given) +
                                            " doses go to CMT " + std::to_string(expected) + " (" +
                                            model.compartments[expected - 1].name + ")");
            } else if (d.cmt != expected) {
              add("CMT", cmt_c, d.line, "CMT " + std::to_string(d.cmt) + " (" + model.compartments[d.cmt - 1].name +
                                            ") is not where route " + pk::route_name(given) + " of model '" + model.name +
                                            "' (arm '" + arm.name + "') doses: expected CMT " + std::to_string(expected) + " (" +
                                            model.compartments[expected - 1].name + ") or '.'");
            }
          }
          if (route == pk::Route::intranasal) {
            const double devices = std::round(d.amount_mg / arm.regimen.device_dose_mg);
            if (d.amount_mg > 0.0 && (devices < 1.0 || std::fabs(devices * arm.regimen.device_dose_mg - d.amount_mg) > 1e-9)) {
              add("AMT", amt_c, d.line, "an intranasal dose must be a whole number of devices of " +
                                            limits::format(arm.regimen.device_dose_mg) + " mg (arm '" + arm.name + "'), found " +
                                            limits::format(d.amount_mg));
            } else if (devices > limits::kMaxDevicesPerSession) {
              add("AMT", amt_c, d.line, "this dose needs " + limits::format(devices) + " devices per session; at most " +
                                            std::to_string(limits::kMaxDevicesPerSession) + " are accepted");
            }
          }
        }
      }
    }
  }
  // outputs.after_each_dose anchors output times to every patient's doses: distinct dose times
  // across a large data set could make the shared time axis (and the memory of every stored
  // curve) unbounded, so the axis is held to the limit a regular grid has.
  if (!c.output_after_each_dose_h.empty()) {
    std::set<double> dose_times_h;
    for (const auto& doses : table.doses) {
      for (const pk::RecordedDose& d : doses) dose_times_h.insert(d.time_h);
    }
    const double anchored = static_cast<double>(dose_times_h.size()) * static_cast<double>(c.output_after_each_dose_h.size());
    if (anchored > static_cast<double>(limits::kMaxGridPoints)) {
      problems.add(SourceLocation{c.path, "outputs.after_each_dose", 0, 0},
                   "the event data set has " + std::to_string(dose_times_h.size()) + " distinct dose times: with " +
                       std::to_string(c.output_after_each_dose_h.size()) + " offsets after each, the time axis would exceed " +
                       std::to_string(limits::kMaxGridPoints) + " points; use outputs.times instead");
    }
  }
  // A record after the end of the study is an error (a wrong TIME unit is the likely cause); the
  // additional doses (ADDL) of a record are laid out up to the end of the study and those after it
  // are not given, as a schedule's `until` would.
  for (auto& doses : table.doses) {
    for (const pk::RecordedDose& d : doses) {
      if (!d.additional && d.time_h > c.duration_h + 1e-9) {
        add("TIME", time_c, d.line, "a dose at TIME " + limits::format(d.time_h) + " h is after the end of the study (study.duration = " +
                                        limits::format(c.duration_h) + " h); TIME is in hours since day 0");
      }
    }
    doses.erase(std::remove_if(doses.begin(), doses.end(), [&](const pk::RecordedDose& d) { return d.time_h > c.duration_h + 1e-9; }),
                doses.end());
  }
  problems.throw_if_any();
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
    if (table.events) {
      for (const char* name : {"TIME", "AMT", "EVID", "RATE", "DUR", "CMT", "II", "ADDL", "SS", "MDV"}) used |= column == name;
    }
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
  if (config_ok && study.config.effective.IsMap() && study.config.effective["withdrawal"].IsDefined() &&
      !study.config.effective["withdrawal"].IsNull()) {
    Diagnostics d;
    auto spec = std::make_shared<WithdrawalSpec>(parse_withdrawal(study.config, d));
    if (!study.sweep.dimensions.empty()) {
      const YAML::Node w = study.config.effective["withdrawal"];
      d.add(SourceLocation{study.config.path, "withdrawal", w.Mark().line + 1, w.Mark().column + 1},
            "randomized withdrawal cannot be combined with a sweep (run one config per sweep point)");
    }
    if (d.empty()) study.withdrawal = spec;
    append(problems, d.messages());
  }
  if (config_ok && study.config.effective.IsMap() && study.config.effective["optimize"].IsDefined() &&
      !study.config.effective["optimize"].IsNull()) {
    Diagnostics d;
    auto spec = std::make_shared<OptimizeSpec>(parse_optimize(study.config, d));
    if (d.empty()) {
      try {
        // Every candidate is a validated config (a bad value names its candidates entry); with a
        // continuous search, every discrete candidate at every corner of the search box.
        const std::vector<StudyConfig> candidates = spec->search.continuous ? corner_configs(study.config, *spec)
                                                                            : expand_sweep(study.config, spec->candidates);
        // Constraints are on the scheduled sessions, known before anything is simulated.
        const std::vector<std::string> violations = candidate_violations(*spec, candidates);
        const std::size_t corners = spec->search.continuous ? search_corners(spec->search).size() : 1;
        std::string why;
        bool any_feasible = false;
        for (std::size_t c = 0; c < candidates.size(); ++c) {
          any_feasible |= violations[c].empty();
          if (!violations[c].empty() && c < 5) {
            why += "; " + spec->candidates.points[c / corners].label + (corners > 1 ? " (corner " + std::to_string(c % corners) + ")" : "") + ": " + violations[c];
          }
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
  if (config_ok && study.config.endpoints.parameter_draws > 0) {
    const YAML::Node e = child(study.config.effective, "endpoints");
    const YAML::Node u = e.IsMap() ? child(e, "parameter_uncertainty") : YAML::Node();
    const SourceLocation where{study.config.path, "endpoints.parameter_uncertainty", u.IsDefined() ? u.Mark().line + 1 : 0,
                               u.IsDefined() ? u.Mark().column + 1 : 0};
    Diagnostics d;
    if (!study.sweep.dimensions.empty()) {
      d.add(where, "parameter draws cannot be combined with a sweep (run one config per sweep point)");
    }
    if (study.response_model && !study.response_model->uncertainty) {
      d.add(where, "the response model '" + study.response_model->path +
                       "' records no parameter uncertainty (calibration.uncertainty); use a model written by "
                       "`ketasim calibrate` (e.g. models/response/v2-2026.yaml) or remove this key");
    }
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
      const std::string& file = study.config.cohort.population_file;
      population::PopulationTable table;
      if (study.config.cohort.event_data) {
        table = population::load_event_csv(file);
        check_event_doses(study.points, table);
      } else {
        table = population::load_population_csv(file);
      }
      check_population(study.points, table, log);
      study.population = std::make_shared<const population::PopulationTable>(std::move(table));
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
  if (study.population) add_input(study, study.population->events ? "event_data" : "population", study.population->path);
  return study;
}

}  // namespace ketasim::trial
