#pragma once
// Sweeps over dosing parameters (config `sweep:` block, docs/config.md). A sweep is a grid over
// config keys (or a list of named scenarios); every point is a full StudyConfig obtained by
// applying that point's overrides to the base config and validating it like any config, and all
// points run on the same virtual patients.
#include <string>
#include <vector>

#include "ketasim/core/log.hpp"
#include "ketasim/core/yaml_input.hpp"
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

// YAML (docs/config.md):
//   sweep:
//     arms: [iv_ketamine]      # optional: keys are relative to each listed arm (arms.<i>.<key>)
//     grid:                    # one dimension per entry, row-major, first entry outermost
//       - {key: regimen.dose, name: dose_mg_per_kg, values: [0.25, 0.5], unit: mg/kg}
//       - {key: regimen.route, name: route, values: [iv_infusion, iv_bolus]}   # string dimension
//     scenarios:               # optional, a `scenario` dimension (outermost) of named override sets
//       - {name: weekly_56mg, set: {regimen.dose: 56 mg, regimen.schedule.1.every: 7d}}
// Numeric values get the unit appended for the override ("0.5 mg/kg"); values written with their
// own unit ("7d") are accepted when all share it. Other values make a string dimension.

struct SweepPlan {
  std::vector<SweepDimension> dimensions;  // outermost first; points are row-major over them
  std::vector<SweepPoint> points;
  std::vector<std::string> arms;           // arms the sweep applies to (empty: every arm)
  SourceLocation location;                 // of the `sweep:` block, for messages about whole points
  // The effective config the plan was read from (with its sweep block, before any point's
  // overrides): what a sweep run should store as `config_json`. Undefined without a sweep.
  YAML::Node effective;
};

// A name usable as a results-file variable or dimension: letters, digits and _, not starting with
// a digit. The one rule for every name a config gives (sweep dimensions, searched variables,
// withdrawal groups).
bool is_identifier(const std::string& s);

// Reads the `sweep:` block of a validated config (none: an empty plan with no dimensions and
// one point with no overrides). Throws InputError naming file, key path and line.
SweepPlan parse_sweep(const StudyConfig& config);
// The same on the block's node, reporting problems into its Diagnostics (load_study_config uses it
// so that sweep problems are listed with every other problem of the file). `arm_names` are the
// config's arms in order.
SweepPlan parse_sweep_block(const InputNode& node, const std::vector<std::string>& arm_names);

// Every point as its own validated StudyConfig: the parsed base config (with its --set overrides)
// and then the point's overrides applied. Checks
// that every point has the same cohort, seed, duration, visits and arms (the engine runs every
// point on the same virtual patients); problems of all points are reported at once, each naming
// the sweep entry whose value caused it. `log` (optional) gets notes about the expansion.
std::vector<StudyConfig> expand_sweep(const StudyConfig& base, const SweepPlan& plan, const Logger* log = nullptr);

}  // namespace ketasim::trial
