#pragma once
// The virtual-trial engine: every patient of the cohort through every arm (common random numbers),
// in batches on oneTBB, streamed in patient order to one HDF5 writer so memory stays bounded.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "ketasim/io/results_file.hpp"
#include "ketasim/response/response_model.hpp"
#include "ketasim/trial/config.hpp"
#include "ketasim/trial/sweep.hpp"

namespace ketasim::trial {

enum PatientStatus : std::int8_t { status_ok = 0, status_solver_failure = 1, status_invalid_parameters = 2 };

struct RunProgress {
  long long patients_done = 0;
  long long patients_total = 0;
};

struct RunStatistics {
  long long failed_patients = 0;  // patient-arm pairs with a non-ok status
};

// Writes every dataset of docs/results-format.md into `file` (not committed here). The thread
// count is whatever tbb::global_control allows; results do not depend on it.
// `points` are the sweep points (one without a sweep) in the row-major order of `sweep.points`.
RunStatistics run_trial(const std::vector<StudyConfig>& points, const SweepPlan& sweep,
                        const response::ResponseModel& response_model, io::ResultsFile& file,
                        const std::function<void(const RunProgress&)>& on_progress);

// Endpoints at every visit, per arm, without writing a file: for calibration and quick studies.
// Counts are over patients whose simulation succeeded. Deterministic for any thread count.
struct VisitSummary {
  long long observed = 0;      // patients still in the study at this visit (dropouts excluded)
  long long responders = 0;
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
TrialSummary simulate_endpoints(const StudyConfig& config, const response::ResponseModel& response_model);

// Checks that the response model knows every moiety of every arm's model (InputError otherwise).
void check_response_model(const StudyConfig& config, const response::ResponseModel& response_model);

}  // namespace ketasim::trial
