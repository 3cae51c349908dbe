// The smooth calibration objective (`optimizer: {objective: expected}`, issue 10): the
// probability of each per-visit endpoint rule given the noise-free expected score and the visit
// noise (EndpointRules::*_probability), the visit noise SD (calibration::visit_noise_sd), and the
// objective itself, each against an independent Monte-Carlo computation.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "ketasim/calibration/calibration.hpp"
#include "ketasim/response/structure.hpp"
#include "ketasim/trial/config.hpp"
#include "ketasim/trial/endpoint_rules.hpp"

using namespace ketasim;

namespace {
const std::string kSource = KETASIM_SOURCE_DIR;

// Binomial Monte-Carlo tolerance: 4.5 SE of a frequency from n draws (two-sided p ~ 7e-6 per
// check, so ~60 checks here fail by chance with probability < 1e-3), plus 1e-4 for p near 0 or 1.
double mc_tolerance(double p, double n) { return 4.5 * std::sqrt(p * (1.0 - p) / n) + 1e-4; }
}  // namespace

TEST_CASE("Rule probabilities match a Monte-Carlo of the rules on rounded, clamped noisy scores", "[calibration][smooth]") {
  trial::EndpointConfig config;
  config.response_fraction = 0.5;
  config.remission_threshold = 10;
  const trial::EndpointRules rules(config);
  std::mt19937_64 rng(20261202);
  std::normal_distribution<double> normal;
  const int n = 200000;
  struct Case { double baseline, mu, sd; };
  // Near the thresholds (remitter <= 10, responder <= 15.5 for baseline 31), at both clamps, tiny
  // and large noise.
  const std::vector<Case> cases = {{31, 15.5, 3.0}, {31, 10.4, 0.7}, {31, 10.6, 4.0}, {35, 17.0, 6.0}, {28, 2.0, 5.0},
                                   {40, -1.0, 2.0}, {33, 59.0, 3.0}, {30, 25.0, 0.2}, {31, 30.0, 8.0}};
  for (const auto& c : cases) {
    long long respond = 0, remit = 0;
    double sum = 0.0;
    double sum_sq = 0.0;
    for (int i = 0; i < n; ++i) {
      // The observation of response::observe_scores: round, then clamp to the 0-60 scale.
      const double score = std::clamp(std::round(c.mu + c.sd * normal(rng)), 0.0, 60.0);
      respond += rules.responder(c.baseline, score);
      remit += rules.remitter(score);
      sum += score;
      sum_sq += score * score;
    }
    const double p_respond = rules.responder_probability(c.baseline, c.mu, c.sd);
    const double p_remit = rules.remitter_probability(c.mu, c.sd);
    const double mean = sum / n, sd = std::sqrt(std::max(0.0, sum_sq / n - mean * mean));
    INFO("baseline " << c.baseline << " mu " << c.mu << " sd " << c.sd);
    CHECK(std::abs(p_respond - static_cast<double>(respond) / n) <= mc_tolerance(p_respond, n));
    CHECK(std::abs(p_remit - static_cast<double>(remit) / n) <= mc_tolerance(p_remit, n));
    // Mean of the observed score: 4.5 SE of a mean (SE = sd / sqrt(n)) plus 1e-4.
    CHECK(std::abs(trial::EndpointRules::expected_observed_score(c.mu, c.sd) - mean) <= 4.5 * sd / std::sqrt(n) + 1e-4);
    // The score distribution sums to one.
    double total = 0.0;
    for (int k = 0; k <= 60; ++k) total += trial::EndpointRules::score_probability(k, c.mu, c.sd);
    CHECK(total == Approx(1.0).margin(1e-12));
  }
  // No noise: the indicator of the rule at the rounded score.
  CHECK(rules.remitter_probability(10.4, 0.0) == 1.0);
  CHECK(rules.remitter_probability(10.5, 0.0) == 0.0);  // rounds to 11
  CHECK(rules.responder_probability(31, 15.4, 0.0) == 1.0);
  CHECK(rules.responder_probability(31, 15.6, 0.0) == 0.0);
}

