#pragma once
// Counter-based random numbers (spec 6). A draw is a pure function of (seed, stream, patient,
// position), so results do not depend on thread count, scheduling, or how the cohort is split
// across processes. Random123 stays out of this header so that users of RandomStream do not
// inherit its warnings.
#include <array>
#include <cstdint>

namespace ketasim {

// Each model component draws from its own stream. Values are part of the key, so they are
// frozen: renumbering one would change every result that depends on it. Add new streams at the
// end; a new stream does not move any draw of an existing one.
enum class Stream : std::uint64_t {
  covariates = 1,
  pk_variability = 2,
  response = 3,
  visit_noise = 4,
  adherence = 5,
  dropout = 6,
  response_process = 7,  // a response structure's own event times (benefit_v2: relapse events)
  optimize_bootstrap = 8,  // `optimize`: paired bootstrap samples (the "patient" counter is the replicate)
  residual_error = 9,      // observation error of simulated DV (outputs.sampling_times)
  withdrawal = 10,         // randomized withdrawal: which selected patients are randomized to stop
  parameter_draws = 11,    // endpoints.parameter_uncertainty: response-model parameter draws (the "patient" counter is the draw)
};

// One generator per (seed, stream, patient). Philox4x64-10 keyed by {seed, stream}, counter
// {patient_index, block, 0, 0}; each block yields four 64-bit words. The object is a handful of
// words on the stack (no heap), so creating one per patient inside a parallel loop is cheap.
//
// The sequence depends only on the order of calls on this object. normal() draws uniforms in
// pairs and keeps the second Box-Muller value for the next normal() call.
class RandomStream {
 public:
  RandomStream(std::uint64_t seed, Stream stream, std::uint64_t patient_index);

  // Open interval (0, 1) with 53 random bits: never 0 or 1, so log() and quantiles are safe.
  double uniform();

  // Standard normal by Box-Muller. Our own rather than std::normal_distribution, whose
  // algorithm differs between standard libraries and would break cross-platform reproducibility.
  double normal();
  double normal(double mean, double sd);

  // Normal(mean, sd) restricted to [lower, upper] (either bound may be infinite), by inversion
  // on [Phi(a), Phi(b)]. Exactly one uniform per draw, unlike rejection sampling, so the number
  // of draws consumed never depends on the values drawn. Throws std::invalid_argument unless
  // sd > 0 and lower < upper. If the interval lies so deep in a tail (beyond ~37 sd) that its
  // probability underflows, the result collapses onto the nearer bound.
  double truncated_normal(double mean, double sd, double lower, double upper);

  // One uniform per call whatever the probability (so 0 and 1 still consume a draw).
  // Throws std::invalid_argument unless 0 <= probability <= 1.
  bool bernoulli(double probability);

 private:
  void refill();

  std::array<std::uint64_t, 2> key_;
  std::uint64_t patient_index_;
  std::uint64_t next_block_ = 0;
  std::array<std::uint64_t, 4> words_{};
  int next_word_ = 4;  // 4 = buffer exhausted
  double spare_normal_ = 0.0;
  bool has_spare_normal_ = false;
};

// Standard normal CDF, via std::erfc so the lower tail keeps full relative precision.
double normal_cdf(double z);

// Inverse standard normal CDF: Wichura (1988) AS241 PPND16, about 1e-16 relative accuracy.
// Returns -inf at 0, +inf at 1, NaN outside [0, 1] or for NaN.
double normal_quantile(double p);

}  // namespace ketasim
