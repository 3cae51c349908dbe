#pragma once
// Amounts in every compartment at requested times, for one patient. The driver walks the
// discontinuities (boluses, infusion starts and stops) in time order; between two of them the
// system is autonomous with a constant input rate and one of two propagators advances it:
//  - exact: x(t+h) = e^{Kh} x + (integral_0^h e^{Ks} ds) r, both blocks from one matrix exponential
//    of [[K, I], [0, 0]] h, cached by step length (linear models only);
//  - ode:   Boost.Odeint Dormand-Prince 5(4) with dense output, restarted at every discontinuity.
// An output requested at the time of a bolus sees the state just before the bolus (trough).
#include <Eigen/Dense>

#include <array>
#include <vector>

#include "ketasim/pk/individual.hpp"
#include "ketasim/pk/inputs.hpp"

namespace ketasim::pk {

enum class SolverKind { exact, ode };

struct OdeTolerances {
  double relative = 1e-8;
  double absolute_mg = 1e-10;
};

inline constexpr int kMaxAugmented = 2 * kMaxStates;
using AugmentedMatrix =
    Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::ColMajor, kMaxAugmented, kMaxAugmented>;

// Per-worker scratch space, sized once: simulate_states does not allocate after the first patients.
struct SimulationWorkspace {
  struct Propagator {
    double step_h = -1.0;
    StateMatrix transition;  // e^{Kh}
    StateMatrix input_gain;  // integral_0^h e^{Ks} ds
  };
  static constexpr int kCacheSize = 8;
  std::array<Propagator, kCacheSize> cache{};
  int cache_next = 0;
  AugmentedMatrix augmented;
  AugmentedMatrix augmented_exp;
  std::vector<double> breakpoints_h;
  std::vector<double> segment_times_h;
  long long ode_steps = 0;  // diagnostics for benchmarks
  void reset_cache();
};

// Solves the amounts (mg, all states including the elimination sink) at each of the sorted
// `output_times_h`; writes n_out x kinetics.n_states values, row per time. Returns false if the
// ODE solver failed (step size underflow, non-finite state).
bool simulate_states(const Kinetics& kinetics, const std::vector<InputEvent>& inputs, const double* output_times_h,
                     int n_out, SolverKind solver, const OdeTolerances& tolerances, SimulationWorkspace& workspace,
                     double* states_out);

// Amount that has entered the body by time t (for mass balance checks).
double amount_input_by(const std::vector<InputEvent>& inputs, double time_h);

}  // namespace ketasim::pk