TEST_CASE("visit_noise_sd is the SD of observe_scores' noise at each visit", "[calibration][smooth]") {
  // Independent check: many patients through response::observe_scores with a constant expected
  // score far from the clamps; the empirical variance at each visit should be visit_noise_sd^2
  // plus the rounding variance 1/12 (uniform rounding error, nearly independent of the noise
  // for sd >> 1). Tolerance 5 SE of a variance (SE = var sqrt(2 / n)).
  const double ou_sd = 4.0, half_life_h = 14 * 24.0, rater_sd = 2.5;
  const std::vector<double> visit_h = {0.0, 24.0, 7 * 24.0, 28 * 24.0, 180 * 24.0};
  const int n_visits = static_cast<int>(visit_h.size());
  const std::vector<double> expected(n_visits, 30.0);
  std::vector<double> madrs(n_visits);
  const int n = 40000;
  std::vector<double> sum(n_visits, 0.0), sum_sq(n_visits, 0.0);
  for (int i = 0; i < n; ++i) {
    response::PatientExposure p;
    p.seed = 991;
    p.patient_index = static_cast<std::uint64_t>(i);
    p.baseline_madrs = 30.0;
    p.visit_h = visit_h.data();
    p.n_visits = n_visits;
    response::observe_scores(p, ou_sd, half_life_h, rater_sd, expected.data(), madrs.data());
    for (int v = 0; v < n_visits; ++v) {
      sum[v] += madrs[v];
      sum_sq[v] += madrs[v] * madrs[v];
    }
  }
  CHECK(calibration::visit_noise_sd(ou_sd, half_life_h, rater_sd, 0.0) == 0.0);
  for (int v = 1; v < n_visits; ++v) {
    const double mean = sum[v] / n, var = sum_sq[v] / n - mean * mean;
    const double sd = calibration::visit_noise_sd(ou_sd, half_life_h, rater_sd, visit_h[v]);
    const double predicted = sd * sd + 1.0 / 12.0;
    INFO("visit " << visit_h[v] << " h: empirical variance " << var << ", predicted " << predicted);
    CHECK(std::abs(var - predicted) <= 5.0 * predicted * std::sqrt(2.0 / n));
  }
}

TEST_CASE("The expected objective equals the count objective up to Monte-Carlo error, and is smooth",
          "[calibration][smooth]") {
  // The single-infusion targets of calibrations/v2-2026.yaml (Han, Wilkinson, Kishimoto) on many
  // patients: per target, the expected value is the mean over the same patients of the
  // probability of the flag whose count gives the other value, so the two differ by the noise
  // of n Bernoulli draws: at most 4.5 SE (SE <= sqrt(0.25 / n), doubled variance for a versus
  // target).
  calibration::CalibrationSpec spec = calibration::load_calibration(kSource + "/calibrations/v2-2026.yaml");
  std::vector<calibration::Target> kept;
  for (const auto& t : spec.targets) {
    if (t.study_file == "arms/single-infusion.yaml") kept.push_back(t);
  }
  REQUIRE(kept.size() >= 8);
  spec.targets = kept;
  spec.optimizer.patients = 3000;
  spec.optimizer.seed = 8811;  // not the calibration's seed
  const calibration::Objective objective(spec);
  std::vector<double> values;
  for (const auto& p : spec.parameters) values.push_back(p.start);
  const auto counts = objective.evaluate(values, calibration::ObjectiveKind::counts);
  const auto expected = objective.evaluate(values, calibration::ObjectiveKind::expected);
  for (std::size_t k = 0; k < spec.targets.size(); ++k) {
    const auto& t = spec.targets[k];
    const double n = static_cast<double>(counts[k].patients);
    const double p = std::clamp(expected[k].simulated, 0.01, 0.99);
    const double se = std::sqrt((t.versus.empty() ? 1.0 : 2.0) * p * (1.0 - p) / n);
    INFO(t.name << ": counts " << counts[k].simulated << ", expected " << expected[k].simulated);
    CHECK(std::abs(counts[k].simulated - expected[k].simulated) <= 4.5 * se);
  }
  // Smooth: a step of 1e-4 of emax_typical's range moves the expected objective (it is flat
  // under counts for most such steps: one patient's flag rarely flips).
  std::size_t emax = 0;
  while (spec.parameters[emax].name != "emax_typical") ++emax;
  std::vector<double> moved = values;
  moved[emax] += 1e-4 * (spec.parameters[emax].upper - spec.parameters[emax].lower);
  const double f0 = objective.sum_of_squares(expected);
  const double f1 = objective.sum_of_squares(objective.evaluate(moved, calibration::ObjectiveKind::expected));
  CHECK(f1 != f0);
  CHECK(std::abs(f1 - f0) < 1e-2 * f0);
}

TEST_CASE("optimizer.objective: v2-2026 asks for expected, a plasticity_v1 file without the key gets counts",
          "[calibration][smooth]") {
  // The shipped files: v2-2026 says `objective: expected`, trd-2026 (plasticity_v1) says nothing.
  CHECK(calibration::load_calibration(kSource + "/calibrations/v2-2026.yaml").optimizer.objective ==
        calibration::ObjectiveKind::expected);
  CHECK(calibration::load_calibration(kSource + "/calibrations/trd-2026.yaml").optimizer.objective ==
        calibration::ObjectiveKind::counts);
  CHECK(std::string(calibration::objective_kind_name(calibration::ObjectiveKind::expected)) == "expected");
  CHECK(std::string(calibration::objective_kind_name(calibration::ObjectiveKind::counts)) == "counts");
}
