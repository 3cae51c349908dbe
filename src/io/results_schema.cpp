#include "ketasim/io/results_schema.hpp"

#include <nlohmann/json.hpp>

#include <stdexcept>

namespace ketasim::io {

namespace {

using T = ElementType;

const char* type_name(ElementType t) {
  switch (t) {
    case T::float32: return "float32";
    case T::float64: return "float64";
    case T::int8: return "int8";
    case T::int32: return "int32";
    case T::int64: return "int64";
  }
  return "?";
}

std::string fill(std::string text, const std::string& key, const std::string& value) {
  for (auto at = text.find(key); at != std::string::npos; at = text.find(key, at + value.size())) {
    text.replace(at, key.size(), value);
  }
  return text;
}

}  // namespace

const std::vector<VariableSchema>& results_schema() {
  static const std::vector<VariableSchema> schema = {
      {"patient_id", {"patient"}, T::float64, "1", "patient ID from the population file or event data set (its ID column)",
       "an ID column in cohort.population_file or arms[].regimen.data"},
      {"weight_kg", {"patient"}, T::float64, "kg", "body weight", "always"},
      {"age_y", {"patient"}, T::float64, "yr", "age", "always"},
      {"sex", {"patient"}, T::int8, "1", "sex", "always", {0, 1}, "male female"},
      {"status", {"arm", "patient"}, T::int8, "1", "simulation status", "always", {0, 1, 2, 3},
       "ok solver_failure invalid_parameters non_physical_result"},
      {"pk_{parameter}", {"arm", "patient"}, T::float64, "{parameter_unit}",
       "individual PK parameter {parameter} (NaN where the arm's model has none)", "always"},
      {"conc_{output}", {"arm", "patient", "time"}, T::float32, "ng/mL", "plasma concentration of {output}",
       "outputs.concentration: full"},
      {"conc_{output}_mean", {"arm", "time"}, T::float64, "ng/mL", "mean plasma concentration of {output} across patients",
       "outputs.concentration: full or summary"},
      {"conc_{output}_sd", {"arm", "time"}, T::float64, "ng/mL", "standard deviation of plasma concentration of {output}",
       "outputs.concentration: full or summary"},
      {"cmax_{output}", {"arm", "patient", "dose"}, T::float64, "ng/mL", "peak concentration of {output} after the dose",
       "always"},
      {"tmax_{output}", {"arm", "patient", "dose"}, T::float64, "h", "time of the peak of {output} after the dose",
       "always"},
      {"auc_{output}", {"arm", "patient", "dose"}, T::float64, "h*ng/mL",
       "AUC of {output} from the dose to the next scheduled dose (last dose: to the end of the study)", "always"},
      {"ipred_{output}", {"arm", "patient", "sample_time"}, T::float64, "ng/mL",
       "individual predicted concentration of {output} at the sampling time (no observation error)",
       "outputs.sampling_times"},
      {"dv_{output}", {"arm", "patient", "sample_time"}, T::float64, "ng/mL",
       "simulated observed concentration of {output}: ipred with the model's residual error (NaN where the arm's model "
       "has none for {output})",
       "outputs.sampling_times"},
      {"dose_time_h", {"arm", "patient", "dose"}, T::float64, "h",
       "scheduled time of the session since day 0 (NaN beyond the arm's schedule)", "always"},
      {"dose_amount_mg", {"arm", "patient", "dose"}, T::float64, "mg", "amount given at the session (0 when missed)",
       "always"},
      {"dose_duration_h", {"arm", "patient", "dose"}, T::float64, "h",
       "infusion duration of the dose (0: bolus or a non-IV route; NaN beyond the arm's doses)", "arms[].regimen.data"},
      {"dose_taken", {"arm", "patient", "dose"}, T::int8, "1", "whether the scheduled session was attended", "always",
       {-1, 0, 1}, "no_session missed taken"},
      {"madrs", {"arm", "patient", "visit"}, T::float32, "1", "MADRS total score (NaN after the patient left)", "always"},
      {"response_by_visit", {"arm", "patient", "visit"}, T::int8, "1",
       "response at the visit after dropout imputation (endpoints.dropout.imputation)", "always", {0, 1}, "no yes"},
      {"remission_by_visit", {"arm", "patient", "visit"}, T::int8, "1",
       "remission at the visit after dropout imputation (endpoints.dropout.imputation)", "always", {0, 1}, "no yes"},
      {"dropout_time_d", {"arm", "patient"}, T::float64, "d",
       "first visit the patient missed after leaving the study (NaN: stayed to the end)", "always"},
      {"event_time_d", {"arm", "patient", "event_endpoint"}, T::float64, "d",
       "time to the first response or remission (days since day 0), or to relapse (days since the first response); "
       "the censoring time when event_observed is 0",
       "always"},
      {"event_observed", {"arm", "patient", "event_endpoint"}, T::int8, "1",
       "whether event_time_d is an event or a censoring (relapse: not at risk without a response)", "always",
       {-1, 0, 1}, "not_at_risk censored event"},
      {"km_at_risk", {"arm", "event_endpoint", "event_time"}, T::int64, "1",
       "patients at risk just before the time (Kaplan-Meier)", "always"},
      {"km_events", {"arm", "event_endpoint", "event_time"}, T::int64, "1", "events at the time", "always"},
      {"km_censored", {"arm", "event_endpoint", "event_time"}, T::int64, "1", "censorings at the time", "always"},
      {"km_survival", {"arm", "event_endpoint", "event_time"}, T::float64, "1",
       "Kaplan-Meier probability of no event through the time", "always"},
      {"km_lower", {"arm", "event_endpoint", "event_time"}, T::float64, "1",
       "lower bound of the 95% CI of km_survival (log scale, Greenwood; NaN where km_survival is 0)", "always"},
      {"km_upper", {"arm", "event_endpoint", "event_time"}, T::float64, "1",
       "upper bound of the 95% CI of km_survival (log scale, Greenwood; NaN where km_survival is 0)", "always"},
      {"km_median_d", {"arm", "event_endpoint"}, T::float64, "d",
       "Kaplan-Meier median time to the event (NaN: not reached)", "always"},
      {"km_median_lower_d", {"arm", "event_endpoint"}, T::float64, "d", "lower bound of the 95% CI of km_median_d",
       "always"},
      {"km_median_upper_d", {"arm", "event_endpoint"}, T::float64, "d",
       "upper bound of the 95% CI of km_median_d (NaN: not reached)", "always"},
      {"hazard_ratio", {"arm", "event_endpoint"}, T::float64, "1",
       "Cox proportional-hazards ratio (Efron ties) of the arm vs the first arm", "always"},
      {"hazard_ratio_lower", {"arm", "event_endpoint"}, T::float64, "1", "lower bound of the 95% CI of hazard_ratio",
       "always"},
      {"hazard_ratio_upper", {"arm", "event_endpoint"}, T::float64, "1", "upper bound of the 95% CI of hazard_ratio",
       "always"},
      {"logrank_p", {"arm", "event_endpoint"}, T::float64, "1", "log-rank test p-value of the arm vs the first arm",
       "always"},
      {"baseline_madrs", {"arm", "patient"}, T::float32, "1", "MADRS at day 0", "always"},
      {"madrs_change", {"arm", "patient"}, T::float32, "1",
       "MADRS change from baseline at the primary visit (last observed score after dropout)", "always"},
      {"response", {"arm", "patient"}, T::int8, "1", "MADRS reduced by at least the response fraction at the primary visit",
       "always", {0, 1}, "no yes"},
      {"remission", {"arm", "patient"}, T::int8, "1", "MADRS at or below the remission threshold at the primary visit",
       "always", {0, 1}, "no yes"},
      {"relapse", {"arm", "patient"}, T::int8, "1",
       "relapse after a response (consecutive visits at or above the relapse threshold)", "always", {0, 1}, "no yes"},
      {"occupancy", {"arm", "patient", "visit"}, T::float32, "1", "NMDA receptor occupancy at the visit",
       "outputs.response_state: true"},
      {"response_state", {"arm", "patient", "visit"}, T::float32, "1",
       "benefit state of the response structure at the visit", "outputs.response_state: true"},
      {"madrs_expected", {"arm", "patient", "visit"}, T::float32, "1",
       "noise-free expected MADRS at the visit (before visit noise and rounding)", "outputs.response_state: true"},
      {"power_response", {"arm"}, T::float64, "1",
       "fraction of replicate parallel-group trials with a significant response difference vs the first arm",
       "endpoints.power"},
      {"power_remission", {"arm"}, T::float64, "1",
       "fraction of replicate parallel-group trials with a significant remission difference vs the first arm",
       "endpoints.power"},
      {"parameter_draw_values", {"parameter_draw", "response_parameter"}, T::float64, "1",
       "response-model parameter values of the draw, in the internal unit named by response_parameter",
       "endpoints.parameter_uncertainty"},
      {"parameter_draw_response", {"parameter_draw", "arm"}, T::float64, "1",
       "response rate at the primary visit with the draw's parameters (same patients as the main run)",
       "endpoints.parameter_uncertainty"},
      {"parameter_draw_remission", {"parameter_draw", "arm"}, T::float64, "1",
       "remission rate at the primary visit with the draw's parameters (same patients as the main run)",
       "endpoints.parameter_uncertainty"},
      {"parameter_draw_change", {"parameter_draw", "arm"}, T::float64, "1",
       "mean MADRS change at the primary visit with the draw's parameters (observed patients)",
       "endpoints.parameter_uncertainty"},
      {"withdrawal_selected", {"patient"}, T::int8, "1",
       "group the patient was selected into at randomization (index along withdrawal_group; -1: not selected)",
       "withdrawal"},
      {"withdrawal_assigned", {"patient"}, T::int8, "1",
       "arm a selected patient was randomized to (index along withdrawal_arm: 0 continue, 1 stop; -1: not selected)",
       "withdrawal"},
      {"withdrawal_relapse_time_d", {"withdrawal_arm", "patient"}, T::float64, "d",
       "days from randomization to relapse, or to censoring (selected patients, both arms; NaN: not selected)",
       "withdrawal"},
      {"withdrawal_relapse_event", {"withdrawal_arm", "patient"}, T::int8, "1",
       "1 relapse, 0 censored, -1 not selected", "withdrawal"},
      {"withdrawal_n", {"withdrawal_group", "withdrawal_arm"}, T::int64, "1", "patients randomized to the arm",
       "withdrawal"},
      {"withdrawal_relapses", {"withdrawal_group", "withdrawal_arm"}, T::int64, "1",
       "relapses after randomization among patients randomized to the arm", "withdrawal"},
      {"withdrawal_km_at_risk", {"withdrawal_group", "withdrawal_arm", "withdrawal_time"}, T::int64, "1",
       "randomized patients at risk of relapse just before the time", "withdrawal"},
      {"withdrawal_km_events", {"withdrawal_group", "withdrawal_arm", "withdrawal_time"}, T::int64, "1",
       "relapses at the time", "withdrawal"},
      {"withdrawal_km_censored", {"withdrawal_group", "withdrawal_arm", "withdrawal_time"}, T::int64, "1",
       "censorings at the time", "withdrawal"},
      {"withdrawal_km_survival", {"withdrawal_group", "withdrawal_arm", "withdrawal_time"}, T::float64, "1",
       "Kaplan-Meier probability of no relapse since randomization", "withdrawal"},
      {"withdrawal_km_lower", {"withdrawal_group", "withdrawal_arm", "withdrawal_time"}, T::float64, "1",
       "lower bound of the 95% CI of withdrawal_km_survival (log scale, Greenwood)", "withdrawal"},
      {"withdrawal_km_upper", {"withdrawal_group", "withdrawal_arm", "withdrawal_time"}, T::float64, "1",
       "upper bound of the 95% CI of withdrawal_km_survival (log scale, Greenwood)", "withdrawal"},
      {"withdrawal_km_median_d", {"withdrawal_group", "withdrawal_arm"}, T::float64, "d",
       "Kaplan-Meier median time to relapse since randomization (NaN: not reached)", "withdrawal"},
      {"withdrawal_km_median_lower_d", {"withdrawal_group", "withdrawal_arm"}, T::float64, "d",
       "lower bound of the 95% CI of withdrawal_km_median_d", "withdrawal"},
      {"withdrawal_km_median_upper_d", {"withdrawal_group", "withdrawal_arm"}, T::float64, "d",
       "upper bound of the 95% CI of withdrawal_km_median_d (NaN: not reached)", "withdrawal"},
      {"withdrawal_hazard_ratio", {"withdrawal_group"}, T::float64, "1",
       "Cox hazard ratio of relapse, stop vs continue, randomized patients (Efron ties)", "withdrawal"},
      {"withdrawal_hazard_ratio_lower", {"withdrawal_group"}, T::float64, "1",
       "lower bound of the 95% CI of withdrawal_hazard_ratio", "withdrawal"},
      {"withdrawal_hazard_ratio_upper", {"withdrawal_group"}, T::float64, "1",
       "upper bound of the 95% CI of withdrawal_hazard_ratio", "withdrawal"},
      {"withdrawal_logrank_p", {"withdrawal_group"}, T::float64, "1", "log-rank test p-value, stop vs continue",
       "withdrawal"},
      {"input_role", {"input_file"}, T::int8, "1", "role of the input file: config, pk_model, response_model, population, event_data",
       "always"},
      {"input_sha256", {"input_file"}, T::int8, "1", "SHA-256 of the input file's bytes", "always"},
      {"input_text", {"input_file"}, T::int8, "1", "the input file's text, verbatim", "always"},
  };
  return schema;
}

const VariableSchema& schema_entry(const std::string& name) {
  for (const auto& e : results_schema()) {
    if (e.name == name) return e;
  }
  throw std::logic_error("no results schema entry '" + name + "'");
}

VariableSpec variable_spec(const VariableSchema& e, std::vector<std::string> dims, const std::string& placeholder,
                           const std::string& parameter_unit) {
  const bool output = e.name.find("{output}") != std::string::npos;
  const std::string key = output ? "{output}" : "{parameter}";
  VariableSpec spec(fill(e.name, key, placeholder), std::move(dims), e.type, fill(e.units, "{parameter_unit}", parameter_unit),
                    fill(e.long_name, key, placeholder));
  spec.flag_values = e.flag_values;
  spec.flag_meanings = e.flag_meanings;
  return spec;
}

bool reserved_name(const std::string& name) {
  for (const char* dim : {"arm", "patient", "time", "visit", "dose", "input_file", "event_endpoint", "event_time", "sample_time",
                          "withdrawal_group", "withdrawal_arm", "withdrawal_time", "parameter_draw", "response_parameter"}) {
    if (name == dim) return true;
  }
  for (const auto& e : results_schema()) {
    const auto brace = e.name.find('{');
    if (brace == std::string::npos ? name == e.name : name.rfind(e.name.substr(0, brace), 0) == 0) return true;
  }
  return false;
}

std::string schema_json() {
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const auto& e : results_schema()) {
    const bool text = e.dims == std::vector<std::string>{"input_file"};
    nlohmann::ordered_json j = {{"name", e.name},
                                {"dims", e.dims},
                                {"dtype", text ? "string" : type_name(e.type)},
                                {"units", e.units},
                                {"long_name", e.long_name},
                                {"when", e.when}};
    if (!e.flag_values.empty()) {
      j["flag_values"] = e.flag_values;
      j["flag_meanings"] = e.flag_meanings;
    }
    out.push_back(j);
  }
  return out.dump(2);
}

}  // namespace ketasim::io
