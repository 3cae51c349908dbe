#include "ketasim/response/response_model.hpp"

#include <cmath>
#include <limits>
#include <memory>

#include "ketasim/core/yaml_input.hpp"

namespace ketasim::response {

namespace {
const char* const kBackgroundNames[kBackgrounds] = {"none", "saline", "active_placebo", "oral_antidepressant"};

struct NamedParameter {
  const char* name;
  Dimension dimension;
  double ResponseParameters::*member;
};

constexpr NamedParameter kScalars[] = {
    {"ke0", Dimension::rate_constant, &ResponseParameters::ke0_per_h},
    {"occupancy50", Dimension::dimensionless, &ResponseParameters::occupancy50},
    {"occupancy_hill", Dimension::dimensionless, &ResponseParameters::occupancy_hill},
    {"kin", Dimension::rate_constant, &ResponseParameters::kin_per_h},
    {"kout", Dimension::rate_constant, &ResponseParameters::kout_per_h},
    {"p50", Dimension::dimensionless, &ResponseParameters::p50},
    {"emax_typical", Dimension::dimensionless, &ResponseParameters::emax_typical},
    {"emax_logit_sd", Dimension::dimensionless, &ResponseParameters::emax_logit_sd},
    {"ou_sd_points", Dimension::dimensionless, &ResponseParameters::ou_sd_points},
    {"ou_half_life", Dimension::time, &ResponseParameters::ou_half_life_h},
    {"rater_sd_points", Dimension::dimensionless, &ResponseParameters::rater_sd_points},
};
}  // namespace

double* ResponseParameters::find(const std::string& name) {
  for (const auto& s : kScalars) {
    if (name == s.name) return &(this->*s.member);
  }
  for (int b = 0; b < kBackgrounds; ++b) {
    const std::string prefix = std::string("placebo.") + kBackgroundNames[b] + ".";
    if (name == prefix + "max_typical") return &placebo[b].max_typical;
    if (name == prefix + "logit_sd") return &placebo[b].logit_sd;
    if (name == prefix + "onset") return &placebo[b].onset_h;
  }
  return nullptr;
}

std::vector<std::string> ResponseParameters::names() const {
  std::vector<std::string> out;
  for (const auto& s : kScalars) out.emplace_back(s.name);
  for (int b = 0; b < kBackgrounds; ++b) {
    for (const char* field : {"max_typical", "logit_sd", "onset"}) {
      out.push_back(std::string("placebo.") + kBackgroundNames[b] + "." + field);
    }
  }
  return out;
}

double ResponseModel::ki_um_for(const std::string& moiety) const {
  for (const auto& p : potency) {
    if (p.moiety == moiety) return p.ki_um;
  }
  return std::numeric_limits<double>::quiet_NaN();
}

ResponseModel load_response_model(const std::string& path) {
  const YamlDocument doc = load_yaml_file(path);
  Diagnostics diagnostics;
  const InputNode root(doc.root, std::make_shared<const std::string>(path), "", &diagnostics);
  root.check_keys({"name", "description", "provenance", "potency", "parameters", "placebo", "calibration"});
  ResponseModel model;
  model.path = path;
  model.name = root.required("name").text();
  model.provenance = root.required("provenance").text();
  if (const auto d = root.optional("description")) d->text();
  for (const auto& [moiety, node] : root.required("potency").entries()) {
    node.check_keys({"ki_um", "source"});
    model.potency.push_back({moiety, node.required("ki_um").positive_number(), node.required("source").text()});
  }
  ResponseParameters& p = model.parameters;
  const InputNode params = root.required("parameters");
  std::vector<std::string> allowed;
  for (const auto& s : kScalars) allowed.emplace_back(s.name);
  params.check_keys(allowed);
  for (const auto& s : kScalars) {
    const InputNode node = params.required(s.name);
    if (!node.defined()) continue;
    node.check_keys({"value", "unit", "rationale", "source"});
    node.required("rationale").text();
    const InputNode value = node.required("value");
    const std::string unit = node.required("unit").text();
    const auto parsed = parse_unit(unit);
    if (!parsed || parsed->dimension != s.dimension) {
      node.child("unit").fail(std::string("expected a ") + dimension_name(s.dimension) + " unit (" +
                              accepted_units(s.dimension) + "), found '" + unit + "'");
      continue;
    }
    const double v = value.nonnegative_number() * parsed->to_canonical;
    p.*(s.member) = v;
  }
  if (p.emax_typical <= 0.0 || p.emax_typical >= 1.0) params.child("emax_typical").fail("expected a fraction in (0, 1)");
  if (p.occupancy50 <= 0.0 || p.occupancy50 >= 1.0) params.child("occupancy50").fail("expected a fraction in (0, 1)");
  if (!(p.kout_per_h > 0.0)) params.child("kout").fail("expected a positive rate");
  if (!(p.p50 > 0.0)) params.child("p50").fail("expected a positive value");
  if (!(p.ou_half_life_h > 0.0)) params.child("ou_half_life").fail("expected a positive time");
  const InputNode placebo = root.required("placebo");
  placebo.check_keys({"none", "saline", "active_placebo", "oral_antidepressant"});
  for (int b = 0; b < kBackgrounds; ++b) {
    const InputNode node = placebo.required(kBackgroundNames[b]);
    if (!node.defined()) continue;
    node.check_keys({"max_typical", "logit_sd", "onset", "rationale", "source"});
    node.required("rationale").text();
    p.placebo[b].max_typical = node.required("max_typical").nonnegative_number();
    p.placebo[b].logit_sd = node.required("logit_sd").nonnegative_number();
    p.placebo[b].onset_h = node.required("onset").quantity(Dimension::time);
    if (p.placebo[b].max_typical >= 1.0) node.child("max_typical").fail("expected a fraction in [0, 1)");
    if (!(p.placebo[b].onset_h > 0.0)) node.child("onset").fail("expected a positive time");
  }
  diagnostics.throw_if_any();
  return model;
}

double placebo_fraction(const ResponseParameters& p, int background, double placebo_eta, double time_h) {
  const PlaceboEffect& e = p.placebo[background];
  if (e.max_typical <= 0.0 || time_h <= 0.0) return 0.0;
  const double logit = std::log(e.max_typical / (1.0 - e.max_typical)) + e.logit_sd * placebo_eta;
  const double max_i = 1.0 / (1.0 + std::exp(-logit));
  return max_i * (1.0 - std::exp(-time_h / e.onset_h));
}

double first_order_step(double y, double decay_per_h, double gain, double u0, double u1, double h) {
  if (h <= 0.0) return y;
  const double kh = decay_per_h * h;
  if (kh < 1e-8) {  // no decay over the step: plain trapezoid, avoids 0/0
    return y + gain * 0.5 * (u0 + u1) * h;
  }
  const double e = std::exp(-kh);
  const double one_minus_e = -std::expm1(-kh);
  // integral_0^h e^{-k(h-s)} u(s) ds for u linear from u0 to u1
  const double integral = u0 * one_minus_e / decay_per_h +
                          (u1 - u0) / h * (h / decay_per_h - one_minus_e / (decay_per_h * decay_per_h));
  return y * e + gain * integral;
}

void FirstOrderFilter::set_step(double h) {
  step_h_ = h;
  // Weights of u0 and u1 in first_order_step's integral, obtained from it by linearity.
  decay_ = first_order_step(1.0, decay_per_h_, 0.0, 0.0, 0.0, h);
  weight0_ = first_order_step(0.0, decay_per_h_, 1.0, 1.0, 0.0, h);
  weight1_ = first_order_step(0.0, decay_per_h_, 1.0, 0.0, 1.0, h);
}

}  // namespace ketasim::response
