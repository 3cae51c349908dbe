// The sampled population reproduces its configured distributions (issue 3), at library level and
// N = 100,000 patients:
//   * truncated-normal covariates (weight, age, baseline MADRS): sample mean and SD against the
//     analytic truncated-normal mean and SD;
//   * female fraction;
//   * PK random effects: log(individual / typical parameter) = eta from
//     pk::correlate_random_effects with an omega block with correlations: means 0, variances
//     omega_ii, correlations omega_ij / sqrt(omega_ii omega_jj).
// Tolerance: 5 standard errors for every statistic, with
//   SE(mean)     = sigma / sqrt(N)
//   SE(SD)       = sqrt(m4 - s^4) / (2 s sqrt(N))        (delta method; m4 = 4th central moment)
//   SE(fraction) = sqrt(p (1 - p) / N)
//   SE(variance) = omega^2 sqrt(2 / (N - 1))             (normal etas)
//   SE(r)        = (1 - rho^2) / sqrt(N - 1)
// About 25 statistics are checked: a false alarm at 5 SE has probability ~1e-5 overall (and the
// seed is fixed, so the test is deterministic).
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "../pk/pk_test_models.hpp"
#include "ketasim/pk/individual.hpp"
#include "ketasim/population/cohort.hpp"
#include "ketasim/population/random_stream.hpp"

namespace {

constexpr int kN = 100000;
constexpr double kTolSE = 5.0;

struct Moments {
  double mean = 0, sd = 0, m4 = 0;
};

Moments moments(const std::vector<double>& x) {
  Moments m;
  for (double v : x) m.mean += v;
  m.mean /= x.size();
  double m2 = 0;
  for (double v : x) {
    const double d = v - m.mean;
    m2 += d * d;
    m.m4 += d * d * d * d;
  }
  m.sd = std::sqrt(m2 / (x.size() - 1));
  m.m4 /= x.size();
  return m;
}

struct Analytic {
  double mean, sd;
};

// Mean and SD of Normal(mu, sigma) truncated to [a, b].
Analytic truncated_normal(double mu, double sigma, double a, double b) {
  const double alpha = (a - mu) / sigma, beta = (b - mu) / sigma;
  auto phi = [](double z) { return std::exp(-0.5 * z * z) / std::sqrt(2.0 * M_PI); };
  auto Phi = [](double z) { return 0.5 * std::erfc(-z / std::sqrt(2.0)); };
  const double Z = Phi(beta) - Phi(alpha);
  const double d = (phi(alpha) - phi(beta)) / Z;
  const double var = sigma * sigma * (1.0 + (alpha * phi(alpha) - beta * phi(beta)) / Z - d * d);
  return {mu + sigma * d, std::sqrt(var)};
}

void check_truncated(const char* what, const std::vector<double>& x, const ketasim::population::TruncatedNormalSpec& s) {
  const Analytic a = truncated_normal(s.mean, s.sd, s.min, s.max);
  const Moments m = moments(x);
  const double se_mean = a.sd / std::sqrt(double(kN));
  const double se_sd = std::sqrt(m.m4 - std::pow(m.sd, 4)) / (2.0 * m.sd * std::sqrt(double(kN)));
  INFO(what << ": sample mean " << m.mean << " vs analytic " << a.mean << " (SE " << se_mean << "); sample SD " << m.sd
            << " vs analytic " << a.sd << " (SE " << se_sd << ")");
  CHECK(std::fabs(m.mean - a.mean) < kTolSE * se_mean);
  CHECK(std::fabs(m.sd - a.sd) < kTolSE * se_sd);
}

}  // namespace

TEST_CASE("Sampled covariates match their truncated-normal distributions and the female fraction (N = 100,000, 5 SE)",
          "[population][distribution]") {
  ketasim::population::CohortConfig cohort;
  cohort.weight_kg = {80, 15, 45, 150};
  cohort.age_y = {46, 12, 18, 74};
  cohort.baseline_madrs = {37.3, 5.5, 28, 60};  // truncation at 28 removes ~5% of the lower tail
  cohort.female_fraction = 0.6;
  std::vector<double> weight(kN), age(kN), baseline(kN);
  long long females = 0;
  for (int i = 0; i < kN; ++i) {
    const auto p = ketasim::population::sample_patient(cohort, 20261127, static_cast<std::uint64_t>(i));
    weight[i] = p.covariates.weight_kg;
    age[i] = p.covariates.age_y;
    baseline[i] = p.baseline_madrs;
    females += p.covariates.sex;
  }
  check_truncated("weight_kg", weight, cohort.weight_kg);
  check_truncated("age_y", age, cohort.age_y);
  check_truncated("baseline_madrs", baseline, cohort.baseline_madrs);
  // A strongly truncated case too: Normal(30, 10) on [35, 40] (the interval's mean is far from mu).
  ketasim::population::CohortConfig tight;
  tight.weight_kg = {30, 10, 35, 40};
  std::vector<double> w2(kN);
  for (int i = 0; i < kN; ++i) w2[i] = ketasim::population::sample_patient(tight, 3, i).covariates.weight_kg;
  check_truncated("weight on [35, 40]", w2, tight.weight_kg);

  const double p = 0.6, frac = double(females) / kN, se = std::sqrt(p * (1 - p) / kN);
  INFO("female fraction " << frac << " (SE " << se << ")");
  CHECK(std::fabs(frac - p) < kTolSE * se);
}

