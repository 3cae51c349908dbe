// Unit tests of src/trial/optimize.cpp. The search is checked on a response structure defined
// here, whose remission depends only on the number of sessions with a known saturation, so the
// optimum of every objective is known in closed form; values on the shipped model are checked
// against simulate_endpoints (a separate path through the engine), and the search is checked to
// be the same at 1 and 2 threads.
#include "ketasim/trial/optimize.hpp"

#include <tbb/global_control.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <fstream>
#include <string>
#include <vector>

#include "ketasim/core/error.hpp"
#include "ketasim/response/structure.hpp"
#include "ketasim/trial/engine.hpp"
#include "../support/scratch.hpp"

using namespace ketasim;

namespace {

const std::string kSource = std::string(KETASIM_TEST_DATA_DIR) + "/..";

// Patient i needs k_i = 1 + (i mod 10) sessions before a visit to be in remission there (score
// 0), and is at baseline otherwise: with N a multiple of 10 the remission rate after S sessions
// is exactly min(S, 10) / 10. A session is the start of a rise of the concentration on the grid
// (between sessions the one-compartment concentration only falls).
class SessionsSaturation final : public response::ResponseStructure {
 public:
  std::string name() const override { return "sessions_saturation"; }
  std::vector<response::ParameterSpec> parameters() const override {
    return {{"unused", Dimension::dimensionless, 0.0, 1.0}};  // a model file needs one parameter
  }
  int random_effect_count() const override { return 0; }
  void score(const response::ResponseModel&, const response::PatientExposure& p, response::VisitScores& out,
             std::vector<double>&) const override {
    const int needed = 1 + static_cast<int>(p.patient_index % 10);
    int sessions = 0, g = 0;
    for (int v = 0; v < p.n_visits; ++v) {
      for (; g <= p.visit_grid_index[v]; ++g) {
        const double* c = p.unbound_um;
        const int m = p.n_moieties;
        if (g >= 1 && c[g * m] > c[(g - 1) * m] && (g == 1 || c[(g - 1) * m] <= c[(g - 2) * m])) ++sessions;
      }
      out.expected[v] = p.visit_h[v] > 0.0 && sessions >= needed ? 0.0 : p.baseline_madrs;
      out.madrs[v] = out.expected[v];
    }
  }
};

struct Fixture {
  testing::ScratchFolder folder{"ketasim", "optimize"};
  std::string write(const std::string& name, const std::string& text) const {
    const std::string path = (folder.path / name).string();
    std::ofstream(path) << text;
    return path;
  }
};

std::string oracle_config(const std::string& optimize_block, const std::string& costs_block) {
  return "study: {name: optimize-oracle, duration: 84d, seed: 7}\n"
         "cohort:\n"
         "  patients: 200\n"
         "  weight_kg: {mean: 70, sd: 10, min: 50, max: 90}\n"
         "  age_y: {mean: 45, sd: 10, min: 18, max: 70}\n"
         "  female_fraction: 0.5\n"
         "  baseline_madrs: {mean: 30, sd: 3, min: 25, max: 40}\n"
         "arms:\n"
         "  - name: treatment\n"
         "    model: " + kSource + "/data/oracles/one-compartment.yaml\n"
         "    background: oral_antidepressant\n"
         "    regimen: {route: iv_infusion, dose: 0.5 mg/kg, infusion_duration: 40 min,\n"
         "              schedule: [{every: 3.5d, count: 4}]}\n"
         "endpoints:\n"
         "  model: " + kSource + "/../models/response/default.yaml\n"
         "  visits: [0d, 28d, 84d]\n"
         "  primary_visit: 84d\n"
         "  remission_threshold: 12\n"
         "outputs: {concentration: none}\n" +
         optimize_block + costs_block;
}

const char* kCandidates =
    "  candidates: {grid: [{key: regimen.schedule.0.count, name: sessions, values: [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, "
    "12, 13, 14]}]}\n";
const char* kCosts = "costs: {currency: EUR, per_session: {iv_infusion: {clinic: 250, drug: 50}}, per_visit: 100}\n";

// The study with the saturation structure in place of the file's response model.
trial::Study oracle_study(const Fixture& f, const std::string& config_text) {
  const std::string config = f.write("optimize.yaml", config_text);
  trial::Study study = trial::load_study(config);
  response::StructureRegistry registry;
  registry.add("sessions_saturation", [] { return std::make_shared<const SessionsSaturation>(); });
  const std::string model = f.write("saturation.yaml",
                                    "name: saturation\nprovenance: test\nstructure: sessions_saturation\n"
                                    "potency: {ketamine: {ki_um: 0.5, source: t}}\n"
                                    "parameters: {unused: {value: 0, unit: '1', rationale: test}}\n"
                                    "placebo: {oral_antidepressant: {max_typical: 0, logit_sd: 0, onset: 1d, rationale: t}}\n");
  study.response_model = std::make_shared<const response::ResponseModel>(response::load_response_model(model, registry));
  return study;
}

// Closed form: remission min(S, 10)/10; cost per patient 300 S per session plus 100 per visit after
// day 0 (two visits).
double remission_of(int s) { return std::min(s, 10) / 10.0; }
double cost_of(int s) { return 300.0 * s + 200.0; }

int sessions_of(const std::string& label) { return std::stoi(label.substr(label.find('=') + 1)); }

}  // namespace

