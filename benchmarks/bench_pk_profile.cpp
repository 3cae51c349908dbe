// Cost of one patient's 12-week profile with hourly output: every other week for 12 weeks
// (6 sessions, 2017 output times), exact (matrix exponential) vs ODE
// (dopri5 at rtol 1e-10 / atol 1e-12 mg, the tolerances the agreement tests use; and at the
// default config tolerances rtol 1e-8 / atol 1e-10 mg). Measured per patient: individual parameters,
// rate matrix, dose expansion, inputs and the solve; models loaded once outside the timing.
//   herd-anderson-2007:           IV racemic ketamine 0.5 mg/kg over 40 min (80 kg)
//   perez-ruixo-2021-esketamine:  intranasal esketamine 84 mg (3 devices 5 min apart)
//   p1-benchmark:                 workload P1's 3-compartment model (4 states), IV as herd
// The `_engine_grid` cases solve on the trial engine's grid instead: the hourly outputs plus
// 5-minute points for 12 h after each session (2,809 times), as `ketasim run` does per patient.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <string>
#include <vector>

#include "ketasim/pk/inputs.hpp"
#include "ketasim/pk/regimen.hpp"
#include "ketasim/pk/simulate.hpp"

using namespace ketasim::pk;

namespace {

const PkModel& model(const std::string& name) {
  static const PkModel herd = load_model(std::string(KETASIM_SOURCE_DIR) + "/models/herd-anderson-2007.yaml");
  static const PkModel esk = load_model(std::string(KETASIM_SOURCE_DIR) + "/models/perez-ruixo-2021-esketamine.yaml");
  static const PkModel p1 = load_model(std::string(KETASIM_SOURCE_DIR) + "/models/p1-benchmark.yaml");
  return name == "herd" ? herd : name == "p1" ? p1 : esk;
}

Regimen regimen_for(Route route) {
  Regimen r;
  r.route = route;
  if (route == Route::intranasal) {
    r.dose = 84.0;
    r.devices_per_session = 3;
  } else {
    r.dose = 0.5;
    r.dose_per_kg = true;
    r.infusion_duration_h = 40.0 / 60.0;
  }
  r.phases = {{336.0, -1, 2016.0, -1.0, -1}};  // every other week, days 0, 14, ..., 70
  return r;
}

void profile(benchmark::State& state, const char* model_name, Route route, SolverKind solver, OdeTolerances tol,
             bool engine_grid = false) {
  const PkModel& m = model(model_name);
  const Regimen regimen = regimen_for(route);
  const auto sessions = expand_sessions(regimen);
  std::vector<double> times;
  for (int i = 0; i <= 2016; ++i) times.push_back(i);
  if (engine_grid) {  // as trial/time_grid.hpp lays it out: s + k/12 h, k = 1..143, then sorted
    for (const auto& s : sessions) {
      for (int k = 1; k < 144; ++k) {
        if (k % 12 != 0) times.push_back(s.time_h + k * (5.0 / 60.0));
      }
    }
    std::sort(times.begin(), times.end());
  }
  const Covariates cov{80.0, 46.0, 0};
  ParameterValues params{};
  Kinetics kinetics;
  std::vector<Dose> doses;
  std::vector<InputEvent> inputs;
  SimulationWorkspace ws;
  std::vector<double> states(times.size() * m.n_states());
  ws.ode_steps = 0;
  for (auto _ : state) {
    compute_individual_parameters(m, cov, nullptr, params);
    build_kinetics(m, params, kinetics);
    expand_doses(regimen, sessions, cov.weight_kg, nullptr, doses);
    resolve_inputs(m, params, doses, inputs);
    if (!simulate_states(kinetics, inputs, times.data(), static_cast<int>(times.size()), solver, tol, ws,
                         states.data())) {
      state.SkipWithError("solver failed");
      break;
    }
    benchmark::DoNotOptimize(states.data());
    benchmark::ClobberMemory();
  }
  state.counters["sessions"] = static_cast<double>(sessions.size());
  state.counters["outputs"] = static_cast<double>(times.size());
  if (solver == SolverKind::ode && state.iterations() > 0) {
    state.counters["ode_steps"] = static_cast<double>(ws.ode_steps) / static_cast<double>(state.iterations());
  }
}

const OdeTolerances kTight{1e-10, 1e-12};
const OdeTolerances kDefault{};

}  // namespace

BENCHMARK_CAPTURE(profile, herd_iv_exact, "herd", Route::iv_infusion, SolverKind::exact, kDefault)
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(profile, herd_iv_ode_default_tol, "herd", Route::iv_infusion, SolverKind::ode, kDefault)
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(profile, herd_iv_ode_tight_tol, "herd", Route::iv_infusion, SolverKind::ode, kTight)
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(profile, esketamine_in_exact, "esk", Route::intranasal, SolverKind::exact, kDefault)
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(profile, esketamine_in_ode_default_tol, "esk", Route::intranasal, SolverKind::ode, kDefault)
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(profile, esketamine_in_ode_tight_tol, "esk", Route::intranasal, SolverKind::ode, kTight)
    ->Unit(benchmark::kMicrosecond);

BENCHMARK_CAPTURE(profile, p1_iv_exact_engine_grid, "p1", Route::iv_infusion, SolverKind::exact, kDefault, true)
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(profile, herd_iv_exact_engine_grid, "herd", Route::iv_infusion, SolverKind::exact, kDefault, true)
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(profile, esketamine_in_exact_engine_grid, "esk", Route::intranasal, SolverKind::exact, kDefault, true)
    ->Unit(benchmark::kMicrosecond);

BENCHMARK_MAIN();
