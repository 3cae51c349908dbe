// Solvers against closed-form solutions, and mass balance. Tolerances:
//  - exact solver: 1e-10 relative. It is a Pade matrix exponential (accurate to ~1e-15), so
//    anything beyond a few hundred ulps means a wrong matrix or a wrong event order.
//  - ODE solver at rtol 1e-10 / atol 1e-12 mg: 1e-7 relative (dopri5 global error stays within
//    ~100 x rtol over these horizons; a missed restart at a dose gives errors around 1e-5).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <csignal>
#include <limits>
#include <vector>

#include "ketasim/core/interrupt.hpp"

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

// ---------------------------------------------------------------------------------------------
// Shipped models (models/*.yaml): exact vs ODE solver, and mass balance, over a 12-week multi-dose
// regimen on every route each model has, for the typical patient and random patients.
//
// Agreement criterion, per output (each moiety and each total) and per sample:
//   |C_ode - C_exact| <= 1e-6 |C_exact| + 1e-6 ng/mL,
// ODE at rtol 1e-10, atol 1e-12 mg. The relative part is the requirement; dopri5's global
// error at rtol 1e-10 stays far below it (~1e-8), while a missed restart at a dose or an infusion
// stop gives errors ~1e-4 and fails it. The floor matters only where the curve has decayed 6+ orders
// of magnitude (deep troughs of a 14-day interval): 1e-6 ng/mL is a million times below any assay
// LLOQ (~1 ng/mL), and there the ODE's absolute error (atol 1e-12 mg / V ~1e-11 ng/mL per step,
// accumulated) and the exact solver's rounding (1e-16 x the peak ~1e-13 ng/mL) both sit well below it.
#include <random>
#include <string>

#include "ketasim/pk/regimen.hpp"

namespace {

const char* const kShippedModels[] = {"domino-1984", "clements-nimmo-1981", "herd-anderson-2007",
                                      "perez-ruixo-2021-esketamine", "p1-benchmark"};

PkModel load_shipped(const std::string& name) {
  return load_model(std::string(KETASIM_TEST_DATA_DIR) + "/../../models/" + name + ".yaml");
}

// Induction twice weekly for 4 weeks (8 sessions, the first at a lower dose for intranasal as on the
// label), then every other week to week 12.
Regimen twelve_week_regimen(Route route) {
  Regimen r;
  r.route = route;
  if (route == Route::intranasal) {
    r.dose = 84.0;
    r.devices_per_session = 3;
    r.phases = {{84.0, 1, -1.0, 56.0, -1}, {84.0, 7, -1.0, -1.0, -1}, {336.0, -1, 2016.0, -1.0, -1}};
  } else {
    r.dose = 0.5;
    r.dose_per_kg = true;
    r.infusion_duration_h = route == Route::iv_infusion ? 40.0 / 60.0 : 0.0;
    if (route == Route::oral) r.dose = 2.0;
    r.phases = {{84.0, 8, -1.0, -1.0, -1}, {336.0, -1, 2016.0, -1.0, -1}};
  }
  return r;
}

struct Patient {
  Covariates covariates;
  std::vector<double> eta;  // empty: typical
  std::string label;
};

std::vector<Patient> patients_for(const PkModel& model, int n_random, unsigned seed) {
  std::vector<Patient> out;
  out.push_back({Covariates{70.0, 40.0, 0}, {}, "typical"});
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal;
  std::uniform_real_distribution<double> uniform;
  for (int i = 0; i < n_random; ++i) {
    Patient p;
    p.covariates = {45.0 + 105.0 * uniform(rng), 18.0 + 62.0 * uniform(rng), uniform(rng) < 0.5 ? 1 : 0};
    std::vector<double> z(model.variability.size());
    for (double& v : z) v = normal(rng);
    p.eta.assign(z.size(), 0.0);
    if (!z.empty()) correlate_random_effects(model, z.data(), p.eta.data());
    p.label = "random " + std::to_string(i) + " (WT " + std::to_string(p.covariates.weight_kg) + ", age " +
              std::to_string(p.covariates.age_y) + ", sex " + std::to_string(p.covariates.sex) + ")";
    out.push_back(p);
  }
  return out;
}

struct Case {
  explicit Case(PkModel m) : model(std::move(m)) {}
  PkModel model;
  ParameterValues params{};
  Kinetics kinetics;
  std::vector<Dose> doses;
  std::vector<InputEvent> inputs;
  double lost_mg = 0.0;
};

void prepare(Case& c, const Patient& patient, Route route) {
  compute_individual_parameters(c.model, patient.covariates, patient.eta.empty() ? nullptr : patient.eta.data(),
                                c.params);
  REQUIRE(build_kinetics(c.model, c.params, c.kinetics));
  const Regimen regimen = twelve_week_regimen(route);
  expand_doses(regimen, expand_sessions(regimen), patient.covariates.weight_kg, nullptr, c.doses);
  REQUIRE(c.doses.size() >= 12);
  c.lost_mg = resolve_inputs(c.model, c.params, c.doses, c.inputs);
  REQUIRE(c.lost_mg >= 0.0);
}

// Hourly over 12 weeks plus 5-minute samples through the first 3 h after every session (peaks,
// infusion ends, device times), so the comparison covers the steep parts, not only the troughs.
std::vector<double> twelve_week_times(const std::vector<Dose>& doses) {
  std::vector<double> t;
  for (int i = 0; i <= 2016; ++i) t.push_back(i);
  for (const Dose& d : doses) {
    if (d.device != 0) continue;
    for (int k = 1; k <= 36; ++k) t.push_back(d.time_h + k * 5.0 / 60.0);
  }
  std::sort(t.begin(), t.end());
  t.erase(std::unique(t.begin(), t.end()), t.end());
  return t;
}

std::vector<double> run_states(const Case& c, const std::vector<double>& times, SolverKind solver) {
  SimulationWorkspace ws;
  std::vector<double> states(times.size() * c.kinetics.n_states);
  REQUIRE(simulate_states(c.kinetics, c.inputs, times.data(), static_cast<int>(times.size()), solver,
                          OdeTolerances{1e-10, 1e-12}, ws, states.data()));
  return states;
}

}  // namespace

