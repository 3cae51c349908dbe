#pragma once
// A response model file (models/response/*.yaml): which structure links exposure to MADRS, its
// parameters (one public table: name, dimension, value in internal units), NMDA potencies per
// moiety, and the backgrounds (placebo, active placebo, oral antidepressant, ...) as data.
// docs/response-model.md documents the structures and the file format.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ketasim/core/units.hpp"

namespace ketasim::response {

class ResponseStructure;
class StructureRegistry;

// One parameter: a structure declares its own in the order it reads them.
struct ParameterSpec {
  std::string name;
  Dimension dimension;
  double min = 0.0;               // bounds the loader (and calibration) enforce
  double max = 1e300;
  bool exclusive_bounds = false;  // (min, max) instead of [min, max]
  // A parameter added to a structure after files were written may be optional: a file without it
  // gets `default_value`, chosen so that such a file behaves exactly as before.
  bool optional = false;
  double default_value = 0.0;
};

// An extra per-background field a structure may declare beyond max_typical, logit_sd and onset
// (e.g. benefit_v2's fade): optional in the file, `default_value` when absent. Stored in the table
// as placebo.<background>.<name> right after onset, in declaration order.
struct BackgroundFieldSpec {
  ParameterSpec spec;
  double default_value = 0.0;
};

// The public parameter table: every fitted or tunable number, addressable by name (calibration
// and tools use names; structures use the fixed positions they declared). Values are in internal
// units (rates per hour, times in hours).
struct ParameterTable {
  std::vector<std::string> names;
  std::vector<Dimension> dimensions;
  std::vector<double> values;
  std::vector<ParameterSpec> specs;  // bounds of each

  int index(const std::string& name) const;  // -1 when unknown
  double* find(const std::string& name);     // nullptr when unknown
  const double* find(const std::string& name) const;
  std::size_t size() const { return names.size(); }
};

// A background treatment context: what the patient gets besides the study drug, and the
// fractional improvement it brings, max_i (1 - exp(-t / onset)) with logit-normal max_i.
// Its parameters live in the table as placebo.<name>.max_typical, .logit_sd and .onset, followed
// by the structure's extra background fields (none for plasticity_v1).
struct Background {
  std::string name;
  int first_parameter = 0;  // position of max_typical in the table; logit_sd and onset follow
};

struct MoietyPotency {
  std::string moiety;
  double ki_um = 0.0;
  std::string source;
};

// A calibrated model's parameter uncertainty (`calibration.uncertainty`, written by `ketasim
// calibrate`: calibration/uncertainty.hpp): a multivariate normal of the fitted parameters on their
// working scale (log of the internal value for log-scale parameters, the internal value otherwise;
// internal units are rates per hour and times in hours), with the calibration's bounds.
struct ParameterDistribution {
  std::vector<std::string> names;                // names of the parameter table
  std::vector<bool> log_scale;
  std::vector<double> mean_working;
  std::vector<std::vector<double>> covariance;   // working scale
  std::vector<double> lower, upper;              // internal units: draws are clamped to them
};

struct ResponseModel {
  std::string name;
  std::string path;
  std::string provenance;
  std::string structure_name;
  std::shared_ptr<const ResponseStructure> structure;
  std::vector<MoietyPotency> potency;
  ParameterTable parameters;
  std::vector<Background> backgrounds;
  std::optional<ParameterDistribution> uncertainty;  // present in calibrated files that record it

  double ki_um_for(const std::string& moiety) const;     // NaN when unknown
  int background_index(const std::string& name) const;   // -1 when unknown
  std::string background_names() const;                 // "none, saline, ..." for messages
};

// Loads and validates a response model; InputError names file, key path and line. `registry`
// holds the structures a file may name (builtin_structures() unless a test adds its own).
ResponseModel load_response_model(const std::string& path);
ResponseModel load_response_model(const std::string& path, const StructureRegistry& registry);

// Whether `value` is within the bounds of parameter `name` (false for unknown names).
bool parameter_allowed(const ResponseModel& model, const std::string& name, double value);

// placebo.<background> fraction at time_h for a patient whose standard-normal placebo effect is eta.
double placebo_fraction(const ResponseModel& model, int background, double placebo_eta, double time_h);

}  // namespace ketasim::response
