#include "ketasim/pk/simulate.hpp"

#include <algorithm>
#include <boost/numeric/odeint.hpp>
#include <cmath>
#include <limits>

#include "ketasim/core/interrupt.hpp"
#include "ketasim/core/pair.hpp"

namespace ketasim::pk {

namespace {

namespace odeint = boost::numeric::odeint;
// std::array state: odeint's steppers then keep their internal states inline (no heap).
using OdeState = std::array<double, kMaxStates>;

// Thrown from inside odeint to stop a patient: out of budget or interrupted.
struct BudgetExceeded {};

// dA/dt = K A + r + saturable flows; parameters are members so the call does no lookups.
struct RightHandSide {
  const Kinetics* kinetics;
  const OdeState* input_rate_mg_per_h;
  long long* evaluations_left;
  void operator()(const OdeState& x, OdeState& dxdt, double /*t*/) const {
    if (--*evaluations_left < 0 || ((*evaluations_left & 0xFFFF) == 0 && interrupt_requested())) {
      throw BudgetExceeded{};
    }
    const int n = kinetics->n_states;
    const auto& k = kinetics->rates_per_h;
    for (int i = 0; i < n; ++i) {
      double sum = (*input_rate_mg_per_h)[i];
      for (int j = 0; j < n; ++j) sum += k(i, j) * x[j];
      dxdt[i] = sum;
    }
    for (int i = n; i < kMaxStates; ++i) dxdt[i] = 0.0;
    for (int s = 0; s < kinetics->n_saturable; ++s) {
      const SaturableFlow& f = kinetics->saturable[s];
      const double concentration_mg_per_l = std::max(0.0, x[f.from]) / f.volume_l;
      const double flux_mg_per_h = f.vmax_mg_per_h * concentration_mg_per_l / (f.km_mg_per_l + concentration_mg_per_l);
      dxdt[f.from] -= flux_mg_per_h;
      dxdt[f.to] += flux_mg_per_h;
    }
  }
};

// Step lengths that agree to 1e-12 relative are one step. The grid's 5-minute points are written
// s + k/12 h, so their differences take a dozen values that differ in the last bits (about 1e-13
// h): a matrix exponential each made the exponentials ~15% of a run. Advancing such a step with
// the propagator of a length dh = 1e-12 h away moves the state by about |K| dh relative: 1e-12
// times the step's |K| h, which is of order 1 on the output grid (at most 1e-9 for a step a
// thousand times the fastest time constant), far below anything a concentration, NCA or score
// can show; and the next step starts again from the grid's own time.
bool same_step(double cached_h, double h) { return std::abs(cached_h - h) <= 1e-12 * h; }

const SimulationWorkspace::Propagator& propagator_for(const Kinetics& kinetics, double step_h,
                                                      SimulationWorkspace& ws) {
  for (const auto& p : ws.cache) {
    if (same_step(p.step_h, step_h)) return p;
  }
  // exp([[K h, E h], [0, 0]]) = [[e^{Kh}, integral_0^h e^{Ks} ds E], [0, I]] (Van Loan 1978), E the
  // unit columns of the infused compartments: n + (infused) rows instead of 2n, which for P1 (one
  // infused compartment) makes the exponential 5x5 instead of 8x8 and for a nasal model (none)
  // e^{Kh} alone.
  const int n = kinetics.n_states;
  const int m = n + ws.n_infused;
  double* aug = ws.augmented;
  for (int e = 0; e < m * m; ++e) aug[e] = 0.0;
  for (int j = 0; j < n; ++j) {
    for (int i = 0; i < n; ++i) aug[j * m + i] = kinetics.rates_per_h(i, j) * step_h;
  }
  for (int q = 0; q < ws.n_infused; ++q) aug[(n + q) * m + ws.infused[q]] = step_h;
  matrix_exp(aug, m, ws.augmented_exp, ws.exp_workspace);
  auto& p = ws.cache[ws.cache_next];
  ws.cache_next = (ws.cache_next + 1) % SimulationWorkspace::kCacheSize;
  p.step_h = step_h;
  p.transition.resize(n, n);
  p.input_gain.setZero(n, n);
  for (int j = 0; j < n; ++j) {
    for (int i = 0; i < n; ++i) p.transition(i, j) = ws.augmented_exp[j * m + i];
  }
  for (int q = 0; q < ws.n_infused; ++q) {
    for (int i = 0; i < n; ++i) p.input_gain(i, ws.infused[q]) = ws.augmented_exp[(n + q) * m + i];
  }
  return p;
}

// The row sums of a step, e^{Kh} x, in one fixed pairwise order, the same in the generic loop and
// the fixed-size kernels (so both give the same bits): the steps form a dependency chain, and a
// pairwise sum of n products is log2(n) additions deep where the running sum was n (P1's four
// states: 2 instead of 4 dependent additions per step).
inline double pairwise_sum(const double* terms, int n) {
  if (n == 1) return terms[0];
  const int half = n / 2;
  return pairwise_sum(terms, half) + pairwise_sum(terms + half, n - half);
}
// The same order for a compile-time count, of doubles or of Pairs (two rows at a time).
template <int N, typename T>
inline T pairwise_sum(const T* terms) {
  if constexpr (N == 1) {
    return terms[0];
  } else {
    return pairwise_sum<N / 2>(terms) + pairwise_sum<N - N / 2>(terms + N / 2);
  }
}

void advance_exact(const Kinetics& kinetics, StateVector& x, const StateVector& rate, bool has_rate, double t0_h,
                   double t1_h, const double* times_h, int n_times, double* states_out, SimulationWorkspace& ws) {
  const int n = kinetics.n_states;
  // Each step writes straight into its output row, which then is the current state: copying
  // 4-16 doubles per step (GCC turns such loops into memmove calls) cost more than the step.
  double start[kMaxStates], end[kMaxStates];
  for (int i = 0; i < n; ++i) start[i] = x[i];
  const double* current = start;
  double t = t0_h;
  auto step_to = [&](double target_h, double* destination) {
    const double h = target_h - t;
    if (h > 0.0) {
      const auto& p = propagator_for(kinetics, h, ws);
      const double* transition = p.transition.data();
      for (int i = 0; i < n; ++i) {
        double terms[kMaxStates];
        for (int j = 0; j < n; ++j) terms[j] = transition[static_cast<std::ptrdiff_t>(j) * n + i] * current[j];
        destination[i] = pairwise_sum(terms, n);
      }
      if (has_rate) {
        for (int j = 0; j < n; ++j) {
          const double rj = rate[j];
          if (rj == 0.0) continue;
          const double* column = p.input_gain.data() + static_cast<std::ptrdiff_t>(j) * n;
          for (int i = 0; i < n; ++i) destination[i] += column[i] * rj;
        }
      }
    } else {
      for (int i = 0; i < n; ++i) destination[i] = current[i];
    }
    current = destination;
    t = target_h;
  };
  for (int i = 0; i < n_times; ++i) step_to(times_h[i], states_out + static_cast<std::ptrdiff_t>(i) * n);
  step_to(t1_h, end);
  for (int i = 0; i < n; ++i) x[i] = current[i];
}

// The inputs with a non-zero rate, in compartment order (the generic loop skips zero rates too):
// their compartments and rates; returns how many.
template <int N>
int nonzero_rates(const StateVector& rate, bool has_rate, int (&index)[N], double (&value)[N]) {
  int n = 0;
  if (!has_rate) return 0;
  for (int j = 0; j < N; ++j) {
    if (rate[j] == 0.0) continue;
    index[n] = j;
    value[n++] = rate[j];
  }
  return n;
}

// advance_exact for a compile-time state count: the same operations in the same order (so the
// same bits), with the state kept in registers from step to step instead of reloaded from the row
// just written, and the propagator looked up only when the step length changes. The steps form a
// dependency chain, so the generic loop's store-then-reload latency was most of its cost.
// It also checks each output amount against [low, high] while it is in a register (what
// physically_possible does in a second pass over the output): `implausible` becomes 1 when one
// is above high, below low or not finite. Per state it keeps the largest and smallest amount:
// short chains beside the step's own, no compare-and-branch per amount. A non-finite amount needs
// no tracking: it is absorbing. Every new amount is a sum over all states, zero coefficients
// included, and 0 x inf, 0 x NaN, inf - inf and anything + NaN are NaN, x inf is +-inf or NaN, so
// once any amount is not finite every later one is not, and the segment's end state shows it.
// (A third tracked array, a sum of v - v, made the kernel spill registers.)
template <int N>
void advance_exact_fixed(const Kinetics& kinetics, StateVector& x, const StateVector& rate, bool has_rate,
                         double t0_h, double t1_h, const double* times_h, int n_times, double* states_out,
                         SimulationWorkspace& ws, double low, double high, int& implausible) {
  double current[N];
  for (int i = 0; i < N; ++i) current[i] = x[i];
  int rate_index[N];
  double rate_value[N];
  const int n_rates = nonzero_rates<N>(rate, has_rate, rate_index, rate_value);
  double largest[N], smallest[N];
  for (int i = 0; i < N; ++i) {
    largest[i] = -std::numeric_limits<double>::infinity();
    smallest[i] = std::numeric_limits<double>::infinity();
  }
  const SimulationWorkspace::Propagator* p = nullptr;
  double t = t0_h;
  auto step_to = [&](double target_h, double* destination) {
    const double h = target_h - t;
    if (h > 0.0) {
      // A slot of the cache may since hold another step length: its step_h then says so.
      if (p == nullptr || (p->step_h != h && !same_step(p->step_h, h))) p = &propagator_for(kinetics, h, ws);
      const double* transition = p->transition.data();
      double next[N];
      for (int i = 0; i < N; ++i) {
        double terms[N];
        for (int j = 0; j < N; ++j) terms[j] = transition[j * N + i] * current[j];
        next[i] = pairwise_sum<N>(terms);
      }
      const double* gain = p->input_gain.data();
      for (int k = 0; k < n_rates; ++k) {
        const int j = rate_index[k];
        const double rj = rate_value[k];
        for (int i = 0; i < N; ++i) next[i] += gain[j * N + i] * rj;
      }
      for (int i = 0; i < N; ++i) current[i] = next[i];
    }
    if (destination) {
      for (int i = 0; i < N; ++i) {
        const double v = current[i];
        destination[i] = v;
        largest[i] = v > largest[i] ? v : largest[i];
        smallest[i] = v < smallest[i] ? v : smallest[i];
      }
    }
    t = target_h;
  };
  for (int i = 0; i < n_times; ++i) step_to(times_h[i], states_out + static_cast<std::ptrdiff_t>(i) * N);
  step_to(t1_h, nullptr);
  for (int i = 0; i < N; ++i) {
    x[i] = current[i];
    // NaN amounts, skipped by the comparisons above, show in the end state (see above).
    implausible |= static_cast<int>(!(largest[i] <= high)) | static_cast<int>(!(smallest[i] >= low)) |
                   static_cast<int>(!std::isfinite(current[i]));
  }
}

// advance_exact_fixed for an even state count, two rows at a time in SSE2 registers (GCC/Clang
// vector extensions: two doubles per operation, no instruction-set intrinsics). Each lane does
// exactly the scalar kernel's operations in its order (products, the same pairwise tree over the
// columns, then the rate terms in compartment order; no fused multiply-add), so the bits are the
// same (tested against the generic loop). Half the instructions per step: the kernel was bound
// by its instruction count, not only by the step chain.
template <int N>
void advance_exact_pairs(const Kinetics& kinetics, StateVector& x, const StateVector& rate, bool has_rate,
                         double t0_h, double t1_h, const double* times_h, int n_times, double* states_out,
                         SimulationWorkspace& ws, double low, double high, int& implausible) {
  static_assert(N % 2 == 0, "rows are taken two at a time");
  constexpr int P = N / 2;
  double current[N];
  for (int i = 0; i < N; ++i) current[i] = x[i];
  int rate_index[N];
  double rate_value[N];
  const int n_rates = nonzero_rates<N>(rate, has_rate, rate_index, rate_value);
  Pair largest[P], smallest[P];
  for (int r = 0; r < P; ++r) {
    largest[r] = splat(-std::numeric_limits<double>::infinity());
    smallest[r] = splat(std::numeric_limits<double>::infinity());
  }
  Pair state[P];
  for (int r = 0; r < P; ++r) state[r] = Pair{current[2 * r], current[2 * r + 1]};
  const SimulationWorkspace::Propagator* p = nullptr;
  double t = t0_h;
  auto step_to = [&](double target_h, double* destination) {
    const double h = target_h - t;
    if (h > 0.0) {
      if (p == nullptr || (p->step_h != h && !same_step(p->step_h, h))) p = &propagator_for(kinetics, h, ws);
      const double* transition = p->transition.data();
      Pair xj[N];  // amount j in both lanes
      for (int j = 0; j < N; ++j) {
        xj[j] = splat(state[j / 2][j % 2]);
      }
      Pair next[P];
      for (int r = 0; r < P; ++r) {
        Pair terms[N];
        for (int j = 0; j < N; ++j) terms[j] = load_pair(transition + j * N + 2 * r) * xj[j];
        next[r] = pairwise_sum<N>(terms);
      }
      const double* gain = p->input_gain.data();
      for (int k = 0; k < n_rates; ++k) {
        const int j = rate_index[k];
        const Pair rj = splat(rate_value[k]);
        for (int r = 0; r < P; ++r) next[r] += load_pair(gain + j * N + 2 * r) * rj;
      }
      for (int r = 0; r < P; ++r) state[r] = next[r];
    }
    if (destination) {
      for (int r = 0; r < P; ++r) {
        const Pair v = state[r];
        store_pair(destination + 2 * r, v);
        largest[r] = v > largest[r] ? v : largest[r];
        smallest[r] = v < smallest[r] ? v : smallest[r];
      }
    }
    t = target_h;
  };
  for (int i = 0; i < n_times; ++i) step_to(times_h[i], states_out + static_cast<std::ptrdiff_t>(i) * N);
  step_to(t1_h, nullptr);
  for (int r = 0; r < P; ++r) {
    for (int lane = 0; lane < 2; ++lane) {
      const int i = 2 * r + lane;
      x[i] = state[r][lane];
      // As in advance_exact_fixed: NaN amounts, skipped by the comparisons, show in the end state.
      implausible |= static_cast<int>(!(largest[r][lane] <= high)) | static_cast<int>(!(smallest[r][lane] >= low)) |
                     static_cast<int>(!std::isfinite(state[r][lane]));
    }
  }
}

// Every state count a model can have (1 to kMaxCompartments compartments plus the sink) takes a
// fixed-size kernel, two rows at a time for even counts: the shipped esketamine and racemic models
// have 9 or more states, and the generic loop was 44% of configs/default.yaml's run. The generic
// loop stays as the reference the kernels are tested against (same bits) and for a larger
// kMaxStates. Returns false when it took the generic loop, whose outputs physically_possible
// must then check.
// The kernels for 9-16 states, kept out of line: inlined beside the 2-8 ones they made GCC lay
// out the small kernels worse (P1's 4-state kernel ran ~30% slower).
[[gnu::noinline]] void advance_exact_large(const Kinetics& kinetics, StateVector& x, const StateVector& rate,
                                           bool has_rate, double t0_h, double t1_h, const double* times_h, int n_times,
                                           double* states_out, SimulationWorkspace& ws, double low, double high,
                                           int& implausible) {
  switch (kinetics.n_states) {
#define KETASIM_FIXED_CASE(N, KERNEL)                                                                        \
  case N:                                                                                                    \
    KERNEL<N>(kinetics, x, rate, has_rate, t0_h, t1_h, times_h, n_times, states_out, ws, low, high, implausible); \
    return;
    KETASIM_FIXED_CASE(9, advance_exact_fixed)
    KETASIM_FIXED_CASE(10, advance_exact_pairs)
    KETASIM_FIXED_CASE(11, advance_exact_fixed)
    KETASIM_FIXED_CASE(12, advance_exact_pairs)
    KETASIM_FIXED_CASE(13, advance_exact_fixed)
    KETASIM_FIXED_CASE(14, advance_exact_pairs)
    KETASIM_FIXED_CASE(15, advance_exact_fixed)
    KETASIM_FIXED_CASE(16, advance_exact_pairs)
#undef KETASIM_FIXED_CASE
    default:
      break;
  }
}

bool advance_exact_dispatch(const Kinetics& kinetics, StateVector& x, const StateVector& rate, bool has_rate,
                            double t0_h, double t1_h, const double* times_h, int n_times, double* states_out,
                            SimulationWorkspace& ws, double low, double high, int& implausible) {
  switch (kinetics.n_states) {
#define KETASIM_FIXED_CASE(N, KERNEL)                                                                        \
  case N:                                                                                                    \
    KERNEL<N>(kinetics, x, rate, has_rate, t0_h, t1_h, times_h, n_times, states_out, ws, low, high, implausible); \
    return true;
    KETASIM_FIXED_CASE(2, advance_exact_pairs)
    KETASIM_FIXED_CASE(3, advance_exact_fixed)
    KETASIM_FIXED_CASE(4, advance_exact_pairs)
    KETASIM_FIXED_CASE(5, advance_exact_fixed)
    KETASIM_FIXED_CASE(6, advance_exact_pairs)
    KETASIM_FIXED_CASE(7, advance_exact_fixed)
    KETASIM_FIXED_CASE(8, advance_exact_pairs)
    static_assert(kMaxStates == 16, "a state count without a fixed-size kernel takes the generic loop");
    case 9: case 10: case 11: case 12: case 13: case 14: case 15: case 16:
      advance_exact_large(kinetics, x, rate, has_rate, t0_h, t1_h, times_h, n_times, states_out, ws, low, high,
                          implausible);
      return true;
#undef KETASIM_FIXED_CASE
    default:
      advance_exact(kinetics, x, rate, has_rate, t0_h, t1_h, times_h, n_times, states_out, ws);
      return false;
  }
}

bool advance_ode(const Kinetics& kinetics, StateVector& x, const StateVector& rate, double t0_h, double t1_h,
                 const double* times_h, int n_times, double* states_out, const OdeTolerances& tol,
                 long long& evaluations_left, SimulationWorkspace& ws) {
  const int n = kinetics.n_states;
  if (!(t1_h > t0_h)) {
    for (int i = 0; i < n_times; ++i) std::copy(x.data(), x.data() + n, states_out + static_cast<std::ptrdiff_t>(i) * n);
    return true;
  }
  OdeState state{};
  OdeState input_rate{};
  for (int i = 0; i < n; ++i) {
    state[i] = x[i];
    input_rate[i] = rate[i];
  }
  // integrate_times reports at every listed time: the segment start, the outputs, the segment end.
  auto& times = ws.segment_times_h;
  times.clear();
  times.push_back(t0_h);
  for (int i = 0; i < n_times; ++i) {
    if (times_h[i] > times.back()) times.push_back(times_h[i]);
  }
  if (t1_h > times.back()) times.push_back(t1_h);
  int next_output = 0;
  auto observer = [&](const OdeState& s, double t) {
    while (next_output < n_times && times_h[next_output] <= t) {
      std::copy(s.begin(), s.begin() + n, states_out + static_cast<std::ptrdiff_t>(next_output) * n);
      ++next_output;
    }
  };
  try {
    // A fresh dense-output stepper per segment is the restart at the discontinuity: no FSAL
    // derivative or step-size memory from before the dose survives.
    auto stepper = odeint::make_dense_output(tol.absolute_mg, tol.relative, odeint::runge_kutta_dopri5<OdeState>());
    const double first_step_h = std::min(0.01, t1_h - t0_h);
    ws.ode_steps += static_cast<long long>(odeint::integrate_times(
        stepper, RightHandSide{&kinetics, &input_rate, &evaluations_left}, state, times.begin(), times.end(),
        first_step_h, observer));
  } catch (const std::exception&) {
    return false;
  } catch (const BudgetExceeded&) {
    return false;
  }
  for (int i = 0; i < n; ++i) {
    if (!std::isfinite(state[i])) return false;
    x[i] = state[i];
  }
  return next_output == n_times;
}

// Every amount finite, none above all the drug given, none clearly negative. The slack covers
// rounding and the ODE's tolerated error; what it catches is garbage such as overflowed doses, a
// solver run with tolerances of 1e308 or a near-singular model (amounts of 1e50 mg, or NaN).
// Linear in the output size: a small fraction of the simulation's cost.
// The allowance: amounts in [low, high]. False when the drug given is not finite.
bool plausible_range(const std::vector<InputEvent>& inputs, double& low, double& high) {
  double total_mg = 0.0;
  for (const auto& in : inputs) total_mg += in.amount_mg;
  const double slack_mg = 1e-3 * total_mg + 1e-6;
  high = total_mg + slack_mg;
  low = -slack_mg;
  return std::isfinite(total_mg);
}

bool physically_possible(const std::vector<InputEvent>& inputs, int n_out, int n, const double* states) {
  double low, high;
  if (!plausible_range(inputs, low, high)) return false;
  const double* end = states + static_cast<std::ptrdiff_t>(n_out) * n;
  // Counts the failures in a double, branch-free, which GCC vectorises (it does not vectorise an
  // early exit, nor these comparisons into integer flags); the count of 0/1 terms is exact.
  double failures = 0.0;
  for (const double* x = states; x != end; ++x) {
    const double v = *x;
    failures += (v > high ? 1.0 : 0.0) + (v < low ? 1.0 : 0.0) + (v != v ? 1.0 : 0.0);  // NaN: v != v
  }
  return failures == 0.0;
}

}  // namespace

void SimulationWorkspace::reset_cache() {
  for (auto& p : cache) p.step_h = -1.0;
  cache_next = 0;
}

double amount_input_by(const std::vector<InputEvent>& inputs, double time_h) {
  double total = 0.0;
  for (const auto& in : inputs) {
    if (time_h < in.start_h) continue;
    if (in.end_h <= in.start_h || time_h >= in.end_h) {
      total += in.amount_mg;
    } else {
      total += in.amount_mg * (time_h - in.start_h) / (in.end_h - in.start_h);
    }
  }
  return total;
}

bool simulate_states(const Kinetics& kinetics, const std::vector<InputEvent>& inputs, const double* output_times_h,
                     int n_out, SolverKind solver, const OdeTolerances& tolerances, SimulationWorkspace& ws,
                     double* states_out) {
  const int n = kinetics.n_states;
  if (solver == SolverKind::exact) ws.reset_cache();
  // Which compartments a rate can reach: the propagators carry only their columns of the integral.
  ws.n_infused = 0;
  for (int c = 0; c < n; ++c) {
    for (const auto& in : inputs) {
      if (in.compartment == c && in.end_h > in.start_h) {
        ws.infused[ws.n_infused++] = c;
        break;
      }
    }
  }
  auto& bp = ws.breakpoints_h;
  bp.clear();
  for (const auto& in : inputs) {
    bp.push_back(in.start_h);
    if (in.end_h > in.start_h) bp.push_back(in.end_h);
  }
  std::sort(bp.begin(), bp.end());
  bp.erase(std::unique(bp.begin(), bp.end()), bp.end());
  const double last_output_h = n_out > 0 ? output_times_h[n_out - 1] : 0.0;

  double low, high;
  const bool finite_doses = plausible_range(inputs, low, high);
  int implausible = 0;
  bool checked_in_kernel = solver == SolverKind::exact && !ws.generic_kernel_only;
  long long evaluations_left = tolerances.max_evaluations;
  StateVector x = StateVector::Zero(n);
  StateVector rate = StateVector::Zero(n);
  bool has_rate = false;
  double t = n_out > 0 ? output_times_h[0] : 0.0;
  if (!bp.empty()) t = std::min(t, bp.front());
  int out_i = 0;
  for (std::size_t b = 0; b <= bp.size(); ++b) {
    const bool last_segment = b == bp.size();
    const double segment_end_h = last_segment ? std::max(t, last_output_h) : bp[b];
    // The outputs up to the segment's end: a binary search, not a scan (the scan over every grid
    // point was ~13% of a P1 patient's simulate_states). The times are sorted.
    const int out_j = static_cast<int>(
        std::upper_bound(output_times_h + out_i, output_times_h + n_out, segment_end_h) - output_times_h);
    double* out_ptr = states_out + static_cast<std::ptrdiff_t>(out_i) * n;
    if (solver == SolverKind::exact) {
      if (ws.generic_kernel_only) {
        advance_exact(kinetics, x, rate, has_rate, t, segment_end_h, output_times_h + out_i, out_j - out_i, out_ptr, ws);
      } else {
        checked_in_kernel &= advance_exact_dispatch(kinetics, x, rate, has_rate, t, segment_end_h, output_times_h + out_i,
                                                    out_j - out_i, out_ptr, ws, low, high, implausible);
      }
    } else if (!advance_ode(kinetics, x, rate, t, segment_end_h, output_times_h + out_i, out_j - out_i, out_ptr,
                            tolerances, evaluations_left, ws)) {
      return false;
    }
    out_i = out_j;
    t = segment_end_h;
    if (last_segment) break;
    // At the breakpoint: boluses land, infusions switch on or off.
    rate.setZero();
    has_rate = false;
    for (const auto& in : inputs) {
      if (in.end_h <= in.start_h) {
        if (in.start_h == t) x[in.compartment] += in.amount_mg;
      } else if (in.start_h <= t && t < in.end_h) {
        rate[in.compartment] += in.amount_mg / (in.end_h - in.start_h);
        has_rate = true;
      }
    }
  }
  if (out_i != n_out) return false;
  if (checked_in_kernel) return finite_doses && implausible == 0;
  return physically_possible(inputs, n_out, n, states_out);
}

}  // namespace ketasim::pk
