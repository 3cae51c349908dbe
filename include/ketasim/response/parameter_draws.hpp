#pragma once
// Draws of a calibrated response model's parameters (endpoints.parameter_uncertainty, issue 10):
// theta_k = clamp(mean + L z_k, bounds) on the working scale of the model's ParameterDistribution,
// L L' = covariance (Cholesky; an eigen-decomposition with negative eigenvalues set to 0 when the
// matrix is only semi-definite), z_k standard normal from RandomStream(seed, Stream::parameter_draws,
// k). Draw k is therefore the same whatever the thread count and however many draws are asked for.
#include <cstdint>
#include <vector>

#include "ketasim/response/response_model.hpp"

namespace ketasim::response {

// Parameter values of draw k (internal units), in the order of d.names.
std::vector<double> draw_parameters(const ParameterDistribution& d, std::uint64_t seed, std::uint64_t draw);

// `model` with one draw's values (from draw_parameters, in the order of the model's
// uncertainty names); the model must carry an uncertainty block.
ResponseModel model_with_draw(const ResponseModel& model, const std::vector<double>& values);

}  // namespace ketasim::response
