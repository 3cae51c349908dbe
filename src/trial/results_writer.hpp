#pragma once
// Internal to the trial engine: creates the results file's variables from the results schema and
// writes batches into them. Only the engine's writer thread calls these.
#include <vector>

#include "batch.hpp"
#include "ketasim/io/results_file.hpp"
#include "ketasim/trial/study.hpp"

namespace ketasim::trial {

// Variable ids in the file (define_file); -1 for a variable this run does not write.
struct FileVariables {
  int weight = -1, age = -1, sex = -1, status = -1, madrs = -1, baseline = -1, change = -1, response = -1,
      remission = -1, relapse = -1, dose_time = -1, dose_amount = -1, dose_taken = -1, response_by_visit = -1,
      remission_by_visit = -1, dropout_time = -1, occupancy = -1, state = -1, expected = -1, power_response = -1,
      power_remission = -1, event_time = -1, event_observed = -1, patient_id = -1, dose_duration = -1;
  std::vector<int> km;        // km_at_risk, km_events, km_censored, km_survival, km_lower, km_upper
  std::vector<int> km_median; // km_median_d, km_median_lower_d, km_median_upper_d
  std::vector<int> cox;       // hazard_ratio, hazard_ratio_lower, hazard_ratio_upper, logrank_p
  std::vector<int> parameters, conc, conc_mean, conc_sd, cmax, tmax, auc, ipred, dv;
};

FileVariables define_file(const Study& study, const Layout& l, io::ResultsFile& f);
// Writes a batch's per-patient datasets from their chunks, which encode_patient_chunks made.
void write_batch(const Layout& l, const FileVariables& v, const Batch& b, io::ResultsFile& f);
// Compresses each per-patient dataset of a batch as one HDF5 chunk (every plan or covariate set,
// the batch's patients, every value after patient) with the dataset's own filters (shuffle,
// deflate), so that deflate runs on every worker thread and rank, and the single writer only
// copies bytes into the file (docs/scaling.md). A short last batch is padded to the chunk.
void encode_patient_chunks(const Layout& l, Batch& b);
// Per-plan values along (sweep..., arm [, tail]) for plan a.
void write_plan_values(const Layout& l, const SweepPlan& sweep, int variable, int plan, const double* values,
                       hsize_t tail, io::ResultsFile& f);
// The same for a block of several trailing dimensions (extents `tail`).
template <class T>
void write_plan_block(const Layout& l, const SweepPlan& sweep, int variable, int plan, const T* values,
                      const std::vector<hsize_t>& tail, io::ResultsFile& f);

}  // namespace ketasim::trial
