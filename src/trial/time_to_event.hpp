#pragma once
// Internal to the trial engine: time-to-event endpoints (docs/analysis.md) derived from what
// EndpointRules produced for a patient, and their Kaplan-Meier counts accumulated as batches
// stream past the writer (integer counts in patient order: identical for any thread count).
//
// Times are days. Only visits after day 0 at which the patient was observed (MADRS not NaN) count:
//  - response / remission: time of the first observed visit with the flag set; otherwise censored
//    at the last observed visit (dropout) or the last visit (study end); a patient never observed
//    after baseline is censored at day 0;
//  - relapse: among patients with a response, days from the first response to the visit at which
//    the relapse rule was met (EndpointRules::relapse_visit); otherwise censored at the last
//    observed visit; patients without a response are not at risk (NaN time, event -1).
#include <array>
#include <cstdint>
#include <vector>

#include "batch.hpp"
#include "ketasim/io/results_file.hpp"
#include "ketasim/trial/endpoint_rules.hpp"
#include "ketasim/trial/survival.hpp"

namespace ketasim::trial {

constexpr int kEventEndpoints = 3;
inline const std::array<const char*, kEventEndpoints> kEventEndpointNames = {"response", "remission", "relapse"};

// Every time an event or censoring can happen at: day 0, the visits, and the differences between
// visits (time since the first response).
std::vector<double> event_time_grid(const std::vector<double>& visits_d);

// time and event hold kEventEndpoints values each (event: 1 event, 0 censored, -1 not at risk).
void derive_event_times(const double* visits_d, int n_visits, const PatientEndpoints& p, double* time,
                        std::int8_t* event);

class SurvivalCounter {
 public:
  explicit SurvivalCounter(const Layout& l)
      : l_(l), counts_(static_cast<std::size_t>(l.n_plans) * kEventEndpoints, EventCounts(l.event_grid_d.size())) {}
  void add(const Batch& b);
  const EventCounts& counts(int plan, int endpoint) const {
    return counts_[static_cast<std::size_t>(plan) * kEventEndpoints + endpoint];
  }

 private:
  const Layout& l_;
  std::vector<EventCounts> counts_;  // [plan][endpoint]
};

}  // namespace ketasim::trial

namespace ketasim::trial {
struct FileVariables;
struct SweepPlan;
// Kaplan-Meier tables and medians per plan and endpoint, and Cox / log-rank of every arm vs the
// first arm of its sweep point (NaN for the first arm itself), into the file's km_*, hazard_ratio*
// and logrank_p variables.
void write_survival(const Layout& l, const SweepPlan& sweep, const FileVariables& v, const SurvivalCounter& counter,
                    io::ResultsFile& f);
}  // namespace ketasim::trial
