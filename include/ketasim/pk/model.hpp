#pragma once
// A PK model as loaded from models/*.yaml (format: docs/model-format.md). Everything is resolved
// to indices and canonical units (h, mg, L, L/h, 1/h) at load time so that the per-patient code
// only does arithmetic.
#include <Eigen/Dense>

#include <string>
#include <vector>

#include "ketasim/core/units.hpp"
#include "ketasim/core/yaml_input.hpp"

namespace ketasim::pk {

// Compartments + one elimination sink; the sink makes mass balance a plain sum over the state.
inline constexpr int kMaxCompartments = 15;
inline constexpr int kMaxStates = kMaxCompartments + 1;
inline constexpr int kMaxParameters = 64;

enum class Route { iv_infusion, iv_bolus, intranasal, oral };
const char* route_name(Route route);
bool parse_route(const std::string& text, Route& route);

struct ParameterDef {
  std::string name;
  std::string unit_text;      // as written in the file, for tables
  double typical = 0.0;       // canonical units; per-weight parameters: per kg
  Dimension dimension = Dimension::dimensionless;  // canonical dimension after weight scaling
  bool per_weight = false;    // multiply by body weight (L/kg, L/h/kg)
  double allometric_exponent = 0.0;  // applies (WT/reference)^exponent when nonzero
  std::string source;
};

// A number in the model file that is either a constant or the individual value of a parameter.
struct ParameterOrValue {
  int parameter = -1;  // index into PkModel::parameters, or -1 for a constant
  double value = 0.0;  // constant in canonical units
  double resolve(const double* individual_parameters) const {
    return parameter >= 0 ? individual_parameters[parameter] : value;
  }
};

struct CompartmentDef {
  std::string name;
  int moiety = -1;           // -1 for depots
  int volume_parameter = -1;  // -1 for depots
  bool observed = false;      // concentration of its moiety is measured here
};

enum class FlowKind { rate_constant, clearance, michaelis_menten };
struct FlowDef {
  int from = 0;
  int to = -1;  // -1: leaves the body (to the elimination sink)
  FlowKind kind = FlowKind::rate_constant;
  int parameter = -1;         // rate constant, clearance, or vmax
  int km_parameter = -1;      // Michaelis-Menten only
};

struct InputDef {
  int compartment = 0;
  bool remainder = false;     // 1 - sum of the previous inputs' fractions of this device
  ParameterOrValue fraction{-1, 1.0};
  ParameterOrValue later_device_factor{-1, 1.0};
  ParameterOrValue bioavailability{-1, 1.0};
  bool has_duration = false;  // zero-order over `duration`; for iv_infusion the regimen's by default
  ParameterOrValue duration{-1, 0.0};
  ParameterOrValue lag{-1, 0.0};
};

struct RouteDef {
  Route route = Route::iv_bolus;
  std::vector<InputDef> inputs;
};

enum class CovariateKind { weight_kg, age_y, sex };
enum class CovariateModel { power, linear_above, linear, female_factor };
struct CovariateEffect {
  int parameter = 0;
  CovariateKind covariate = CovariateKind::weight_kg;
  CovariateModel model = CovariateModel::power;
  double reference = 0.0;
  double coefficient = 0.0;  // exponent, slope (canonical units of the parameter per unit), or factor
  std::string source;
};

enum class Distribution { log_normal, logit_normal };
struct VariabilityDef {
  int parameter = 0;
  Distribution distribution = Distribution::log_normal;
  double variance = 0.0;  // omega^2 of eta
  std::string source;
};

struct MoietyDef {
  std::string name;
  double molecular_weight_g_per_mol = 0.0;
  double fraction_unbound = 1.0;
  int observed_compartment = -1;
};

// What is reported: each moiety, then the declared totals (e.g. ketamine = S + R).
struct OutputDef {
  std::string name;
  std::vector<int> moieties;
};

// Observation (residual) error of a reported output, for simulated DV (docs/model-format.md):
// DV = IPRED + sqrt(additive^2 + (proportional x IPRED)^2) x eps (additive, proportional or both:
// combined), or DV = IPRED x exp(log_additive x eps) (log-additive, "exponential"), eps ~ N(0, 1).
struct ResidualErrorDef {
  int output = 0;                   // index into PkModel::outputs
  double additive_ng_per_ml = 0.0;  // SD
  double proportional = 0.0;        // SD as a fraction of IPRED
  double log_additive = 0.0;        // SD on the log scale
  std::string source;
};

struct PkModel {
  std::string name;
  std::string drug;
  std::string description;
  std::string path;
  double reference_weight_kg = 70.0;
  std::vector<MoietyDef> moieties;
  std::vector<OutputDef> outputs;
  std::vector<CompartmentDef> compartments;
  std::vector<ParameterDef> parameters;
  std::vector<FlowDef> flows;
  std::vector<RouteDef> routes;
  std::vector<CovariateEffect> covariates;
  std::vector<VariabilityDef> variability;
  std::vector<ResidualErrorDef> residual_error;  // at most one per output
  Eigen::MatrixXd omega;           // variability.size() squared
  Eigen::MatrixXd omega_cholesky;  // lower triangular, omega = L L^T
  bool linear = true;              // no Michaelis-Menten flow

  int n_states() const { return static_cast<int>(compartments.size()) + 1; }
  int sink_index() const { return static_cast<int>(compartments.size()); }
  int find_parameter(const std::string& name) const;
  const RouteDef* find_route(Route route) const;
};

// Loads and validates a model file; throws InputError listing every problem (file, key, line).
PkModel load_model(const std::string& path);
PkModel parse_model(const YamlDocument& document);

}  // namespace ketasim::pk