TEST_CASE("Shipped models: exact and ODE solvers agree to 1e-6 relative over 12 weeks on every route",
          "[pk][simulate][shipped]") {
  for (const char* name : kShippedModels) {
    Case base(load_shipped(name));
    REQUIRE(base.model.linear);
    for (const RouteDef& route_def : base.model.routes) {
      for (const Patient& patient : patients_for(base.model, 3, 20240611u)) {
        Case c(base.model);
        prepare(c, patient, route_def.route);
        const auto times = twelve_week_times(c.doses);
        const auto exact = run_states(c, times, SolverKind::exact);
        const auto ode = run_states(c, times, SolverKind::ode);
        const int n = c.kinetics.n_states;
        int failures = 0;
        double worst_rel = 0.0;
        for (std::size_t o = 0; o < c.model.outputs.size(); ++o) {
          for (std::size_t i = 0; i < times.size(); ++i) {
            const double ce = output_concentration_ng_per_ml(c.model, c.params, static_cast<int>(o), &exact[i * n]);
            const double co = output_concentration_ng_per_ml(c.model, c.params, static_cast<int>(o), &ode[i * n]);
            const double err = std::fabs(co - ce);
            if (ce > 1e-3) worst_rel = std::max(worst_rel, err / ce);
            if (!(err <= 1e-6 * std::fabs(ce) + 1e-6) && failures++ < 5) {
              INFO(name << " route " << route_name(route_def.route) << ", " << patient.label << ", output "
                        << c.model.outputs[o].name << ", index " << i << " (t = " << times[i] << " h): expected (exact) "
                        << ce << ", actual (ode) " << co << ", abs error " << err);
              CHECK(err <= 1e-6 * std::fabs(ce) + 1e-6);
            }
          }
        }
        INFO(name << " " << route_name(route_def.route) << " " << patient.label << ": worst relative error "
                  << worst_rel);
        CHECK(failures == 0);
      }
    }
  }
}

