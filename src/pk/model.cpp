#include "ketasim/pk/model.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>

#include "ketasim/core/yaml_input.hpp"

namespace ketasim::pk {

const char* route_name(Route route) {
  switch (route) {
    case Route::iv_infusion: return "iv_infusion";
    case Route::iv_bolus: return "iv_bolus";
    case Route::intranasal: return "intranasal";
    case Route::oral: return "oral";
  }
  return "?";
}

bool parse_route(const std::string& text, Route& route) {
  for (Route r : {Route::iv_infusion, Route::iv_bolus, Route::intranasal, Route::oral}) {
    if (text == route_name(r)) {
      route = r;
      return true;
    }
  }
  return false;
}

int PkModel::find_parameter(const std::string& parameter_name) const {
  for (std::size_t i = 0; i < parameters.size(); ++i) {
    if (parameters[i].name == parameter_name) return static_cast<int>(i);
  }
  return -1;
}

const RouteDef* PkModel::find_route(Route route) const {
  for (const auto& r : routes) {
    if (r.route == route) return &r;
  }
  return nullptr;
}

namespace {

// Looks a name up in a list of defined names, reporting an unknown one with the choices.
// `where` is the node reported on failure (the name itself, or the mapping it keys).
template <typename T>
int lookup_name(const std::string& name, const InputNode& where, const std::vector<T>& items, const char* what) {
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (items[i].name == name) return static_cast<int>(i);
  }
  std::string list;
  for (const auto& item : items) list += (list.empty() ? "" : ", ") + item.name;
  where.fail(std::string("unknown ") + what + " '" + name + "'; defined: " + list);
  return -1;
}

template <typename T>
int lookup(const InputNode& node, const std::vector<T>& items, const char* what) {
  if (!node.is_scalar()) {
    node.text();  // reports what was found instead of a name
    return -1;
  }
  return lookup_name(node.text(), node, items, what);
}

void parse_parameters(const InputNode& root, PkModel& model) {
  for (const auto& [name, node] : root.required("parameters").entries()) {
    node.check_keys({"value", "unit", "source", "allometric_exponent", "description"});
    ParameterDef p;
    p.name = name;
    const InputNode unit_node = node.required("unit");
    p.unit_text = unit_node.text();
    const double value = node.required("value").number();
    p.source = node.required("source").text();
    if (const auto unit = parse_unit(p.unit_text)) {
      p.typical = value * unit->to_canonical;
      if (const auto base = per_weight_base(unit->dimension)) {
        p.per_weight = true;
        p.dimension = *base;
      } else {
        p.dimension = unit->dimension;
      }
    } else if (unit_node.is_scalar()) {
      unit_node.fail("unknown unit '" + p.unit_text +
                     "'; expected e.g. L, L/kg, L/h, L/min, 1/h, 1/min, h, min, mg/h, ng/mL or 1");
    }
    if (const auto exponent = node.optional("allometric_exponent")) {
      p.allometric_exponent = exponent->number();
      if (p.per_weight) exponent->fail("a per-kg parameter already scales with weight; remove allometric_exponent");
    }
    // Physical quantities must be positive; a fraction must be a probability.
    if (p.dimension == Dimension::dimensionless) {
      if (value < 0.0 || value > 1.0) {
        node.child("value").fail("expected a fraction in [0, 1], found " + fmt::format("{:g}", value));
      }
    } else if (!(value > 0.0)) {
      node.child("value").fail("expected a positive " + std::string(dimension_name(p.dimension)) +
                               ", found " + fmt::format("{:g}", value));
    }
    if (static_cast<int>(model.parameters.size()) >= kMaxParameters) {
      node.fail("too many parameters (at most " + std::to_string(kMaxParameters) + ")");
      break;
    }
    model.parameters.push_back(p);
  }
}

void parse_moieties(const InputNode& root, PkModel& model) {
  for (const auto& [name, node] : root.required("moieties").entries()) {
    node.check_keys({"molecular_weight_g_per_mol", "fraction_unbound", "description"});
    MoietyDef m;
    m.name = name;
    m.molecular_weight_g_per_mol = node.required("molecular_weight_g_per_mol").positive_number();
    if (const auto fu = node.optional("fraction_unbound")) {
      fu->check_keys({"value", "source"});
      m.fraction_unbound = fu->required("value").positive_number();
      fu->required("source").text();
      if (m.fraction_unbound > 1.0) fu->child("value").fail("expected a fraction in (0, 1]");
    }
    model.moieties.push_back(m);
  }
}

void parse_compartments(const InputNode& root, PkModel& model) {
  for (const auto& node : root.required("compartments").sequence()) {
    node.check_keys({"name", "moiety", "volume", "observed", "description"});
    CompartmentDef c;
    c.name = node.required("name").text();
    for (const auto& existing : model.compartments) {
      if (existing.name == c.name) node.child("name").fail("duplicate compartment '" + c.name + "'");
    }
    if (const auto moiety = node.optional("moiety")) c.moiety = lookup(*moiety, model.moieties, "moiety");
    if (const auto volume = node.optional("volume")) {
      c.volume_parameter = lookup(*volume, model.parameters, "parameter");
      if (c.volume_parameter >= 0 && model.parameters[c.volume_parameter].dimension != Dimension::volume) {
        volume->fail("parameter '" + model.parameters[c.volume_parameter].name + "' is not a volume");
      }
    }
    if (const auto observed = node.optional("observed")) c.observed = observed->boolean();
    if (c.observed && (c.moiety < 0 || !node.has("volume"))) {
      node.fail("an observed compartment needs a moiety and a volume");
    }
    if (c.observed && c.moiety >= 0) {
      if (model.moieties[c.moiety].observed_compartment >= 0) {
        node.fail("moiety '" + model.moieties[c.moiety].name + "' is already observed in another compartment");
      }
      model.moieties[c.moiety].observed_compartment = static_cast<int>(model.compartments.size());
    }
    model.compartments.push_back(c);
  }
  if (static_cast<int>(model.compartments.size()) > kMaxCompartments) {
    root.child("compartments").fail("at most " + std::to_string(kMaxCompartments) + " compartments are supported");
  }
  for (const auto& m : model.moieties) {
    if (m.observed_compartment < 0) {
      root.child("moieties").child(m.name).fail("moiety has no compartment with observed: true");
    }
  }
}

int lookup_compartment(const InputNode& node, const PkModel& model, bool allow_elimination) {
  if (allow_elimination && node.is_scalar() && node.text() == "elimination") return -1;
  const int index = lookup(node, model.compartments, "compartment");
  return index < 0 ? -2 : index;
}

void parse_flows(const InputNode& root, PkModel& model) {
  for (const auto& node : root.required("flows").sequence()) {
    node.check_keys({"from", "to", "rate_constant", "clearance", "michaelis_menten", "description"});
    FlowDef f;
    f.from = lookup_compartment(node.required("from"), model, false);
    f.to = lookup_compartment(node.required("to"), model, true);
    const int kinds = node.has("rate_constant") + node.has("clearance") + node.has("michaelis_menten");
    if (kinds != 1) {
      node.fail("a flow needs exactly one of rate_constant, clearance, michaelis_menten");
      continue;
    }
    auto expect_dimension = [&](const InputNode& p, int index, Dimension d) {
      if (index >= 0 && model.parameters[index].dimension != d) {
        p.fail("parameter '" + model.parameters[index].name + "' must be a " + dimension_name(d) +
               " (" + canonical_unit(d) + "), but its unit is " + model.parameters[index].unit_text);
      }
    };
    if (const auto k = node.optional("rate_constant")) {
      f.kind = FlowKind::rate_constant;
      f.parameter = lookup(*k, model.parameters, "parameter");
      expect_dimension(*k, f.parameter, Dimension::rate_constant);
    } else if (const auto cl = node.optional("clearance")) {
      f.kind = FlowKind::clearance;
      f.parameter = lookup(*cl, model.parameters, "parameter");
      expect_dimension(*cl, f.parameter, Dimension::clearance);
      if (f.from >= 0 && model.compartments[f.from].volume_parameter < 0) {
        node.fail("a clearance flow needs a volume on compartment '" + model.compartments[f.from].name + "'");
      }
    } else {
      const InputNode mm = node.child("michaelis_menten");
      mm.check_keys({"vmax", "km"});
      f.kind = FlowKind::michaelis_menten;
      f.parameter = lookup(mm.required("vmax"), model.parameters, "parameter");
      f.km_parameter = lookup(mm.required("km"), model.parameters, "parameter");
      expect_dimension(mm.child("vmax"), f.parameter, Dimension::amount_rate);
      expect_dimension(mm.child("km"), f.km_parameter, Dimension::concentration);
      if (f.from >= 0 && model.compartments[f.from].volume_parameter < 0) {
        node.fail("a Michaelis-Menten flow needs a volume on compartment '" + model.compartments[f.from].name + "'");
      }
      model.linear = false;
    }
    if (f.from >= 0 && f.from == f.to) {
      // K would get k on and off its diagonal at once: mass appears from nowhere.
      node.child("to").fail("a flow must go to another compartment (or 'elimination'), not back to '" +
                            model.compartments[f.from].name + "'");
      continue;
    }
    if (f.from < 0 || f.to < -1 || f.parameter < 0) continue;
    model.flows.push_back(f);
  }
}

ParameterOrValue parse_parameter_or_value(const InputNode& node, const PkModel& model, Dimension dimension) {
  ParameterOrValue out;
  if (!node.is_scalar()) {
    node.fail("expected a number or a parameter name");
    return out;
  }
  const auto q = parse_quantity(node.text());
  if (q && q->unit.empty()) {
    out.value = q->value;
    return out;
  }
  if (q) {  // a number with a unit
    out.value = node.quantity(dimension);
    return out;
  }
  out.parameter = lookup(node, model.parameters, "parameter");
  if (out.parameter >= 0 && model.parameters[out.parameter].dimension != dimension) {
    node.fail("parameter '" + model.parameters[out.parameter].name + "' must be a " +
              dimension_name(dimension) + " (" + canonical_unit(dimension) + ")");
  }
  return out;
}

void parse_routes(const InputNode& root, PkModel& model) {
  for (const auto& [name, node] : root.required("routes").entries()) {
    RouteDef route;
    if (!parse_route(name, route.route)) {
      node.fail("unknown route '" + name + "'; expected one of: iv_infusion, iv_bolus, intranasal, oral");
      continue;
    }
    node.check_keys({"inputs", "description"});
    for (const auto& in : node.required("inputs").sequence()) {
      in.check_keys({"compartment", "fraction", "later_device_factor", "bioavailability", "duration", "lag"});
      InputDef input;
      input.compartment = lookup(in.required("compartment"), model.compartments, "compartment");
      if (const auto fraction = in.optional("fraction")) {
        if (fraction->is_scalar() && fraction->text() == "remainder") {
          input.remainder = true;
        } else {
          input.fraction = parse_parameter_or_value(*fraction, model, Dimension::dimensionless);
        }
      }
      if (const auto f = in.optional("later_device_factor")) {
        input.later_device_factor = parse_parameter_or_value(*f, model, Dimension::dimensionless);
      }
      if (const auto f = in.optional("bioavailability")) {
        input.bioavailability = parse_parameter_or_value(*f, model, Dimension::dimensionless);
      }
      if (const auto d = in.optional("duration")) {
        input.has_duration = true;
        input.duration = parse_parameter_or_value(*d, model, Dimension::time);
      }
      if (const auto lag = in.optional("lag")) input.lag = parse_parameter_or_value(*lag, model, Dimension::time);
      if (input.compartment >= 0) route.inputs.push_back(input);
    }
    model.routes.push_back(route);
  }
}

void parse_covariates(const InputNode& root, PkModel& model) {
  const auto covariates = root.optional("covariates");
  if (!covariates) return;
  for (const auto& node : covariates->sequence()) {
    node.check_keys({"parameter", "covariate", "model", "reference", "slope", "unit", "exponent", "value",
                     "source", "description"});
    CovariateEffect e;
    e.parameter = lookup(node.required("parameter"), model.parameters, "parameter");
    const std::string covariate = node.required("covariate").choice({"weight_kg", "age_y", "sex"});
    e.covariate = covariate == "age_y" ? CovariateKind::age_y
                  : covariate == "sex" ? CovariateKind::sex
                                       : CovariateKind::weight_kg;
    const std::string kind = node.required("model").choice({"power", "linear_above", "linear", "female_factor"});
    e.source = node.required("source").text();
    if (kind == "power") {
      e.model = CovariateModel::power;
      e.reference = node.required("reference").positive_number();
      e.coefficient = node.required("exponent").number();
    } else if (kind == "linear_above" || kind == "linear") {
      e.model = kind == "linear" ? CovariateModel::linear : CovariateModel::linear_above;
      e.reference = node.required("reference").number();
      const double slope = node.required("slope").number();
      // The slope is in the parameter's own unit per covariate unit; convert like the parameter.
      const InputNode unit_node = node.required("unit");
      const auto unit = parse_unit(unit_node.text());
      if (!unit) {
        if (unit_node.is_scalar()) unit_node.fail("unknown unit '" + unit_node.text() + "'");
      } else if (e.parameter >= 0 && unit->dimension != model.parameters[e.parameter].dimension) {
        unit_node.fail("unit '" + unit_node.text() + "' does not match the unit of parameter '" +
                       model.parameters[e.parameter].name + "' (" + model.parameters[e.parameter].unit_text + ")");
      } else {
        e.coefficient = slope * unit->to_canonical;
      }
    } else {
      e.model = CovariateModel::female_factor;
      if (e.covariate != CovariateKind::sex) node.child("covariate").fail("female_factor needs covariate: sex");
      e.coefficient = node.required("value").positive_number();
    }
    if (e.parameter >= 0) model.covariates.push_back(e);
  }
}

void parse_variability(const InputNode& root, PkModel& model) {
  const auto variability = root.optional("variability");
  if (variability) {
    for (const auto& [name, node] : variability->entries()) {
      node.check_keys({"cv_percent", "omega_sq", "sd", "distribution", "source"});
      VariabilityDef v;
      v.parameter = lookup_name(name, node, model.parameters, "parameter");
      v.source = node.required("source").text();
      if (const auto d = node.optional("distribution")) {
        v.distribution = d->choice({"log_normal", "logit_normal"}) == "logit_normal" ? Distribution::logit_normal
                                                                                      : Distribution::log_normal;
      }
      const int given = node.has("cv_percent") + node.has("omega_sq") + node.has("sd");
      if (given != 1) {
        node.fail("give exactly one of cv_percent, omega_sq, sd");
      } else if (const auto cv = node.optional("cv_percent")) {
        if (v.distribution == Distribution::logit_normal) cv->fail("a logit-normal term takes sd or omega_sq on the logit scale");
        const double cv_fraction = cv->positive_number() / 100.0;
        v.variance = std::log1p(cv_fraction * cv_fraction);
      } else if (const auto omega_sq = node.optional("omega_sq")) {
        v.variance = omega_sq->positive_number();
      } else {
        const double sd = node.child("sd").positive_number();
        v.variance = sd * sd;
      }
      if (v.parameter >= 0) {
        for (const auto& existing : model.variability) {
          if (existing.parameter == v.parameter) node.fail("duplicate variability for parameter '" + name + "'");
        }
        model.variability.push_back(v);
      }
    }
  }
  const int n = static_cast<int>(model.variability.size());
  model.omega = Eigen::MatrixXd::Zero(n, n);
  for (int i = 0; i < n; ++i) model.omega(i, i) = model.variability[i].variance;
  const auto correlations = root.optional("correlations");
  if (correlations) {
    std::vector<std::pair<int, int>> correlated;  // variability indices, smaller first
    for (const auto& node : correlations->sequence()) {
      node.check_keys({"between", "value", "source"});
      node.required("source").text();
      const auto pair = node.required("between").sequence();
      const double r = node.required("value").number();
      if (pair.size() != 2) {
        node.child("between").fail("expected a list of two parameter names");
        continue;
      }
      if (!(r > -1.0 && r < 1.0)) node.child("value").fail("a correlation must lie strictly between -1 and 1");
      int index[2] = {-1, -1};
      for (int k = 0; k < 2; ++k) {
        const int p = lookup(pair[k], model.parameters, "parameter");
        for (int i = 0; i < n; ++i) {
          if (model.variability[i].parameter == p) index[k] = i;
        }
        if (p >= 0 && index[k] < 0) pair[k].fail("parameter has no variability term to correlate");
      }
      if (index[0] >= 0 && index[0] == index[1]) {
        node.child("between").fail("a correlation needs two different parameters");
        continue;
      }
      if (index[0] >= 0 && index[1] >= 0) {
        // A second value for the same pair would silently replace the first.
        const std::pair<int, int> key{std::min(index[0], index[1]), std::max(index[0], index[1])};
        if (std::find(correlated.begin(), correlated.end(), key) != correlated.end()) {
          node.child("between").fail("duplicate correlation between '" + pair[0].text() + "' and '" + pair[1].text() +
                                     "'; give each pair once");
          continue;
        }
        correlated.push_back(key);
      }
      if (index[0] >= 0 && index[1] >= 0 && index[0] != index[1]) {
        const double cov = r * std::sqrt(model.omega(index[0], index[0]) * model.omega(index[1], index[1]));
        model.omega(index[0], index[1]) = cov;
        model.omega(index[1], index[0]) = cov;
      }
    }
  }
  Eigen::LLT<Eigen::MatrixXd> llt(model.omega);
  if (n > 0 && llt.info() != Eigen::Success) {
    (correlations ? *correlations : root.child("variability"))
        .fail("the omega matrix built from variability and correlations is not positive definite");
    model.omega_cholesky = Eigen::MatrixXd::Zero(n, n);
  } else {
    model.omega_cholesky = n > 0 ? Eigen::MatrixXd(llt.matrixL()) : Eigen::MatrixXd(0, 0);
  }
}

// residual_error: {<output>: {additive: 1 ng/mL, proportional: 0.15, source}} or
// {<output>: {log_additive: 0.276, source}}; outputs are the moieties and the totals.
void parse_residual_error(const InputNode& root, PkModel& model) {
  const auto block = root.optional("residual_error");
  if (!block) return;
  for (const auto& [name, node] : block->entries()) {
    node.check_keys({"additive", "proportional", "log_additive", "source", "description"});
    ResidualErrorDef e;
    e.output = -1;
    for (std::size_t o = 0; o < model.outputs.size(); ++o) {
      if (model.outputs[o].name == name) e.output = static_cast<int>(o);
    }
    if (e.output < 0) {
      std::string names;
      for (const auto& o : model.outputs) names += (names.empty() ? "" : ", ") + o.name;
      node.fail("no reported output '" + name + "' (moieties and totals: " + names + ")");
      continue;
    }
    e.source = node.required("source").text();
    if (const auto a = node.optional("additive")) {
      e.additive_ng_per_ml = a->quantity(Dimension::concentration);
      if (a->is_scalar() && !(e.additive_ng_per_ml >= 0.0)) a->fail("expected an SD >= 0");
    }
    if (const auto p = node.optional("proportional")) {
      e.proportional = p->number();
      if (!(e.proportional >= 0.0 && e.proportional <= 10.0)) p->fail("expected an SD as a fraction of the prediction, 0 to 10 (0.15 = 15%)");
    }
    if (const auto l = node.optional("log_additive")) {
      e.log_additive = l->number();
      if (!(e.log_additive >= 0.0 && e.log_additive <= 10.0)) l->fail("expected an SD on the log scale, 0 to 10 (0.276 = 27.6%)");
      if (node.has("additive") || node.has("proportional")) node.fail("log_additive stands alone: give it or additive/proportional, not both");
    }
    if (!node.has("additive") && !node.has("proportional") && !node.has("log_additive")) {
      node.fail("expected additive, proportional (both: combined) or log_additive");
    }
    for (const auto& other : model.residual_error) {
      if (other.output == e.output) node.fail("duplicate residual error for output '" + name + "'");
    }
    model.residual_error.push_back(e);
  }
}

}  // namespace

