// Unit tests of src/population/cohort.cpp: sample_patient is a pure function of (cohort, seed,
// index); its draws stay in place when another covariate's distribution changes (fixed draw
// order, one uniform per covariate even when the SD is 0), and values respect the truncation.
#include "ketasim/population/cohort.hpp"

#include <catch2/catch.hpp>

using ketasim::population::sample_patient;
using ketasim::population::CohortConfig;

TEST_CASE("sample_patient is a pure function of seed and patient index", "[population][cohort]") {
  const CohortConfig cohort;
  for (std::uint64_t i : {0ull, 1ull, 255ull, 256ull, 999999ull}) {
    const auto a = sample_patient(cohort, 42, i), b = sample_patient(cohort, 42, i);
    CHECK(a.index == i);
    CHECK(a.covariates.weight_kg == b.covariates.weight_kg);
    CHECK(a.covariates.age_y == b.covariates.age_y);
    CHECK(a.covariates.sex == b.covariates.sex);
    CHECK(a.baseline_madrs == b.baseline_madrs);
  }
  // Different patient or seed: different draws.
  CHECK(sample_patient(cohort, 42, 0).covariates.weight_kg != sample_patient(cohort, 42, 1).covariates.weight_kg);
  CHECK(sample_patient(cohort, 42, 0).covariates.weight_kg != sample_patient(cohort, 43, 0).covariates.weight_kg);
  CHECK(sample_patient(cohort, 42, 0).baseline_madrs != sample_patient(cohort, 43, 0).baseline_madrs);
}

TEST_CASE("Sampled covariates respect their truncation bounds", "[population][cohort]") {
  CohortConfig cohort;
  cohort.weight_kg = {80, 15, 45, 150};
  cohort.age_y = {46, 12, 18, 74};
  cohort.baseline_madrs = {37.3, 5.5, 28, 60};
  for (std::uint64_t i = 0; i < 20000; ++i) {
    const auto p = sample_patient(cohort, 7, i);
    REQUIRE(p.covariates.weight_kg >= 45);
    REQUIRE(p.covariates.weight_kg <= 150);
    REQUIRE(p.covariates.age_y >= 18);
    REQUIRE(p.covariates.age_y <= 74);
    REQUIRE(p.baseline_madrs >= 28);
    REQUIRE(p.baseline_madrs <= 60);
    REQUIRE((p.covariates.sex == 0 || p.covariates.sex == 1));
  }
}

TEST_CASE("Changing one covariate's distribution does not move the others' draws", "[population][cohort]") {
  CohortConfig base;
  CohortConfig fixed_weight = base;
  fixed_weight.weight_kg.sd = 0.0;  // a constant still consumes its uniform
  CohortConfig other_weight = base;
  other_weight.weight_kg = {60, 5, 40, 80};
  for (std::uint64_t i = 0; i < 200; ++i) {
    const auto a = sample_patient(base, 5, i);
    const auto b = sample_patient(fixed_weight, 5, i);
    const auto c = sample_patient(other_weight, 5, i);
    CHECK(b.covariates.weight_kg == base.weight_kg.mean);
    for (const auto* q : {&b, &c}) {
      CHECK(q->covariates.age_y == a.covariates.age_y);
      CHECK(q->covariates.sex == a.covariates.sex);
      CHECK(q->baseline_madrs == a.baseline_madrs);
    }
  }
}

TEST_CASE("Female fraction 0 and 1 give one sex only, baseline with SD 0 is the mean", "[population][cohort]") {
  CohortConfig males, females;
  males.female_fraction = 0.0;
  females.female_fraction = 1.0;
  females.baseline_madrs = {33.0, 0.0, 28.0, 60.0};
  for (std::uint64_t i = 0; i < 1000; ++i) {
    CHECK(sample_patient(males, 1, i).covariates.sex == 0);
    const auto f = sample_patient(females, 1, i);
    CHECK(f.covariates.sex == 1);
    CHECK(f.baseline_madrs == 33.0);
  }
}
