#include "ketasim/response/benefit_v2.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "ketasim/population/random_stream.hpp"
#include "ketasim/response/first_order.hpp"
#include "ketasim/response/plasticity_v1.hpp"  // binding()

namespace ketasim::response {

namespace {

double logit(double p) { return std::log(p / (1.0 - p)); }
double expit(double x) { return 1.0 / (1.0 + std::exp(-x)); }

const double* background_row(const ResponseModel& model, int background) {
  return model.parameters.values.data() + model.backgrounds[static_cast<std::size_t>(background)].first_parameter;
}

}  // namespace

std::vector<ParameterSpec> BenefitV2::parameters() const {
  constexpr double inf = 1e300;
  return {
      {"fast_half_life", Dimension::time, 0.0, inf, true},
      {"fast_half_effect", Dimension::time, 0.0, inf, true},
      {"slow_build", Dimension::rate_constant, 0.0, inf},
      {"slow_loss", Dimension::rate_constant, 0.0, inf},
      {"emax_typical", Dimension::dimensionless, 0.0, 1.0, true},
      {"emax_logit_sd", Dimension::dimensionless, 0.0, inf},
      {"emax_logit_per_decade", Dimension::dimensionless, -inf, inf},
      {"emax_logit_per_baseline_point", Dimension::dimensionless, -inf, inf},
      {"emax_logit_open_label", Dimension::dimensionless, -inf, inf},
      {"placebo_logit_per_decade", Dimension::dimensionless, -inf, inf},
      {"placebo_logit_per_baseline_point", Dimension::dimensionless, -inf, inf},
      {"placebo_logit_open_label", Dimension::dimensionless, -inf, inf},
      {"relapse_hazard", Dimension::rate_constant, 0.0, inf},
      {"relapse_protection", Dimension::dimensionless, 0.0, 1.0},
      {"ou_sd_points", Dimension::dimensionless, 0.0, inf},
      {"ou_half_life", Dimension::time, 0.0, inf, true},
      {"rater_sd_points", Dimension::dimensionless, 0.0, inf},
      // Optional; 1 (absent) is the linear protection of the first v2 files, bit for bit.
      {"relapse_protection_shape", Dimension::dimensionless, 0.0, inf, false, true, 1.0},
  };
}

std::vector<BackgroundFieldSpec> BenefitV2::background_fields() const {
  return {
      {{"fade_half_life", Dimension::time, 0.0, 1e300, true}, 1e300},  // absent: never fades
      {{"persistent", Dimension::dimensionless, 0.0, 1.0}, 1.0},       // fraction that does not fade
      {{"open_label", Dimension::dimensionless, 0.0, 1.0}, 0.0},       // 1: open-label / real-world setting
  };
}

double relapse_hazard_factor(double protection, double shape, double L) {
  const double unprotected = 1.0 - protection * L;
  if (shape == 1.0) return unprotected;  // the linear form, without pow's rounding
  const double x = std::max(unprotected, 0.0);
  // Whole shapes by multiplication: this runs once per grid step of every patient, and with the
  // shipped default's shape 3 std::pow was 31% of a P1 run's CPU time. Within 2 ulp of pow.
  if (shape == 2.0) return x * x;
  if (shape == 3.0) return x * x * x;
  return std::pow(x, shape);
}

double placebo_fraction_v2(const ResponseModel& model, const PatientExposure& patient, double time_h) {
  const double* p = model.parameters.values.data();
  const double* b = background_row(model, patient.background);
  const double max_typical = b[0], logit_sd = b[1], onset_h = b[2];
  if (max_typical <= 0.0 || time_h <= 0.0) return 0.0;
  const double covariates = p[BenefitV2::placebo_logit_per_decade] * (patient.age_y - BenefitV2::reference_age_y) / 10.0 +
                            p[BenefitV2::placebo_logit_per_baseline_point] *
                                (patient.baseline_madrs - BenefitV2::reference_baseline) +
                            p[BenefitV2::placebo_logit_open_label] * b[BenefitV2::open_label];
  const double max_i = expit(logit(max_typical) + logit_sd * patient.random_effects[1] + covariates);
  const double fade = b[BenefitV2::persistent] +
                      (1.0 - b[BenefitV2::persistent]) * std::exp2(-time_h / b[BenefitV2::fade_half_life]);
  return max_i * -std::expm1(-time_h / onset_h) * fade;
}

void BenefitV2::score(const ResponseModel& model, const PatientExposure& patient, VisitScores& out,
                      std::vector<double>& scratch) const {
  const double* p = model.parameters.values.data();
  const double* bg = background_row(model, patient.background);
  scratch.resize(2 * static_cast<std::size_t>(patient.n_visits));
  double* benefit_at_visit = scratch.data();
  double* occupancy_at_visit = benefit_at_visit + patient.n_visits;
  const double k_fast = std::log(2.0) / p[fast_half_life];
  const double f50 = p[fast_half_effect];
  FirstOrderFilter fast_filter(k_fast, 1.0);
  // Relapse events: exponential waiting times in cumulative-hazard units, from the patient's own
  // stream (the same sequence in every arm; how many are used depends on the arm's course).
  RandomStream events(patient.seed, Stream::response_process, patient.patient_index);
  double next_event = -std::log(events.uniform());
  double cumulative_hazard = 0.0;
  double fast = 0.0, slow = 0.0, b_prev = 0.0, occ_prev = 0.0;
  int next_visit = 0;
  for (int g = 0; g < patient.n_grid; ++g) {
    const double s = binding(patient, g);
    const double occ = s / (1.0 + s);
    double b = 0.0;
    if (g > 0) {
      const double h = patient.grid_h[g] - patient.grid_h[g - 1];
      fast = fast_filter.step(fast, occ_prev, occ, h);  // exact for occ linear across the step
      b = fast / (f50 + fast);
      // L is linear in itself with a coefficient that moves with b: b taken at the step's middle
      // (mean of its ends); k_build is weeks^-1, so the error over one output step is negligible.
      const double a = p[slow_build] * 0.5 * (b_prev + b);
      const double k = a + p[slow_loss];
      const double slow_start = slow;
      if (k > 0.0) {
        const double target = a / k;
        slow = target + (slow - target) * std::exp(-k * h);
      }
      // L at the step's middle, as for the build-up (the 0.5 scaling is exact: same bits as before).
      cumulative_hazard += p[relapse_hazard] *
                           relapse_hazard_factor(p[relapse_protection], p[relapse_protection_shape],
                                                 0.5 * (slow_start + slow)) *
                           h;
      if (cumulative_hazard >= next_event) {  // relapse: the benefit built so far is lost
        fast = slow = b = 0.0;
        cumulative_hazard = 0.0;
        next_event = -std::log(events.uniform());
      }
    }
    b_prev = b;
    occ_prev = occ;
    while (next_visit < patient.n_visits && patient.visit_grid_index[next_visit] == g) {
      occupancy_at_visit[next_visit] = occ;
      benefit_at_visit[next_visit++] = 1.0 - (1.0 - b) * (1.0 - slow);
    }
  }
  const double emax = expit(logit(p[emax_typical]) + p[emax_logit_sd] * patient.random_effects[0] +
                            p[emax_logit_per_decade] * (patient.age_y - reference_age_y) / 10.0 +
                            p[emax_logit_per_baseline_point] * (patient.baseline_madrs - reference_baseline) +
                            p[emax_logit_open_label] * bg[open_label]);
  for (int v = 0; v < patient.n_visits; ++v) {
    const double t = patient.visit_h[v];
    const double pl = placebo_fraction_v2(model, patient, t);
    out.expected[v] = t <= 0.0 ? patient.baseline_madrs
                               : patient.baseline_madrs * (1.0 - pl) * (1.0 - emax * benefit_at_visit[v]);
    if (out.state) out.state[v] = benefit_at_visit[v];
    if (out.occupancy) out.occupancy[v] = occupancy_at_visit[v];
  }
  observe_scores(patient, p[ou_sd_points], p[ou_half_life], p[rater_sd_points], out.expected, out.madrs);
}

}  // namespace ketasim::response
