#include "results_writer.hpp"

#include <algorithm>

#include "ketasim/core/units.hpp"
#include "ketasim/io/results_schema.hpp"

namespace ketasim::trial {

namespace {

// Where plan v (sweep point x arm) lives in a per-arm variable: the point's index along each sweep
// dimension, then the arm.
std::vector<hsize_t> plan_prefix(const SweepPlan& sweep, const Layout& l, int v) {
  std::vector<hsize_t> prefix;
  for (std::size_t i : sweep.points[v / l.n_arms].index) prefix.push_back(i);
  prefix.push_back(static_cast<hsize_t>(v % l.n_arms));
  return prefix;
}

}  // namespace

void write_plan_values(const Layout& l, const SweepPlan& sweep, int variable, int plan, const double* values,
                       hsize_t tail, io::ResultsFile& f) {
  std::vector<hsize_t> start = plan_prefix(sweep, l, plan);
  std::vector<hsize_t> extent(start.size(), 1);
  if (tail) {
    start.push_back(0);
    extent.push_back(tail);
  }
  f.write(variable, start, extent, values);
}

template <class T>
void write_plan_block(const Layout& l, const SweepPlan& sweep, int variable, int plan, const T* values,
                      const std::vector<hsize_t>& tail, io::ResultsFile& f) {
  std::vector<hsize_t> start = plan_prefix(sweep, l, plan);
  std::vector<hsize_t> extent(start.size(), 1);
  start.insert(start.end(), tail.size(), 0);
  extent.insert(extent.end(), tail.begin(), tail.end());
  f.write(variable, start, extent, values);
}
template void write_plan_block(const Layout&, const SweepPlan&, int, int, const double*, const std::vector<hsize_t>&,
                               io::ResultsFile&);
template void write_plan_block(const Layout&, const SweepPlan&, int, int, const std::int64_t*,
                               const std::vector<hsize_t>&, io::ResultsFile&);

FileVariables define_file(const Study& study, const Layout& l, io::ResultsFile& f) {
  const StudyConfig& config = study.config;
  std::vector<std::string> prefix;  // sweep dimensions, then arm
  for (const auto& d : study.sweep.dimensions) {
    if (d.labels.empty()) {
      f.add_dimension(d.name, d.values, d.units, "swept " + d.key);
    } else {
      f.add_label_dimension(d.name, d.labels, "sweep scenario");
    }
    prefix.push_back(d.name);
  }
  std::vector<std::string> arm_names;
  for (const auto& arm : config.arms) arm_names.push_back(arm.name);
  f.add_label_dimension("arm", arm_names, "trial arm");
  f.add_index_dimension("patient", static_cast<hsize_t>(l.n_patients), "1",
                        "virtual patient index (same patient in every arm)");
  if (l.summarize_conc) f.add_dimension("time", l.output_times_h, "h", "time since day 0 (study start)");
  f.add_dimension("visit", l.visits_d, "d", "MADRS visit, days since day 0 (study start)");
  if (!l.sampling_times_h.empty()) {
    f.add_dimension("sample_time", l.sampling_times_h, "h", "sampling time of simulated observations, since day 0");
  }
  std::vector<std::int32_t> doses(l.n_doses);
  for (int i = 0; i < l.n_doses; ++i) doses[i] = i;
  f.add_dimension("dose", doses, "1", "index of the scheduled session within the arm");
  f.add_label_dimension("event_endpoint", {"response", "remission", "relapse"}, "time-to-event endpoint");
  f.add_dimension("event_time", l.event_grid_d, "d",
                  "time of an event or censoring: days since day 0 (relapse: since the first response)");
  std::vector<std::string> input_paths, roles, digests, texts;
  for (const auto& in : study.inputs) {
    input_paths.push_back(in.path);
    roles.push_back(in.role);
    digests.push_back(in.sha256);
    texts.push_back(in.text);
  }
  f.add_label_dimension("input_file", input_paths, "path of a file the study was read from");
  f.add_string_variable("input_role", "input_file", roles, io::schema_entry("input_role").long_name);
  f.add_string_variable("input_sha256", "input_file", digests, io::schema_entry("input_sha256").long_name);
  f.add_string_variable("input_text", "input_file", texts, io::schema_entry("input_text").long_name);

  // Every per-arm variable: the schema's dims with "arm" standing for (sweep..., arm).
  auto make = [&](const std::string& entry, const std::string& placeholder = {}, const std::string& unit = {}) {
    const io::VariableSchema& e = io::schema_entry(entry);
    std::vector<std::string> dims;
    for (const auto& d : e.dims) {
      if (d == "arm") dims.insert(dims.end(), prefix.begin(), prefix.end());
      dims.push_back(d);
    }
    io::VariableSpec spec = io::variable_spec(e, std::move(dims), placeholder, unit);
    spec.chunk_patients = static_cast<hsize_t>(l.chunk_patients);
    return f.create_variable(spec);
  };
  FileVariables v;
  if (l.has_patient_id) v.patient_id = make("patient_id");
  // With a sweep over the cohort's distributions each point has its own covariates: the sweep
  // dimensions come before patient.
  auto covariate = [&](const std::string& entry) {
    if (!l.cohort_swept) return make(entry);
    const io::VariableSchema& e = io::schema_entry(entry);
    std::vector<std::string> dims = prefix;  // the sweep dimensions (no arm)
    dims.insert(dims.end(), e.dims.begin(), e.dims.end());
    io::VariableSpec spec = io::variable_spec(e, std::move(dims));
    spec.chunk_patients = static_cast<hsize_t>(l.chunk_patients);
    return f.create_variable(spec);
  };
  v.weight = covariate("weight_kg");
  v.age = covariate("age_y");
  v.sex = covariate("sex");
  v.status = make("status");
  for (const auto& name : l.parameters) {
    std::string units = "1";
    for (const auto& point : study.points) {
      for (const auto& arm : point.arms) {
        const int k = arm.model->find_parameter(name);
        if (k >= 0) units = canonical_unit(arm.model->parameters[k].dimension);
      }
    }
    v.parameters.push_back(make("pk_{parameter}", name, units));
  }
  for (const auto& out : l.outputs) {
    if (l.store_conc) v.conc.push_back(make("conc_{output}", out));
    if (l.summarize_conc) {
      v.conc_mean.push_back(make("conc_{output}_mean", out));
      v.conc_sd.push_back(make("conc_{output}_sd", out));
    }
    v.cmax.push_back(make("cmax_{output}", out));
    v.tmax.push_back(make("tmax_{output}", out));
    v.auc.push_back(make("auc_{output}", out));
    if (!l.sampling_times_h.empty()) {
      v.ipred.push_back(make("ipred_{output}", out));
      v.dv.push_back(make("dv_{output}", out));
    }
  }
  v.dose_time = make("dose_time_h");
  v.dose_amount = make("dose_amount_mg");
  if (l.store_dose_duration) v.dose_duration = make("dose_duration_h");
  v.dose_taken = make("dose_taken");
  v.madrs = make("madrs");
  v.response_by_visit = make("response_by_visit");
  v.remission_by_visit = make("remission_by_visit");
  v.dropout_time = make("dropout_time_d");
  v.event_time = make("event_time_d");
  v.event_observed = make("event_observed");
  for (const char* name : {"km_at_risk", "km_events", "km_censored", "km_survival", "km_lower", "km_upper"}) {
    v.km.push_back(make(name));
  }
  for (const char* name : {"km_median_d", "km_median_lower_d", "km_median_upper_d"}) v.km_median.push_back(make(name));
  for (const char* name : {"hazard_ratio", "hazard_ratio_lower", "hazard_ratio_upper", "logrank_p"}) {
    v.cox.push_back(make(name));
  }
  v.baseline = make("baseline_madrs");
  v.change = make("madrs_change");
  v.response = make("response");
  v.remission = make("remission");
  v.relapse = make("relapse");
  if (l.store_response_state) {
    v.occupancy = make("occupancy");
    v.state = make("response_state");
    v.expected = make("madrs_expected");
  }
  if (config.endpoints.power_replicates > 0) {
    v.power_response = make("power_response");
    v.power_remission = make("power_remission");
  }
  return v;
}

void write_batch(const Layout& l, const SweepPlan& sweep, const FileVariables& v, const Batch& b, io::ResultsFile& f) {
  const hsize_t first = static_cast<hsize_t>(b.first), n = static_cast<hsize_t>(b.count);
  const hsize_t plans = static_cast<hsize_t>(l.n_plans);
  // The batch buffers hold [plan][patient] for this batch's patients; one hyperslab per plan.
  auto per_plan = [&](int var, const auto* data, hsize_t inner) {
    for (hsize_t a = 0; a < plans; ++a) {
      std::vector<hsize_t> start = plan_prefix(sweep, l, static_cast<int>(a));
      std::vector<hsize_t> count(start.size(), 1);
      start.push_back(first);
      count.push_back(n);
      if (inner) {
        start.push_back(0);
        count.push_back(inner);
      }
      f.write(var, start, count, data + a * n * (inner ? inner : 1));
    }
  };
  if (l.has_patient_id) f.write(v.patient_id, {first}, {n}, b.patient_id.data());
  for (int point = 0; point < l.covariate_sets(); ++point) {
    std::vector<hsize_t> start, count;
    if (l.cohort_swept) {
      start = plan_prefix(sweep, l, point * l.n_arms);
      start.pop_back();  // not arm
      count.assign(start.size(), 1);
    }
    start.push_back(first);
    count.push_back(n);
    const std::size_t offset = static_cast<std::size_t>(point) * n;
    f.write(v.weight, start, count, b.weight_kg.data() + offset);
    f.write(v.age, start, count, b.age_y.data() + offset);
    f.write(v.sex, start, count, b.sex.data() + offset);
  }
  per_plan(v.status, b.status.data(), 0);
  for (std::size_t k = 0; k < v.parameters.size(); ++k) per_plan(v.parameters[k], b.parameters.data() + k * plans * n, 0);
  const hsize_t n_doses = static_cast<hsize_t>(l.n_doses);
  const hsize_t n_visits = static_cast<hsize_t>(l.visits_d.size());
  for (std::size_t s = 0; s < l.outputs.size(); ++s) {
    if (l.store_conc) {
      std::vector<hsize_t> chunk_start(f.chunk_shape(v.conc[s]).size(), 0);
      chunk_start[chunk_start.size() - 2] = first;  // (sweep..., arm, patient, time): all but patient at 0
      f.write_encoded_chunk(v.conc[s], chunk_start, b.encoded_conc[s]);
    }
    per_plan(v.cmax[s], b.cmax.data() + s * plans * n * n_doses, n_doses);
    per_plan(v.tmax[s], b.tmax.data() + s * plans * n * n_doses, n_doses);
    per_plan(v.auc[s], b.auc.data() + s * plans * n * n_doses, n_doses);
    if (!l.sampling_times_h.empty()) {
      const hsize_t n_samples = static_cast<hsize_t>(l.sampling_times_h.size());
      per_plan(v.ipred[s], b.ipred.data() + s * plans * n * n_samples, n_samples);
      per_plan(v.dv[s], b.dv.data() + s * plans * n * n_samples, n_samples);
    }
  }
  per_plan(v.dose_time, b.dose_time.data(), n_doses);
  per_plan(v.dose_amount, b.dose_amount.data(), n_doses);
  if (l.store_dose_duration) per_plan(v.dose_duration, b.dose_duration.data(), n_doses);
  per_plan(v.dose_taken, b.dose_taken.data(), n_doses);
  per_plan(v.madrs, b.madrs.data(), n_visits);
  per_plan(v.response_by_visit, b.response_by_visit.data(), n_visits);
  per_plan(v.remission_by_visit, b.remission_by_visit.data(), n_visits);
  per_plan(v.dropout_time, b.dropout_time.data(), 0);
  per_plan(v.event_time, b.event_time.data(), 3);
  per_plan(v.event_observed, b.event_observed.data(), 3);
  per_plan(v.baseline, b.baseline.data(), 0);
  per_plan(v.change, b.change.data(), 0);
  per_plan(v.response, b.response.data(), 0);
  per_plan(v.remission, b.remission.data(), 0);
  per_plan(v.relapse, b.relapse.data(), 0);
  if (l.store_response_state) {
    per_plan(v.occupancy, b.occupancy.data(), n_visits);
    per_plan(v.state, b.state.data(), n_visits);
    per_plan(v.expected, b.expected.data(), n_visits);
  }
}

void encode_concentrations(const Layout& l, Batch& b) {
  const std::size_t n_time = l.output_times_h.size();
  const std::size_t plans = static_cast<std::size_t>(l.n_plans);
  const std::size_t chunk_patients = static_cast<std::size_t>(l.chunk_patients);
  const std::size_t per_output = plans * b.count * n_time;
  const std::size_t chunk_elements = plans * chunk_patients * n_time;
  b.encoded_conc.resize(l.outputs.size());
  for (std::size_t s = 0; s < l.outputs.size(); ++s) {
    const float* source = b.conc.data() + s * per_output;
    if (static_cast<std::size_t>(b.count) != chunk_patients) {
      b.padded.assign(chunk_elements, NAN);
      for (std::size_t a = 0; a < plans; ++a) {
        std::copy(source + a * b.count * n_time, source + (a + 1) * b.count * n_time,
                  b.padded.begin() + static_cast<std::ptrdiff_t>(a * chunk_patients * n_time));
      }
      source = b.padded.data();
    }
    io::ResultsFile::encode_chunk(source, chunk_elements, b.shuffle_scratch, b.encoded_conc[s]);
  }
}

}  // namespace ketasim::trial
