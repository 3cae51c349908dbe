#pragma once
// Structure plasticity_v1 (spec 5.1; docs/response-model.md, "v1"):
//   occupancy  occ = S / (1 + S),  S = sum_j Cu_j / Ki_j       (unbound uM, competitive)
//   drive      g = occ^h / (occ50^h + occ^h)
//   plasticity dP/dt = kin g - kout P
//   mean score mu = B (1 - placebo(t)) (1 - Emax_i P / (P50 + P))
//   observed   round(clip(mu + OU(t) + rater error, 0, 60))
#include "ketasim/response/structure.hpp"

namespace ketasim::response {

class PlasticityV1 final : public ResponseStructure {
 public:
  // Positions in the parameter table (the order of parameters()).
  enum Parameter { ke0, occupancy50, occupancy_hill, kin, kout, p50, emax_typical, emax_logit_sd, ou_sd_points,
                   ou_half_life, rater_sd_points, count };
  std::string name() const override { return "plasticity_v1"; }
  std::vector<ParameterSpec> parameters() const override;
  int random_effect_count() const override { return 2; }  // Emax, placebo
  void score(const ResponseModel& model, const PatientExposure& patient, VisitScores& out,
             std::vector<double>& scratch) const override;
};

// Competitive binding of every moiety at grid point g: sum_j Cu_j / Ki_j (occupancy S / (1 + S)).
inline double binding(const PatientExposure& p, int g) {
  double s = 0.0;
  const double* c = p.unbound_um + static_cast<long>(g) * p.n_moieties;
  for (int m = 0; m < p.n_moieties; ++m) s += (c[m] > 0.0 ? c[m] : 0.0) / p.ki_um[m];
  return s;
}

}  // namespace ketasim::response
