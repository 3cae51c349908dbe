#pragma once
// The virtual-trial engine: every patient of the cohort through every arm (common random numbers),
// in batches on oneTBB, streamed in patient order to one HDF5 writer so memory stays bounded.
// PK comes from pk/, scores from the response model's structure (response/structure.hpp), and
// endpoints from the one EndpointRules (trial/endpoint_rules.hpp).
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "ketasim/core/ranks.hpp"
#include "ketasim/io/results_file.hpp"
#include "ketasim/trial/study.hpp"
#include "ketasim/trial/withdrawal.hpp"

namespace ketasim::trial {

enum PatientStatus : std::int8_t {
  status_ok = 0,
  status_solver_failure = 1,
  status_invalid_parameters = 2,
  status_non_physical = 3,  // a concentration or score came out non-finite or impossible
};

struct RunProgress {
  long long patients_done = 0;
  long long patients_total = 0;
};

// How K ranks share a run (docs/scaling.md). By batches: batch k is computed by rank k mod K. When
// that would leave a rank without a batch (fewer batches than ranks) and the study has several
// sweep points, by sweep points instead: each rank computes a run of P / K points (the first
// P mod K ranks one more) of every batch and rank 0 joins them (with fewer points than ranks,
// ranks P..K-1 are idle). Every rank derives the same split from the same study.
struct WorkSplit {
  bool by_points = false;
  int point_begin = 0, point_end = 0;  // this rank's sweep points (every point when split by batches)
  int busy_ranks = 0;                  // ranks that compute anything
};
WorkSplit work_split(long long n_batches, int n_points, int rank, int n_ranks);

struct RunStatistics {
  long long failed_patients = 0;  // patient-arm pairs with a non-ok status
  std::optional<WithdrawalResult> withdrawal;  // with a `withdrawal:` block
  long long batches = 0;  // patient batches (batch_patients each)
  WorkSplit split;        // rank 0's share of the work, and how many ranks had any
  // Wall time rank 0 spent in the serial writer stage (writing each batch and adding its sums):
  // the part of a run that does not spread over threads or ranks (docs/scaling.md).
  double writer_stage_s = 0.0;
  long long patients = 0;  // the cohort's size
};

// Writes every dataset of the results schema (io/results_schema.hpp) into `file` (not committed
// here). The thread count is whatever tbb::global_control allows; results do not depend on it.
// With several ranks this is rank 0's part: it computes its share (work_split: batches 0, K, 2K,
// ..., or its sweep points of every batch) and receives the rest from the other ranks, which call
// run_trial_share with the same study. Results do not depend on the number of ranks either
// (docs/scaling.md).
RunStatistics run_trial(const Study& study, io::ResultsFile& file,
                        const std::function<void(const RunProgress&)>& on_progress, const Ranks& ranks = Ranks());
// A rank other than 0: computes its share (work_split: batches rank, rank + K, ..., or its sweep
// points of every batch) and sends each piece to rank 0.
void run_trial_share(const Study& study, const Ranks& ranks);

// Endpoints at every visit, per arm, without writing a file: for calibration and quick studies.
// Rates count the per-visit flags of EndpointRules (dropout imputation included) over patients
// whose simulation succeeded, exactly as `run` does at the primary visit.
struct VisitSummary {
  long long observed = 0;      // patients still in the study at this visit (dropouts excluded)
  long long responders = 0;    // per-visit flags after imputation, over all ok patients
  long long remitters = 0;
  double sum_change = 0.0;     // MADRS minus baseline, over observed patients
  double sum_change_sq = 0.0;
  double sum_score = 0.0;
};
struct ArmSummary {
  std::string name;
  long long n = 0;
  std::vector<VisitSummary> visits;
};
struct TrialSummary {
  std::vector<double> visits_d;
  std::vector<ArmSummary> arms;
};
// Optional visitor of simulate_endpoints: every ok patient in every arm, in patient order, with
// the noise-free expected score at each visit (for the smooth calibration objective).
struct PatientVisits {
  int arm = 0;
  double baseline = 0.0;
  const float* expected = nullptr;             // [n_visits] noise-free expected score
  const float* madrs = nullptr;                // [n_visits] observed; NaN after the patient left
  const std::int8_t* response_by_visit = nullptr;   // [n_visits] flags after imputation
  const std::int8_t* remission_by_visit = nullptr;
  int n_visits = 0;
};
TrialSummary simulate_endpoints(const StudyConfig& config, const response::ResponseModel& response_model,
                                const population::PopulationTable* population = nullptr,
                                const std::function<void(const PatientVisits&)>& each_patient = {});

// Per patient and arm, the flags and sessions behind an endpoint, without writing a file: what
// `optimize` needs to compute any objective and to bootstrap over the same patients.
struct PatientOutcomes {
  long long n_patients = 0;
  int n_arms = 0, n_visits = 0, n_doses = 0;
  std::vector<double> visits_d;
  std::vector<std::int8_t> status;                                // [arm][patient]
  std::vector<std::int8_t> response_by_visit, remission_by_visit;  // [arm][patient][visit], imputed as `run`
  std::vector<double> dose_time_h, dose_amount_mg;                // [arm][patient][session], scheduled
  std::vector<std::int8_t> dose_taken;                            // [arm][patient][session]: 1 taken, 0 missed
  std::vector<double> dropout_time_d;                             // [arm][patient], NaN: stayed
};
PatientOutcomes simulate_outcomes(const StudyConfig& config, const response::ResponseModel& response_model,
                                  const population::PopulationTable* population = nullptr);

}  // namespace ketasim::trial
