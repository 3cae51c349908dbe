#pragma once
// Is this a person? Individual PK parameters after covariates, random effects or a population
// file's columns, checked against what a human body can have. The engine calls it per patient and
// records status invalid_parameters when it returns a reason, so that a value that would give
// Cmax 0 or NaN (a volume of 1e-300 L, a clearance of 0) fails that patient visibly instead of
// giving a placebo-like patient with status ok.
#include <string>

#include "ketasim/pk/individual.hpp"
#include "ketasim/pk/model.hpp"

namespace ketasim::pk {

// Empty when every parameter of `model` is finite and within its dimension's physical range
// (docs/robustness.md); otherwise the first offending parameter and why, e.g.
// "V1 = 1e-300 L is not a volume a body can have (expected 0.001 to 100000 L)".
std::string implausible_parameter(const PkModel& model, const ParameterValues& parameters);

}  // namespace ketasim::pk
