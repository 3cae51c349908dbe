#include "time_to_event.hpp"

#include "results_writer.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace ketasim::trial {

std::vector<double> event_time_grid(const std::vector<double>& visits_d) {
  std::vector<double> grid{0.0};
  for (std::size_t j = 0; j < visits_d.size(); ++j) {
    if (!(visits_d[j] > 0.0)) continue;
    grid.push_back(visits_d[j]);
    for (std::size_t i = 0; i < j; ++i) {
      if (visits_d[i] > 0.0) grid.push_back(visits_d[j] - visits_d[i]);
    }
  }
  std::sort(grid.begin(), grid.end());
  grid.erase(std::unique(grid.begin(), grid.end()), grid.end());
  return grid;
}

void derive_event_times(const double* visits_d, int n_visits, const PatientEndpoints& p, double* time,
                        std::int8_t* event) {
  double last_observed = 0.0, first_response = -1.0, first_remission = -1.0;
  for (int v = 0; v < n_visits; ++v) {
    if (!(visits_d[v] > 0.0) || std::isnan(p.madrs[v])) continue;
    last_observed = visits_d[v];
    if (first_response < 0.0 && p.response_by_visit[v] == 1) first_response = visits_d[v];
    if (first_remission < 0.0 && p.remission_by_visit[v] == 1) first_remission = visits_d[v];
  }
  auto set = [&](int k, double first) {
    event[k] = first >= 0.0 ? 1 : 0;
    time[k] = first >= 0.0 ? first : last_observed;
  };
  set(0, first_response);
  set(1, first_remission);
  if (first_response < 0.0) {
    time[2] = std::numeric_limits<double>::quiet_NaN();
    event[2] = -1;
  } else if (p.relapse_visit >= 0) {
    time[2] = visits_d[p.relapse_visit] - first_response;
    event[2] = 1;
  } else {
    time[2] = last_observed - first_response;
    event[2] = 0;
  }
}

void SurvivalCounter::add(const Batch& b) {
  const std::vector<double>& grid = l_.event_grid_d;
  for (int a = 0; a < l_.n_plans; ++a) {
    for (int i = 0; i < b.count; ++i) {
      const std::size_t ap = static_cast<std::size_t>(a) * b.count + i;
      if (b.status[ap] != 0) continue;
      for (int k = 0; k < kEventEndpoints; ++k) {
        const double t = b.event_time[ap * kEventEndpoints + k];
        const std::int8_t e = b.event_observed[ap * kEventEndpoints + k];
        if (e < 0) continue;
        const auto at = std::lower_bound(grid.begin(), grid.end(), t);
        if (at == grid.end() || *at != t) throw std::logic_error("event time off the event-time grid");
        EventCounts& c = counts_[static_cast<std::size_t>(a) * kEventEndpoints + k];
        (e == 1 ? c.events : c.censored)[static_cast<std::size_t>(at - grid.begin())] += 1;
      }
    }
  }
}

void write_survival(const Layout& l, const SweepPlan& sweep, const FileVariables& v, const SurvivalCounter& counter,
                    io::ResultsFile& f) {
  const std::vector<double>& grid = l.event_grid_d;
  const std::size_t n = grid.size();
  const std::vector<hsize_t> table_shape{static_cast<hsize_t>(kEventEndpoints), static_cast<hsize_t>(n)};
  const std::vector<hsize_t> endpoint_shape{static_cast<hsize_t>(kEventEndpoints)};
  std::vector<std::int64_t> at_risk(kEventEndpoints * n), events(at_risk.size()), censored(at_risk.size());
  std::vector<double> survival(at_risk.size()), lower(at_risk.size()), upper(at_risk.size());
  for (int a = 0; a < l.n_plans; ++a) {
    std::vector<double> median(3 * kEventEndpoints), cox(4 * kEventEndpoints);
    for (int k = 0; k < kEventEndpoints; ++k) {
      const EventCounts& c = counter.counts(a, k);
      const KaplanMeier km = kaplan_meier(grid, c);
      for (std::size_t t = 0; t < n; ++t) {
        const std::size_t i = k * n + t;
        at_risk[i] = km.at_risk[t];
        events[i] = c.events[t];
        censored[i] = c.censored[t];
        survival[i] = km.survival[t];
        lower[i] = km.lower[t];
        upper[i] = km.upper[t];
      }
      const Quantile q = km_quantile(grid, c, km);
      median[0 * kEventEndpoints + k] = q.estimate;
      median[1 * kEventEndpoints + k] = q.lower;
      median[2 * kEventEndpoints + k] = q.upper;
      const int reference = a - a % l.n_arms;
      CoxResult r{};
      r.hazard_ratio = r.lower = r.upper = r.logrank_p = std::numeric_limits<double>::quiet_NaN();
      if (a != reference) r = cox_two_groups(counter.counts(reference, k), c);
      cox[0 * kEventEndpoints + k] = r.hazard_ratio;
      cox[1 * kEventEndpoints + k] = r.lower;
      cox[2 * kEventEndpoints + k] = r.upper;
      cox[3 * kEventEndpoints + k] = r.logrank_p;
    }
    write_plan_block(l, sweep, v.km[0], a, at_risk.data(), table_shape, f);
    write_plan_block(l, sweep, v.km[1], a, events.data(), table_shape, f);
    write_plan_block(l, sweep, v.km[2], a, censored.data(), table_shape, f);
    write_plan_block(l, sweep, v.km[3], a, survival.data(), table_shape, f);
    write_plan_block(l, sweep, v.km[4], a, lower.data(), table_shape, f);
    write_plan_block(l, sweep, v.km[5], a, upper.data(), table_shape, f);
    for (int j = 0; j < 3; ++j) write_plan_block(l, sweep, v.km_median[j], a, &median[j * kEventEndpoints], endpoint_shape, f);
    for (int j = 0; j < 4; ++j) write_plan_block(l, sweep, v.cox[j], a, &cox[j * kEventEndpoints], endpoint_shape, f);
  }
}

}  // namespace ketasim::trial
