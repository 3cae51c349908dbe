#pragma once
// Unit strings as researchers write them in model and config files, converted to the canonical
// internal units: time h, amount mg, volume L, clearance L/h, rate constant 1/h,
// concentration ng/mL. Anything not in the table is a unit typo and is rejected.
#include <optional>
#include <string>
#include <string_view>

namespace ketasim {

enum class Dimension {
  dimensionless,
  time,
  amount,
  amount_per_weight,
  volume,
  volume_per_weight,
  clearance,
  clearance_per_weight,
  rate_constant,
  concentration,
  amount_rate,
};

struct Unit {
  Dimension dimension;
  double to_canonical;  // multiply a value in this unit to get canonical units
};

std::optional<Unit> parse_unit(std::string_view text);
const char* dimension_name(Dimension dimension);
const char* canonical_unit(Dimension dimension);
// Units accepted for a dimension, for error messages ("expected one of ...").
std::string accepted_units(Dimension dimension);

// "3.5d", "40 min", "0.5 mg/kg": a number followed by an optional unit.
struct Quantity {
  double value;
  std::string unit;  // empty when the text is a bare number
};
std::optional<Quantity> parse_quantity(std::string_view text);

// A per-kg dimension is the per-weight form of a base dimension; returns it for per-kg units.
std::optional<Dimension> per_weight_base(Dimension dimension);

}  // namespace ketasim
