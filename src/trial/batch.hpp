#pragma once
// Internal to the trial engine: the shape of a run (Layout) and one batch of patients' results
// (Batch), laid out [plan][patient][...] to match the results file's hyperslabs.
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace ketasim::trial {

struct Layout {
  long long n_patients = 0;
  int n_arms = 0;   // arms per sweep point
  int n_plans = 0;  // sweep points x arms: what each patient is simulated under
  std::vector<double> output_times_h;
  std::vector<double> visits_d;
  std::vector<double> event_grid_d;  // times (d) time-to-event endpoints can take (time_to_event.hpp)
  int n_doses = 0;
  int primary_visit = 0;
  std::vector<std::string> outputs;     // global output names (moieties and totals)
  std::vector<std::string> parameters;  // global PK parameter names
  int max_eta = 0;
  int response_effects = 0;  // standard normals per patient for the response model
  bool store_conc = false;
  bool summarize_conc = false;
  bool store_response_state = false;
  int chunk_patients = 0;  // the results file's chunk along patient
  bool has_patient_id = false;  // the population or event data set has an ID column
  std::vector<double> sampling_times_h;  // simulated observations (IPRED, DV); empty: none
  bool store_dose_duration = false;      // an arm doses from an event data set (bolus and infusion mixed)
  int n_points = 1;                      // sweep points (n_plans = n_points x n_arms)
  // A sweep over cohort.* keys: each point draws its patients through its own distributions, so
  // the covariates (weight, age, sex) are per point: [point][patient] instead of [patient].
  bool cohort_swept = false;
  int covariate_sets() const { return cohort_swept ? n_points : 1; }
};

struct Batch {
  static constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
  long long first = 0;
  int count = 0;
  int rank = 0;  // the rank that computes it (core/ranks.hpp); not part of the results
  std::vector<double> weight_kg, age_y;  // [point][patient] with a cohort sweep, else [patient]
  std::vector<double> patient_id;  // the file's ID (when Layout::has_patient_id)
  std::vector<std::int8_t> sex;
  std::vector<std::int8_t> status;
  std::vector<double> parameters;  // [slot][plan][patient]
  std::vector<float> conc;         // [slot][plan][patient][time]
  std::vector<double> conc_sum, conc_sumsq;  // [slot][plan][time], over this batch's ok patients
  std::vector<long long> conc_n;             // [slot][plan]
  std::vector<double> cmax, tmax, auc;       // [slot][plan][patient][dose]
  std::vector<double> ipred, dv;             // [slot][plan][patient][sample] (Layout::sampling_times_h)
  std::vector<double> dose_time, dose_amount;  // [plan][patient][dose]
  std::vector<double> dose_duration;           // [plan][patient][dose] when Layout::store_dose_duration
  std::vector<std::int8_t> dose_taken;
  std::vector<float> madrs;                  // [plan][patient][visit]
  std::vector<std::int8_t> response_by_visit, remission_by_visit;
  std::vector<float> occupancy, state, expected;  // [plan][patient][visit] when stored
  std::vector<double> dropout_time;          // [plan][patient]
  std::vector<double> event_time;            // [plan][patient][event endpoint] (time_to_event.hpp)
  std::vector<std::int8_t> event_observed;
  std::vector<float> baseline, change;       // [plan][patient]
  std::vector<std::int8_t> response, remission, relapse;
  // Every per-patient dataset compressed in the parallel stage, one HDF5 chunk each, in the order
  // of results_writer.cpp's for_each_patient_dataset (encode_patient_chunks).
  std::vector<std::vector<unsigned char>> encoded;
  std::vector<unsigned char> padded;
  std::vector<unsigned char> shuffle_scratch;

  // Every result array of the batch, in one fixed order: what a rank sends to the writer rank
  // (batch_codec.hpp). `conc` is left out: only its compressed form (in `encoded`) is written, and
  // scratch space is nobody's business. A new result array must be listed here; the codec's test
  // lists them independently and fails on a forgotten one.
  template <class B, class Visit>
  static void for_each_array(B& b, Visit&& visit) {
    visit(b.weight_kg), visit(b.age_y), visit(b.patient_id), visit(b.sex), visit(b.status), visit(b.parameters);
    visit(b.conc_sum), visit(b.conc_sumsq), visit(b.conc_n), visit(b.cmax), visit(b.tmax), visit(b.auc);
    visit(b.ipred), visit(b.dv), visit(b.dose_time), visit(b.dose_amount), visit(b.dose_duration), visit(b.dose_taken);
    visit(b.madrs), visit(b.response_by_visit), visit(b.remission_by_visit), visit(b.occupancy), visit(b.state);
    visit(b.expected), visit(b.dropout_time), visit(b.event_time), visit(b.event_observed), visit(b.baseline);
    visit(b.change), visit(b.response), visit(b.remission), visit(b.relapse);
  }

  // Every array the engine fills for a plan, with its plan structure: visit(array, slots, blocks,
  // block_elements, by_point) for an array laid out [slot][block][block_elements], where a block is
  // a plan (sweep point x arm) or, with `by_point`, a sweep point (the covariates, [point][patient]
  // with a cohort sweep and one block otherwise). This is what a rank computing some of the sweep
  // points of a batch sends (batch_codec.hpp: encode_plans): `conc` is included, since the writer
  // rank then compresses the joined batch; `patient_id` is not, as every rank reads the same file.
  // Must list every array of for_each_array but patient_id, plus conc (the codec's test checks it).
  template <class B, class Visit>
  static void for_each_plan_array(const Layout& l, B& b, Visit&& visit) {
    const std::size_t n = static_cast<std::size_t>(b.count), plans = static_cast<std::size_t>(l.n_plans);
    const std::size_t slots = l.outputs.size(), doses = static_cast<std::size_t>(l.n_doses);
    const std::size_t visits = l.visits_d.size(), times = l.output_times_h.size();
    const std::size_t covariate_sets = static_cast<std::size_t>(l.covariate_sets());
    visit(b.weight_kg, 1, covariate_sets, n, true), visit(b.age_y, 1, covariate_sets, n, true);
    visit(b.sex, 1, covariate_sets, n, true), visit(b.status, 1, plans, n, false);
    visit(b.parameters, l.parameters.size(), plans, n, false);
    if (l.store_conc) visit(b.conc, slots, plans, n * times, false);
    visit(b.conc_sum, slots, plans, times, false), visit(b.conc_sumsq, slots, plans, times, false);
    visit(b.conc_n, slots, plans, 1, false);
    visit(b.cmax, slots, plans, n * doses, false), visit(b.tmax, slots, plans, n * doses, false);
    visit(b.auc, slots, plans, n * doses, false);
    visit(b.ipred, slots, plans, n * l.sampling_times_h.size(), false);
    visit(b.dv, slots, plans, n * l.sampling_times_h.size(), false);
    visit(b.dose_time, 1, plans, n * doses, false), visit(b.dose_amount, 1, plans, n * doses, false);
    if (l.store_dose_duration) visit(b.dose_duration, 1, plans, n * doses, false);
    visit(b.dose_taken, 1, plans, n * doses, false);
    visit(b.madrs, 1, plans, n * visits, false), visit(b.response_by_visit, 1, plans, n * visits, false);
    visit(b.remission_by_visit, 1, plans, n * visits, false);
    if (l.store_response_state) {
      visit(b.occupancy, 1, plans, n * visits, false), visit(b.state, 1, plans, n * visits, false);
      visit(b.expected, 1, plans, n * visits, false);
    }
    visit(b.dropout_time, 1, plans, n, false), visit(b.event_time, 1, plans, n * 3, false);
    visit(b.event_observed, 1, plans, n * 3, false), visit(b.baseline, 1, plans, n, false);
    visit(b.change, 1, plans, n, false), visit(b.response, 1, plans, n, false);
    visit(b.remission, 1, plans, n, false), visit(b.relapse, 1, plans, n, false);
  }

  void resize(const Layout& l, int patients) {
    const std::size_t ap = static_cast<std::size_t>(l.n_plans) * patients;
    const std::size_t slots = l.outputs.size();
    const std::size_t visits = l.visits_d.size();
    const std::size_t covariates = static_cast<std::size_t>(l.covariate_sets()) * patients;
    weight_kg.assign(covariates, kNaN);
    age_y.assign(covariates, kNaN);
    if (l.has_patient_id) patient_id.assign(patients, kNaN);
    sex.assign(covariates, 0);
    status.assign(ap, 0);
    parameters.assign(l.parameters.size() * ap, kNaN);
    if (l.store_conc) conc.assign(slots * ap * l.output_times_h.size(), NAN);
    conc_sum.assign(slots * l.n_plans * l.output_times_h.size(), 0.0);
    conc_sumsq.assign(conc_sum.size(), 0.0);
    conc_n.assign(slots * l.n_plans, 0);
    cmax.assign(slots * ap * l.n_doses, kNaN);
    tmax.assign(cmax.size(), kNaN);
    auc.assign(cmax.size(), kNaN);
    ipred.assign(slots * ap * l.sampling_times_h.size(), kNaN);
    dv.assign(ipred.size(), kNaN);
    dose_time.assign(ap * l.n_doses, kNaN);
    dose_amount.assign(ap * l.n_doses, kNaN);
    if (l.store_dose_duration) dose_duration.assign(ap * l.n_doses, kNaN);
    dose_taken.assign(ap * l.n_doses, -1);
    madrs.assign(ap * visits, NAN);
    response_by_visit.assign(ap * visits, 0);
    remission_by_visit.assign(ap * visits, 0);
    if (l.store_response_state) {
      occupancy.assign(ap * visits, NAN);
      state.assign(ap * visits, NAN);
      expected.assign(ap * visits, NAN);
    }
    dropout_time.assign(ap, kNaN);
    event_time.assign(ap * 3, kNaN);
    event_observed.assign(ap * 3, -1);
    baseline.assign(ap, NAN);
    change.assign(ap, NAN);
    response.assign(ap, 0);
    remission.assign(ap, 0);
    relapse.assign(ap, 0);
  }
};

}  // namespace ketasim::trial
