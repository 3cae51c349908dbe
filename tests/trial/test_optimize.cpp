// Unit tests of src/trial/optimize.cpp. The search is checked on a response structure defined
// here, whose remission depends only on the number of sessions with a known saturation, so the
// optimum of every objective is known in closed form; values on the shipped model are checked
// against simulate_endpoints (a separate path through the engine), and the search is checked to
// be the same at 1 and 2 threads.
#include "ketasim/trial/optimize.hpp"

#include <tbb/global_control.h>

#include <catch2/catch.hpp>
#include <array>
#include <cmath>
#include <functional>
#include <set>
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

// ---- Continuous search (optimize.search, method nlopt) ----------------------------------------

namespace {

trial::SearchSpec search_of(const std::string& algorithm, int max_evaluations,
                            std::vector<std::array<double, 3>> boxes) {  // {lower, upper, step}
  trial::SearchSpec s;
  s.continuous = true;
  s.algorithm = algorithm;
  s.max_evaluations = max_evaluations;
  for (const auto& b : boxes) {
    trial::SearchVariable v;
    v.lower = b[0];
    v.upper = b[1];
    v.step = b[2];
    s.variables.push_back(v);
  }
  return s;
}

// Brute force over the whole lattice: the optimum the search must find, computed without it.
std::vector<double> lattice_argmin(const trial::SearchSpec& s, const std::function<double(const std::vector<double>&)>& f) {
  std::vector<std::vector<double>> axes;
  for (const auto& v : s.variables) {
    std::vector<double> axis;
    for (long k = 0; v.lower + k * v.step <= v.upper + 1e-9 * v.step; ++k) axis.push_back(v.lower + k * v.step);
    axes.push_back(axis);
  }
  std::vector<double> best, x(axes.size());
  double best_value = std::numeric_limits<double>::infinity();
  std::function<void(std::size_t)> walk = [&](std::size_t d) {
    if (d == axes.size()) {
      if (f(x) < best_value) {
        best_value = f(x);
        best = x;
      }
      return;
    }
    for (double a : axes[d]) {
      x[d] = a;
      walk(d + 1);
    }
  };
  walk(0);
  return best;
}

std::vector<double> best_of(const std::vector<std::vector<double>>& evaluated,
                            const std::function<double(const std::vector<double>&)>& f) {
  std::vector<double> best = evaluated.front();
  for (const auto& x : evaluated) {
    if (f(x) < f(best)) best = x;
  }
  return best;
}

}  // namespace

TEST_CASE("lattice_search finds the closed-form optimum of cost per remission on a dose lattice", "[optimize]") {
  // Remission R(d) = d / (d + D50) (an Emax curve) and cost per patient a + b d give cost per
  // remission (a + b d)(d + D50) / d, minimal at d* = sqrt(a D50 / b): here sqrt(400 * 0.6 / 300)
  // = 0.894 mg/kg, so 0.89 on a 0.01 lattice from 0.05 (f(0.89) < f(0.90) by direct evaluation).
  const double a = 400.0, b = 300.0, d50 = 0.6;
  const auto f = [&](const std::vector<double>& x) { return (a + b * x[0]) * (x[0] + d50) / x[0]; };
  CHECK(std::sqrt(a * d50 / b) == Approx(0.894427191));
  for (const char* algorithm : {"GN_DIRECT_L", "GN_DIRECT", "GN_DIRECT_L_NOSCAL", "LN_SBPLX", "LN_NELDERMEAD"}) {
    INFO(algorithm);
    const trial::SearchSpec s = search_of(algorithm, 40, {{0.05, 2.0, 0.01}});
    REQUIRE(lattice_argmin(s, f)[0] == Approx(0.89).margin(1e-12));
    std::vector<std::vector<double>> calls;
    const auto evaluated = trial::lattice_search(s, [&](const std::vector<double>& x) {
      calls.push_back(x);
      return f(x);
    });
    CHECK(evaluated == calls);  // every evaluated point reached the cost function, once
    CHECK(evaluated.size() <= 40);
    std::set<std::vector<double>> distinct(evaluated.begin(), evaluated.end());
    CHECK(distinct.size() == evaluated.size());
    for (const auto& x : evaluated) {
      CHECK(x[0] >= 0.05);
      CHECK(x[0] <= 2.0);
      const double k = (x[0] - 0.05) / 0.01;
      CHECK(std::abs(k - std::round(k)) < 1e-6);  // on the lattice
    }
    CHECK(best_of(evaluated, f)[0] == Approx(0.89).margin(1e-12));
  }
}

