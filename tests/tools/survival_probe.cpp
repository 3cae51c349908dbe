// Test helper (tests/python/test_survival_r.py): reads "time event group" lines (event 1/0, group
// 0/1) from stdin and prints what trial/survival.hpp computes, in the line format
// tests/data/survival/survival_reference.R prints from R's survival package:
//   km GROUP TIME N_RISK N_EVENT N_CENSOR SURV LOWER UPPER   (rows where anyone was observed)
//   median GROUP ESTIMATE LOWER UPPER
//   cox COEF SE HR LOWER UPPER
//   logrank CHISQ P
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <vector>

#include "ketasim/trial/survival.hpp"

namespace {
void put(double x) {
  if (std::isnan(x)) {
    std::printf(" NA");
  } else {
    std::printf(" %.17g", x);
  }
}
}  // namespace

int main() {
  using namespace ketasim::trial;
  std::vector<double> time[2];
  std::vector<std::int8_t> event[2];
  std::vector<double> all;
  double t;
  int e, g;
  while (std::cin >> t >> e >> g) {
    time[g].push_back(t);
    event[g].push_back(static_cast<std::int8_t>(e));
    all.push_back(t);
  }
  const std::vector<double> grid = distinct_times(all.data(), static_cast<long>(all.size()));
  EventCounts counts[2];
  for (int k = 0; k < 2; ++k) {
    counts[k] = count_events(grid, time[k].data(), event[k].data(), static_cast<long>(time[k].size()));
    const KaplanMeier km = kaplan_meier(grid, counts[k]);
    for (std::size_t i = 0; i < grid.size(); ++i) {
      if (counts[k].events[i] + counts[k].censored[i] == 0) continue;
      std::printf("km %d", k);
      for (double x : {grid[i], static_cast<double>(km.at_risk[i]), static_cast<double>(counts[k].events[i]),
                       static_cast<double>(counts[k].censored[i]), km.survival[i], km.lower[i], km.upper[i]}) {
        put(x);
      }
      std::printf("\n");
    }
    const Quantile m = km_quantile(grid, counts[k], km);
    std::printf("median %d", k);
    put(m.estimate);
    put(m.lower);
    put(m.upper);
    std::printf("\n");
  }
  const CoxResult cox = cox_two_groups(counts[0], counts[1]);
  std::printf("cox");
  for (double x : {cox.log_hr, cox.se, cox.hazard_ratio, cox.lower, cox.upper}) put(x);
  std::printf("\nlogrank");
  put(cox.logrank_chisq);
  put(cox.logrank_p);
  std::printf("\n");
  return 0;
}
