#include "ketasim/response/structure.hpp"

#include <algorithm>
#include <cmath>

#include "ketasim/population/random_stream.hpp"
#include "ketasim/response/benefit_v2.hpp"
#include "ketasim/response/plasticity_v1.hpp"

namespace ketasim::response {

std::shared_ptr<const ResponseStructure> StructureRegistry::make(const std::string& name) const {
  const auto it = factories_.find(name);
  return it == factories_.end() ? nullptr : it->second();
}

std::string StructureRegistry::names() const {
  std::string out;
  for (const auto& [name, factory] : factories_) out += (out.empty() ? "" : ", ") + name;
  return out;
}

const StructureRegistry& builtin_structures() {
  // Built once, never changed: a constant table, not shared mutable state.
  static const StructureRegistry registry = [] {
    StructureRegistry r;
    r.add("plasticity_v1", [] { return std::make_shared<const PlasticityV1>(); });
    r.add("benefit_v2", [] { return std::make_shared<const BenefitV2>(); });
    return r;
  }();
  return registry;
}

void observe_scores(const PatientExposure& patient, double ou_sd_points, double ou_half_life_h, double rater_sd_points,
                    const double* expected, double* madrs) {
  RandomStream noise(patient.seed, Stream::visit_noise, patient.patient_index);
  const double theta = std::log(2.0) / ou_half_life_h;
  double ou = 0.0;
  double previous_h = 0.0;
  for (int v = 0; v < patient.n_visits; ++v) {
    const double t_h = patient.visit_h[v];
    // Two draws per visit whatever happens at it, so later visits never shift.
    const double ou_z = noise.normal();
    const double rater_z = noise.normal();
    if (t_h <= 0.0) {
      madrs[v] = patient.baseline_madrs;  // day 0 is the entry assessment itself
      continue;
    }
    const double decay = std::exp(-theta * (t_h - previous_h));
    ou = ou * decay + ou_sd_points * std::sqrt(1.0 - decay * decay) * ou_z;
    previous_h = t_h;
    madrs[v] = std::clamp(std::round(expected[v] + ou + rater_sd_points * rater_z), 0.0, 60.0);
  }
}

}  // namespace ketasim::response
