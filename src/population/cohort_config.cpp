#include "ketasim/population/cohort_config.hpp"

#include "ketasim/core/paths.hpp"

namespace ketasim::population {

namespace {

TruncatedNormalSpec parse_truncated_normal(const InputNode& node, TruncatedNormalSpec spec) {
  node.check_keys({"mean", "sd", "min", "max"});
  if (const auto v = node.optional("mean")) spec.mean = v->number();
  if (const auto v = node.optional("sd")) spec.sd = v->nonnegative_number();
  if (const auto v = node.optional("min")) spec.min = v->number();
  if (const auto v = node.optional("max")) spec.max = v->number();
  if (!(spec.min < spec.max)) node.fail("expected min < max");
  if (spec.mean < spec.min || spec.mean > spec.max) node.fail("expected min <= mean <= max");
  return spec;
}

}  // namespace

CohortConfig parse_cohort(const InputNode& node, const std::string& config_path) {
  node.check_keys({"patients", "weight_kg", "age_y", "female_fraction", "baseline_madrs", "population_file",
                   "variability"});
  CohortConfig c;
  // With a population file the cohort defaults to all of its rows.
  if (node.has("patients") || !node.has("population_file")) {
    const long long n = node.required("patients").integer();
    if (node.has("patients") && n < 1) node.child("patients").fail("expected at least 1 patient");
    c.patients = n;
  } else {
    c.patients = -1;
  }
  if (const auto v = node.optional("weight_kg")) c.weight_kg = parse_truncated_normal(*v, c.weight_kg);
  if (const auto v = node.optional("age_y")) c.age_y = parse_truncated_normal(*v, c.age_y);
  if (const auto v = node.optional("baseline_madrs")) {
    c.baseline_madrs = parse_truncated_normal(*v, c.baseline_madrs);
    // MADRS is a 0-60 scale: a distribution outside it gives impossible scores.
    if (c.baseline_madrs.min < 0.0 || c.baseline_madrs.max > 60.0) v->fail("expected min >= 0 and max <= 60 (the MADRS scale)");
  }
  if (c.weight_kg.min <= 0.0) node.child("weight_kg").fail("body weight must be positive (min > 0)");
  if (const auto v = node.optional("female_fraction")) {
    c.female_fraction = v->number();
    if (c.female_fraction < 0.0 || c.female_fraction > 1.0) v->fail("expected a fraction in [0, 1]");
  }
  if (const auto v = node.optional("variability")) c.variability = v->boolean();
  if (const auto v = node.optional("population_file")) {
    c.population_file = resolve_relative(config_path, v->text());
    if (!c.population_file.empty() && !regular_file(c.population_file)) {
      v->fail("population file '" + c.population_file + "' not found (paths are relative to the config file)");
    }
  }
  return c;
}

}  // namespace ketasim::population
