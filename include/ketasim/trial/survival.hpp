#pragma once
// Time-to-event statistics (docs/analysis.md, "Time-to-event endpoints"): Kaplan-Meier curves with
// log-scale Greenwood intervals, medians with intervals, a two-group Cox proportional-hazards model
// (Efron ties) and the log-rank test. Each reproduces R's survival package defaults
// (survfit conf.type = "log", quantile.survfit, coxph ties = "efron", survdiff rho = 0); the test
// suite compares them with R on a fixed data set (tests/python/test_survival_r.py).
//
// Everything works on counts per distinct time on a grid shared by the groups: events and
// censorings at each grid time. With a single binary covariate (arm vs reference) the Cox partial
// likelihood and the log-rank statistic depend on the data only through those counts, so the
// engine can accumulate them batch by batch and never hold all patients' times.
#include <cstdint>
#include <vector>

namespace ketasim::trial {

// Counts on `times` (ascending, distinct). A subject "censored at t" was event-free through t.
struct EventCounts {
  std::vector<long long> events;
  std::vector<long long> censored;
  explicit EventCounts(std::size_t n = 0) : events(n, 0), censored(n, 0) {}
};

// Sorted distinct finite values of `time` (subjects with a NaN time are not at risk).
std::vector<double> distinct_times(const double* time, long n);
// Counts of subjects (time[i], event[i]: 1 event, 0 censored; NaN time: skipped) on `grid`, which
// must contain every finite time (std::invalid_argument otherwise).
EventCounts count_events(const std::vector<double>& grid, const double* time, const std::int8_t* event, long n);

struct KaplanMeier {
  std::vector<long long> at_risk;   // at each grid time, before its events and censorings
  std::vector<double> survival;     // S(t) just after t (the step function's value at t)
  std::vector<double> lower, upper; // log-scale Greenwood interval; NaN where S = 0 or nobody was at risk yet
};
KaplanMeier kaplan_meier(const std::vector<double>& grid, const EventCounts& c, double z = 1.959963984540054);

struct Quantile {
  double estimate, lower, upper;  // NaN when the curve (or its interval bound) never reaches the probability
};
// The median (p = 0.5) as R's quantile.survfit defines it: the first time the curve is <= 0.5, or the
// midpoint to the next drop when it equals 0.5 over an interval; the interval from the curves of the
// interval bounds. The tolerance for "equals" is sqrt(machine epsilon), as in R.
Quantile km_quantile(const std::vector<double>& grid, const EventCounts& c, const KaplanMeier& km, double p = 0.5);

struct CoxResult {
  double log_hr, se, hazard_ratio, lower, upper;  // group 1 vs group 0; NaN when not estimable
  double logrank_chisq, logrank_p;                // survdiff's statistic (1 df) and its upper tail
  int iterations = 0;
};
// Cox model with one binary covariate (1 for group 1), Efron's tie correction, Newton-Raphson from
// beta = 0 until the log partial likelihood changes by < 1e-12 relative (R: 1e-9); se from the
// observed information at the estimate. Not estimable (NaN) when either group has no events or
// the estimate diverges past |beta| = 20 (monotone likelihood, e.g. every event in one group before
// the other's: R warns and reports a huge beta).
CoxResult cox_two_groups(const EventCounts& group0, const EventCounts& group1, double z = 1.959963984540054);

}  // namespace ketasim::trial
