#include "ketasim/trial/response_parameters.hpp"

#include <cmath>
#include <sstream>

#include "ketasim/core/units.hpp"

namespace ketasim::trial {

response::ResponseModel with_response_parameters(const response::ResponseModel& model, const StudyConfig& config,
                                                 Diagnostics& problems) {
  response::ResponseModel out = model;
  for (const ResponseParameterValue& v : config.response_parameters) {
    SourceLocation where = v.where;
    where.key_path = "response_parameters." + v.name;
    const std::string from = v.origin.empty() ? "" : " (value from " + v.origin + ")";
    const int k = out.parameters.index(v.name);
    if (k < 0) {
      std::string names;
      for (const auto& n : out.parameters.names) names += (names.empty() ? "" : ", ") + n;
      problems.add(where, "the response model '" + model.name + "' has no parameter '" + v.name + "'; it has: " + names + from);
      continue;
    }
    const Dimension dimension = out.parameters.dimensions[k];
    double factor = 1.0;
    if (!v.unit.empty()) {
      const auto unit = parse_unit(v.unit);
      if (!unit || unit->dimension != dimension) {
        problems.add(where, std::string("expected a ") + dimension_name(dimension) + " value for '" + v.name +
                                "' (canonical unit " + canonical_unit(dimension) + "), found unit '" + v.unit + "'" + from);
        continue;
      }
      factor = unit->to_canonical;
    } else if (dimension != Dimension::dimensionless) {
      problems.add(where, std::string("'") + v.name + "' needs a unit (" + dimension_name(dimension) + ", e.g. " +
                              canonical_unit(dimension) + ")" + from);
      continue;
    }
    const double value = v.value * factor;
    if (!response::parameter_allowed(out, v.name, value)) {
      const auto& spec = out.parameters.specs[k];
      std::ostringstream bounds;
      bounds << (spec.exclusive_bounds ? "(" : "[") << spec.min << ", " << spec.max << (spec.exclusive_bounds ? ")" : "]");
      problems.add(where, "'" + v.name + "' must be within " + bounds.str() + " (" + canonical_unit(dimension) +
                              "), found " + [&] {
                                std::ostringstream os;
                                os << value;
                                return os.str();
                              }() + from);
      continue;
    }
    out.parameters.values[static_cast<std::size_t>(k)] = value;
  }
  return out;
}

}  // namespace ketasim::trial
