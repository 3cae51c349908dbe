#pragma once
// From typical values to one patient's kinetics: covariates and random effects give individual
// parameters; the parameters give the rate matrix. Fixed-capacity Eigen types keep every matrix
// on the stack, so building kinetics for a patient never touches the heap.
#include <Eigen/Dense>

#include <array>

#include "ketasim/pk/model.hpp"

namespace ketasim::pk {

struct Covariates {
  double weight_kg = 70.0;
  double age_y = 40.0;
  int sex = 0;  // 0 male, 1 female
};

using ParameterValues = std::array<double, kMaxParameters>;
using StateVector = Eigen::Matrix<double, Eigen::Dynamic, 1, Eigen::ColMajor, kMaxStates, 1>;
using StateMatrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::ColMajor, kMaxStates, kMaxStates>;

// Individual parameter values (canonical units). `eta` holds one random effect per
// PkModel::variability entry (may be null for the typical patient).
void compute_individual_parameters(const PkModel& model, const Covariates& covariates, const double* eta,
                                   ParameterValues& out);

// Correlated random effects from independent standard normals: eta = L z.
void correlate_random_effects(const PkModel& model, const double* standard_normals, double* eta);

struct SaturableFlow {
  int from = 0;
  int to = 0;  // the sink index for elimination
  double vmax_mg_per_h = 0.0;
  double km_mg_per_l = 0.0;
  double volume_l = 1.0;
};

inline constexpr int kMaxSaturableFlows = 4;

struct Kinetics {
  int n_states = 0;  // compartments + elimination sink (last)
  StateMatrix rates_per_h;  // linear part: dA/dt = rates_per_h * A
  std::array<SaturableFlow, kMaxSaturableFlows> saturable{};
  int n_saturable = 0;
};

// False when a parameter makes the system meaningless (non-finite or non-positive volume, negative
// rate): the caller records an invalid-parameter status for the patient instead of solving.
bool build_kinetics(const PkModel& model, const ParameterValues& parameters, Kinetics& out);

// Plasma concentration (ng/mL) of output `output_index` (moiety or total) from a state vector.
double output_concentration_ng_per_ml(const PkModel& model, const ParameterValues& parameters, int output_index,
                                      const double* state_mg);

}  // namespace ketasim::pk
