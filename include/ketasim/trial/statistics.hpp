#pragma once
// Trial summaries (spec 5.2): per-arm response rates with Wilson intervals, the between-arm
// risk difference with Newcombe's hybrid score interval, and mean changes with a Welch interval.
//
// Conventions shared by every function here:
//  - z is the two-sided normal quantile; the default is Phi^-1(0.975) for 95% intervals.
//  - An empty sample (n = 0) has no estimate: the interval is {NaN, NaN}, not an exception,
//    because an arm in which every patient dropped out is a legitimate simulated outcome.
//  - Impossible counts (n < 0, successes outside [0, n]) throw std::invalid_argument.

#include <vector>

namespace ketasim {

// Percentile q in [0, 1] of values sorted ascending, type 7 (R's default: linear between order
// statistics); NaN when empty. An infinite neighbour is returned as is rather than interpolated.
double sorted_percentile(const std::vector<double>& sorted, double q);

struct Interval {
  double lower;
  double upper;
};

// Wilson (1927) score interval for successes/n; Newcombe (1998, Stat Med 17:857) method 3.
// Stays inside [0, 1] and is non-degenerate at 0/n and n/n, where the Wald interval collapses.
Interval wilson_interval(long successes, long n, double z = 1.959963984540054);

// Interval for p1 - p2 (x1/n1 minus x2/n2) by Newcombe (1998, Stat Med 17:873) method 10, the
// hybrid score ("square-and-add" of the two Wilson intervals). Always within [-1, 1].
Interval newcombe_difference_interval(long x1, long n1, long x2, long n2,
                                      double z = 1.959963984540054);

// Interval for p1 - p2 when both proportions are measured on the same n subjects (paired: here the
// same virtual patients in two arms, common random numbers), by Newcombe (1998, Stat Med 17:2635)
// method 10: the square-and-add of the two Wilson intervals with the correlation phi of the 2x2
// table, so positively correlated outcomes give a narrower interval than the independent one.
// Counts: both = success in both conditions, first_only, second_only, neither; p1 = (both +
// first_only) / n, p2 = (both + second_only) / n. phi is 0 when a margin of the table is empty.
Interval newcombe_paired_difference_interval(long both, long first_only, long second_only, long neither,
                                             double z = 1.959963984540054);

// n counts the values used (NaN values are skipped: a patient without an observation).
// sd uses the n - 1 denominator; ci is mean +/- z * sd / sqrt(n), a normal (not t) interval
// because simulated arms are large. n = 0 gives NaN for everything; n = 1 gives the mean with
// NaN sd and interval.
struct MeanSummary {
  long n;
  double mean;
  double sd;
  double ci_lower;
  double ci_upper;
};

// Values are summed in index order, so the result is bit-identical for the same input whatever
// the thread count that produced the array. values may be null when n = 0.
MeanSummary summarize_mean(const double* values, long n, double z = 1.959963984540054);

struct MeanDifference {
  double difference;
  double ci_lower;
  double ci_upper;
};

// a.mean - b.mean with the Welch (unpooled) standard error sqrt(sd_a^2/n_a + sd_b^2/n_b) and a
// normal quantile. The interval is NaN when either summary lacks an sd (n < 2).
MeanDifference mean_difference(const MeanSummary& a, const MeanSummary& b,
                               double z = 1.959963984540054);

// Standardized effect size (Cohen's d) of a - b: the difference of means over the pooled SD
// sqrt((sd_a^2 + sd_b^2) / 2) of the two groups (equal-size groups; the SD of the outcome, not of
// paired differences, so it reads as in a parallel-group trial). NaN when either sd is NaN or both are 0.
double standardized_difference(const MeanSummary& a, const MeanSummary& b);

// ANCOVA of an outcome on group and a baseline covariate, y = b0 + b1 group + b2 baseline + e
// (group 1 for the first sample, 0 for the second), as R's lm(y ~ group + baseline) with
// confint: the LS-mean difference b1, its standard error from the residual variance on n - 3
// degrees of freedom and a Student t interval. With complete data this is also the MMRM
// LS-mean difference at the visit (unstructured covariance, visit-by-arm and visit-by-baseline
// terms: the mixed model then reduces to one regression per visit). NaN when n < 4 or the design
// is singular (no spread in baseline). Sums run in index order: bit-identical for the same input.
struct AncovaDifference {
  double difference;
  double se;
  double ci_lower;
  double ci_upper;
  long df;
};
AncovaDifference ancova_difference(const double* y1, const double* baseline1, long n1, const double* y0,
                                   const double* baseline0, long n0, double level = 0.95);

}  // namespace ketasim
