#pragma once
// Internal to the trial engine: power of a parallel-group trial from replicate trials, counted as
// batches stream past the writer (docs/config.md, endpoints.power).
#include <algorithm>
#include <limits>
#include <vector>

#include "batch.hpp"
#include "ketasim/trial/config.hpp"
#include "ketasim/trial/statistics.hpp"

namespace ketasim::trial {

// Replicate r of a parallel-group trial: patients [2rn, 2rn+n) in the reference arm vs
// [(2r+1)n, (2r+2)n) in the other, so the groups are different people; significant when the
// Newcombe CI of the rate difference excludes 0. Counts accumulate as batches stream past.
class PowerCounter {
 public:
  PowerCounter(const Layout& l, const EndpointConfig& e)
      : plans_(l.n_plans), replicates_(e.power_replicates), n_(e.power_patients_per_replicate),
        counts_(static_cast<std::size_t>(std::max(0, replicates_)) * 2 * l.n_plans * 3, 0) {}

  void add(const Batch& b) {
    if (replicates_ <= 0) return;
    for (int a = 0; a < plans_; ++a) {
      for (int p = 0; p < b.count; ++p) {
        const long long i = b.first + p;
        const long long block = i / n_;
        if (block >= 2LL * replicates_) continue;
        const std::size_t ap = static_cast<std::size_t>(a) * b.count + p;
        if (b.status[ap] != 0) continue;
        long long* c = &counts_[(static_cast<std::size_t>(block) * plans_ + a) * 3];
        ++c[0];
        c[1] += b.response[ap];
        c[2] += b.remission[ap];
      }
    }
  }

  // Fraction of replicates with a significant difference of plan `a` vs the first arm of its point.
  double power(int a, int n_arms, int endpoint) const {
    const int reference = a - a % n_arms;
    if (replicates_ <= 0 || a == reference) return std::numeric_limits<double>::quiet_NaN();
    long significant = 0;
    for (int r = 0; r < replicates_; ++r) {
      const long long* x = &counts_[(static_cast<std::size_t>(2 * r) * plans_ + reference) * 3];
      const long long* y = &counts_[(static_cast<std::size_t>(2 * r + 1) * plans_ + a) * 3];
      const Interval ci = newcombe_difference_interval(x[1 + endpoint], x[0], y[1 + endpoint], y[0]);
      significant += ci.lower > 0.0 || ci.upper < 0.0;
    }
    return static_cast<double>(significant) / replicates_;
  }

 private:
  int plans_, replicates_;
  long long n_;
  std::vector<long long> counts_;  // [block][plan][n, responders, remitters]
};

}  // namespace ketasim::trial
