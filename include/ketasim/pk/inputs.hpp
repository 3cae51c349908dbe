#pragma once
// Administrations -> what enters which compartment when. Route inputs (nasal fraction per device,
// swallowed remainder, bioavailability, lag, zero-order duration) are resolved with the patient's
// own parameter values, so this is per patient.
#include <vector>

#include "ketasim/pk/individual.hpp"
#include "ketasim/pk/regimen.hpp"

namespace ketasim::pk {

// A bolus when end_h == start_h, otherwise a zero-order input at amount/(end-start) per hour.
struct InputEvent {
  double start_h = 0.0;
  double end_h = 0.0;
  int compartment = 0;
  double amount_mg = 0.0;
};

// Appends the inputs of `doses` to `out` (cleared first) and returns the amount that never becomes
// available (1 - bioavailability), which mass balance counts as lost. Returns a negative value when
// the patient's parameters make an input impossible (a fraction outside [0, 1]).
double resolve_inputs(const PkModel& model, const ParameterValues& parameters, const std::vector<Dose>& doses,
                      std::vector<InputEvent>& out);

}  // namespace ketasim::pk