TEST_CASE("optimize finds the closed-form optimum of cost per remission", "[optimize]") {
  Fixture f;
  const trial::Study study = oracle_study(
      f, oracle_config(std::string("optimize:\n  arm: treatment\n  objective: cost_per_remission\n  visit: 84d\n") +
                           kCandidates,
                       kCosts));
  REQUIRE(study.optimize);
  const trial::OptimizeResult r = trial::optimize(study, *study.optimize);
  REQUIRE(r.candidates.size() == 13);
  int expected_best = 0;
  for (std::size_t c = 0; c < r.candidates.size(); ++c) {
    const int s = sessions_of(r.candidates[c].label);
    INFO(r.candidates[c].label);
    CHECK(r.candidates[c].remission == Approx(remission_of(s)).epsilon(1e-12));
    CHECK(r.candidates[c].sessions_taken == Approx(s).epsilon(1e-12));
    CHECK(r.candidates[c].cost_per_patient == Approx(cost_of(s)).epsilon(1e-12));
    CHECK(r.candidates[c].objective == Approx(cost_of(s) / remission_of(s)).epsilon(1e-12));
    if (cost_of(s) / remission_of(s) < cost_of(sessions_of(r.candidates[expected_best].label)) /
                                           remission_of(sessions_of(r.candidates[expected_best].label))) {
      expected_best = static_cast<int>(c);
    }
  }
  // (300 S + 200) * 10 / min(S, 10) falls until the saturation at S = 10 and rises after it.
  CHECK(sessions_of(r.candidates[expected_best].label) == 10);
  CHECK(r.best == expected_best);
  CHECK(sessions_of(r.candidates[r.runner_up].label) == 9);  // 2900 * 10 / 9 = 3222 vs 3200 and 3500
  // Deterministic patients: the fresh ones give the same value.
  CHECK(r.best_fresh.objective == Approx(3200.0).epsilon(1e-12));
  // Pareto (remission up, cost down): S = 2..10; beyond 10 remission stops rising while cost rises.
  for (const auto& c : r.candidates) CHECK(c.pareto == (sessions_of(c.label) <= 10));
}

TEST_CASE("optimize respects a session budget and ranks with a paired bootstrap", "[optimize]") {
  Fixture f;
  const trial::Study study = oracle_study(
      f, oracle_config(std::string("optimize:\n  arm: treatment\n  objective: remission\n  visit: 84d\n") + kCandidates +
                           "  constraints: {max_sessions: 6, sessions_within: 84d}\n",
                       ""));
  const trial::OptimizeResult r = trial::optimize(study, *study.optimize);
  for (const auto& c : r.candidates) CHECK(c.feasible == (sessions_of(c.label) <= 6));
  CHECK(sessions_of(r.candidates[r.best].label) == 6);
  CHECK(sessions_of(r.candidates[r.runner_up].label) == 5);
  CHECK(r.candidates[r.best].objective == Approx(0.6).epsilon(1e-12));
  // Every patient who remits after 5 sessions also remits after 6, and the 20 who need exactly 6
  // are in a bootstrap sample of 200 unless all 200 draws miss them (0.9^200 ~ 7e-10).
  CHECK(r.probability_best_beats_runner_up == 1.0);
  CHECK(r.candidates[r.best].objective_lower < 0.6);
  CHECK(r.candidates[r.best].objective_upper > 0.6);
}