PkModel load_model(const std::string& path) { return parse_model(load_yaml_file(path)); }

PkModel parse_model(const YamlDocument& doc) {
  const std::string& path = doc.path;
  Diagnostics diagnostics;
  const InputNode root(doc.root, std::make_shared<const std::string>(path), "", &diagnostics);
  root.check_keys({"name", "drug", "description", "reference_weight_kg", "moieties", "totals", "compartments",
                   "parameters", "flows", "routes", "covariates", "variability", "correlations", "residual_error"});
  PkModel model;
  model.path = path;
  model.name = root.required("name").text();
  model.drug = root.required("drug").text();
  if (const auto d = root.optional("description")) model.description = d->text();
  if (const auto w = root.optional("reference_weight_kg")) model.reference_weight_kg = w->positive_number();
  parse_moieties(root, model);
  parse_parameters(root, model);
  parse_compartments(root, model);
  parse_flows(root, model);
  parse_routes(root, model);
  parse_covariates(root, model);
  parse_variability(root, model);
  for (std::size_t i = 0; i < model.moieties.size(); ++i) {
    model.outputs.push_back({model.moieties[i].name, {static_cast<int>(i)}});
  }
  if (const auto totals = root.optional("totals")) {
    for (const auto& [name, node] : totals->entries()) {
      OutputDef total{name, {}};
      for (const auto& m : node.sequence()) {
        const int index = lookup(m, model.moieties, "moiety");
        if (index >= 0) total.moieties.push_back(index);
      }
      model.outputs.push_back(total);
    }
  }
  parse_residual_error(root, model);
  diagnostics.throw_if_any();
  return model;
}

}  // namespace ketasim::pk
