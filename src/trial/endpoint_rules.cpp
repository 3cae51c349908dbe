#include "ketasim/trial/endpoint_rules.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace ketasim::trial {

double EndpointRules::dropout_probability(double t0_d, double t1_d, double remaining) const {
  if (!dropout_enabled() || !(t1_d > t0_d)) return 0.0;
  const double left = std::clamp(remaining, 0.0, 1.0);
  const double per_week = c_.dropout_lack_of_improvement_per_week > 0.0
                              ? c_.dropout_per_week + c_.dropout_lack_of_improvement_per_week * left
                              : c_.dropout_per_week;
  return -std::expm1(-per_week * (t1_d - t0_d) / 7.0);
}

namespace {
constexpr int kMaxScore = 60;  // the MADRS scale (response::observe_scores clamps to 0-60)
// P(mu + sd Z < x) for sd > 0.
double below(double x, double mu, double sd) { return 0.5 * std::erfc(-(x - mu) / (sd * std::sqrt(2.0))); }
}  // namespace

double EndpointRules::score_probability(int k, double mu, double sd) {
  if (k < 0 || k > kMaxScore) return 0.0;
  if (!(sd > 0.0)) return std::clamp(std::round(mu), 0.0, static_cast<double>(kMaxScore)) == k ? 1.0 : 0.0;
  // std::round sends [k - 0.5, k + 0.5) to k for k >= 1 (halves away from zero); everything
  // below 0.5 ends at 0 and everything from 59.5 up at 60 after the clamp.
  const double lo = k == 0 ? 0.0 : below(k - 0.5, mu, sd);
  const double hi = k == kMaxScore ? 1.0 : below(k + 0.5, mu, sd);
  return std::max(0.0, hi - lo);
}

double EndpointRules::expected_observed_score(double mu, double sd) {
  double sum = 0.0;
  for (int k = 1; k <= kMaxScore; ++k) sum += k * score_probability(k, mu, sd);
  return sum;
}

double EndpointRules::responder_probability(double baseline, double mu, double sd) const {
  double p = 0.0;
  for (int k = 0; k <= kMaxScore; ++k) {
    if (responder(baseline, k)) p += score_probability(k, mu, sd);
  }
  return std::min(p, 1.0);
}

double EndpointRules::remitter_probability(double mu, double sd) const {
  double p = 0.0;
  for (int k = 0; k <= kMaxScore; ++k) {
    if (remitter(k)) p += score_probability(k, mu, sd);
  }
  return std::min(p, 1.0);
}

void EndpointRules::evaluate(const double* visits_d, int n_visits, int primary_visit, double baseline,
                             const double* scores, const double* stay_uniform, PatientEndpoints& out) const {
  constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
  bool in_study = true;
  int last_observed = 0;
  double last_score = baseline;  // the last assessment (baseline until the first visit after it)
  double previous_d = 0.0;
  bool responded = false, relapsed = false;
  int high_run = 0;
  std::int8_t response_carried = 0, remission_carried = 0;
  out.dropout_time_d = kNaN;
  out.relapse_visit = -1;
  for (int v = 0; v < n_visits; ++v) {
    const double t_d = visits_d[v];
    if (t_d > 0.0 && in_study && dropout_enabled()) {
      const double remaining = baseline > 0.0 ? last_score / baseline : 1.0;
      in_study = stay_uniform[v] >= dropout_probability(previous_d, t_d, remaining);
      // The patient is known to have left at the first visit they miss.
      if (!in_study) out.dropout_time_d = t_d;
    }
    if (t_d > 0.0) previous_d = t_d;
    if (!in_study) {
      out.madrs[v] = NAN;
      out.response_by_visit[v] = c_.dropout_locf ? response_carried : 0;
      out.remission_by_visit[v] = c_.dropout_locf ? remission_carried : 0;
      continue;
    }
    const double score = scores[v];
    last_score = score;
    out.madrs[v] = static_cast<float>(score);
    last_observed = v;
    response_carried = out.response_by_visit[v] = responder(baseline, score) ? 1 : 0;
    remission_carried = out.remission_by_visit[v] = remitter(score) ? 1 : 0;
    if (responded) {
      high_run = relapse_score(score) ? high_run + 1 : 0;
      if (high_run >= c_.relapse_consecutive && !relapsed) {
        relapsed = true;
        out.relapse_visit = v;
      }
    }
    if (responder(baseline, score)) responded = true;
  }
  const bool completed = !std::isnan(out.madrs[primary_visit]);
  // A dropout's change is from the last observed score; the flags follow the imputation rule.
  const double primary = completed ? out.madrs[primary_visit] : out.madrs[std::min(last_observed, primary_visit)];
  out.change = static_cast<float>(primary - baseline);
  out.response = out.response_by_visit[primary_visit];
  out.remission = out.remission_by_visit[primary_visit];
  out.relapse = relapsed ? 1 : 0;
}

}  // namespace ketasim::trial
