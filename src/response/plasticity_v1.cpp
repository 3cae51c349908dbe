#include "ketasim/response/plasticity_v1.hpp"

#include <cmath>
#include <limits>

#include "ketasim/core/pair.hpp"
#include "ketasim/response/first_order.hpp"
#include "ketasim/response/response_model.hpp"

namespace ketasim::response {

namespace {

double integer_power(double x, int n) {
  double result = 1.0;
  for (int i = 0; i < n; ++i) result *= x;
  return result;
}

// x^H by H - 1 multiplications: integer_power's operations (its leading 1 x x is exact).
template <int H, typename T>
inline T power(T x) {
  if constexpr (H == 1) {
    return x;
  } else {
    return power<H - 1>(x) * x;
  }
}

// The drive from the binding S, in place, for a whole Hill coefficient H known at compile time:
// occ^H / (occ50^H + occ^H) with occ = S / (1 + S), multiplied through by (1 + S)^H (one division
// per point), and 0 below `negligible`. Two grid points per operation (GCC/Clang vector
// extensions, SSE2; GCC does not vectorise the scalar loop, it turns the select into a branch
// around the division): the drive is computed for the negligible points too and then discarded,
// which costs less than a branch per point. Each lane does the scalar expression's operations in
// its order, so the bits are those of the scalar loop (the tail, and the default case below).

template <int H>
void drive_from_binding(double* x, int n, double occupancy50_pow, double negligible) {
  const Pair a = splat(occupancy50_pow), below = splat(negligible), one = splat(1.0), zero = splat(0.0);
  int g = 0;
  for (; g + 1 < n; g += 2) {
    const Pair s = load_pair(x + g);
    const Pair sh = power<H>(s);
    const Pair drive = sh / (a * power<H>(one + s) + sh);
    const Pair out = s < below ? zero : drive;
    store_pair(x + g, out);
  }
  for (; g < n; ++g) {
    const double s = x[g];
    const double sh = power<H>(s);
    const double drive = sh / (occupancy50_pow * power<H>(1.0 + s) + sh);
    x[g] = s < negligible ? 0.0 : drive;
  }
}

}  // namespace

std::vector<ParameterSpec> PlasticityV1::parameters() const {
  constexpr double inf = 1e300;
  return {
      {"ke0", Dimension::rate_constant, 0.0, inf},
      {"occupancy50", Dimension::dimensionless, 0.0, 1.0, true},
      {"occupancy_hill", Dimension::dimensionless, 0.0, inf, true},
      {"kin", Dimension::rate_constant, 0.0, inf},
      {"kout", Dimension::rate_constant, 0.0, inf, true},
      {"p50", Dimension::dimensionless, 0.0, inf, true},
      {"emax_typical", Dimension::dimensionless, 0.0, 1.0, true},
      {"emax_logit_sd", Dimension::dimensionless, 0.0, inf},
      {"ou_sd_points", Dimension::dimensionless, 0.0, inf},
      {"ou_half_life", Dimension::time, 0.0, inf, true},
      {"rater_sd_points", Dimension::dimensionless, 0.0, inf},
  };
}

void PlasticityV1::score(const ResponseModel& model, const PatientExposure& patient, VisitScores& out,
                         std::vector<double>& scratch) const {
  const double* p = model.parameters.values.data();
  const int n_grid = patient.n_grid;
  const int n_moieties = patient.n_moieties;
  // scratch: drive on the grid, effect-site binding per moiety, P and occupancy at each visit.
  scratch.resize(static_cast<std::size_t>(n_grid) + n_moieties + 2 * patient.n_visits);
  double* drive = scratch.data();
  double* effect = drive + n_grid;
  double* plasticity_at_visit = effect + n_moieties;
  double* occupancy_at_visit = plasticity_at_visit + patient.n_visits;
  const double occupancy50_pow = std::pow(p[occupancy50], p[occupancy_hill]);
  // Below this binding the drive is under 1e-12, i.e. under 1e-12 h of full drive per hour:
  // nothing a MADRS score can show, so pow() is skipped for the long drug-free stretches.
  const double negligible_binding = p[occupancy50] * std::pow(1e-12, 1.0 / p[occupancy_hill]);
  // Whole Hill coefficients (the usual case) take repeated multiplication instead of pow().
  const double hill = p[occupancy_hill];
  const int integer_hill = hill == std::floor(hill) && hill >= 1.0 && hill <= 16.0 ? static_cast<int>(hill) : 0;
  const bool effect_site = p[ke0] > 0.0;
  FirstOrderFilter effect_filter(p[ke0], p[ke0]);
  for (int m = 0; m < n_moieties; ++m) effect[m] = 0.0;
  // Binding S at every grid point, into drive[] (turned into the drive in place below).
  if (effect_site) {
    for (int g = 0; g < n_grid; ++g) {
      double s = 0.0;
      // The effect site follows plasma at rate ke0 (plasma linear between grid points).
      for (int m = 0; m < n_moieties; ++m) {
        const double c1 = patient.unbound_um[static_cast<long>(g) * n_moieties + m] / patient.ki_um[m];
        if (g > 0) {
          const double c0 = patient.unbound_um[static_cast<long>(g - 1) * n_moieties + m] / patient.ki_um[m];
          effect[m] = effect_filter.step(effect[m], c0, c1, patient.grid_h[g] - patient.grid_h[g - 1]);
        }
        s += effect[m] > 0.0 ? effect[m] : 0.0;
      }
      drive[g] = s;
    }
  } else if (n_moieties == 1) {
    // binding() for one moiety (0 + x is x for the x >= 0 here), as a loop that vectorises.
    const double* c = patient.unbound_um;
    const double ki = patient.ki_um[0];
    for (int g = 0; g < n_grid; ++g) drive[g] = (c[g] > 0.0 ? c[g] : 0.0) / ki;
  } else {
    for (int g = 0; g < n_grid; ++g) drive[g] = binding(patient, g);
  }
  for (int v = 0; v < patient.n_visits; ++v) {
    const double s = drive[patient.visit_grid_index[v]];
    occupancy_at_visit[v] = s / (1.0 + s);
  }
  // Below negligible_binding the drive is 0: most of the grid, the drug-free weeks.
  switch (integer_hill) {
    case 1: drive_from_binding<1>(drive, n_grid, occupancy50_pow, negligible_binding); break;
    case 2: drive_from_binding<2>(drive, n_grid, occupancy50_pow, negligible_binding); break;
    case 3: drive_from_binding<3>(drive, n_grid, occupancy50_pow, negligible_binding); break;
    case 4: drive_from_binding<4>(drive, n_grid, occupancy50_pow, negligible_binding); break;
    default:
      for (int g = 0; g < n_grid; ++g) {
        const double s = drive[g];
        if (s < negligible_binding) {
          drive[g] = 0.0;
        } else if (integer_hill > 0) {
          const double sh = integer_power(s, integer_hill);
          drive[g] = sh / (occupancy50_pow * integer_power(1.0 + s, integer_hill) + sh);
        } else {
          const double oh = std::pow(s / (1.0 + s), hill);
          drive[g] = oh / (occupancy50_pow + oh);
        }
      }
  }
  // Plasticity P through the grid; exact for a drive linear between grid points.
  FirstOrderFilter plasticity_filter(p[kout], p[kin]);
  double plasticity = 0.0;
  int next_visit = 0;
  const double* grid_h = patient.grid_h;
  for (int g = 0; g < n_grid; ++g) {
    if (g > 0) {
      const double h = grid_h[g] - grid_h[g - 1];
      if (drive[g - 1] == 0.0 && drive[g] == 0.0) {
        // Drug-free steps (most of the grid) only decay, y * decay(h) being the full step's bits.
        // The run goes on in a tight loop while the drive stays 0 and the step length stays h,
        // up to the next visit (recorded below): one multiplication per step.
        const double d = plasticity_filter.decay(h);
        plasticity *= d;
        const int stop = next_visit < patient.n_visits ? patient.visit_grid_index[next_visit] : n_grid - 1;
        while (g < stop && drive[g + 1] == 0.0 && grid_h[g + 1] - grid_h[g] == h) {
          plasticity *= d;
          ++g;
        }
      } else {
        plasticity = plasticity_filter.step(plasticity, drive[g - 1], drive[g], h);
      }
    }
    while (next_visit < patient.n_visits && patient.visit_grid_index[next_visit] == g) {
      plasticity_at_visit[next_visit++] = plasticity;
    }
  }
  const double logit_emax = std::log(p[emax_typical] / (1.0 - p[emax_typical])) + p[emax_logit_sd] * patient.random_effects[0];
  const double emax = 1.0 / (1.0 + std::exp(-logit_emax));
  double* expected = out.expected;
  for (int v = 0; v < patient.n_visits; ++v) {
    const double pl = placebo_fraction(model, patient.background, patient.random_effects[1], patient.visit_h[v]);
    const double pv = plasticity_at_visit[v];
    expected[v] = patient.visit_h[v] <= 0.0 ? patient.baseline_madrs
                                            : patient.baseline_madrs * (1.0 - pl) * (1.0 - emax * pv / (p[p50] + pv));
    if (out.state) out.state[v] = pv;
    if (out.occupancy) out.occupancy[v] = occupancy_at_visit[v];
  }
  observe_scores(patient, p[ou_sd_points], p[ou_half_life], p[rater_sd_points], expected, out.madrs);
}

}  // namespace ketasim::response
