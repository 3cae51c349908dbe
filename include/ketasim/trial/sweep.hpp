#pragma once
// Sweeps over dosing parameters (config `sweep:` block, docs/config.md). A sweep is a grid over
// config keys (or a list of named scenarios); every point is a full StudyConfig obtained by
// applying that point's overrides to the base config and validating it like any config, and all
// points run on the same virtual patients.
#include <string>
#include <vector>

#include "ketasim/trial/config.hpp"

namespace ketasim::trial {

// One axis of the results file: a swept key (numeric coordinates with a unit) or `scenario`
// (string labels).
struct SweepDimension {
  std::string name;                  // dimension name in the results file, e.g. dose_mg_per_kg
  std::string key;                   // config key path swept (empty for scenarios)
  std::string units;                 // UDUNITS of the coordinate ("mg/kg", "d", "1")
  std::vector<double> values;        // numeric coordinates (empty for scenarios)
  std::vector<std::string> labels;   // scenario names (empty for numeric dimensions)
  std::size_t size() const { return labels.empty() ? values.size() : labels.size(); }
};

struct SweepPoint {
  std::vector<Override> overrides;   // applied on top of the command line's --set overrides
  std::vector<std::size_t> index;    // position along each dimension
  std::string label;                 // e.g. "dose_mg_per_kg=0.5 interval_d=14"
};

struct SweepPlan {
  std::vector<SweepDimension> dimensions;  // outermost first; points are row-major over them
  std::vector<SweepPoint> points;
  std::vector<std::string> arms;           // arms the sweep applies to (empty: every arm)
};

// Reads the `sweep:` block of a validated config (none: an empty plan with no dimensions and
// one point with no overrides). Throws InputError naming file, key path and line.
SweepPlan parse_sweep(const StudyConfig& config);

// Every point as its own validated StudyConfig (same cohort, seed, arms, visits: checked).
std::vector<StudyConfig> expand_sweep(const StudyConfig& base, const std::vector<Override>& base_overrides,
                                      const SweepPlan& plan);

}  // namespace ketasim::trial
