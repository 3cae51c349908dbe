#pragma once
// The empirical exposure -> MADRS model of spec 5.1 (documented in docs/response-model.md):
//   occupancy  occ = S / (1 + S),  S = sum_j Cu_j / Ki_j       (unbound uM, competitive)
//   drive      g = occ^h / (occ50^h + occ^h)
//   plasticity dP/dt = kin g - kout P
//   mean score mu = B (1 - placebo(t)) (1 - Emax_i P / (P50 + P))
//   observed   round(clip(mu + OU(t) + rater error, 0, 60))
// Parameters live in models/response/*.yaml so that calibration rewrites data, not code.
#include <array>
#include <string>
#include <vector>

#include "ketasim/pk/model.hpp"

namespace ketasim::response {

inline constexpr int kBackgrounds = 4;  // trial::Background order: none, saline, active_placebo, oral_antidepressant

struct PlaceboEffect {
  double max_typical = 0.0;    // typical maximal fractional improvement from placebo/background
  double logit_sd = 0.0;       // between-patient SD on the logit scale
  double onset_h = 24.0;       // time constant of the rise
};

// Every scalar parameter is addressable by name (for calibration and --set style tools).
struct ResponseParameters {
  double ke0_per_h = 0.0;              // effect-site equilibration; 0 = no delay
  double occupancy50 = 0.3;            // occupancy at half-maximal drive
  double occupancy_hill = 4.0;         // steepness of the drive sigmoid
  double kin_per_h = 1.0;              // build-up of P per hour of full drive
  double kout_per_h = 0.3 / 24.0;      // loss of P
  double p50 = 1.0;                    // P at half of the patient's Emax
  double emax_typical = 0.6;           // typical maximal fractional MADRS reduction by drug
  double emax_logit_sd = 1.0;          // between-patient SD of logit(Emax)
  double ou_sd_points = 3.0;           // stationary SD of the week-to-week mood fluctuation
  double ou_half_life_h = 7.0 * 24.0;  // half-life of the fluctuation's autocorrelation
  double rater_sd_points = 2.0;        // rater error per visit
  std::array<PlaceboEffect, kBackgrounds> placebo{};

  // name -> parameter, e.g. "kout_per_h", "placebo.oral_antidepressant.max_typical"
  double* find(const std::string& name);
  std::vector<std::string> names() const;
};

struct MoietyPotency {
  std::string moiety;
  double ki_um = 0.0;
  std::string source;
};

struct ResponseModel {
  std::string name;
  std::string path;
  std::string provenance;
  std::vector<MoietyPotency> potency;
  ResponseParameters parameters;
  double ki_um_for(const std::string& moiety) const;  // NaN when unknown
};

ResponseModel load_response_model(const std::string& path);

// Per-patient random effects of the response model, drawn once and shared by all arms.
struct PatientResponse {
  double baseline_madrs = 37.0;
  double emax = 0.0;
  double placebo_logit_eta = 0.0;  // standard normal; scaled per background
};

double placebo_fraction(const ResponseParameters& p, int background, double placebo_eta, double time_h);

// Exact update of the first-order filter y' = k (u - y) (or, for P, y' = kin u - kout y) over a
// step h when u varies linearly from u0 to u1: the exponential integrator with a linear input.
double first_order_step(double y, double decay_per_h, double gain, double u0, double u1, double h);

// The same update with its coefficients cached for the last step length: the grid repeats a few
// step lengths (5 min near doses, the output step elsewhere), so exp() runs a handful of times per
// patient instead of once per grid point. Gives exactly first_order_step's result.
class FirstOrderFilter {
 public:
  FirstOrderFilter(double decay_per_h, double gain) : decay_per_h_(decay_per_h), gain_(gain) {}
  double step(double y, double u0, double u1, double h) {
    if (h <= 0.0) return y;
    if (h != step_h_) set_step(h);
    return y * decay_ + gain_ * (u0 * weight0_ + u1 * weight1_);
  }

 private:
  void set_step(double h);
  double decay_per_h_, gain_;
  double step_h_ = -1.0, decay_ = 1.0, weight0_ = 0.0, weight1_ = 0.0;
};

}  // namespace ketasim::response
