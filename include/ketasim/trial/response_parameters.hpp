#pragma once
// A study's `response_parameters:` (docs/config.md) applied to its response model: the same model
// with those parameter values, so that a sweep over a response-model parameter (e.g.
// response_parameters.emax_typical) runs each point with its own value on the same patients.
#include "ketasim/core/error.hpp"
#include "ketasim/response/response_model.hpp"
#include "ketasim/trial/config.hpp"

namespace ketasim::trial {

// A copy of `model` with the config's values (converted to internal units). Problems (no such
// parameter, a unit of the wrong dimension, a value outside the parameter's bounds) go to
// `problems` naming the config's file, key and line; the copy is then unchanged for that entry.
response::ResponseModel with_response_parameters(const response::ResponseModel& model, const StudyConfig& config,
                                                 Diagnostics& problems);

}  // namespace ketasim::trial
