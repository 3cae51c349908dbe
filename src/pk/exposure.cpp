#include "ketasim/pk/exposure.hpp"

#include <cmath>

namespace ketasim::pk {

namespace {
using Matrix = Eigen::MatrixXd;  // only for one-off checks, never in the per-patient loop
}

ExposureIntegrals exposure_integrals(const PkModel& model, const ParameterValues& parameters, const Kinetics& kinetics,
                                     const std::vector<InputEvent>& inputs, int output_index) {
  const int n = kinetics.n_states - 1;  // without the sink
  const Matrix k = kinetics.rates_per_h.topLeftCorner(n, n);
  Eigen::VectorXd amount = Eigen::VectorXd::Zero(n);
  Eigen::VectorXd first_moment_of_input = Eigen::VectorXd::Zero(n);  // sum of amount x mean input time
  for (const auto& in : inputs) {
    amount[in.compartment] += in.amount_mg;
    first_moment_of_input[in.compartment] += in.amount_mg * 0.5 * (in.start_h + in.end_h);
  }
  const Eigen::PartialPivLU<Matrix> lu(k);
  const Eigen::VectorXd auc_state = -lu.solve(amount);
  // AUMC about t=0: the system's own MRT term K^-2 u plus the input's mean time times AUC.
  const Eigen::VectorXd aumc_state = lu.solve(lu.solve(amount)) - lu.solve(first_moment_of_input);
  ExposureIntegrals out;
  Eigen::VectorXd auc_full = Eigen::VectorXd::Zero(n + 1);
  Eigen::VectorXd aumc_full = Eigen::VectorXd::Zero(n + 1);
  auc_full.head(n) = auc_state;
  aumc_full.head(n) = aumc_state;
  out.auc_h_ng_per_ml = output_concentration_ng_per_ml(model, parameters, output_index, auc_full.data());
  out.aumc_h2_ng_per_ml = output_concentration_ng_per_ml(model, parameters, output_index, aumc_full.data());
  return out;
}

bool derived_quantities(const PkModel& model, const ParameterValues& parameters, DerivedQuantities& out) {
  if (!model.linear) return false;
  const RouteDef* iv = model.find_route(Route::iv_bolus);
  if (!iv) iv = model.find_route(Route::iv_infusion);
  if (!iv) return false;
  Kinetics kinetics;
  if (!build_kinetics(model, parameters, kinetics)) return false;
  const std::vector<Dose> doses{{0.0, Route::iv_bolus, 100.0, 0.0, 0, 0}};
  std::vector<InputEvent> inputs;
  // Bolus the IV inputs (an infusion route's inputs, given instantly).
  for (const auto& input : iv->inputs) {
    inputs.push_back({0.0, 0.0, input.compartment, 100.0 * input.fraction.resolve(parameters.data())});
  }
  // Output 0 is the first moiety; for a racemate its share of the dose is its input fraction.
  const int moiety = model.outputs[0].moieties[0];
  double moiety_dose_mg = 0.0;
  for (const auto& in : inputs) {
    if (model.compartments[in.compartment].moiety == moiety) moiety_dose_mg += in.amount_mg;
  }
  const ExposureIntegrals e = exposure_integrals(model, parameters, kinetics, inputs, 0);
  out.clearance_l_per_h = moiety_dose_mg / (e.auc_h_ng_per_ml / 1000.0);
  // Vss = amount of the moiety in the body / plasma concentration at steady state. For a linear
  // system the steady state under a constant input is proportional to integral x dt after a bolus
  // (-K^-1 u), so the ratio needs no infusion. CL x MRT would equal it only when elimination is
  // from the sampled compartment, which the esketamine model's liver compartment breaks.
  {
    const int n_body = kinetics.n_states - 1;
    const Eigen::MatrixXd k = kinetics.rates_per_h.topLeftCorner(n_body, n_body);
    Eigen::VectorXd amount = Eigen::VectorXd::Zero(n_body);
    for (const auto& in : inputs) amount[in.compartment] += in.amount_mg;
    const Eigen::VectorXd area_mg_h = -Eigen::PartialPivLU<Eigen::MatrixXd>(k).solve(amount);
    double moiety_area_mg_h = 0.0;
    for (int c = 0; c < n_body; ++c) {
      if (model.compartments[c].moiety == moiety) moiety_area_mg_h += area_mg_h[c];
    }
    out.vss_l = moiety_area_mg_h / (e.auc_h_ng_per_ml / 1000.0);
  }
  const int n = kinetics.n_states - 1;
  const Eigen::EigenSolver<Matrix> eigen(Matrix(kinetics.rates_per_h.topLeftCorner(n, n)));
  double slowest = INFINITY;
  for (int i = 0; i < n; ++i) {
    const double rate = -eigen.eigenvalues()[i].real();
    if (rate > 1e-12) slowest = std::min(slowest, rate);
  }
  out.half_life_h = std::log(2.0) / slowest;
  return true;
}

}  // namespace ketasim::pk
