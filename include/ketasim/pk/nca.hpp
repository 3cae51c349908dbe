#pragma once
// Non-compartmental analysis per dosing interval on a sampled concentration curve, as a
// pharmacometrician would do it on rich data: Cmax/Tmax from the samples, AUC by the linear-up /
// log-down trapezoidal rule, trough = the (pre-dose) sample at the next dose, terminal half-life
// by log-linear regression on the last three samples of the interval that are >= Cmax/1000.
#include <vector>

namespace ketasim::pk {

struct NcaResult {
  double cmax_ng_per_ml = 0.0;
  double tmax_h = 0.0;            // after the dose
  double auc_interval_h_ng_per_ml = 0.0;  // dose time to next dose (or end of the curve)
  double auc_0_24_h_ng_per_ml = 0.0;      // first 24 h after the dose (within the interval)
  double half_life_h = 0.0;       // NaN when no terminal phase can be fitted
  double trough_ng_per_ml = 0.0;  // at the end of the interval
};

double auc_linear_up_log_down(const double* times_h, const double* conc, int n);

// Tests: the same AUC with the step terms computed `width` at a time, 1 (one step at a time), 2
// (SSE2) or 4 (AVX2; 2 on a CPU without it). Every width gives the same bits.
double auc_linear_up_log_down_width(const double* times_h, const double* conc, int n, int width);

// `times_h`/`conc` are the curve; [start_h, end_h] is the interval. Samples must include both ends.
NcaResult nca_interval(const double* times_h, const double* conc, int n, double start_h, double end_h);

// nca_interval's Cmax, Tmax, trough and interval AUC, bit for bit, without AUC(0-24) and the
// terminal half-life (left at 0 and NaN): what the trial engine stores per dose.
NcaResult nca_exposure(const double* times_h, const double* conc, int n, double start_h, double end_h);

// Scratch space of nca_exposures, kept by the caller from patient to patient.
struct NcaScratch {
  std::vector<double> terms;
  std::vector<int> first, last;
};

// nca_exposure of each interval [bounds_h[k], bounds_h[k + 1]], k < n_intervals, into out[k], bit
// for bit, in one pass: every step's AUC term computed once, and the intervals' AUC sums (each a
// chain of dependent additions) four at a time side by side. The trial engine's per-dose NCA.
void nca_exposures(const double* times_h, const double* conc, int n, const double* bounds_h, int n_intervals,
                   NcaScratch& scratch, NcaResult* out);

}  // namespace ketasim::pk