TEST_CASE("lattice_search: two variables, an infeasible region, and a budget", "[optimize]") {
  // Bowl with its minimum at (3.7, 12) on a (0.1, 1) lattice; points with x0 > 5 are infeasible.
  const auto f = [](const std::vector<double>& x) {
    if (x[0] > 5.0) return std::numeric_limits<double>::infinity();
    return (x[0] - 3.7) * (x[0] - 3.7) + 0.01 * (x[1] - 12.0) * (x[1] - 12.0) + 0.3 * (x[0] - 3.7) * (x[1] - 12.0) / 10.0;
  };
  const trial::SearchSpec s = search_of("GN_DIRECT_L", 60, {{0.0, 8.0, 0.1}, {7.0, 28.0, 1.0}});
  const auto expected = lattice_argmin(s, f);
  CHECK(expected[0] == Approx(3.7).margin(1e-9));
  CHECK(expected[1] == Approx(12.0).margin(1e-9));
  const auto evaluated = trial::lattice_search(s, f);
  CHECK(evaluated.size() <= 60);
  const auto best = best_of(evaluated, f);
  CHECK(best[0] == Approx(3.7).margin(1e-9));
  CHECK(best[1] == Approx(12.0).margin(1e-9));
  // A budget of 3 distinct points stops the search after exactly 3.
  CHECK(trial::lattice_search(search_of("GN_DIRECT_L", 3, {{0.0, 8.0, 0.1}, {7.0, 28.0, 1.0}}), f).size() == 3);
  // A lattice smaller than the budget: every point at most once (here 5 points).
  CHECK(trial::lattice_search(search_of("GN_DIRECT_L", 50, {{1.0, 5.0, 1.0}}), [](const std::vector<double>& x) {
          return std::abs(x[0] - 2.0);
        }).size() <= 5);
}

namespace {
const char* kSearch =
    "  search:\n"
    "    method: nlopt\n"
    "    max_evaluations: 7\n"
    "    variables: [{key: regimen.schedule.0.count, name: sessions, range: [2, 14], step: 1}]\n";
}

TEST_CASE("optimize's continuous search finds the closed-form optimum, within constraints", "[optimize]") {
  Fixture f;
  SECTION("cost per remission: minimal at the saturation S = 10") {
    const trial::Study study = oracle_study(
        f, oracle_config(std::string("optimize:\n  arm: treatment\n  objective: cost_per_remission\n  visit: 84d\n") +
                             kSearch,
                         kCosts));
    REQUIRE(study.optimize->search.continuous);
    const trial::OptimizeResult r = trial::optimize(study, *study.optimize);
    REQUIRE(r.best >= 0);
    // 7 of the 13 lattice points: the search, not exhaustion, has to find the optimum.
    CHECK(r.candidates.size() == 7);
    for (const auto& c : r.candidates) {
      const int s = static_cast<int>(c.search_values.at(0));
      INFO(c.label);
      CHECK(c.label == "sessions=" + std::to_string(s));
      CHECK(c.objective == Approx(cost_of(s) / remission_of(s)).epsilon(1e-12));
    }
    CHECK(r.candidates[r.best].search_values[0] == 10.0);
    CHECK(r.best_fresh.objective == Approx(3200.0).epsilon(1e-12));
  }
  SECTION("remission with at most 6 sessions: the budget binds at S = 6") {
    const trial::Study study = oracle_study(
        f, oracle_config(std::string("optimize:\n  arm: treatment\n  objective: remission\n  visit: 84d\n") + kSearch +
                             "  constraints: {max_sessions: 6, sessions_within: 84d}\n",
                         ""));
    const trial::OptimizeResult r = trial::optimize(study, *study.optimize);
    CHECK(r.candidates.size() <= 7);
    for (const auto& c : r.candidates) CHECK(c.feasible == (c.search_values[0] <= 6));
    CHECK(r.candidates[r.best].search_values[0] == 6.0);
    CHECK(r.candidates[r.best].objective == Approx(0.6).epsilon(1e-12));
  }
}

TEST_CASE("optimize's continuous search is the same at 1 and 2 threads", "[optimize]") {
  Fixture f;
  const std::string config = f.write(
      "search.yaml",
      oracle_config(std::string("optimize:\n  arm: treatment\n  objective: days_in_remission\n  visit: 84d\n") +
                        "  candidates: {scenarios: [{name: weekly, set: {regimen.schedule.0.every: 7d}}, {name: twice_weekly, set: {regimen.schedule.0.every: 3.5d}}]}\n"
                        "  search: {method: nlopt, max_evaluations: 6, variables: "
                        "[{key: regimen.dose, range: [0.1, 1.0], step: 0.05, unit: mg/kg}]}\n",
                    ""));
  const trial::Study study = trial::load_study(config, {{"cohort.patients", "40"}});
  auto run = [&](int threads) {
    tbb::global_control limit(tbb::global_control::max_allowed_parallelism, static_cast<std::size_t>(threads));
    return trial::optimize(study, *study.optimize);
  };
  const trial::OptimizeResult one = run(1), two = run(2);
  REQUIRE(one.candidates.size() == two.candidates.size());
  for (std::size_t c = 0; c < one.candidates.size(); ++c) {
    CHECK(one.candidates[c].label == two.candidates[c].label);
    CHECK(one.candidates[c].objective == two.candidates[c].objective);
    CHECK(one.candidates[c].objective_lower == two.candidates[c].objective_lower);
  }
  CHECK(one.best == two.best);
  CHECK(one.best_fresh.objective == two.best_fresh.objective);
  // Each scenario's search, in order: the first candidates are the weekly ones.
  CHECK(one.candidates.front().label.rfind("scenario=weekly regimen_dose=", 0) == 0);
  CHECK(one.candidates.back().label.rfind("scenario=twice_weekly regimen_dose=", 0) == 0);
}