TEST_CASE("optimize on the shipped model: values equal simulate_endpoints, same at 1 and 2 threads", "[optimize]") {
  Fixture f;
  const std::string config = f.write(
      "shipped.yaml",
      oracle_config(std::string("optimize:\n  arm: treatment\n  objective: days_in_remission\n  visit: 84d\n") +
                        "  candidates: {grid: [{key: regimen.dose, name: dose_mg_per_kg, values: [0.25, 1.0], unit: mg/kg}]}\n",
                    ""));
  const trial::Study study = trial::load_study(config, {{"cohort.patients", "60"}});
  auto run = [&](int threads) {
    tbb::global_control limit(tbb::global_control::max_allowed_parallelism, static_cast<std::size_t>(threads));
    return trial::optimize(study, *study.optimize);
  };
  const trial::OptimizeResult one = run(1), two = run(2);
  REQUIRE(one.candidates.size() == 2);
  for (std::size_t c = 0; c < 2; ++c) {
    CHECK(one.candidates[c].objective == two.candidates[c].objective);
    CHECK(one.candidates[c].objective_lower == two.candidates[c].objective_lower);
    CHECK(one.candidates[c].objective_upper == two.candidates[c].objective_upper);
  }
  CHECK(one.best_fresh.objective == two.best_fresh.objective);
  CHECK(one.probability_best_beats_runner_up == two.probability_best_beats_runner_up);
  // Remission at the visit and days in remission, recomputed from simulate_endpoints' per-visit counts.
  const std::vector<trial::StudyConfig> candidates = trial::expand_sweep(study.config, study.optimize->candidates);
  for (std::size_t c = 0; c < 2; ++c) {
    const trial::TrialSummary s = trial::simulate_endpoints(candidates[c], *study.response_model);
    const auto& arm = s.arms[0];
    CHECK(one.candidates[c].remission == Approx(double(arm.visits[2].remitters) / arm.n).epsilon(1e-12));
    // Step function over visits 0, 28, 84: remission at day 0 holds 28 d, at day 28 holds 56 d.
    const double days = (28.0 * arm.visits[0].remitters + 56.0 * arm.visits[1].remitters) / arm.n;
    CHECK(one.candidates[c].days_in_remission == Approx(days).epsilon(1e-12));
  }
  // The fresh evaluation is the winner on other patients: simulate_endpoints with the fresh seed.
  trial::StudyConfig fresh = candidates[one.best];
  fresh.seed = study.optimize->fresh_seed;
  CHECK(study.optimize->fresh_seed != study.config.seed);
  const trial::TrialSummary s = trial::simulate_endpoints(fresh, *study.response_model);
  const double days = (28.0 * s.arms[0].visits[0].remitters + 56.0 * s.arms[0].visits[1].remitters) / s.arms[0].n;
  CHECK(one.best_fresh.objective == Approx(days).epsilon(1e-12));
}

TEST_CASE("Bad optimize blocks name the file, key and line", "[optimize]") {
  Fixture f;
  auto problems = [&](const std::string& block, const std::string& costs = "") {
    const std::string path = f.write("bad.yaml", oracle_config(block, costs));
    try {
      trial::load_study(path);
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  const std::string head = "optimize:\n  arm: treatment\n  visit: 84d\n";
  CHECK_THAT(problems(head + "  objective: happiness\n" + kCandidates),
             Catch::Contains("optimize.objective") && Catch::Contains("bad.yaml:23:") && Catch::Contains("happiness"));
  CHECK_THAT(problems("optimize:\n  arm: nobody\n  visit: 84d\n  objective: remission\n" + std::string(kCandidates)),
             Catch::Contains("optimize.arm") && Catch::Contains("'nobody'"));
  CHECK_THAT(problems(head + "  objective: remission\n  candidates: {grid: [{key: regimen.dose, values: []}]}\n"),
             Catch::Contains("optimize.candidates.grid[0].values") && Catch::Contains("at least one value"));
  CHECK_THAT(problems(head + "  objective: remission\n" + kCandidates + "  constraints: {max_sessions: 1, sessions_within: 84d}\n"),
             Catch::Contains("optimize.constraints") && Catch::Contains("bad.yaml:25:") &&
                 Catch::Contains("no candidate meets the constraints"));
  CHECK_THAT(problems(head + "  objective: remission\n  candidates: {grid: [{key: regimen.no_such_key, values: [1]}]}\n"),
             Catch::Contains("no_such_key"));
  CHECK_THAT(problems(head + "  objective: cost_per_remission\n" + kCandidates),
             Catch::Contains("needs a `costs:` block"));
  CHECK_THAT(problems(head + "  objective: remission\n  visit_typo: 3\n" + kCandidates),
             Catch::Contains("visit_typo"));
  CHECK_THAT(problems("", kCosts), Catch::Contains("`costs` is read by `ketasim optimize` only"));
}
