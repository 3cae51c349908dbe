#include "ketasim/pk/plausibility.hpp"

#include <cmath>
#include <sstream>

namespace ketasim::pk {

namespace {

struct Bounds {
  double min;  // inclusive
  double max;  // inclusive
  bool positive;  // min is exclusive 0 (min == 0 and positive: > 0)
  const char* what;
};

// Canonical units (L, L/h, 1/h, mg/h, ng/mL, h, mg). Wide on purpose: they reject numbers no body
// has (a zero clearance, a volume of 1e-300 L, a rate that makes the system stiff beyond any
// physiology), not unusual patients.
Bounds bounds_for(Dimension dimension) {
  switch (dimension) {
    case Dimension::volume: return {1e-3, 1e5, true, "a volume"};
    case Dimension::clearance: return {0.0, 1e4, true, "a clearance"};
    case Dimension::rate_constant: return {0.0, 1e6, true, "a rate constant"};
    case Dimension::amount_rate: return {0.0, 1e6, true, "a maximum elimination rate"};
    case Dimension::concentration: return {0.0, 1e9, true, "a concentration"};
    case Dimension::time: return {0.0, 1e5, false, "a time"};
    case Dimension::amount: return {0.0, 1e6, false, "an amount"};
    default: return {0.0, 1e6, false, "a value"};
  }
}

}  // namespace

std::string implausible_parameter(const PkModel& model, const ParameterValues& parameters) {
  for (std::size_t i = 0; i < model.parameters.size(); ++i) {
    const ParameterDef& def = model.parameters[i];
    const double v = parameters[i];
    const Bounds b = bounds_for(def.dimension);
    const bool ok = std::isfinite(v) && v >= b.min && v <= b.max && (!b.positive || v > 0.0);
    if (ok) continue;
    const char* unit = canonical_unit(def.dimension);
    std::ostringstream os;
    os << def.name << " = " << v << " " << unit << " is not " << b.what << " a body can have (expected ";
    if (b.positive && b.min == 0.0) {
      os << "> 0 and <= " << b.max;
    } else {
      os << b.min << " to " << b.max;
    }
    os << " " << unit << ")";
    return os.str();
  }
  return {};
}

}  // namespace ketasim::pk
