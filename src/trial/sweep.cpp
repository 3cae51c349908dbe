// Placeholder until sweeps are parsed: a config without a sweep is one point.
#include "ketasim/trial/sweep.hpp"

namespace ketasim::trial {

SweepPlan parse_sweep(const StudyConfig& config) {
  SweepPlan plan;
  if (config.effective["sweep"].IsDefined()) {
    throw InputError(SourceLocation{config.path, "sweep", 0, 0}, "sweeps are not supported yet");
  }
  plan.points.push_back({});
  return plan;
}

std::vector<StudyConfig> expand_sweep(const StudyConfig& base, const std::vector<Override>&, const SweepPlan&) {
  return {base};
}

}  // namespace ketasim::trial
