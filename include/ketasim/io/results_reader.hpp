#pragma once
// Reads back what `ketasim summary` needs from a results file (HDF5 C API).
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace ketasim::io {

struct EndpointData {
  std::vector<std::string> arms;
  std::vector<std::string> sweep_points;  // one label per sweep point ("" without a sweep)
  long long n_patients = 0;
  std::vector<std::int8_t> status, response, remission, relapse;  // [point][arm][patient]
  std::vector<float> change;                                       // [point][arm][patient]
  std::vector<float> baseline;                                     // [point][arm][patient]
  std::vector<double> dropout_time_d;                              // [point][arm][patient], NaN: stayed
  // Time-to-event data (files from 0.1 on have them; empty when absent): endpoint names, and per
  // [point][arm][patient][endpoint] the time (d) and -1 not at risk / 0 censored / 1 event.
  std::vector<std::string> event_endpoints;
  std::vector<double> event_time_d;
  std::vector<std::int8_t> event_observed;
  std::string study_name;
  double primary_visit_d = 0.0;
  double remission_threshold = 0.0;
  long long power_replicates = 0;
  long long power_patients_per_replicate = 0;
  // (arm, reference) index pairs of endpoints.comparisons (root attribute `comparisons`); files
  // without the attribute: every arm after the first vs the first.
  std::vector<std::pair<int, int>> comparisons;
  // Randomized withdrawal (files with `withdrawal_*`; empty otherwise): group and arm labels
  // (continue, stop), and per [group][arm] the randomized patients, relapses and the Kaplan-Meier
  // median [lower, upper] of days to relapse; per group the Cox hazard ratio of stop vs continue
  // [lower, upper] and the log-rank p.
  std::vector<std::string> withdrawal_groups, withdrawal_arms;
  double withdrawal_at_d = 0.0;
  std::string withdrawal_ratio;
  std::vector<std::int64_t> withdrawal_n, withdrawal_relapses;
  std::vector<double> withdrawal_median_d, withdrawal_median_lower_d, withdrawal_median_upper_d;
  std::vector<double> withdrawal_hazard_ratio, withdrawal_hazard_ratio_lower, withdrawal_hazard_ratio_upper,
      withdrawal_logrank_p;
  // Parameter draws (files with `parameter_draw_*`; 0 draws otherwise): per [draw][arm] the
  // primary-visit response and remission rates and mean MADRS change under each draw.
  long long parameter_draws = 0;
  std::vector<double> draw_response, draw_remission, draw_change;
};

// Whether the root attributes `software` = "ketasim" and `software_version` (a known major.minor)
// are required. `ketasim summary` requires them; the engine's own tests write files without the
// attributes that `ketasim run` adds.
enum class Provenance { required, not_checked };

// Throws InputError when the file is missing or is not a ketasim results file: every dataset's
// rank, shape and type is checked before it is read (a crafted or damaged file is exit 1, never a
// crash), and the flags and MADRS changes the table uses must hold possible values.
EndpointData read_endpoints(const std::string& path, Provenance provenance = Provenance::not_checked);

}  // namespace ketasim::io
