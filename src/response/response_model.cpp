#include "ketasim/response/response_model.hpp"

#include <cmath>
#include <limits>
#include <memory>
#include <sstream>
#include <utility>

#include "ketasim/core/yaml_input.hpp"
#include "ketasim/response/structure.hpp"

namespace ketasim::response {

int ParameterTable::index(const std::string& name) const {
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (names[i] == name) return static_cast<int>(i);
  }
  return -1;
}

double* ParameterTable::find(const std::string& name) {
  const int i = index(name);
  return i < 0 ? nullptr : &values[static_cast<std::size_t>(i)];
}

const double* ParameterTable::find(const std::string& name) const {
  const int i = index(name);
  return i < 0 ? nullptr : &values[static_cast<std::size_t>(i)];
}

double ResponseModel::ki_um_for(const std::string& moiety) const {
  for (const auto& p : potency) {
    if (p.moiety == moiety) return p.ki_um;
  }
  return std::numeric_limits<double>::quiet_NaN();
}

int ResponseModel::background_index(const std::string& name) const {
  for (std::size_t i = 0; i < backgrounds.size(); ++i) {
    if (backgrounds[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

std::string ResponseModel::background_names() const {
  std::string out;
  for (const auto& b : backgrounds) out += (out.empty() ? "" : ", ") + b.name;
  return out;
}

namespace {

std::string bound_text(const ParameterSpec& s) {
  std::ostringstream os;
  os.precision(6);
  if (s.max < 1e299) {
    os << "a value in " << (s.exclusive_bounds ? "(" : "[") << s.min << ", " << s.max << (s.exclusive_bounds ? ")" : "]");
    if (s.min == 0.0 && s.max == 1.0) return std::string("a fraction in ") + (s.exclusive_bounds ? "(0, 1)" : "[0, 1]");
  } else if (s.min == 0.0) {
    return s.exclusive_bounds ? "a positive value" : "a value >= 0";
  } else {
    os << "a value " << (s.exclusive_bounds ? "> " : ">= ") << s.min;
  }
  return os.str();
}

bool within(const ParameterSpec& s, double v) {
  if (!std::isfinite(v)) return false;
  return s.exclusive_bounds ? (v > s.min && v < s.max) : (v >= s.min && v <= s.max);
}

// One `parameters:` entry: {value, unit, rationale or source}, converted to internal units.
double read_parameter(const InputNode& node, const ParameterSpec& spec) {
  node.check_keys({"value", "unit", "rationale", "source"});
  if (!node.has("source")) node.required("rationale").text();
  const InputNode value = node.required("value");
  const std::string unit = node.required("unit").text();
  const auto parsed = parse_unit(unit);
  if (node.has("unit") && (!parsed || parsed->dimension != spec.dimension)) {
    node.child("unit").fail(std::string("expected a ") + dimension_name(spec.dimension) + " unit (" +
                            accepted_units(spec.dimension) + "), found '" + unit + "'");
    return std::numeric_limits<double>::quiet_NaN();
  }
  const double v = value.number() * (parsed ? parsed->to_canonical : 1.0);
  if (value.is_scalar() && !within(spec, v)) value.fail("expected " + bound_text(spec));
  return v;
}

// calibration.uncertainty (calibration/uncertainty.hpp writes it): what parameter draws need.
// Problems are reported on the node; the result is then not used (diagnostics throw).
ParameterDistribution read_distribution(const InputNode& node, const ParameterTable& table) {
  ParameterDistribution d;
  auto numbers = [](const InputNode& list) {
    std::vector<double> out;
    for (const auto& v : list.sequence()) out.push_back(v.number());
    return out;
  };
  for (const auto& v : node.required("parameters").sequence()) {
    d.names.push_back(v.text());
    if (table.index(d.names.back()) < 0) v.fail("not a parameter of this model: '" + d.names.back() + "'");
  }
  const std::size_t p = d.names.size();
  for (const auto& v : node.required("working_scale").sequence()) d.log_scale.push_back(v.choice({"log", "linear"}) == "log");
  d.mean_working = numbers(node.required("estimate"));
  d.lower = numbers(node.required("bounds_lower"));
  d.upper = numbers(node.required("bounds_upper"));
  for (const auto& row : node.required("covariance").sequence()) d.covariance.push_back(numbers(row));
  for (const auto& [key, n] : {std::pair{"working_scale", d.log_scale.size()}, std::pair{"estimate", d.mean_working.size()},
                               std::pair{"bounds_lower", d.lower.size()}, std::pair{"bounds_upper", d.upper.size()},
                               std::pair{"covariance", d.covariance.size()}}) {
    if (n != p) node.child(key).fail("expected " + std::to_string(p) + " entries, one per parameter");
  }
  for (std::size_t i = 0; i < d.covariance.size(); ++i) {
    if (d.covariance[i].size() != p) node.child("covariance").fail("expected a " + std::to_string(p) + " x " + std::to_string(p) + " matrix");
  }
  for (std::size_t i = 0; i < std::min(p, d.lower.size()); ++i) {
    if (i < d.upper.size() && !(d.lower[i] <= d.upper[i])) node.child("bounds_lower").fail("a lower bound is above its upper bound");
  }
  return d;
}

}  // namespace

ResponseModel load_response_model(const std::string& path) { return load_response_model(path, builtin_structures()); }

ResponseModel load_response_model(const std::string& path, const StructureRegistry& registry) {
  const YamlDocument doc = load_yaml_file(path);
  Diagnostics diagnostics;
  const InputNode root(doc.root, std::make_shared<const std::string>(path), "", &diagnostics);
  root.check_keys({"name", "description", "provenance", "structure", "potency", "parameters", "placebo", "calibration"});
  ResponseModel model;
  model.path = path;
  model.name = root.required("name").text();
  model.provenance = root.required("provenance").text();
  if (const auto d = root.optional("description")) d->text();
  // Files written before structures had names are plasticity_v1 files: they stay loadable.
  model.structure_name = "plasticity_v1";
  if (const auto s = root.optional("structure")) model.structure_name = s->text();
  model.structure = registry.make(model.structure_name);
  if (!model.structure) {
    root.child("structure").fail("unknown response structure '" + model.structure_name + "'; expected one of: " +
                                 registry.names());
    diagnostics.throw_if_any();
  }
  for (const auto& [moiety, node] : root.required("potency").entries()) {
    node.check_keys({"ki_um", "source"});
    model.potency.push_back({moiety, node.required("ki_um").positive_number(), node.required("source").text()});
  }
  ParameterTable& table = model.parameters;
  const std::vector<ParameterSpec> specs = model.structure->parameters();
  const InputNode params = root.required("parameters");
  std::vector<std::string> allowed;
  for (const auto& s : specs) allowed.push_back(s.name);
  params.check_keys(allowed);
  for (const auto& s : specs) {
    table.names.push_back(s.name);
    table.dimensions.push_back(s.dimension);
    table.specs.push_back(s);
    if (s.optional && !params.has(s.name)) {  // absent optional parameter: its documented default
      table.values.push_back(s.default_value);
      continue;
    }
    const InputNode node = params.required(s.name);
    table.values.push_back(node.defined() ? read_parameter(node, s) : std::numeric_limits<double>::quiet_NaN());
  }
  // Backgrounds are data: any name, each with its own placebo curve.
  const ParameterSpec max_typical{"max_typical", Dimension::dimensionless, 0.0, 0.999999999};
  const ParameterSpec logit_sd{"logit_sd", Dimension::dimensionless, 0.0, 1e300};
  const ParameterSpec onset{"onset", Dimension::time, 0.0, 1e300, true};
  const std::vector<BackgroundFieldSpec> extra_fields = model.structure->background_fields();
  std::vector<std::string> background_keys{"max_typical", "logit_sd", "onset", "rationale", "source"};
  for (const auto& f : extra_fields) background_keys.push_back(f.spec.name);
  const InputNode placebo = root.required("placebo");
  for (const auto& [name, node] : placebo.entries()) {
    node.check_keys(background_keys);
    if (!node.has("source")) node.required("rationale").text();
    Background b{name, static_cast<int>(table.size())};
    const InputNode m = node.required("max_typical");
    double max_value = m.defined() ? m.number() : 0.0;
    if (m.is_scalar() && !(max_value >= 0.0 && max_value < 1.0)) m.fail("expected a fraction in [0, 1)");
    const InputNode sd = node.required("logit_sd");
    const double sd_value = sd.defined() ? sd.nonnegative_number() : 0.0;
    const InputNode on = node.required("onset");
    const double onset_h = on.defined() ? on.quantity(Dimension::time) : 1.0;
    if (on.is_scalar() && !(onset_h > 0.0)) on.fail("expected a positive time");
    for (const auto& [spec, value] : {std::pair{max_typical, max_value}, {logit_sd, sd_value}, {onset, onset_h}}) {
      table.names.push_back("placebo." + name + "." + spec.name);
      table.dimensions.push_back(spec.dimension);
      table.specs.push_back(spec);
      table.values.push_back(value);
    }
    // The structure's own per-background fields, defaulted when absent.
    for (const auto& f : extra_fields) {
      double value = f.default_value;
      if (const auto field = node.optional(f.spec.name)) {
        value = f.spec.dimension == Dimension::dimensionless ? field->number() : field->quantity(f.spec.dimension);
        if (field->is_scalar() && !within(f.spec, value)) field->fail("expected " + bound_text(f.spec));
      }
      table.names.push_back("placebo." + name + "." + f.spec.name);
      table.dimensions.push_back(f.spec.dimension);
      table.specs.push_back(f.spec);
      table.values.push_back(value);
    }
    model.backgrounds.push_back(b);
  }
  if (placebo.is_map() && model.backgrounds.empty()) placebo.fail("expected at least one background (e.g. none)");
  if (const auto cal = root.optional("calibration"); cal && cal->is_map()) {
    if (const auto u = cal->optional("uncertainty")) model.uncertainty = read_distribution(*u, table);
  }
  diagnostics.throw_if_any();
  return model;
}

bool parameter_allowed(const ResponseModel& model, const std::string& name, double value) {
  const int i = model.parameters.index(name);
  return i >= 0 && within(model.parameters.specs[static_cast<std::size_t>(i)], value);
}

double placebo_fraction(const ResponseModel& model, int background, double placebo_eta, double time_h) {
  const double* p = model.parameters.values.data() + model.backgrounds[static_cast<std::size_t>(background)].first_parameter;
  const double max_typical = p[0], logit_sd = p[1], onset_h = p[2];
  if (max_typical <= 0.0 || time_h <= 0.0) return 0.0;
  const double logit = std::log(max_typical / (1.0 - max_typical)) + logit_sd * placebo_eta;
  const double max_i = 1.0 / (1.0 + std::exp(-logit));
  return max_i * (1.0 - std::exp(-time_h / onset_h));
}

}  // namespace ketasim::response
