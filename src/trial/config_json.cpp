#include "ketasim/trial/config_json.hpp"

#include <nlohmann/json.hpp>

#include <cstdio>

namespace ketasim::trial {

namespace {

using json = nlohmann::ordered_json;

std::string number_text(double v) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.15g", v);
  return buffer;
}

std::string quantity(double v, const char* unit) { return number_text(v) + " " + unit; }

json distribution(const population::TruncatedNormalSpec& s) {
  return {{"mean", s.mean}, {"sd", s.sd}, {"min", s.min}, {"max", s.max}};
}

// YAML -> JSON for the sweep block, which is kept as written: numbers and booleans stay typed.
json from_yaml(const YAML::Node& node) {
  if (node.IsMap()) {
    json out = json::object();
    for (const auto& kv : node) out[kv.first.Scalar()] = from_yaml(kv.second);
    return out;
  }
  if (node.IsSequence()) {
    json out = json::array();
    for (const auto& item : node) out.push_back(from_yaml(item));
    return out;
  }
  if (!node.IsScalar()) return nullptr;
  const std::string& s = node.Scalar();
  if (s == "true" || s == "false") return s == "true";
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (!s.empty() && end == s.c_str() + s.size() && s.find_first_of("xXnN") == std::string::npos) return v;
  return s;
}

json regimen_json(const pk::Regimen& r) {
  const char* dose_unit = r.dose_per_kg ? "mg/kg" : "mg";
  json out = {{"route", pk::route_name(r.route)}, {"dose", quantity(r.dose, dose_unit)}};
  if (r.route == pk::Route::iv_infusion) {
    if (r.infusion_duration_h >= 0.0) out["infusion_duration"] = quantity(r.infusion_duration_h, "h");
    else out["infusion_rate"] = quantity(-r.infusion_duration_h, "mg/h");
  }
  if (r.route == pk::Route::intranasal) {
    out["devices"] = r.devices_per_session;
    out["device_interval"] = quantity(r.device_interval_h, "h");
    out["device_dose"] = quantity(r.device_dose_mg, "mg");
  }
  out["start"] = quantity(r.start_h, "h");
  out["adherence"] = r.adherence_probability;
  json phases = json::array();
  for (const auto& p : r.phases) {
    json phase = {{"every", quantity(p.every_h, "h")}};
    if (p.count >= 0) phase["count"] = p.count;
    else phase["until"] = quantity(p.until_h, "h");
    if (p.dose_override >= 0.0) phase["dose"] = quantity(p.dose_override, dose_unit);
    if (p.devices_override > 0) phase["devices"] = p.devices_override;
    phases.push_back(phase);
  }
  out["schedule"] = phases;
  return out;
}

}  // namespace

std::string effective_config_json(const Study& study) {
  const StudyConfig& c = study.config;
  json out;
  out["study"] = {{"name", c.name}, {"duration", quantity(c.duration_h, "h")}, {"seed", c.seed}};
  json cohort = {{"patients", c.cohort.patients},
                 {"weight_kg", distribution(c.cohort.weight_kg)},
                 {"age_y", distribution(c.cohort.age_y)},
                 {"female_fraction", c.cohort.female_fraction},
                 {"baseline_madrs", distribution(c.cohort.baseline_madrs)},
                 {"variability", c.cohort.variability}};
  if (!c.cohort.population_file.empty()) cohort["population_file"] = c.cohort.population_file;
  out["cohort"] = cohort;
  json arms = json::array();
  for (const auto& arm : c.arms) {
    arms.push_back({{"name", arm.name}, {"model", arm.model_path}, {"background", arm.background},
                    {"regimen", regimen_json(arm.regimen)}});
  }
  out["arms"] = arms;
  const EndpointConfig& e = c.endpoints;
  json visits = json::array();
  for (double d : e.visits_d) visits.push_back(quantity(d, "d"));
  out["endpoints"] = {{"model", c.response_model_path},
                      {"visits", visits},
                      {"primary_visit", quantity(e.primary_visit_d, "d")},
                      {"remission_threshold", e.remission_threshold},
                      {"response_fraction", e.response_fraction},
                      {"relapse", {{"threshold", e.relapse_threshold}, {"consecutive_visits", e.relapse_consecutive}}},
                      {"dropout", {{"rate_per_week", e.dropout_per_week},
                                   {"lack_of_improvement_per_week", e.dropout_lack_of_improvement_per_week},
                                   {"imputation", e.dropout_locf ? "locf" : "non_responder"}}}};
  json pairs = json::array();  // the comparisons as they ran (the default spelled out)
  for (const auto& [arm, reference] : e.comparisons) {
    pairs.push_back({{"arm", c.arms[arm].name}, {"reference", c.arms[reference].name}});
  }
  out["endpoints"]["comparisons"] = {{"pairs", pairs}};
  if (e.power_replicates > 0) {
    out["endpoints"]["power"] = {{"replicates", e.power_replicates},
                                 {"patients_per_replicate", e.power_patients_per_replicate}};
  }
  json after = json::array(), times = json::array();
  for (double h : c.output_after_each_dose_h) after.push_back(quantity(h, "h"));
  for (double h : c.output_times_h) times.push_back(quantity(h, "h"));
  out["outputs"] = {{"concentration", c.concentration == ConcentrationOutput::full      ? "full"
                                      : c.concentration == ConcentrationOutput::summary ? "summary"
                                                                                        : "none"},
                    {"time_step", quantity(c.output_step_h, "h")},
                    {"after_each_dose", after},
                    {"times", times},
                    {"response_state", c.store_response_state},
                    {"batch_patients", c.batch_patients}};
  out["solver"] = {{"method", c.solver == StudyConfig::SolverChoice::exact ? "exact"
                              : c.solver == StudyConfig::SolverChoice::ode ? "ode"
                                                                           : "auto"},
                   {"relative_tolerance", c.tolerances.relative},
                   {"absolute_tolerance_mg", c.tolerances.absolute_mg}};
  const YAML::Node sweep = c.effective.IsMap() ? c.effective["sweep"] : YAML::Node();
  out["sweep"] = sweep.IsDefined() ? from_yaml(sweep) : json(nullptr);
  if (study.response_model) {
    const response::ResponseModel& m = *study.response_model;
    json values = json::object();
    for (std::size_t i = 0; i < m.parameters.size(); ++i) {
      values[m.parameters.names[i]] =
          quantity(m.parameters.values[i], m.parameters.dimensions[i] == Dimension::dimensionless
                                               ? "1"
                                               : canonical_unit(m.parameters.dimensions[i]));
    }
    out["response_model"] = {{"path", m.path}, {"name", m.name}, {"structure", m.structure_name}, {"parameters", values}};
  }
  return out.dump();
}

}  // namespace ketasim::trial