TEST_CASE("Shipped models: mass balance dosed = in compartments + eliminated + not bioavailable, to 1e-9",
          "[pk][simulate][shipped]") {
  for (const char* name : kShippedModels) {
    Case base(load_shipped(name));
    for (const RouteDef& route_def : base.model.routes) {
      for (const Patient& patient : patients_for(base.model, 2, 977u)) {
        Case c(base.model);
        prepare(c, patient, route_def.route);
        double dosed_mg = 0.0, entered_mg = 0.0;
        for (const Dose& d : c.doses) dosed_mg += d.amount_mg;
        for (const InputEvent& in : c.inputs) entered_mg += in.amount_mg;
        INFO(name << " route " << route_name(route_def.route) << ", " << patient.label);
        // Every mg of a dose either enters a compartment or is counted as not bioavailable.
        CHECK(std::fabs(entered_mg + c.lost_mg - dosed_mg) <= 1e-12 * dosed_mg);
        const auto times = twelve_week_times(c.doses);
        for (SolverKind solver : {SolverKind::exact, SolverKind::ode}) {
          const auto states = run_states(c, times, solver);
          const int n = c.kinetics.n_states;
          int failures = 0;
          for (std::size_t i = 0; i < times.size(); ++i) {
            double total_mg = 0.0;  // all compartments plus the elimination sink
            for (int s = 0; s < n; ++s) total_mg += states[i * n + s];
            // Outputs at a dose time are pre-dose: count what entered strictly before t.
            const double expected_mg = amount_input_by(c.inputs, times[i] - 1e-12);
            const double err = std::fabs(total_mg - expected_mg);
            if (!(err <= 1e-9 * std::max(1.0, expected_mg)) && failures++ < 5) {
              INFO((solver == SolverKind::exact ? "exact" : "ode") << " index " << i << " (t = " << times[i]
                        << " h): expected " << expected_mg << " mg, actual " << total_mg << " mg, error " << err);
              CHECK(err <= 1e-9 * std::max(1.0, expected_mg));
            }
          }
          CHECK(failures == 0);
          // After the last input has fully entered: body + sink + lost = everything dosed.
          double final_mg = c.lost_mg;
          for (int s = 0; s < n; ++s) final_mg += states[(times.size() - 1) * n + s];
          CHECK(std::fabs(final_mg - dosed_mg) <= 1e-9 * dosed_mg);
        }
      }
    }
  }
}

// Issue 14: a patient the solver cannot afford, or whose amounts are impossible, fails (returns
// false) instead of running for days or returning garbage with status ok.
TEST_CASE("The ODE solver stops a patient at its evaluation budget", "[pk][simulate][robust]") {
  Kinetics k;
  k.n_states = 3;
  k.rates_per_h.setZero(3, 3);
  // Stiff exchange between compartments 0 and 1 (1e9 per hour) and elimination to the sink.
  k.rates_per_h(0, 0) = -1e9 - 1.0;
  k.rates_per_h(1, 0) = 1e9;
  k.rates_per_h(0, 1) = 1e9;
  k.rates_per_h(1, 1) = -1e9;
  k.rates_per_h(2, 0) = 1.0;
  const std::vector<InputEvent> inputs{{0.0, 0.0, 0, 10.0}};
  std::vector<double> times{0.0, 1.0, 2.0};
  std::vector<double> states(times.size() * 3);
  SimulationWorkspace ws;
  OdeTolerances tol;
  tol.max_evaluations = 100000;
  CHECK_FALSE(simulate_states(k, inputs, times.data(), 3, SolverKind::ode, tol, ws, states.data()));
  // The exact solver has no step budget to exceed and gives the right, finite answer.
  CHECK(simulate_states(k, inputs, times.data(), 3, SolverKind::exact, tol, ws, states.data()));
}

