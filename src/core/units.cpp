#include "ketasim/core/units.hpp"

#include <array>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>

namespace ketasim {

namespace {

struct UnitEntry {
  std::string_view text;
  Dimension dimension;
  double to_canonical;
};

constexpr double kMinPerH = 60.0;
constexpr std::array<UnitEntry, 41> kUnits{{
    {"1", Dimension::dimensionless, 1.0},
    {"fraction", Dimension::dimensionless, 1.0},
    {"h", Dimension::time, 1.0},
    {"min", Dimension::time, 1.0 / kMinPerH},
    {"s", Dimension::time, 1.0 / 3600.0},
    {"d", Dimension::time, 24.0},
    {"day", Dimension::time, 24.0},
    {"days", Dimension::time, 24.0},
    {"w", Dimension::time, 168.0},
    {"week", Dimension::time, 168.0},
    {"weeks", Dimension::time, 168.0},
    {"mg", Dimension::amount, 1.0},
    {"g", Dimension::amount, 1000.0},
    {"ug", Dimension::amount, 1e-3},
    {"mg/kg", Dimension::amount_per_weight, 1.0},
    {"ug/kg", Dimension::amount_per_weight, 1e-3},
    {"L", Dimension::volume, 1.0},
    {"mL", Dimension::volume, 1e-3},
    {"L/kg", Dimension::volume_per_weight, 1.0},
    {"mL/kg", Dimension::volume_per_weight, 1e-3},
    {"L/h", Dimension::clearance, 1.0},
    {"L/min", Dimension::clearance, kMinPerH},
    {"mL/min", Dimension::clearance, kMinPerH * 1e-3},
    {"L/h/kg", Dimension::clearance_per_weight, 1.0},
    {"L/min/kg", Dimension::clearance_per_weight, kMinPerH},
    {"mL/min/kg", Dimension::clearance_per_weight, kMinPerH * 1e-3},
    {"1/h", Dimension::rate_constant, 1.0},
    {"/h", Dimension::rate_constant, 1.0},
    {"h-1", Dimension::rate_constant, 1.0},
    {"1/min", Dimension::rate_constant, kMinPerH},
    {"/min", Dimension::rate_constant, kMinPerH},
    {"min-1", Dimension::rate_constant, kMinPerH},
    {"1/d", Dimension::rate_constant, 1.0 / 24.0},
    {"/d", Dimension::rate_constant, 1.0 / 24.0},
    {"ng/mL", Dimension::concentration, 1.0},
    {"ug/L", Dimension::concentration, 1.0},
    {"mg/L", Dimension::concentration, 1000.0},
    {"ug/mL", Dimension::concentration, 1000.0},
    {"ng/L", Dimension::concentration, 1e-3},
    {"mg/h", Dimension::amount_rate, 1.0},
    {"mg/min", Dimension::amount_rate, kMinPerH},
}};

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

}  // namespace

std::optional<Unit> parse_unit(std::string_view text) {
  text = trim(text);
  for (const auto& entry : kUnits) {
    if (entry.text == text) return Unit{entry.dimension, entry.to_canonical};
  }
  return std::nullopt;
}

const char* dimension_name(Dimension dimension) {
  switch (dimension) {
    case Dimension::dimensionless: return "dimensionless";
    case Dimension::time: return "time";
    case Dimension::amount: return "amount";
    case Dimension::amount_per_weight: return "amount per body weight";
    case Dimension::volume: return "volume";
    case Dimension::volume_per_weight: return "volume per body weight";
    case Dimension::clearance: return "clearance";
    case Dimension::clearance_per_weight: return "clearance per body weight";
    case Dimension::rate_constant: return "rate constant";
    case Dimension::concentration: return "concentration";
    case Dimension::amount_rate: return "amount rate";
  }
  return "?";
}

const char* canonical_unit(Dimension dimension) {
  switch (dimension) {
    case Dimension::dimensionless: return "1";
    case Dimension::time: return "h";
    case Dimension::amount: return "mg";
    case Dimension::amount_per_weight: return "mg/kg";
    case Dimension::volume: return "L";
    case Dimension::volume_per_weight: return "L/kg";
    case Dimension::clearance: return "L/h";
    case Dimension::clearance_per_weight: return "L/h/kg";
    case Dimension::rate_constant: return "1/h";
    case Dimension::concentration: return "ng/mL";
    case Dimension::amount_rate: return "mg/h";
  }
  return "?";
}

std::string accepted_units(Dimension dimension) {
  std::string out;
  for (const auto& entry : kUnits) {
    if (entry.dimension != dimension) continue;
    if (!out.empty()) out += ", ";
    out += entry.text;
  }
  return out;
}

std::optional<Quantity> parse_quantity(std::string_view text) {
  text = trim(text);
  if (text.empty()) return std::nullopt;
  std::string buffer(text);
  errno = 0;
  char* end = nullptr;
  const double value = std::strtod(buffer.c_str(), &end);
  if (end == buffer.c_str() || errno == ERANGE || !std::isfinite(value)) return std::nullopt;
  std::string_view rest = trim(std::string_view(end));
  return Quantity{value, std::string(rest)};
}

std::optional<Dimension> per_weight_base(Dimension dimension) {
  switch (dimension) {
    case Dimension::amount_per_weight: return Dimension::amount;
    case Dimension::volume_per_weight: return Dimension::volume;
    case Dimension::clearance_per_weight: return Dimension::clearance;
    default: return std::nullopt;
  }
}

}  // namespace ketasim
