// Solvers against closed-form solutions, and mass balance. Tolerances:
//  - exact solver: 1e-10 relative. It is a Pade matrix exponential (accurate to ~1e-15), so
//    anything beyond a few hundred ulps means a wrong matrix or a wrong event order.
//  - ODE solver at rtol 1e-10 / atol 1e-12 mg: 1e-7 relative (dopri5 global error stays within
//    ~100 x rtol over these horizons; a missed restart at a dose gives errors around 1e-5).
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "ketasim/pk/simulate.hpp"
#include "pk_test_models.hpp"

using namespace ketasim::pk;
using ketasim::pk::testing::model_from_text;
using ketasim::pk::testing::one_compartment_yaml;

namespace {

struct Solved {
  std::vector<double> conc_ng_per_ml;
  std::vector<double> total_mg;  // all states including the sink
};

Solved solve(const PkModel& model, const std::vector<Dose>& doses, const std::vector<double>& times,
             SolverKind solver) {
  ParameterValues params{};
  compute_individual_parameters(model, Covariates{}, nullptr, params);
  Kinetics kinetics;
  REQUIRE(build_kinetics(model, params, kinetics));
  std::vector<InputEvent> inputs;
  REQUIRE(resolve_inputs(model, params, doses, inputs) >= 0.0);
  SimulationWorkspace ws;
  const int n = kinetics.n_states;
  std::vector<double> states(times.size() * n);
  REQUIRE(simulate_states(kinetics, inputs, times.data(), static_cast<int>(times.size()), solver,
                          OdeTolerances{1e-10, 1e-12}, ws, states.data()));
  Solved out;
  for (std::size_t i = 0; i < times.size(); ++i) {
    out.conc_ng_per_ml.push_back(output_concentration_ng_per_ml(model, params, 0, &states[i * n]));
    double total = 0.0;
    for (int s = 0; s < n; ++s) total += states[i * n + s];
    out.total_mg.push_back(total);
  }
  return out;
}

std::vector<double> grid(double end_h, double step_h) {
  std::vector<double> t;
  for (int i = 0; i * step_h <= end_h + 1e-12; ++i) t.push_back(i * step_h);
  return t;
}

void check_close(const std::vector<double>& actual, const std::vector<double>& expected, double rel, double abs_floor) {
  REQUIRE(actual.size() == expected.size());
  for (std::size_t i = 0; i < actual.size(); ++i) {
    INFO("index " << i << ": expected " << expected[i] << ", actual " << actual[i] << ", abs error "
                  << std::fabs(actual[i] - expected[i]));
    CHECK(std::fabs(actual[i] - expected[i]) <= rel * std::fabs(expected[i]) + abs_floor);
  }
}

}  // namespace

TEST_CASE("1-compartment IV bolus matches D/V exp(-k t)", "[pk][simulate]") {
  const PkModel model = model_from_text(one_compartment_yaml(5.0, 50.0, 1.0, 1.0));
  const double k = 5.0 / 50.0;
  const auto times = grid(48.0, 0.5);
  std::vector<double> expected;
  for (double t : times) expected.push_back(t == 0.0 ? 0.0 : 100.0 / 50.0 * std::exp(-k * t) * 1000.0);
  const std::vector<Dose> doses{{0.0, Route::iv_bolus, 100.0, 0.0, 0, 0}};
  // The output at t = 0 is taken before the bolus (trough convention), hence 0 there.
  check_close(solve(model, doses, times, SolverKind::exact).conc_ng_per_ml, expected, 1e-10, 1e-12);
  check_close(solve(model, doses, times, SolverKind::ode).conc_ng_per_ml, expected, 1e-7, 1e-9);
}

TEST_CASE("1-compartment zero-order infusion matches R/CL (1 - e^-kt) and the post-infusion decay", "[pk][simulate]") {
  const double cl = 7.0, v = 35.0, k = cl / v, dose = 35.0, duration = 40.0 / 60.0;
  const PkModel model = model_from_text(one_compartment_yaml(cl, v, 1.0, 1.0));
  const auto times = grid(24.0, 1.0 / 6.0);
  std::vector<double> expected;
  const double rate = dose / duration;
  for (double t : times) {
    const double during = rate / cl * (1.0 - std::exp(-k * std::min(t, duration)));
    expected.push_back(1000.0 * (t <= duration ? during : during * std::exp(-k * (t - duration))));
  }
  const std::vector<Dose> doses{{0.0, Route::iv_infusion, dose, duration, 0, 0}};
  check_close(solve(model, doses, times, SolverKind::exact).conc_ng_per_ml, expected, 1e-10, 1e-12);
  check_close(solve(model, doses, times, SolverKind::ode).conc_ng_per_ml, expected, 1e-7, 1e-9);
}