TEST_CASE("Non-finite or impossible amounts fail the patient", "[pk][simulate][robust]") {
  Kinetics k;
  k.n_states = 2;
  k.rates_per_h.setZero(2, 2);
  k.rates_per_h(0, 0) = -0.5;
  k.rates_per_h(1, 0) = 0.5;
  std::vector<double> times{0.0, 1.0, 2.0};
  std::vector<double> states(times.size() * 2);
  SimulationWorkspace ws;
  for (const auto solver : {SolverKind::exact, SolverKind::ode}) {
    CHECK(simulate_states(k, {{0.0, 0.0, 0, 100.0}}, times.data(), 3, solver, {}, ws, states.data()));
    const double infinite = std::numeric_limits<double>::infinity();
    CHECK_FALSE(simulate_states(k, {{0.0, 0.0, 0, infinite}}, times.data(), 3, solver, {}, ws, states.data()));
    CHECK_FALSE(simulate_states(k, {{0.0, 0.0, 0, 1e308}, {0.0, 0.0, 0, 1e308}}, times.data(), 3, solver, {}, ws,
                                states.data()));
  }
  // Tolerances so coarse that the solver takes one garbage step.
  OdeTolerances coarse;
  coarse.relative = 1e308;
  coarse.absolute_mg = 1e308;
  Kinetics fast = k;
  fast.rates_per_h(0, 0) = -50.0;
  fast.rates_per_h(1, 0) = 50.0;
  std::vector<double> long_times{0.0, 100.0};
  std::vector<double> long_states(4);
  CHECK_FALSE(simulate_states(fast, {{0.0, 0.0, 0, 100.0}}, long_times.data(), 2, SolverKind::ode, coarse, ws,
                              long_states.data()));
}

TEST_CASE("The plausibility scan flags excess, negative and NaN amounts at any output", "[pk][simulate][robust]") {
  // Kinetics that create or destroy mass, so that the amounts themselves (not the doses) fail the
  // scan of every output row: 100 mg leave compartment 0 at 0.5/h and the sink receives 1.002 x
  // what leaves, which passes the allowance (total + 1e-3 x total + 1e-6 mg) until 100 - A0 >
  // 99.9002 mg, i.e. from t = ln(1002)/0.5 = 13.8 h on.
  auto kinetics = [](double to_sink) {
    Kinetics k;
    k.n_states = 2;
    k.rates_per_h.setZero(2, 2);
    k.rates_per_h(0, 0) = -0.5;
    k.rates_per_h(1, 0) = to_sink;
    return k;
  };
  const std::vector<InputEvent> dose{{0.0, 0.0, 0, 100.0}};
  // Both checks: inside the fixed-size kernel (2 states) and the separate scan after the generic loop.
  for (const bool generic : {false, true}) {
    INFO((generic ? "generic loop" : "fixed-size kernel"));
    std::vector<double> times;
    for (int h = 0; h <= 13; ++h) times.push_back(h);
    std::vector<double> states(2 * 21);
    SimulationWorkspace ws;
    ws.generic_kernel_only = generic;
    CHECK(simulate_states(kinetics(0.5 * 1.002), dose, times.data(), 14, SolverKind::exact, {}, ws, states.data()));
    for (int h = 14; h <= 20; ++h) times.push_back(h);
    CHECK_FALSE(simulate_states(kinetics(0.5 * 1.002), dose, times.data(), 21, SolverKind::exact, {}, ws, states.data()));
    // Only the last output exceeds the allowance: t = 13.8 h falls between the last two outputs.
    const std::vector<double> last_only{0.0, 5.0, 13.0, 13.9};
    CHECK_FALSE(simulate_states(kinetics(0.5 * 1.002), dose, last_only.data(), 4, SolverKind::exact, {}, ws, states.data()));
    // The sink loses what leaves compartment 0: clearly negative from the first hour.
    CHECK_FALSE(simulate_states(kinetics(-0.5), dose, times.data(), 21, SolverKind::exact, {}, ws, states.data()));
    // A NaN rate: NaN amounts, which fail both comparisons.
    CHECK_FALSE(simulate_states(kinetics(std::numeric_limits<double>::quiet_NaN()), dose, times.data(), 21,
                                SolverKind::exact, {}, ws, states.data()));
    CHECK(simulate_states(kinetics(0.5), dose, times.data(), 21, SolverKind::exact, {}, ws, states.data()));
    // Doses that are not finite in total fail whatever the amounts.
    const std::vector<InputEvent> overflowing{{0.0, 0.0, 0, 1e308}, {1.0, 1.0, 0, 1e308}};
    CHECK_FALSE(simulate_states(kinetics(0.5), overflowing, times.data(), 21, SolverKind::exact, {}, ws, states.data()));
  }
}

