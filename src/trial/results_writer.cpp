#include "results_writer.hpp"

#include <algorithm>
#include <functional>
#include <numeric>
#include <string>
#include <type_traits>

#include "ketasim/core/error.hpp"
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

namespace {

// Every per-patient dataset of a batch, in one fixed order, with the file variable it goes to
// (-1 when `v` is null: worker threads and other ranks encode without the file). The batch holds
// each as [block][patient][inner], block = plan (sweep point x arm) or covariate set, which is
// the C order of one chunk: every block and inner value, chunk_patients patients. `inner` is 0
// for a variable with no axis after patient. encode_patient_chunks and write_batch both walk
// this list, so a dataset added here is encoded and written, or neither.
template <class Visit>
void for_each_patient_dataset(const Layout& l, const FileVariables* v, const Batch& b, Visit&& visit) {
  auto id = [&](int FileVariables::*member) { return v ? v->*member : -1; };
  auto id_at = [&](std::vector<int> FileVariables::*member, std::size_t k) { return v ? (v->*member)[k] : -1; };
  const std::size_t plans = static_cast<std::size_t>(l.n_plans), n = static_cast<std::size_t>(b.count);
  const std::size_t n_doses = static_cast<std::size_t>(l.n_doses), n_visits = l.visits_d.size();
  const std::size_t n_samples = l.sampling_times_h.size(), n_time = l.output_times_h.size();
  const std::size_t covariate_sets = static_cast<std::size_t>(l.covariate_sets());
  if (l.has_patient_id) visit(id(&FileVariables::patient_id), b.patient_id.data(), 1, 0);
  visit(id(&FileVariables::weight), b.weight_kg.data(), covariate_sets, 0);
  visit(id(&FileVariables::age), b.age_y.data(), covariate_sets, 0);
  visit(id(&FileVariables::sex), b.sex.data(), covariate_sets, 0);
  visit(id(&FileVariables::status), b.status.data(), plans, 0);
  for (std::size_t k = 0; k < l.parameters.size(); ++k) {
    visit(id_at(&FileVariables::parameters, k), b.parameters.data() + k * plans * n, plans, 0);
  }
  for (std::size_t s = 0; s < l.outputs.size(); ++s) {
    if (l.store_conc) visit(id_at(&FileVariables::conc, s), b.conc.data() + s * plans * n * n_time, plans, n_time);
    visit(id_at(&FileVariables::cmax, s), b.cmax.data() + s * plans * n * n_doses, plans, n_doses);
    visit(id_at(&FileVariables::tmax, s), b.tmax.data() + s * plans * n * n_doses, plans, n_doses);
    visit(id_at(&FileVariables::auc, s), b.auc.data() + s * plans * n * n_doses, plans, n_doses);
    if (n_samples > 0) {
      visit(id_at(&FileVariables::ipred, s), b.ipred.data() + s * plans * n * n_samples, plans, n_samples);
      visit(id_at(&FileVariables::dv, s), b.dv.data() + s * plans * n * n_samples, plans, n_samples);
    }
  }
  visit(id(&FileVariables::dose_time), b.dose_time.data(), plans, n_doses);
  visit(id(&FileVariables::dose_amount), b.dose_amount.data(), plans, n_doses);
  if (l.store_dose_duration) visit(id(&FileVariables::dose_duration), b.dose_duration.data(), plans, n_doses);
  visit(id(&FileVariables::dose_taken), b.dose_taken.data(), plans, n_doses);
  visit(id(&FileVariables::madrs), b.madrs.data(), plans, n_visits);
  visit(id(&FileVariables::response_by_visit), b.response_by_visit.data(), plans, n_visits);
  visit(id(&FileVariables::remission_by_visit), b.remission_by_visit.data(), plans, n_visits);
  visit(id(&FileVariables::dropout_time), b.dropout_time.data(), plans, 0);
  visit(id(&FileVariables::event_time), b.event_time.data(), plans, 3);
  visit(id(&FileVariables::event_observed), b.event_observed.data(), plans, 3);
  visit(id(&FileVariables::baseline), b.baseline.data(), plans, 0);
  visit(id(&FileVariables::change), b.change.data(), plans, 0);
  visit(id(&FileVariables::response), b.response.data(), plans, 0);
  visit(id(&FileVariables::remission), b.remission.data(), plans, 0);
  visit(id(&FileVariables::relapse), b.relapse.data(), plans, 0);
  if (l.store_response_state) {
    visit(id(&FileVariables::occupancy), b.occupancy.data(), plans, n_visits);
    visit(id(&FileVariables::state), b.state.data(), plans, n_visits);
    visit(id(&FileVariables::expected), b.expected.data(), plans, n_visits);
  }
}

}  // namespace

