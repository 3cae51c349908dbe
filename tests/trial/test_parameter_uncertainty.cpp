// endpoints.parameter_uncertainty (src/trial/parameter_uncertainty.cpp): K draws of the
// calibrated response-model parameters re-run the endpoints on the same patients.
// - A distribution with zero covariance must reproduce the main run's endpoints exactly in every
//   draw (independent reference: simulate_endpoints with the undrawn model).
// - With spread only in emax_typical, the draws must order the remission rate as the drawn emax
//   orders it (a larger maximum effect never raises any patient's expected score; the visit noise
//   is the same draw for the same patient), and the draws must differ.
// - Config errors: too few draws, a model without the block, a sweep.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "ketasim/core/error.hpp"
#include "ketasim/response/parameter_draws.hpp"
#include "ketasim/trial/engine.hpp"
#include "ketasim/trial/parameter_uncertainty.hpp"
#include "ketasim/trial/study.hpp"

using namespace ketasim;
using namespace ketasim::trial;

namespace {

const std::string kSource = KETASIM_SOURCE_DIR;
const std::string kStudy = std::string(KETASIM_TEST_DATA_DIR) + "/response_v2/iv-dose.yaml";

// The study with a distribution over emax_typical only (sd `sd` on the linear scale).
Study study_with_spread(double sd, int draws) {
  Study study = load_study(kStudy, {Override("cohort.patients", "120")});
  response::ResponseModel model = *study.response_model;
  response::ParameterDistribution d;
  d.names = {"emax_typical"};
  d.log_scale = {false};
  d.mean_working = {*model.parameters.find("emax_typical")};
  d.covariance = {{sd * sd}};
  d.lower = {0.05};
  d.upper = {0.99};
  model.uncertainty = d;
  study.response_model = std::make_shared<const response::ResponseModel>(model);
  study.config.endpoints.parameter_draws = draws;
  return study;
}

std::size_t primary_index(const StudyConfig& c) {
  const auto& v = c.endpoints.visits_d;
  return static_cast<std::size_t>(std::find(v.begin(), v.end(), c.endpoints.primary_visit_d) - v.begin());
}

}  // namespace

TEST_CASE("Parameter draws with zero covariance reproduce the main run's endpoints", "[trial][draws]") {
  const Study study = study_with_spread(0.0, 3);
  const ParameterDrawResults r = simulate_parameter_draws(study);
  const TrialSummary main = simulate_endpoints(study.config, *study.response_model, study.population.get());
  const std::size_t v = primary_index(study.config);
  REQUIRE(r.draws == 3);
  REQUIRE(r.arms == static_cast<int>(main.arms.size()));
  for (int k = 0; k < r.draws; ++k) {
    for (int a = 0; a < r.arms; ++a) {
      const auto& s = main.arms[static_cast<std::size_t>(a)];
      const std::size_t i = static_cast<std::size_t>(k * r.arms + a);
      CHECK(r.response[i] == static_cast<double>(s.visits[v].responders) / s.n);
      CHECK(r.remission[i] == static_cast<double>(s.visits[v].remitters) / s.n);
      CHECK(r.change[i] == s.visits[v].sum_change / s.visits[v].observed);
    }
  }
}

TEST_CASE("A larger drawn emax never lowers an arm's remission on the same patients", "[trial][draws]") {
  const Study study = study_with_spread(0.15, 12);
  const ParameterDrawResults r = simulate_parameter_draws(study);
  REQUIRE(r.values.size() == 12);
  const int arm = r.arms - 1;  // 1.0 mg/kg
  std::vector<std::pair<double, double>> by_emax;
  for (int k = 0; k < r.draws; ++k) {
    by_emax.emplace_back(r.values[static_cast<std::size_t>(k)], r.remission[static_cast<std::size_t>(k * r.arms + arm)]);
  }
  std::sort(by_emax.begin(), by_emax.end());
  for (std::size_t k = 1; k < by_emax.size(); ++k) {
    INFO("emax " << by_emax[k - 1].first << " -> " << by_emax[k].first);
    CHECK(by_emax[k].second >= by_emax[k - 1].second);
  }
  CHECK(by_emax.back().second > by_emax.front().second);  // the draws do move the answer
  // The saline arm has no drug: its endpoints do not depend on emax at all.
  for (int k = 1; k < r.draws; ++k) CHECK(r.remission[static_cast<std::size_t>(k * r.arms)] == r.remission[0]);
}

TEST_CASE("parameter_uncertainty: bad blocks are refused with file, key and line", "[trial][draws][config]") {
  auto message = [](const std::vector<Override>& overrides) -> std::string {
    try {
      load_study(kStudy, overrides);
    } catch (const InputError& e) {
      return e.what();
    }
    return "";
  };
  CHECK_THAT(message({Override("endpoints.parameter_uncertainty", "{draws: 1}")}),
             Catch::Contains("endpoints.parameter_uncertainty.draws") && Catch::Contains("expected 2 to 1000"));
  CHECK_THAT(message({Override("endpoints.parameter_uncertainty", "{draws: 5, seed: 3}")}),
             Catch::Contains("seed"));
  // v2-initial.yaml is hand-set: it has no calibration, so nothing to draw from.
  CHECK_THAT(message({Override("endpoints.parameter_uncertainty", "{draws: 5}")}),
             Catch::Contains("records no parameter uncertainty") && Catch::Contains("iv-dose.yaml"));
}
