#pragma once
// Exact whole-time exposure of a linear model: for any input of total amounts u (vector over
// compartments), integral_0^inf x(t) dt = -K^{-1} u and integral t x(t) dt = K^{-2} u, K being the
// rate matrix without the elimination sink. This gives AUC(0-inf), clearance, bioavailability and
// Vss without sampling error, as an independent check of the time-stepping solvers.
#include <vector>

#include "ketasim/pk/individual.hpp"
#include "ketasim/pk/inputs.hpp"

namespace ketasim::pk {

struct ExposureIntegrals {
  double auc_h_ng_per_ml = 0.0;   // AUC(0-inf) of the output
  double aumc_h2_ng_per_ml = 0.0;  // first moment, about the time of input (inputs at their own times)
};

// Integrals of output `output_index` for the given inputs (times are ignored for AUC; AUMC is about t=0
// and takes the input times into account for boluses and zero-order inputs).
ExposureIntegrals exposure_integrals(const PkModel& model, const ParameterValues& parameters, const Kinetics& kinetics,
                                     const std::vector<InputEvent>& inputs, int output_index);

struct DerivedQuantities {
  double clearance_l_per_h = 0.0;  // dose / AUC(0-inf) after an IV bolus into the first observed output
  double vss_l = 0.0;              // steady-state amount of the moiety in the body / plasma concentration
  double half_life_h = 0.0;        // terminal: ln 2 / smallest |eigenvalue| of K
};

// For the typical or an individual patient: IV-bolus clearance and Vss of output 0's moiety.
// Requires an iv_bolus or iv_infusion route; returns false when the model has neither or is nonlinear.
bool derived_quantities(const PkModel& model, const ParameterValues& parameters, DerivedQuantities& out);

}  // namespace ketasim::pk