TEST_CASE("An interrupt stops a long patient inside the solver", "[pk][simulate][robust][interrupt]") {
  Kinetics k;
  k.n_states = 2;
  k.rates_per_h.setZero(2, 2);
  k.rates_per_h(0, 0) = -1e9;
  k.rates_per_h(1, 0) = 1e9;
  std::vector<double> times{0.0, 1000.0};
  std::vector<double> states(4);
  SimulationWorkspace ws;
  OdeTolerances unlimited;
  unlimited.max_evaluations = std::numeric_limits<long long>::max();  // only the interrupt can stop it
  ketasim::install_interrupt_handlers();
  std::raise(SIGTERM);
  const bool finished = simulate_states(k, {{0.0, 0.0, 0, 1.0}}, times.data(), 2, SolverKind::ode, unlimited, ws,
                                        states.data());
  ketasim::clear_interrupt_request();
  CHECK_FALSE(finished);
}

TEST_CASE("The exact solver's fixed-size kernels give the generic loop's bits", "[pk][simulate]") {
  // simulate_states takes a kernel compiled for the state count (2 to kMaxStates) unless the workspace asks
  // for the generic loop; both must give the same amounts bit for bit (same operations in the same
  // order), for every state count, with boluses, overlapping infusions and outputs at, between and
  // on top of the breakpoints (repeated times: zero-length steps), on an engine-like grid whose
  // 5-minute steps differ in the last bits. Every count up to kMaxStates has a kernel.
  for (int n = 2; n <= kMaxStates; ++n) {
    Kinetics k;
    k.n_states = n;
    k.rates_per_h.setZero(n, n);
    // A mammillary chain: compartment 0 exchanges with every peripheral one and eliminates into
    // the sink (last state); rates depend on n so that every case has its own matrix.
    k.rates_per_h(n - 1, 0) = 0.7 + 0.01 * n;
    k.rates_per_h(0, 0) = -(0.7 + 0.01 * n);
    for (int c = 1; c < n - 1; ++c) {
      const double out = 2.0 / (c + 1), back = 0.3 * c + 0.05;
      k.rates_per_h(c, 0) += out;
      k.rates_per_h(0, 0) -= out;
      k.rates_per_h(0, c) += back;
      k.rates_per_h(c, c) -= back;
    }
    const int last_compartment = std::max(0, n - 2);
    const std::vector<InputEvent> inputs{{0.0, 2.0 / 3.0, 0, 35.0},
                                         {0.5, 0.5, last_compartment, 10.0},
                                         {24.0, 26.5, 0, 20.0},
                                         {25.0, 30.0, last_compartment, 5.0},
                                         {48.0, 48.0, 0, 12.0}};
    std::vector<double> times;
    for (int h = 0; h <= 72; ++h) times.push_back(h);
    for (double s : {0.0, 24.0, 48.0}) {
      for (int i = 0; i <= 36; ++i) times.push_back(s + i * (5.0 / 60.0));
    }
    times.push_back(0.5);
    times.push_back(26.5);
    std::sort(times.begin(), times.end());  // duplicates kept: zero-length steps
    const int n_out = static_cast<int>(times.size());
    auto run = [&](bool generic) {
      SimulationWorkspace ws;
      ws.generic_kernel_only = generic;
      std::vector<double> states(static_cast<std::size_t>(n_out) * n, -1.0);
      REQUIRE(simulate_states(k, inputs, times.data(), n_out, SolverKind::exact, OdeTolerances{}, ws, states.data()));
      return states;
    };
    const auto generic = run(true), fixed = run(false);
    INFO(n << " states");
    REQUIRE(generic.size() == fixed.size());
    int differing = 0;
    for (std::size_t i = 0; i < generic.size(); ++i) {
      if (std::memcmp(&generic[i], &fixed[i], sizeof(double)) != 0) {
        if (differing++ < 5) UNSCOPED_INFO("index " << i << ": generic " << generic[i] << " fixed " << fixed[i]);
      }
    }
    CHECK(differing == 0);
    CHECK(generic[static_cast<std::size_t>(n_out - 1) * n] > 0.0);  // the run did something
  }
}
