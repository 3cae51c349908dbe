#pragma once
// The one definition of the trial endpoints (docs/config.md, `endpoints`): response, remission,
// relapse, dropout and its imputation. The engine, calibration and power use it; the Python
// tools read the flags it produced from the results file instead of re-deriving them.
#include <cstdint>

#include "ketasim/trial/config.hpp"

namespace ketasim::trial {

// One patient in one arm, per visit (caller-owned arrays of n_visits).
struct PatientEndpoints {
  float* madrs = nullptr;                  // observed score; NaN after the patient left
  std::int8_t* response_by_visit = nullptr;  // after imputation (non-responder: 0; LOCF: carried)
  std::int8_t* remission_by_visit = nullptr;
  // At the primary visit:
  std::int8_t response = 0, remission = 0, relapse = 0;
  float change = 0.0f;        // score at the primary visit (or the last observed one) minus baseline
  double dropout_time_d = 0;  // NaN when the patient stayed to the end
  int relapse_visit = -1;     // the visit at which the relapse rule was met (-1: no relapse)
};

class EndpointRules {
 public:
  explicit EndpointRules(const EndpointConfig& config) : c_(config) {}

  bool responder(double baseline, double score) const { return baseline - score >= c_.response_fraction * baseline; }
  bool remitter(double score) const { return score <= c_.remission_threshold; }
  bool relapse_score(double score) const { return score >= c_.relapse_threshold; }

  // Smooth versions of the two per-visit rules, for calibration objectives. The observed score is
  // clamp(round(mu + sd Z), 0, 60) with Z standard normal (response::observe_scores: mu is the
  // noise-free expected score, sd the visit's total noise SD, OU and rater error together).
  // score_probability(k) is P(observed == k) for k = 0..60; the rule probabilities are the sum
  // of score_probability(k) over the integer scores k for which responder() / remitter() above is
  // true, so each rule keeps exactly one definition. sd = 0 gives the indicator of the rule at
  // clamp(round(mu)).
  static double score_probability(int k, double mu, double sd);
  static double expected_observed_score(double mu, double sd);  // E[observed], the same distribution
  double responder_probability(double baseline, double mu, double sd) const;
  double remitter_probability(double mu, double sd) const;

  // The probability of leaving between visits t0 < t1 (days) for a patient still in the study,
  // whose last assessment left `remaining` = score / baseline of their symptoms (clipped to [0, 1]):
  // hazard per week rate_per_week + lack_of_improvement_per_week * remaining, constant in between.
  double dropout_probability(double t0_d, double t1_d, double remaining = 1.0) const;
  bool dropout_enabled() const { return c_.dropout_per_week > 0.0 || c_.dropout_lack_of_improvement_per_week > 0.0; }

  // Applies dropout (one uniform per visit from the patient's dropout stream, the same in every
  // arm) and the imputation rule to the scores the patient would have had, and fills `out`.
  // Visit 0 at day 0 is the baseline assessment; nobody leaves before it.
  void evaluate(const double* visits_d, int n_visits, int primary_visit, double baseline, const double* scores,
                const double* stay_uniform, PatientEndpoints& out) const;

  const EndpointConfig& config() const { return c_; }

 private:
  const EndpointConfig& c_;
};

}  // namespace ketasim::trial