TEST_CASE("Bad optimize.search blocks name the file, key and line", "[optimize]") {
  Fixture f;
  auto problems = [&](const std::string& search) {
    const std::string path = f.write("bad.yaml", oracle_config("optimize:\n  arm: treatment\n  visit: 84d\n  objective: remission\n" + search, ""));
    try {
      trial::load_study(path);
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  const std::string var = "    variables: [{key: regimen.dose, range: [0.2, 1.0], step: 0.05, unit: mg/kg}]\n";
  CHECK(problems("  search:\n    method: nlopt\n" + var) == "accepted");
  CHECK_THAT(problems("  search:\n    method: nlopt\n    variables: [{key: regimen.dose, range: [0.5, 0.5], unit: mg/kg}]\n"),
             Catch::Contains("optimize.search.variables[0].range") && Catch::Contains("bad.yaml:26:") &&
                 Catch::Contains("empty range"));
  // Stochastic (GN_CRS2_LM) and model-based local algorithms (LN_BOBYQA, LN_COBYLA) are refused.
  CHECK_THAT(problems("  search:\n    method: nlopt\n    algorithm: LN_BOBYQA\n" + var), Catch::Contains("LN_BOBYQA"));
  CHECK_THAT(problems("  search:\n    method: nlopt\n    algorithm: GN_CRS2_LM\n" + var),
             Catch::Contains("optimize.search.algorithm") && Catch::Contains("bad.yaml:26:") && Catch::Contains("GN_CRS2_LM"));
  CHECK_THAT(problems("  search:\n    method: simplex\n" + var),
             Catch::Contains("optimize.search.method") && Catch::Contains("simplex"));
  CHECK_THAT(problems("  search:\n    method: grid\n" + var),
             Catch::Contains("optimize.search.variables") && Catch::Contains("only meaningful with `method: nlopt`"));
  CHECK_THAT(problems("  search:\n    method: nlopt\n    variables: [{key: regimen.dose, range: [0.2, 1.0], step: 2, unit: mg/kg}]\n"),
             Catch::Contains("optimize.search.variables[0].step") && Catch::Contains("larger than the range"));
  CHECK_THAT(problems("  search:\n    method: nlopt\n    variables: [{key: regimen.no_such_key, range: [1, 2]}]\n"),
             Catch::Contains("no_such_key") && Catch::Contains("optimize.search.variables[0]"));
  CHECK_THAT(problems(std::string(kCandidates) + "  search:\n    method: nlopt\n    variables: [{key: regimen.schedule.0.count, range: [2, 5], step: 1}]\n"),
             Catch::Contains("both a grid entry") && Catch::Contains("optimize.search"));
  CHECK_THAT(problems("  search:\n    method: nlopt\n" + var + "  constraints: {max_dose_per_session: [0.1 mg/kg]}\n"),
             Catch::Contains("no candidate meets the constraints"));
}

TEST_CASE("Two identical candidates tie: the earlier is best and beats the other with probability 1/2", "[optimize]") {
  // Every paired bootstrap replicate is a tie, and a tie counts one half (docs/optimize.md, 5).
  Fixture f;
  const trial::Study study = oracle_study(
      f, oracle_config("optimize:\n  arm: treatment\n  objective: remission\n  visit: 84d\n"
                       "  candidates: {scenarios: [{name: first, set: {regimen.dose: 0.5 mg/kg}},"
                       " {name: twin, set: {regimen.dose: 0.5 mg/kg}}]}\n",
                       ""));
  const trial::OptimizeResult r = trial::optimize(study, *study.optimize);
  REQUIRE(r.candidates.size() == 2);
  CHECK(r.candidates[0].objective == r.candidates[1].objective);
  CHECK(r.best == 0);
  CHECK(r.runner_up == 1);
  CHECK(r.probability_best_beats_runner_up == 0.5);
}
