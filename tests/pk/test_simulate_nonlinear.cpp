// Nonlinear PK through the ODE path: a 1-compartment Michaelis-Menten IV bolus against its
// Lambert-W closed form, Km unit conversion, and mass balance (issue 16, item 2).
//
// dC/dt = -(Vmax/V) C / (Km + C), C(0) = C0 (mg/L) integrates to
//   Km ln(C/C0) + C - C0 = -(Vmax/V) t   =>   C(t) = Km W0((C0/Km) exp((C0 - Vmax t / V) / Km)),
// W0 the principal branch of Lambert's W (Boost.Math, independent of the solver under test).
// Tolerance: ODE at rtol 1e-10 / atol 1e-12 mg; dopri5's global error stays within ~100 x rtol
// over these horizons, so 1e-7 relative (as for the linear closed forms in test_simulate.cpp).
// A wrong sign, a Km left in ng/mL (1000x too large: elimination becomes linear) or a missed
// restart at the second bolus give errors of percent to orders of magnitude.
#include <catch2/catch.hpp>

#include <boost/math/special_functions/lambert_w.hpp>
#include <cmath>
#include <string>
#include <vector>

#include "ketasim/pk/simulate.hpp"
#include "pk_test_models.hpp"

using namespace ketasim::pk;
using ketasim::pk::testing::model_from_text;

namespace {

constexpr double kV = 50.0;      // L
constexpr double kVmax = 20.0;   // mg/h
constexpr double kKmMgPerL = 0.5;

std::string mm_model_yaml(const std::string& km_text) {
  return "name: mm-one-cmt\ndrug: test\n"
         "moieties: {drug: {molecular_weight_g_per_mol: 200}}\n"
         "compartments:\n"
         "  - {name: central, moiety: drug, volume: V, observed: true}\n"
         "parameters:\n"
         "  V: {value: 50, unit: L, source: test}\n"
         "  VMAX: {value: 20, unit: mg/h, source: test}\n"
         "  KM: {" + km_text + ", source: test}\n"
         "flows:\n"
         "  - {from: central, to: elimination, michaelis_menten: {vmax: VMAX, km: KM}}\n"
         "routes:\n"
         "  iv_bolus: {inputs: [{compartment: central}]}\n";
}

// Closed form in mg/L, t hours after a bolus that left C0 mg/L in the compartment.
double mm_closed_form(double c0, double t) {
  const double arg = (c0 / kKmMgPerL) * std::exp((c0 - kVmax * t / kV) / kKmMgPerL);
  return kKmMgPerL * boost::math::lambert_w0(arg);
}

struct Run {
  std::vector<double> conc_ng_per_ml, total_mg;
};

Run simulate(const PkModel& model, const std::vector<Dose>& doses, const std::vector<double>& times) {
  ParameterValues params{};
  compute_individual_parameters(model, Covariates{}, nullptr, params);
  Kinetics kinetics;
  REQUIRE(build_kinetics(model, params, kinetics));
  std::vector<InputEvent> inputs;
  REQUIRE(resolve_inputs(model, params, doses, inputs) >= 0.0);
  SimulationWorkspace ws;
  const int n = kinetics.n_states;
  std::vector<double> states(times.size() * n);
  REQUIRE(simulate_states(kinetics, inputs, times.data(), static_cast<int>(times.size()), SolverKind::ode,
                          OdeTolerances{1e-10, 1e-12}, ws, states.data()));
  Run r;
  for (std::size_t i = 0; i < times.size(); ++i) {
    r.conc_ng_per_ml.push_back(output_concentration_ng_per_ml(model, params, 0, &states[i * n]));
    double total = 0.0;
    for (int s = 0; s < n; ++s) total += states[i * n + s];
    r.total_mg.push_back(total);
  }
  return r;
}

}  // namespace

TEST_CASE("Michaelis-Menten IV bolus matches the Lambert-W closed form, two doses, Km in ng/mL or mg/L",
          "[pk][simulate][nonlinear]") {
  // 200 mg then 100 mg at 24 h: C0 = 4 mg/L = 8 Km (saturated, near zero-order at first), falling
  // through Km into the first-order regime before the second dose.
  const std::vector<Dose> doses{{0.0, Route::iv_bolus, 200.0, 0.0, 0, 0}, {24.0, Route::iv_bolus, 100.0, 0.0, 0, 1}};
  std::vector<double> times;
  for (int i = 1; i <= 96; ++i) times.push_back(0.5 * i);
  std::vector<double> expected;
  const double c_before_second = mm_closed_form(200.0 / kV, 24.0);
  for (double t : times) {
    // An output at a bolus time sees the state just before it (simulate.hpp's trough convention).
    const double c = t <= 24.0 ? mm_closed_form(200.0 / kV, t) : mm_closed_form(c_before_second + 100.0 / kV, t - 24.0);
    expected.push_back(c * 1000.0);
  }
  // Sanity of the scenario: the curve spans the saturated and the linear regime.
  REQUIRE(expected.front() > 5000.0 * 0.5);
  REQUIRE(c_before_second * 1000.0 < 500.0 * 0.5);
  for (const std::string km : {"value: 500, unit: ng/mL", "value: 0.5, unit: mg/L", "value: 500, unit: ug/L"}) {
    const PkModel model = model_from_text(mm_model_yaml(km));
    CHECK_FALSE(model.linear);  // so the engine would pick the ODE solver
    const Run r = simulate(model, doses, times);
    for (std::size_t i = 0; i < times.size(); ++i) {
      INFO("Km " << km << ", t = " << times[i] << " h: closed form " << expected[i] << " ng/mL, ODE "
                 << r.conc_ng_per_ml[i]);
      CHECK(std::fabs(r.conc_ng_per_ml[i] - expected[i]) <= 1e-7 * expected[i] + 1e-9);
    }
  }
}

TEST_CASE("Michaelis-Menten mass balance: compartment + eliminated = dosed, to 1e-9", "[pk][simulate][nonlinear]") {
  const PkModel model = model_from_text(mm_model_yaml("value: 500, unit: ng/mL"));
  const std::vector<Dose> doses{{0.0, Route::iv_bolus, 200.0, 0.0, 0, 0}, {24.0, Route::iv_bolus, 100.0, 0.0, 0, 1}};
  std::vector<double> times;
  for (int i = 0; i <= 96; ++i) times.push_back(0.5 * i);
  const Run r = simulate(model, doses, times);
  for (std::size_t i = 0; i < times.size(); ++i) {
    const double dosed = times[i] > 24.0 ? 300.0 : times[i] > 0.0 ? 200.0 : 0.0;  // pre-dose at dose times
    INFO("t = " << times[i]);
    CHECK(std::fabs(r.total_mg[i] - dosed) <= 1e-9 * std::max(1.0, dosed));
  }
  // And elimination happened at the Michaelis-Menten rate: what is left at 24 h is the closed form.
  CHECK(r.conc_ng_per_ml[48] == Approx(mm_closed_form(4.0, 24.0) * 1000.0).epsilon(1e-7));
}
