#include "ketasim/pk/individual.hpp"

#include <cmath>

namespace ketasim::pk {

namespace {
double logit(double p) { return std::log(p / (1.0 - p)); }
double inverse_logit(double x) { return 1.0 / (1.0 + std::exp(-x)); }

double covariate_value(const Covariates& c, CovariateKind kind) {
  switch (kind) {
    case CovariateKind::weight_kg: return c.weight_kg;
    case CovariateKind::age_y: return c.age_y;
    case CovariateKind::sex: return static_cast<double>(c.sex);
  }
  return 0.0;
}
}  // namespace

void compute_individual_parameters(const PkModel& model, const Covariates& covariates, const double* eta,
                                   ParameterValues& out) {
  const std::size_t n = model.parameters.size();
  for (std::size_t i = 0; i < n; ++i) {
    const ParameterDef& p = model.parameters[i];
    double value = p.typical;
    if (p.per_weight) {
      value *= covariates.weight_kg;
    } else if (p.allometric_exponent != 0.0) {
      value *= std::pow(covariates.weight_kg / model.reference_weight_kg, p.allometric_exponent);
    }
    out[i] = value;
  }
  for (const CovariateEffect& e : model.covariates) {
    const double x = covariate_value(covariates, e.covariate);
    double& value = out[e.parameter];
    switch (e.model) {
      case CovariateModel::power: value *= std::pow(x / e.reference, e.coefficient); break;
      case CovariateModel::linear: value += e.coefficient * (x - e.reference); break;
      case CovariateModel::linear_above: value += e.coefficient * std::max(0.0, x - e.reference); break;
      case CovariateModel::female_factor:
        if (covariates.sex == 1) value *= e.coefficient;
        break;
    }
  }
  if (!eta) return;
  for (std::size_t k = 0; k < model.variability.size(); ++k) {
    const VariabilityDef& v = model.variability[k];
    double& value = out[v.parameter];
    if (v.distribution == Distribution::log_normal) {
      value *= std::exp(eta[k]);
    } else {
      value = inverse_logit(logit(value) + eta[k]);
    }
  }
}

void correlate_random_effects(const PkModel& model, const double* standard_normals, double* eta) {
  const Eigen::Index n = model.omega_cholesky.rows();
  for (Eigen::Index i = 0; i < n; ++i) {
    double sum = 0.0;
    for (Eigen::Index j = 0; j <= i; ++j) sum += model.omega_cholesky(i, j) * standard_normals[j];
    eta[i] = sum;
  }
}

bool build_kinetics(const PkModel& model, const ParameterValues& parameters, Kinetics& out) {
  const int n = model.n_states();
  const int sink = model.sink_index();
  out.n_states = n;
  out.rates_per_h.setZero(n, n);
  out.n_saturable = 0;
  for (std::size_t i = 0; i < model.parameters.size(); ++i) {
    if (!std::isfinite(parameters[i])) return false;
  }
  auto volume_of = [&](int compartment) {
    const int vp = model.compartments[compartment].volume_parameter;
    return vp >= 0 ? parameters[vp] : 0.0;
  };
  for (const FlowDef& f : model.flows) {
    const int to = f.to < 0 ? sink : f.to;
    if (f.kind == FlowKind::michaelis_menten) {
      if (out.n_saturable >= kMaxSaturableFlows) return false;
      const double volume_l = volume_of(f.from);
      if (!(volume_l > 0.0)) return false;
      // km is stored in ng/mL (= ug/L); the flow works with amounts in mg, so mg/L.
      out.saturable[out.n_saturable++] =
          SaturableFlow{f.from, to, parameters[f.parameter], parameters[f.km_parameter] * 1e-3, volume_l};
      continue;
    }
    double k_per_h = parameters[f.parameter];
    if (f.kind == FlowKind::clearance) {
      const double volume_l = volume_of(f.from);
      if (!(volume_l > 0.0)) return false;
      k_per_h /= volume_l;
    }
    if (!(k_per_h >= 0.0)) return false;
    // Column `from` loses what row `to` gains: columns sum to zero, which is mass balance.
    out.rates_per_h(f.from, f.from) -= k_per_h;
    out.rates_per_h(to, f.from) += k_per_h;
  }
  return true;
}

double output_concentration_ng_per_ml(const PkModel& model, const ParameterValues& parameters, int output_index,
                                      const double* state_mg) {
  double total = 0.0;
  for (int m : model.outputs[output_index].moieties) {
    const int c = model.moieties[m].observed_compartment;
    const double volume_l = parameters[model.compartments[c].volume_parameter];
    // mg/L -> ng/mL as amount x (1000 / V): the factor the trial engine takes once per patient
    // (a multiplication per grid point instead of a division), and the same bits here.
    total += state_mg[c] * (1000.0 / volume_l);
  }
  return total;
}

}  // namespace ketasim::pk