void write_batch(const Layout& l, const FileVariables& v, const Batch& b, io::ResultsFile& f) {
  const hsize_t chunk_patients = static_cast<hsize_t>(l.chunk_patients);
  if (b.first % l.chunk_patients != 0) {
    throw RuntimeFailure("internal error: a batch starts at patient " + std::to_string(b.first) +
                         ", not at a chunk boundary (" + std::to_string(l.chunk_patients) + " patients)");
  }
  std::size_t k = 0;
  for_each_patient_dataset(l, &v, b, [&](int variable, const auto*, std::size_t blocks, std::size_t inner) {
    const std::vector<hsize_t>& chunk = f.chunk_shape(variable);
    const hsize_t expected = static_cast<hsize_t>(blocks) * chunk_patients * (inner ? inner : 1);
    const hsize_t elements = std::accumulate(chunk.begin(), chunk.end(), hsize_t{1}, std::multiplies<>());
    if (k >= b.encoded.size() || chunk.empty() || elements != expected) {
      throw RuntimeFailure("internal error: the batch's encoded chunk " + std::to_string(k) +
                           " does not match its variable's chunk shape");
    }
    // (sweep..., arm, patient[, inner]) or (sweep..., patient): 0 on every axis but patient
    std::vector<hsize_t> start(chunk.size(), 0);
    start[chunk.size() - (inner ? 2 : 1)] = static_cast<hsize_t>(b.first);
    f.write_encoded_chunk(variable, start, b.encoded[k++]);
  });
  if (k != b.encoded.size()) throw RuntimeFailure("internal error: the batch carries more encoded chunks than datasets");
}

void encode_patient_chunks(const Layout& l, Batch& b) {
  const std::size_t chunk_patients = static_cast<std::size_t>(l.chunk_patients), n = static_cast<std::size_t>(b.count);
  std::size_t k = 0;
  for_each_patient_dataset(l, nullptr, b, [&](int, const auto* data, std::size_t blocks, std::size_t inner) {
    using T = std::remove_const_t<std::remove_pointer_t<decltype(data)>>;
    const std::size_t row = (inner ? inner : 1) * sizeof(T);  // bytes per patient and block
    const unsigned char* source = reinterpret_cast<const unsigned char*>(data);
    if (n != chunk_patients) {
      // The last, short batch: each block padded to chunk_patients with zero bytes, which lie
      // beyond the dataset's extent and are never read.
      b.padded.assign(blocks * chunk_patients * row, 0);
      for (std::size_t a = 0; a < blocks; ++a) {
        std::copy(source + a * n * row, source + (a + 1) * n * row,
                  b.padded.begin() + static_cast<std::ptrdiff_t>(a * chunk_patients * row));
      }
      source = b.padded.data();
    }
    if (b.encoded.size() <= k) b.encoded.resize(k + 1);
    io::ResultsFile::encode_chunk(source, blocks * chunk_patients * (inner ? inner : 1), sizeof(T), b.shuffle_scratch,
                                  b.encoded[k++]);
  });
  b.encoded.resize(k);
}

}  // namespace ketasim::trial
