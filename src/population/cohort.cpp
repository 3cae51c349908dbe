#include "ketasim/population/cohort.hpp"

#include "ketasim/population/random_stream.hpp"

namespace ketasim::population {

namespace {
double draw(RandomStream& rng, const TruncatedNormalSpec& s) {
  if (s.sd <= 0.0) {
    rng.uniform();  // keep one draw per covariate so later covariates never shift
    return s.mean;
  }
  return rng.truncated_normal(s.mean, s.sd, s.min, s.max);
}
}  // namespace

Patient sample_patient(const CohortConfig& cohort, std::uint64_t seed, std::uint64_t index) {
  RandomStream rng(seed, Stream::covariates, index);
  Patient p;
  p.index = index;
  p.covariates.weight_kg = draw(rng, cohort.weight_kg);
  p.covariates.age_y = draw(rng, cohort.age_y);
  p.covariates.sex = rng.bernoulli(cohort.female_fraction) ? 1 : 0;
  p.baseline_madrs = draw(rng, cohort.baseline_madrs);
  return p;
}

}  // namespace ketasim::population
