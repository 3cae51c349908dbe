#pragma once
// Amounts in every compartment at requested times, for one patient. The driver walks the
// discontinuities (boluses, infusion starts and stops) in time order; between two of them the
// system is autonomous with a constant input rate and one of two propagators advances it:
//  - exact: x(t+h) = e^{Kh} x + (integral_0^h e^{Ks} ds) r, both blocks from one matrix exponential
//    of [[K, E], [0, 0]] h, E the unit columns of the compartments that receive infusions (the
//    only columns of the integral a rate multiplies), cached by step length (linear models only);
//  - ode:   Boost.Odeint Dormand-Prince 5(4) with dense output, restarted at every discontinuity.
// An output requested at the time of a bolus sees the state just before the bolus (trough).
#include <Eigen/Dense>

#include <array>
#include <vector>

#include "ketasim/pk/individual.hpp"
#include "ketasim/pk/inputs.hpp"
#include "ketasim/pk/matrix_exp.hpp"

namespace ketasim::pk {

enum class SolverKind { exact, ode };

struct OdeTolerances {
  double relative = 1e-8;
  double absolute_mg = 1e-10;
  // Work budget of one patient: right-hand-side evaluations (Dormand-Prince takes ~6 per step).
  // A typical 12-week patient takes ~10^4-10^5; a stiff model (flows of 10^9/h), an extreme
  // Michaelis-Menten model or absurd tolerances would take days. Exceeding it fails that patient
  // (simulate_states returns false), and the run goes on.
  long long max_evaluations = 20'000'000;
};

inline constexpr int kMaxAugmented = 2 * kMaxStates;
static_assert(kMaxAugmented <= kMaxExpSize, "the augmented matrix must fit matrix_exp");

// Per-worker scratch space, sized once: simulate_states does not allocate after the first patients.
struct SimulationWorkspace {
  struct Propagator {
    double step_h = -1.0;
    StateMatrix transition;  // e^{Kh}
    StateMatrix input_gain;  // integral_0^h e^{Ks} ds (the columns of infused compartments; others 0)
  };
  static constexpr int kCacheSize = 8;
  std::array<Propagator, kCacheSize> cache{};
  int cache_next = 0;
  // The compartments that receive an infusion in the current simulate_states call, ascending.
  int infused[kMaxStates];
  int n_infused = 0;
  double augmented[kMaxAugmented * kMaxAugmented];
  double augmented_exp[kMaxAugmented * kMaxAugmented];
  MatrixExpWorkspace exp_workspace;
  std::vector<double> breakpoints_h;
  std::vector<double> segment_times_h;
  long long ode_steps = 0;  // diagnostics for benchmarks
  // Tests only: the exact solver then uses its generic loop for every state count, not the
  // fixed-size kernels (which must give the same bits).
  bool generic_kernel_only = false;
  void reset_cache();
};

// Solves the amounts (mg, all states including the elimination sink) at each of the sorted
// `output_times_h`; writes n_out x kinetics.n_states values, row per time. Returns false when the
// patient cannot be simulated: the ODE solver failed (step size underflow), exceeded
// tolerances.max_evaluations, or was cut short by an interrupt (SIGINT/SIGTERM/SIGHUP; checked
// every 65,536 evaluations so that a long patient does not delay the run's clean exit), or a
// result is not physically possible: a non-finite amount, or a compartment holding more than all
// the drug given (or markedly less than nothing).
bool simulate_states(const Kinetics& kinetics, const std::vector<InputEvent>& inputs, const double* output_times_h,
                     int n_out, SolverKind solver, const OdeTolerances& tolerances, SimulationWorkspace& workspace,
                     double* states_out);

// Amount that has entered the body by time t (for mass balance checks).
double amount_input_by(const std::vector<InputEvent>& inputs, double time_h);

}  // namespace ketasim::pk
