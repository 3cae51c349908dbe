#include "ketasim/pk/inputs.hpp"

namespace ketasim::pk {

double resolve_inputs(const PkModel& model, const ParameterValues& parameters, const std::vector<Dose>& doses,
                      std::vector<InputEvent>& out) {
  out.clear();
  double lost_mg = 0.0;
  for (const Dose& dose : doses) {
    const RouteDef* route = model.find_route(dose.route);
    if (!route) return -1.0;  // checked when the config is validated; kept as a guard
    double used_fraction = 0.0;
    for (const InputDef& input : route->inputs) {
      double fraction = input.remainder ? 1.0 - used_fraction : input.fraction.resolve(parameters.data());
      if (!input.remainder && dose.device > 0) fraction *= input.later_device_factor.resolve(parameters.data());
      const double available = input.bioavailability.resolve(parameters.data());
      if (!(fraction >= -1e-12 && fraction <= 1.0 + 1e-12) || !(available >= 0.0 && available <= 1.0)) return -1.0;
      used_fraction += fraction;
      const double amount_mg = dose.amount_mg * fraction;
      lost_mg += amount_mg * (1.0 - available);
      double duration_h = 0.0;
      if (input.has_duration) {
        duration_h = input.duration.resolve(parameters.data());
      } else if (dose.route == Route::iv_infusion) {
        duration_h = dose.infusion_duration_h;
      }
      const double start_h = dose.time_h + input.lag.resolve(parameters.data());
      if (amount_mg * available > 0.0) {
        out.push_back({start_h, start_h + std::max(0.0, duration_h), input.compartment, amount_mg * available});
      }
    }
  }
  return lost_mg;
}

}  // namespace ketasim::pk
