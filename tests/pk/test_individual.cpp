// Individual parameters from covariates and random effects. Deterministic formulas: 1e-14 relative.
// Sampling: N = 100 000 correlated etas reproduce omega within 5 standard errors of the sample
// (co)variance, SE(s_ij) = sqrt((w_ii w_jj + w_ij^2) / N); a wrong Cholesky factor (e.g. its
// transpose, or a dropped correlation) moves the off-diagonal by >> 5 SE.
#include <catch2/catch.hpp>

#include <cmath>
#include <random>

#include "ketasim/pk/individual.hpp"
#include "pk_test_models.hpp"

using namespace ketasim::pk;
using ketasim::pk::testing::model_from_text;

namespace {
std::string covariate_model(const std::string& tail = "") {
  return "name: cov\ndrug: t\nreference_weight_kg: 70\n"
         "moieties: {d: {molecular_weight_g_per_mol: 200}}\n"
         "compartments: [{name: c, moiety: d, volume: V, observed: true}, {name: liver, moiety: d, volume: VH}]\n"
         "parameters:\n"
         "  CL: {value: 60, unit: L/h, allometric_exponent: 0.75, source: t}\n"
         "  V: {value: 100, unit: L, allometric_exponent: 1, source: t}\n"
         "  VPK: {value: 0.5, unit: L/kg, source: t}\n"
         "  VH: {value: 1, unit: L, source: t}\n"
         "  QH: {value: 151, unit: L/h, source: t}\n"
         "  F: {value: 0.54, unit: '1', source: t}\n"
         "flows: [{from: c, to: elimination, clearance: CL}, {from: c, to: liver, clearance: QH},"
         " {from: liver, to: c, clearance: QH}]\n"
         "routes: {iv_bolus: {inputs: [{compartment: c, fraction: F}]}}\n"
         "covariates:\n"
         "  - {parameter: QH, covariate: age_y, model: linear_above, reference: 60, slope: -2.19, unit: L/h, source: t}\n"
         "  - {parameter: CL, covariate: sex, model: female_factor, value: 1.2, source: t}\n" +
         tail;
}
double value(const PkModel& m, const ParameterValues& p, const char* name) { return p[m.find_parameter(name)]; }
}  // namespace

TEST_CASE("Allometry, per-kg scaling, age above 60 on QH, female factor", "[pk][individual]") {
  const PkModel m = model_from_text(covariate_model());
  ParameterValues p{};
  compute_individual_parameters(m, Covariates{100.0, 40.0, 0}, nullptr, p);
  CHECK(value(m, p, "CL") == Approx(60.0 * std::pow(100.0 / 70.0, 0.75)).epsilon(1e-14));
  CHECK(value(m, p, "V") == Approx(100.0 * 100.0 / 70.0).epsilon(1e-14));
  CHECK(value(m, p, "VPK") == Approx(50.0).epsilon(1e-14));
  CHECK(value(m, p, "QH") == 151.0);  // age 40: no effect below the reference
  compute_individual_parameters(m, Covariates{70.0, 60.0, 0}, nullptr, p);
  CHECK(value(m, p, "QH") == 151.0);  // at the reference itself: no effect
  compute_individual_parameters(m, Covariates{70.0, 70.0, 1}, nullptr, p);
  CHECK(value(m, p, "QH") == Approx(151.0 - 21.9).epsilon(1e-14));  // 129.1 L/h at 70 y (docs/models.md)
  CHECK(value(m, p, "CL") == Approx(72.0).epsilon(1e-14));           // female x1.2
  compute_individual_parameters(m, Covariates{70.0, 80.0, 0}, nullptr, p);
  CHECK(value(m, p, "QH") == Approx(107.2).epsilon(1e-14));
  CHECK(value(m, p, "CL") == Approx(60.0).epsilon(1e-14));
}

TEST_CASE("Log-normal and logit-normal random effects", "[pk][individual]") {
  const PkModel m = model_from_text(covariate_model(
      "variability:\n  CL: {cv_percent: 30, source: t}\n  F: {distribution: logit_normal, sd: 0.708, source: t}\n"));
  ParameterValues p{};
  const double eta[2] = {0.3, 1.5};
  compute_individual_parameters(m, Covariates{70.0, 40.0, 0}, eta, p);
  CHECK(value(m, p, "CL") == Approx(60.0 * std::exp(0.3)).epsilon(1e-14));
  const double logit = std::log(0.54 / 0.46) + 1.5;
  CHECK(value(m, p, "F") == Approx(1.0 / (1.0 + std::exp(-logit))).epsilon(1e-14));
  // A fraction stays inside (0, 1) for any eta (a log-normal eta would push it above 1).
  const double big[2] = {0.0, 20.0};
  compute_individual_parameters(m, Covariates{}, big, p);
  CHECK(value(m, p, "F") < 1.0);
  CHECK(value(m, p, "F") > 0.999);
  CHECK(m.omega(1, 1) == Approx(0.708 * 0.708).epsilon(1e-14));
}

TEST_CASE("Correlated etas via Cholesky reproduce omega at N = 100k", "[pk][individual]") {
  const PkModel m = model_from_text(covariate_model(
      "variability:\n  CL: {cv_percent: 40, source: t}\n  V: {cv_percent: 60, source: t}\n"
      "  QH: {omega_sq: 0.1, source: t}\n"
      "correlations:\n  - {between: [CL, V], value: 0.6, source: t}\n  - {between: [V, QH], value: -0.3, source: t}\n"));
  const int k = 3, n = 100000;
  std::mt19937_64 rng(12345);
  std::normal_distribution<double> normal;
  Eigen::Matrix3d sum = Eigen::Matrix3d::Zero();
  double z[3], eta[3];
  for (int i = 0; i < n; ++i) {
    for (double& v : z) v = normal(rng);
    correlate_random_effects(m, z, eta);
    const Eigen::Map<Eigen::Vector3d> e(eta);
    sum += e * e.transpose();
  }
  const Eigen::Matrix3d cov = sum / n;  // mean is 0 by construction
  for (int i = 0; i < k; ++i) {
    for (int j = 0; j < k; ++j) {
      const double w = m.omega(i, j);
      const double se = std::sqrt((m.omega(i, i) * m.omega(j, j) + w * w) / n);
      INFO("omega(" << i << "," << j << "): expected " << w << ", sample " << cov(i, j) << ", SE " << se);
      CHECK(std::fabs(cov(i, j) - w) <= 5.0 * se);
    }
  }
  CHECK(m.omega(0, 1) == Approx(0.6 * std::sqrt(std::log(1.16) * std::log(1.36))).epsilon(1e-14));
}

TEST_CASE("build_kinetics rejects impossible parameters", "[pk][individual]") {
  const PkModel m = model_from_text(covariate_model());
  ParameterValues p{};
  compute_individual_parameters(m, Covariates{}, nullptr, p);
  Kinetics k;
  REQUIRE(build_kinetics(m, p, k));
  // Columns sum to zero (mass balance), the sink column is empty.
  CHECK(k.rates_per_h.colwise().sum().cwiseAbs().maxCoeff() < 1e-12);
  p[m.find_parameter("V")] = 0.0;
  CHECK_FALSE(build_kinetics(m, p, k));
  p[m.find_parameter("V")] = NAN;
  CHECK_FALSE(build_kinetics(m, p, k));
}