TEST_CASE("Oral first-order absorption matches the Bateman function, including flip-flop and ka = k", "[pk][simulate]") {
  const double cl = 10.0, v = 100.0, k = cl / v, f = 0.6, dose = 50.0;
  const auto times = grid(72.0, 0.25);
  for (double ka : {1.5, 0.05 /* flip-flop: ka < k */, k /* the 0/0 case of the formula */, k * (1 + 1e-7)}) {
    INFO("ka = " << ka);
    const PkModel model = model_from_text(one_compartment_yaml(cl, v, ka, f));
    std::vector<double> expected;
    for (double t : times) {
      // When ka is (nearly) k the Bateman difference quotient cancels catastrophically; its limit is
      // F D k t e^{-kt} / V, used within 1e-6 relative of k.
      const double c = std::fabs(ka - k) < 1e-6 * k
                           ? f * dose / v * k * t * std::exp(-k * t)
                           : f * dose / v * ka / (ka - k) * (std::exp(-k * t) - std::exp(-ka * t));
      expected.push_back(1000.0 * c);
    }
    const std::vector<Dose> doses{{0.0, Route::oral, dose, 0.0, 0, 0}};
    // With ka = k(1 + 1e-7) the reference itself carries ~1e-7 relative error from the limit form.
    const double rel_exact = std::fabs(ka - k) < 1e-6 * k && ka != k ? 2e-7 : 1e-9;
    check_close(solve(model, doses, times, SolverKind::exact).conc_ng_per_ml, expected, rel_exact, 1e-12);
    check_close(solve(model, doses, times, SolverKind::ode).conc_ng_per_ml, expected, std::max(rel_exact, 1e-7), 1e-9);
  }
}

TEST_CASE("2-compartment IV bolus matches A e^-alpha t + B e^-beta t", "[pk][simulate]") {
  const PkModel model = model_from_text(ketasim::pk::testing::two_compartment_yaml());
  const double k10 = 0.3, k12 = 0.5, k21 = 0.2, v1 = 10.0, dose = 100.0;
  const double sum = k10 + k12 + k21;
  const double alpha = 0.5 * (sum + std::sqrt(sum * sum - 4.0 * k10 * k21));
  const double beta = 0.5 * (sum - std::sqrt(sum * sum - 4.0 * k10 * k21));
  const double a = dose / v1 * (alpha - k21) / (alpha - beta);
  const double b = dose / v1 * (k21 - beta) / (alpha - beta);
  const auto times = grid(96.0, 0.5);
  std::vector<double> expected;
  for (double t : times) expected.push_back(t == 0.0 ? 0.0 : 1000.0 * (a * std::exp(-alpha * t) + b * std::exp(-beta * t)));
  const std::vector<Dose> doses{{0.0, Route::iv_bolus, dose, 0.0, 0, 0}};
  check_close(solve(model, doses, times, SolverKind::exact).conc_ng_per_ml, expected, 1e-10, 1e-12);
  check_close(solve(model, doses, times, SolverKind::ode).conc_ng_per_ml, expected, 1e-7, 1e-9);
}

TEST_CASE("Mass balance: dosed = in compartments + eliminated + not bioavailable", "[pk][simulate]") {
  const PkModel model = model_from_text(one_compartment_yaml(10.0, 100.0, 0.8, 0.6));
  std::vector<Dose> doses;
  for (int i = 0; i < 6; ++i) doses.push_back({i * 12.0, Route::oral, 50.0, 0.0, 0, i});
  doses.push_back({80.0, Route::iv_infusion, 20.0, 2.0, 0, 6});
  const auto times = grid(120.0, 0.5);
  ParameterValues params{};
  compute_individual_parameters(model, Covariates{}, nullptr, params);
  std::vector<InputEvent> inputs;
  const double lost_mg = resolve_inputs(model, params, doses, inputs);
  CHECK(lost_mg == Approx(6 * 50.0 * 0.4).epsilon(1e-14));
  for (auto solver : {SolverKind::exact, SolverKind::ode}) {
    const Solved s = solve(model, doses, times, solver);
    for (std::size_t i = 0; i < times.size(); ++i) {
      // Outputs at a dose time are pre-dose, so count inputs strictly before t.
      const double entered_mg = amount_input_by(inputs, times[i] - 1e-12);
      INFO("t = " << times[i] << " solver " << (solver == SolverKind::exact ? "exact" : "ode"));
      CHECK(std::fabs(s.total_mg[i] - entered_mg) <= 1e-9 * std::max(1.0, entered_mg));
    }
  }
}
