#pragma once
// Structure benefit_v2 (issue 10; docs/response-model.md, "Structure benefit_v2"):
//   occupancy   occ = S / (1 + S),  S = sum_j Cu_j / Ki_j           (unbound uM, competitive)
//   fast        dF/dt = occ - k_fast F          F in occupancy-hours: each session adds its
//                                               occupancy AUC, which fades over days
//   fast effect b = F / (F50 + F)               not saturated: F50 is a session inside the dose range
//   slow        dL/dt = k_build b (1 - L) - k_loss L     consolidation over weeks, L in [0, 1)
//   relapse     events at hazard h0 (1 - protection L)^shape; an event sets F = L = 0 (benefit lost);
//               shape (optional, default 1: the linear form of the first v2 files) > 1 protects
//               steeply near L's plateau and little for a short course (relapse_hazard_factor)
//   drug        D = Emax_i (1 - (1 - b)(1 - L))
//   placebo     pl = max_i (1 - e^{-t/onset}) (persistent + (1 - persistent) 2^{-t/fade_half_life})
//   mean score  mu = B (1 - pl) (1 - D)
//   observed    round(clip(mu + OU(t) + rater error, 0, 60))  (observe_scores)
// logit Emax_i and logit max_i carry a random effect and covariates (age, baseline severity,
// open-label setting of the background), all zero unless a source supports them.
#include "ketasim/response/structure.hpp"

namespace ketasim::response {

class BenefitV2 final : public ResponseStructure {
 public:
  enum Parameter {
    fast_half_life, fast_half_effect, slow_build, slow_loss, emax_typical, emax_logit_sd, emax_logit_per_decade,
    emax_logit_per_baseline_point, emax_logit_open_label, placebo_logit_per_decade, placebo_logit_per_baseline_point,
    placebo_logit_open_label, relapse_hazard, relapse_protection, ou_sd_points, ou_half_life, rater_sd_points,
    relapse_protection_shape, count
  };
  // Extra per-background fields, after max_typical, logit_sd, onset.
  enum BackgroundField { fade_half_life = 3, persistent = 4, open_label = 5 };
  static constexpr double reference_age_y = 45.0;      // covariates are centred here
  static constexpr double reference_baseline = 37.0;   // TRD baseline MADRS, reference section 4

  std::string name() const override { return "benefit_v2"; }
  std::vector<ParameterSpec> parameters() const override;
  std::vector<BackgroundFieldSpec> background_fields() const override;
  int random_effect_count() const override { return 2; }  // Emax, placebo
  void score(const ResponseModel& model, const PatientExposure& patient, VisitScores& out,
             std::vector<double>& scratch) const override;
};

// The relapse hazard's multiplier at consolidated benefit L: (1 - protection L)^shape, in [0, 1]
// for L, protection in [0, 1]. shape == 1 is computed without pow (bit-identical to the linear form).
double relapse_hazard_factor(double protection, double shape, double L);

// benefit_v2's placebo fraction of background `background` at time_h (patient covariates included).
double placebo_fraction_v2(const ResponseModel& model, const PatientExposure& patient, double time_h);

}  // namespace ketasim::response
