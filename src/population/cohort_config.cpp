#include "ketasim/population/cohort_config.hpp"

#include "ketasim/core/limits.hpp"
#include "ketasim/core/paths.hpp"

#include <string>
#include <utility>

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

CohortConfig parse_cohort(const InputNode& node, const std::string& config_path, bool event_data) {
  node.check_keys({"patients", "weight_kg", "age_y", "female_fraction", "baseline_madrs", "population_file",
                   "variability"});
  CohortConfig c;
  // With a population file the cohort defaults to all of its rows.
  if (node.has("patients") || !(node.has("population_file") || event_data)) {
    const long long n = node.required("patients").integer();
    if (node.has("patients") && n < 1) node.child("patients").fail("expected at least 1 patient");
    if (n > limits::kMaxPatients) {
      node.child("patients").fail("at most " + std::to_string(limits::kMaxPatients) +
                                  " patients per arm (a run that size already takes days); split the cohort");
    }
    c.patients = n;
  } else {
    c.patients = -1;
  }
  if (const auto v = node.optional("weight_kg")) c.weight_kg = parse_truncated_normal(*v, c.weight_kg);
  if (const auto v = node.optional("age_y")) c.age_y = parse_truncated_normal(*v, c.age_y);
  if (const auto v = node.optional("baseline_madrs")) c.baseline_madrs = parse_truncated_normal(*v, c.baseline_madrs);
  if (c.weight_kg.min <= 0.0) node.child("weight_kg").fail("body weight must be positive (min > 0)");
  // Same physical ranges as a population file's WT, AGE and a MADRS total score (0-60).
  const std::pair<const char*, std::pair<const TruncatedNormalSpec*, limits::Range>> ranges[] = {
      {"weight_kg", {&c.weight_kg, limits::kWeightKg}},
      {"age_y", {&c.age_y, limits::kAgeY}},
      {"baseline_madrs", {&c.baseline_madrs, limits::kMadrs}}};
  for (const auto& [key, check] : ranges) {
    const auto& [spec, range] = check;
    if (node.has(key) && (spec->min < range.min || spec->max > range.max)) {
      node.child(key).fail("min and max must lie within " + range.text());
    }
  }
  if (const auto v = node.optional("female_fraction")) {
    c.female_fraction = v->number();
    if (c.female_fraction < 0.0 || c.female_fraction > 1.0) v->fail("expected a fraction in [0, 1]");
  }
  if (const auto v = node.optional("variability")) c.variability = v->boolean();
  c.event_data = event_data;
  if (event_data && node.has("population_file")) {
    node.child("population_file").fail("the patients come from the arms' event data set (regimen.data): put covariates "
                                       "(WT, AGE, SEX, ETA_...) in that file, not in a population file");
  } else if (const auto v = node.optional("population_file")) {
    c.population_file = resolve_relative(config_path, v->text());
    if (!c.population_file.empty() && !regular_file(c.population_file)) {
      v->fail("population file '" + c.population_file + "' not found (paths are relative to the config file)");
    }
  }
  return c;
}

}  // namespace ketasim::population