TEST_CASE("PK random effects reproduce omega: variances and correlations (N = 100,000, 5 SE)",
          "[population][distribution]") {
  // P1-like model with an omega block with correlations.
  const std::string yaml =
      "name: omega-test\ndrug: test\n"
      "moieties: {drug: {molecular_weight_g_per_mol: 200}}\n"
      "compartments:\n"
      "  - {name: central, moiety: drug, volume: V1, observed: true}\n"
      "  - {name: peripheral, moiety: drug, volume: V2}\n"
      "parameters:\n"
      "  CL: {value: 75, unit: L/h, allometric_exponent: 0.75, source: test}\n"
      "  V1: {value: 20, unit: L, allometric_exponent: 1, source: test}\n"
      "  Q: {value: 30, unit: L/h, source: test}\n"
      "  V2: {value: 50, unit: L, source: test}\n"
      "flows:\n"
      "  - {from: central, to: peripheral, clearance: Q}\n"
      "  - {from: peripheral, to: central, clearance: Q}\n"
      "  - {from: central, to: elimination, clearance: CL}\n"
      "routes:\n"
      "  iv_bolus: {inputs: [{compartment: central}]}\n"
      "variability:\n"
      "  CL: {cv_percent: 30, source: test}\n"
      "  V1: {cv_percent: 30, source: test}\n"
      "  V2: {cv_percent: 40, source: test}\n"
      "correlations:\n"
      "  - {between: [CL, V1], value: 0.6, source: test}\n"
      "  - {between: [CL, V2], value: -0.3, source: test}\n"
      "  - {between: [V1, V2], value: 0.2, source: test}\n";
  const auto model = ketasim::pk::testing::model_from_text(yaml);
  REQUIRE(model.variability.size() == 3);
  const int n_eta = 3;
  const int param[3] = {model.find_parameter("CL"), model.find_parameter("V1"), model.find_parameter("V2")};
  ketasim::pk::Covariates cov;
  cov.weight_kg = 83.0;  // not the reference weight: the allometric factor must cancel in the ratio
  ketasim::pk::ParameterValues typical{}, individual{};
  ketasim::pk::compute_individual_parameters(model, cov, nullptr, typical);
  std::vector<double> x[3];
  for (auto& v : x) v.resize(kN);
  double z[3], eta[3];
  for (int i = 0; i < kN; ++i) {
    ketasim::RandomStream rng(99, ketasim::Stream::pk_variability, static_cast<std::uint64_t>(i));
    for (double& zk : z) zk = rng.normal();
    ketasim::pk::correlate_random_effects(model, z, eta);
    ketasim::pk::compute_individual_parameters(model, cov, eta, individual);
    for (int k = 0; k < n_eta; ++k) x[k][i] = std::log(individual[param[k]] / typical[param[k]]);
  }
  const double cv[3] = {0.3, 0.3, 0.4};
  double mean[3], var[3];
  for (int k = 0; k < n_eta; ++k) {
    const Moments m = moments(x[k]);
    mean[k] = m.mean;
    var[k] = m.sd * m.sd;
    const double omega2 = std::log(1.0 + cv[k] * cv[k]);
    CHECK(model.omega(k, k) == Approx(omega2).epsilon(1e-12));
    const double se_mean = std::sqrt(omega2 / kN), se_var = omega2 * std::sqrt(2.0 / (kN - 1));
    INFO("eta " << k << ": mean " << m.mean << " (SE " << se_mean << "), variance " << var[k] << " vs omega^2 " << omega2
                << " (SE " << se_var << ")");
    CHECK(std::fabs(m.mean) < kTolSE * se_mean);
    CHECK(std::fabs(var[k] - omega2) < kTolSE * se_var);
  }
  const double rho[3][3] = {{1, 0.6, -0.3}, {0.6, 1, 0.2}, {-0.3, 0.2, 1}};
  for (int j = 0; j < n_eta; ++j) {
    for (int k = j + 1; k < n_eta; ++k) {
      double c = 0;
      for (int i = 0; i < kN; ++i) c += (x[j][i] - mean[j]) * (x[k][i] - mean[k]);
      const double r = c / (kN - 1) / std::sqrt(var[j] * var[k]);
      const double se = (1 - rho[j][k] * rho[j][k]) / std::sqrt(kN - 1.0);
      INFO("corr(eta" << j << ", eta" << k << ") = " << r << " vs " << rho[j][k] << " (SE " << se << ")");
      CHECK(std::fabs(r - rho[j][k]) < kTolSE * se);
      CHECK(model.omega(j, k) == Approx(rho[j][k] * std::sqrt(model.omega(j, j) * model.omega(k, k))).epsilon(1e-12));
    }
  }
}
