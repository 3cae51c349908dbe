#pragma once
// Virtual patients: covariates drawn from the config's distributions with the patient's own
// counter-based stream, so patient i is the same whatever the thread count, batch or arm.
#include <cstdint>

#include "ketasim/pk/individual.hpp"
#include "ketasim/population/cohort_config.hpp"

namespace ketasim::population {

struct Patient {
  std::uint64_t index = 0;
  pk::Covariates covariates;
  double baseline_madrs = 0.0;
};

// Draw order in the covariates stream is fixed: weight, age, sex, baseline MADRS.
Patient sample_patient(const CohortConfig& cohort, std::uint64_t seed, std::uint64_t index);

}  // namespace ketasim::population
