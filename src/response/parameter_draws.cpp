#include "ketasim/response/parameter_draws.hpp"

#include <Eigen/Dense>

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "ketasim/population/random_stream.hpp"

namespace ketasim::response {

namespace {

Eigen::MatrixXd square_root(const ParameterDistribution& d) {
  const Eigen::Index p = static_cast<Eigen::Index>(d.names.size());
  Eigen::MatrixXd c(p, p);
  for (Eigen::Index i = 0; i < p; ++i) {
    for (Eigen::Index j = 0; j < p; ++j) {
      // Symmetrize: the file holds 6 significant digits of each entry.
      c(i, j) = 0.5 * (d.covariance[static_cast<std::size_t>(i)][static_cast<std::size_t>(j)] +
                       d.covariance[static_cast<std::size_t>(j)][static_cast<std::size_t>(i)]);
    }
  }
  Eigen::LLT<Eigen::MatrixXd> llt(c);
  if (llt.info() == Eigen::Success) return llt.matrixL();
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eigen(c);
  const Eigen::VectorXd root = eigen.eigenvalues().cwiseMax(0.0).cwiseSqrt();
  return eigen.eigenvectors() * root.asDiagonal();
}

}  // namespace

std::vector<double> draw_parameters(const ParameterDistribution& d, std::uint64_t seed, std::uint64_t draw) {
  const std::size_t p = d.names.size();
  const Eigen::MatrixXd l = square_root(d);
  RandomStream stream(seed, Stream::parameter_draws, draw);
  Eigen::VectorXd z(static_cast<Eigen::Index>(p));
  for (std::size_t i = 0; i < p; ++i) z(static_cast<Eigen::Index>(i)) = stream.normal();
  const Eigen::VectorXd shift = l * z;
  std::vector<double> values(p);
  for (std::size_t i = 0; i < p; ++i) {
    const double w = d.mean_working[i] + shift(static_cast<Eigen::Index>(i));
    values[i] = std::clamp(d.log_scale[i] ? std::exp(w) : w, d.lower[i], d.upper[i]);
  }
  return values;
}

ResponseModel model_with_draw(const ResponseModel& model, const std::vector<double>& values) {
  if (!model.uncertainty) throw std::logic_error("model_with_draw: the model has no parameter distribution");
  if (values.size() != model.uncertainty->names.size()) throw std::logic_error("model_with_draw: one value per drawn parameter");
  ResponseModel out = model;
  for (std::size_t i = 0; i < values.size(); ++i) *out.parameters.find(model.uncertainty->names[i]) = values[i];
  return out;
}

}  // namespace ketasim::response
