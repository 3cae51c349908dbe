// Sweeps (docs/config.md, "sweep"): a grid over config keys and/or named scenarios, expanded into
// one validated StudyConfig per point. Every point is the base config's text with the command
// line's --set overrides and the point's overrides applied, validated exactly like a config file;
// the engine then runs all points on the same virtual patients.
#include "ketasim/trial/sweep.hpp"

#include "ketasim/io/results_schema.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <set>
#include <sstream>

namespace ketasim::trial {

namespace {

// More points than this is almost certainly a typo in a grid (and each point holds its models).
constexpr std::size_t kMaxPoints = 10000;

std::string identifier_from_key(const std::string& key) {
  std::string out;
  for (unsigned char c : key) out += std::isalnum(c) ? static_cast<char>(c) : '_';
  if (out.empty() || std::isdigit(static_cast<unsigned char>(out[0]))) out = "k_" + out;
  return out;
}

std::string format_number(double v) {
  std::ostringstream os;
  os.precision(15);
  os << v;
  return os.str();
}

std::string origin_of(const InputNode& node) {
  const SourceLocation where = node.location();
  std::ostringstream os;
  os << node.key_path() << " at " << where.file;
  if (where.line > 0) os << ':' << where.line << ':' << where.column;
  return os.str();
}

// A YAML value as override text (flow style, so lists and mappings survive the round trip).
std::string yaml_text(const YAML::Node& node) {
  if (node.IsScalar()) return node.Scalar();
  YAML::Emitter emitter;
  emitter.SetMapFormat(YAML::Flow);
  emitter.SetSeqFormat(YAML::Flow);
  emitter << node;
  return emitter.c_str();
}

// Keys whose change would give a point other patients, visits or outputs than the others.
bool is_fixed_key(const std::string& key) {
  auto under = [&](const std::string& prefix) { return key == prefix || key.rfind(prefix + ".", 0) == 0; };
  // The cohort's distributions may be swept (age groups, weight, baseline severity): patient i keeps
  // its random numbers, drawn through each point's distributions. Its size and source may not.
  if (key == "cohort" || under("cohort.patients") || under("cohort.population_file") || under("cohort.variability")) {
    return true;
  }
  if (under("study") || under("endpoints") || under("outputs") || under("sweep")) return true;
  if (key == "arms") return true;
  if (key.rfind("arms.", 0) == 0) {
    const auto dot = key.find('.', 5);
    if (dot == std::string::npos) return true;           // a whole arm
    if (key.substr(dot + 1) == "name") return true;      // an arm's name
  }
  return false;
}

struct Value {  // one coordinate of a dimension and the override text it sets
  std::string override_text;
  std::string origin;
};

struct ParsedDimension {
  SweepDimension dimension;
  std::vector<std::string> keys;                       // config keys (dotted, absolute) it sets
  std::vector<std::vector<std::pair<std::string, Value>>> sets;  // per coordinate: (relative key, value)
};

}  // namespace

bool is_identifier(const std::string& s) {
  if (s.empty() || !(std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_')) return false;
  return std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isalnum(c) || c == '_'; });
}

SweepPlan parse_sweep_block(const InputNode& node, const std::vector<std::string>& arm_names) {
  SweepPlan plan;
  plan.location = node.location();
  if (!node.is_map()) {
    node.fail("expected a mapping with `grid:` and/or `scenarios:` (and optionally `arms:`)");
    plan.points.push_back({});
    return plan;
  }
  node.check_keys({"arms", "grid", "scenarios"});
  std::vector<std::size_t> arm_indices;
  if (const auto arms = node.optional("arms")) {
    for (const auto& a : arms->sequence()) {
      const std::string name = a.text();
      const auto it = std::find(arm_names.begin(), arm_names.end(), name);
      if (!a.is_scalar()) continue;
      if (it == arm_names.end()) {
        std::string list;
        for (const auto& n : arm_names) list += (list.empty() ? "" : ", ") + n;
        a.fail("no arm named '" + name + "'; the arms are: " + list);
      } else if (std::find(plan.arms.begin(), plan.arms.end(), name) != plan.arms.end()) {
        a.fail("arm '" + name + "' is listed twice");
      } else {
        plan.arms.push_back(name);
        arm_indices.push_back(static_cast<std::size_t>(it - arm_names.begin()));
      }
    }
    if (arms->is_sequence() && arms->sequence().empty()) arms->fail("expected at least one arm name");
  }
  const bool relative = node.has("arms");
  // The absolute keys one relative key stands for.
  auto absolute = [&](const std::string& key) {
    std::vector<std::string> out;
    if (!relative) {
      out.push_back(key);
    } else {
      for (std::size_t i : arm_indices) out.push_back("arms." + std::to_string(i) + "." + key);
    }
    return out;
  };
  auto check_key = [&](const InputNode& where, const std::string& key) {
    if (key.empty() || key.front() == '.' || key.back() == '.' || key.find("..") != std::string::npos) {
      where.fail("expected a dotted key path such as regimen.dose, found '" + key + "'");
      return false;
    }
    if (relative && key.rfind("arms.", 0) == 0) {
      where.fail("with sweep.arms, keys are relative to each listed arm (e.g. regimen.dose), found '" + key + "'");
      return false;
    }
    if (!relative && is_fixed_key(key)) {
      where.fail("'" + key + "' cannot be swept: every sweep point runs the same virtual patients, visits, "
                 "outputs and arms (cohort size and population file, study, endpoints, outputs, arm names and the "
                 "sweep itself are fixed; the cohort's distributions may be swept)");
      return false;
    }
    if (relative && key == "name") {
      where.fail("arm names cannot be swept");
      return false;
    }
    return true;
  };

  std::vector<ParsedDimension> dims;
  std::set<std::string> swept_keys;

  if (const auto scenarios = node.optional("scenarios")) {
    ParsedDimension pd;
    pd.dimension.name = "scenario";
    pd.dimension.units = "1";
    for (const auto& sc : scenarios->sequence()) {
      sc.check_keys({"name", "set"});
      const std::string name = sc.required("name").text();
      if (sc.has("name") && std::find(pd.dimension.labels.begin(), pd.dimension.labels.end(), name) !=
                                pd.dimension.labels.end()) {
        sc.child("name").fail("duplicate scenario name '" + name + "'");
      }
      if (sc.has("name") && name.empty()) sc.child("name").fail("expected a non-empty scenario name");
      std::vector<std::pair<std::string, Value>> sets;
      const InputNode set = sc.required("set");
      for (const auto& [key, value] : set.entries()) {
        if (!check_key(value, key)) continue;
        if (!value.defined()) {
          value.fail("expected a value for '" + key + "'");
          continue;
        }
        sets.push_back({key, Value{yaml_text(value.yaml()), origin_of(value)}});
        for (const auto& k : absolute(key)) {
          if (std::find(pd.keys.begin(), pd.keys.end(), k) == pd.keys.end()) pd.keys.push_back(k);
        }
      }
      if (set.is_map() && set.entries().empty()) set.fail("expected at least one key: value to set");
      pd.dimension.labels.push_back(name);
      pd.sets.push_back(std::move(sets));
    }
    if (scenarios->is_sequence() && pd.dimension.labels.empty()) scenarios->fail("expected at least one scenario");
    for (const auto& k : pd.keys) swept_keys.insert(k);
    if (!pd.dimension.labels.empty()) dims.push_back(std::move(pd));
  }

  if (const auto grid = node.optional("grid")) {
    const auto entries = grid->sequence();
    if (grid->is_sequence() && entries.empty()) grid->fail("expected at least one {key, values} entry");
    for (const auto& entry : entries) {
      entry.check_keys({"key", "name", "values", "range", "step", "unit"});
      if (!entry.is_map()) {
        entry.fail("expected a mapping {key: ..., values: [...], name: ..., unit: ...}");
        continue;
      }
      const InputNode key_node = entry.required("key");
      const std::string key = key_node.text();
      const bool key_ok = key_node.is_scalar() && check_key(key_node, key);
      ParsedDimension pd;
      SweepDimension& d = pd.dimension;
      d.key = key;
      if (key_ok) {
        pd.keys = absolute(key);
        for (const auto& k : pd.keys) {
          if (!swept_keys.insert(k).second) key_node.fail("'" + k + "' is swept twice (by two grid entries or a scenario)");
        }
      }
      std::string unit;
      if (const auto u = entry.optional("unit")) {
        unit = u->text();
        if (u->is_scalar() && unit != "1" && !parse_unit(unit)) {
          u->fail("unknown unit '" + unit + "'; expected a unit such as mg, mg/kg, d, h, min (or 1)");
        }
      }
      // `range: [from, to]` with `step:` stands for the values from, from + step, ... up to `to`
      // (ranges in the steps clinics use: whole days, 0.25 mg/kg).
      std::vector<InputNode> values;
      std::vector<std::string> range_values;  // generated texts when `range` is used
      if (entry.has("range")) {
        const InputNode range = entry.child("range");
        if (entry.has("values")) entry.child("values").fail("give `values` or `range` with `step`, not both");
        const auto ends = range.sequence();
        const InputNode step_node = entry.required("step");
        if (range.is_sequence() && ends.size() != 2) range.fail("expected [from, to]");
        if (ends.size() == 2 && step_node.is_scalar()) {
          const auto from = parse_quantity(ends[0].text()), to = parse_quantity(ends[1].text()),
                     step = parse_quantity(step_node.text());
          if (!from || !to || !step) {
            range.fail("expected numbers with one unit (e.g. [7d, 28d] with step: 7d, or bare numbers with `unit`)");
          } else if (from->unit != to->unit || from->unit != step->unit) {
            range.fail("`range` and `step` must use the same unit ('" + from->unit + "', '" + to->unit + "', '" +
                       step->unit + "')");
          } else if (!(step->value > 0.0)) {
            step_node.fail("expected a positive step");
          } else if (!(to->value >= from->value)) {
            range.fail("expected from <= to");
          } else if ((to->value - from->value) / step->value > static_cast<double>(kMaxPoints)) {
            step_node.fail("the range has more than " + std::to_string(kMaxPoints) + " values; use a larger step");
          } else {
            // Values as from + k * step (not accumulated), and `to` itself when it is on the grid.
            const long long n = static_cast<long long>(std::floor((to->value - from->value) / step->value + 1e-9));
            for (long long k = 0; k <= n; ++k) {
              range_values.push_back(format_number(from->value + static_cast<double>(k) * step->value) + from->unit);
              values.push_back(range);
            }
          }
        }
      } else {
        values = entry.required("values").sequence();
        if (entry.has("values") && entry.child("values").is_sequence() && values.empty()) {
          entry.child("values").fail("expected at least one value");
        }
      }
      // The text of value i: as written, or generated from the range.
      auto text_of = [&](std::size_t i) {
        return range_values.empty() ? values[i].yaml().Scalar() : range_values[i];
      };
      // Numeric when every value is a number (all written with the same unit, or bare with `unit`).
      bool numeric = !values.empty();
      std::string inline_unit;
      bool first = true;
      for (std::size_t i = 0; i < values.size(); ++i) {
        const InputNode& v = values[i];
        if (range_values.empty() && !v.is_scalar()) {
          v.fail("expected a number or a name, found a " + std::string(v.is_map() ? "mapping" : "list") +
                 " (use `scenarios:` to set structured values)");
          numeric = false;
          continue;
        }
        const auto q = parse_quantity(text_of(i));
        if (!q) {
          numeric = false;
          continue;
        }
        if (first) inline_unit = q->unit;
        first = false;
        if (q->unit != inline_unit) {
          v.fail("all values of one grid entry must use the same unit ('" + inline_unit + "' before, '" + q->unit +
                 "' here)");
        }
      }
      if (numeric && !unit.empty() && !inline_unit.empty()) {
        values.front().fail("the values carry a unit ('" + inline_unit + "') and so does `unit` ('" + unit +
                            "'): give it in one place");
      }
      bool any_number = false;
      for (std::size_t i = 0; i < values.size(); ++i) {
        any_number |= (!range_values.empty() || values[i].is_scalar()) && parse_quantity(text_of(i)).has_value();
      }
      if (!numeric && any_number) {
        entry.child("values").fail("expected all numbers (one unit) or all names, found a mix");
      }
      if (!numeric && !unit.empty()) entry.child("unit").fail("`unit` applies to numeric values only");
      const std::string coordinate_unit = !unit.empty() ? unit : !inline_unit.empty() ? inline_unit : "1";
      if (numeric) d.units = coordinate_unit;
      else d.units = "1";
      // Name: explicit, or the key as an identifier with the unit (regimen.dose + mg/kg -> regimen_dose_mg_per_kg).
      if (const auto n = entry.optional("name")) {
        d.name = n->text();
        if (n->is_scalar() && !is_identifier(d.name)) {
          n->fail("expected a name of letters, digits and _ (not starting with a digit), found '" + d.name + "'");
        }
      } else {
        std::string suffix;
        if (numeric && coordinate_unit != "1") {
          for (char c : coordinate_unit) suffix += c == '/' ? std::string("_per_") : std::string(1, c);
          suffix = "_" + identifier_from_key(suffix);
        }
        d.name = identifier_from_key(key) + suffix;
      }
      for (std::size_t i = 0; i < values.size(); ++i) {
        const InputNode& v = values[i];
        if (range_values.empty() && !v.is_scalar()) continue;
        const std::string text = text_of(i);
        Value value{text, origin_of(v)};
        if (numeric) {
          const double x = parse_quantity(text)->value;
          if (std::find(d.values.begin(), d.values.end(), x) != d.values.end()) {
            v.fail("duplicate value " + text + " (coordinates must be unique so that one can select a point)");
          }
          d.values.push_back(x);
          if (!unit.empty() && unit != "1") value.override_text = text + " " + unit;
        } else {
          if (std::find(d.labels.begin(), d.labels.end(), text) != d.labels.end()) {
            v.fail("duplicate value '" + text + "'");
          }
          d.labels.push_back(text);
        }
        pd.sets.push_back({{key, value}});
      }
      if (key_ok && d.size() > 0) dims.push_back(std::move(pd));
    }
  }
  if (!node.has("grid") && !node.has("scenarios")) node.fail("expected `grid:` and/or `scenarios:`");

  // Dimension names: identifiers, unique, not a name the results file already uses.
  std::set<std::string> names;
  for (std::size_t i = 0; i < dims.size(); ++i) {
    const std::string& name = dims[i].dimension.name;
    // Names the results file already uses (the one results schema): a dimension must not collide.
    const bool reserved = io::reserved_name(name);
    const InputNode where = dims[i].dimension.key.empty() ? node.child("scenarios") : node.child("grid");
    if (reserved) where.fail("sweep dimension name '" + name + "' is already used by the results file; choose another `name`");
    if (!names.insert(name).second) where.fail("two sweep dimensions are named '" + name + "'; give each a distinct `name`");
  }

  std::size_t total = 1;
  for (const auto& pd : dims) {
    total *= std::max<std::size_t>(pd.dimension.size(), 1);
    if (total > kMaxPoints) {
      node.fail("the sweep has more than " + std::to_string(kMaxPoints) + " points; split it into several runs");
      dims.clear();
      break;
    }
  }

  // Points, row-major: the last dimension varies fastest.
  for (const auto& pd : dims) plan.dimensions.push_back(pd.dimension);
  std::vector<std::size_t> index(dims.size(), 0);
  for (std::size_t p = 0; p < total || (dims.empty() && p == 0); ++p) {
    SweepPoint point;
    point.index = index;
    for (std::size_t d = 0; d < dims.size(); ++d) {
      const SweepDimension& dim = dims[d].dimension;
      const std::string coordinate = dim.labels.empty() ? format_number(dim.values[index[d]]) : dim.labels[index[d]];
      point.label += (point.label.empty() ? "" : " ") + dim.name + "=" + coordinate;
      for (const auto& [key, value] : dims[d].sets[index[d]]) {
        for (const auto& k : absolute(key)) point.overrides.push_back({k, value.override_text, value.origin});
      }
    }
    plan.points.push_back(std::move(point));
    for (std::size_t d = dims.size(); d-- > 0;) {
      if (++index[d] < dims[d].dimension.size()) break;
      index[d] = 0;
    }
    if (dims.empty()) break;
  }
  return plan;
}

SweepPlan parse_sweep(const StudyConfig& config) {
  const YAML::Node& effective = config.effective;
  const YAML::Node block = effective.IsMap() ? effective["sweep"] : YAML::Node();
  if (!block.IsDefined() || block.IsNull()) {
    SweepPlan plan;
    plan.points.push_back({});
    return plan;
  }
  Diagnostics diagnostics;
  const InputNode node(block, std::make_shared<const std::string>(config.path), "sweep", &diagnostics);
  std::vector<std::string> arm_names;
  for (const auto& arm : config.arms) arm_names.push_back(arm.name);
  SweepPlan plan = parse_sweep_block(node, arm_names);
  diagnostics.throw_if_any();
  plan.effective = config.effective;
  return plan;
}

namespace {

std::string dump(const YAML::Node& node) {
  if (!node.IsDefined()) return "";
  YAML::Emitter e;
  e << node;
  return e.c_str();
}

// What a point must share with the first one; returns the name of the first difference.
std::string first_difference(const StudyConfig& a, const StudyConfig& b) {
  for (const char* key : {"study", "endpoints", "outputs"}) {
    const YAML::Node& ea = a.effective;
    const YAML::Node& eb = b.effective;
    if (dump(ea[key]) != dump(eb[key])) return key;
  }
  if (a.cohort.patients != b.cohort.patients) return "cohort.patients";
  if (a.cohort.population_file != b.cohort.population_file) return "cohort.population_file";
  if (a.cohort.variability != b.cohort.variability) return "cohort.variability";
  if (a.arms.size() != b.arms.size()) return "the number of arms";
  for (std::size_t i = 0; i < a.arms.size(); ++i) {
    if (a.arms[i].name != b.arms[i].name) return "arm names";
  }
  if (a.tolerances.relative != b.tolerances.relative || a.tolerances.absolute_mg != b.tolerances.absolute_mg) {
    return "solver tolerances";
  }
  return "";
}

}  // namespace

std::vector<StudyConfig> expand_sweep(const StudyConfig& base, const SweepPlan& plan, const Logger* log) {
  if (plan.dimensions.empty()) return {base};
  std::vector<StudyConfig> points;
  points.reserve(plan.points.size());
  std::vector<std::string> messages;
  std::set<std::string> seen;
  auto add = [&](const std::string& m) {
    if (seen.insert(m).second) messages.push_back(m);
  };
  for (const SweepPoint& point : plan.points) {
    try {
      // The base's text with its --set overrides and this point's. Re-read rather than cloned:
      // YAML::Clone drops the source marks, and messages about a point must name file lines.
      std::vector<Override> overrides = base.overrides;
      overrides.insert(overrides.end(), point.overrides.begin(), point.overrides.end());
      points.push_back(parse_study_config(base.path, base.yaml_text, overrides));
    } catch (const InputError& e) {
      for (const auto& m : e.messages()) {
        // Messages about a swept value already name the sweep entry; the others get the point.
        add(m.find("(value from sweep") != std::string::npos ? m : m + " (in sweep point '" + point.label + "')");
      }
      continue;
    }
    const std::string diff = first_difference(points.front(), points.back());
    if (!diff.empty()) {
      add(format_location(plan.location) + ": sweep point '" + point.label + "' changes " + diff +
          " compared with point '" + plan.points.front().label +
          "'; every point must run the same virtual patients, visits and outputs");
    }
    if (log && log->enabled(LogLevel::debug)) {
      std::string sets;
      for (const auto& o : point.overrides) sets += " " + o.key_path + "=" + o.value;
      log->debug("sweep point '" + point.label + "':" + sets);
    }
  }
  if (!messages.empty()) {
    constexpr std::size_t kShown = 50;
    if (messages.size() > kShown) {
      const std::size_t more = messages.size() - kShown;
      messages.resize(kShown);
      messages.push_back("... and " + std::to_string(more) + " more problems in other sweep points");
    }
    throw InputError(messages);
  }
  if (log) {
    for (const auto& d : plan.dimensions) {
      if (d.size() == 1) log->warning("sweep dimension '" + d.name + "' has a single value");
    }
    std::string dims;
    for (const auto& d : plan.dimensions) dims += (dims.empty() ? "" : " x ") + d.name + " (" + std::to_string(d.size()) + ")";
    log->info("sweep: " + std::to_string(points.size()) + " points = " + dims + "; " +
              std::to_string(points.front().arms.size()) + " arms each, same virtual patients in every point");
    if (!plan.arms.empty() && plan.arms.size() < points.front().arms.size()) {
      std::string others;
      for (const auto& arm : points.front().arms) {
        if (std::find(plan.arms.begin(), plan.arms.end(), arm.name) == plan.arms.end()) {
          others += (others.empty() ? "" : ", ") + arm.name;
        }
      }
      log->info("arms not in sweep.arms (" + others + ") run unchanged at every point");
    }
  }
  return points;
}

}  // namespace ketasim::trial
