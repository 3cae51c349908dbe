#pragma once
// The seam between the trial engine and the response model: a ResponseStructure turns one
// patient's unbound concentrations on the simulation grid into MADRS scores at the visits.
// The engine knows nothing of occupancy, benefit states or placebo curves; a new structure is a
// new class registered in a StructureRegistry, with no change in trial/ (see
// tests/response/test_structure.cpp, which adds one).
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ketasim/core/units.hpp"
#include "ketasim/response/response_model.hpp"

namespace ketasim::response {

// One patient in one arm, as the response model sees it. Pointers are into the engine's
// per-worker workspace; nothing here allocates.
struct PatientExposure {
  std::uint64_t seed = 0;            // study seed and patient index: the structure's own streams
  std::uint64_t patient_index = 0;
  double baseline_madrs = 0.0;
  double age_y = 0.0;
  const double* random_effects = nullptr;  // random_effect_count() standard normals, the same in every arm
  int background = 0;                // index into ResponseModel::backgrounds
  const double* grid_h = nullptr;    // simulation grid (h since day 0)
  int n_grid = 0;
  const double* unbound_um = nullptr;  // [grid][moiety] unbound concentration, umol/L
  const double* ki_um = nullptr;       // [moiety] NMDA Ki of each moiety
  int n_moieties = 0;
  const int* visit_grid_index = nullptr;  // grid index of each visit
  const double* visit_h = nullptr;
  int n_visits = 0;
};

// Per visit, caller-owned arrays of n_visits. `state` and `occupancy` may be null (not stored).
struct VisitScores {
  double* madrs = nullptr;      // observed score had the patient stayed: integer 0-60
  double* expected = nullptr;   // noise-free mean score
  double* state = nullptr;      // the structure's benefit state (dimensionless), NaN if none
  double* occupancy = nullptr;  // NMDA occupancy at the visit
};

class ResponseStructure {
 public:
  virtual ~ResponseStructure() = default;
  virtual std::string name() const = 0;
  virtual std::vector<ParameterSpec> parameters() const = 0;
  virtual int random_effect_count() const = 0;
  // Per-background fields beyond max_typical, logit_sd and onset (optional in files, defaulted).
  virtual std::vector<BackgroundFieldSpec> background_fields() const { return {}; }
  // Called once per patient and arm; `scratch` is the worker's reusable buffer.
  virtual void score(const ResponseModel& model, const PatientExposure& patient, VisitScores& out,
                     std::vector<double>& scratch) const = 0;
};

// Names a model file may give in `structure:`; a model without the key is plasticity_v1.
class StructureRegistry {
 public:
  using Factory = std::function<std::shared_ptr<const ResponseStructure>()>;
  void add(const std::string& name, Factory factory) { factories_[name] = std::move(factory); }
  std::shared_ptr<const ResponseStructure> make(const std::string& name) const;  // null when unknown
  std::string names() const;

 private:
  std::map<std::string, Factory> factories_;
};

// The structures that ship with ketasim.
const StructureRegistry& builtin_structures();

// Observation model shared by structures: an Ornstein-Uhlenbeck mood fluctuation (exact
// transition between visits) plus rater error, rounded and clipped to the 0-60 MADRS scale.
// Draws two normals per visit from the patient's visit_noise stream, whatever the arm.
void observe_scores(const PatientExposure& patient, double ou_sd_points, double ou_half_life_h, double rater_sd_points,
                    const double* expected, double* madrs);

}  // namespace ketasim::response
