#include "ketasim/population/random_stream.hpp"

#include <fmt/format.h>

#include <Random123/philox.h>

#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

namespace ketasim {

namespace {

constexpr double kTwoPi = 6.283185307179586476925286766559;
constexpr double kInvSqrt2 = 0.70710678118654752440084436210485;

// Top 53 bits, centred in their cell: (k + 0.5) / 2^53 lies in [2^-54, 1 - 2^-54], so the
// interval is open at both ends without rejection and every value is exactly representable.
double to_open_unit(std::uint64_t word) {
  constexpr double kScale = 1.0 / 9007199254740992.0;  // 2^-53
  return (static_cast<double>(word >> 11) + 0.5) * kScale;
}

}  // namespace

RandomStream::RandomStream(std::uint64_t seed, Stream stream, std::uint64_t patient_index)
    : key_{seed, static_cast<std::uint64_t>(stream)}, patient_index_(patient_index) {}

void RandomStream::refill() {
  r123::Philox4x64 philox;
  r123::Philox4x64::ctr_type counter = {{patient_index_, next_block_, 0, 0}};
  r123::Philox4x64::key_type key = {{key_[0], key_[1]}};
  const r123::Philox4x64::ctr_type out = philox(counter, key);
  for (int i = 0; i < 4; ++i) words_[static_cast<std::size_t>(i)] = out.v[i];
  ++next_block_;
  next_word_ = 0;
}

double RandomStream::uniform() {
  if (next_word_ == 4) refill();
  return to_open_unit(words_[static_cast<std::size_t>(next_word_++)]);
}

double RandomStream::normal() {
  if (has_spare_normal_) {
    has_spare_normal_ = false;
    return spare_normal_;
  }
  // uniform() excludes 0, so the logarithm is finite.
  const double radius = std::sqrt(-2.0 * std::log(uniform()));
  const double angle = kTwoPi * uniform();
  spare_normal_ = radius * std::sin(angle);
  has_spare_normal_ = true;
  return radius * std::cos(angle);
}

double RandomStream::normal(double mean, double sd) { return mean + sd * normal(); }

double RandomStream::truncated_normal(double mean, double sd, double lower, double upper) {
  if (!(sd > 0.0) || !std::isfinite(sd) || !std::isfinite(mean)) {
    throw std::invalid_argument("truncated_normal: need finite mean and finite sd > 0, got mean " +
                                fmt::format("{:g}", mean) + ", sd " + fmt::format("{:g}", sd));
  }
  if (!(lower < upper)) {
    throw std::invalid_argument("truncated_normal: need lower < upper, got lower " +
                                fmt::format("{:g}", lower) + ", upper " + fmt::format("{:g}", upper));
  }
  const double a = (lower - mean) / sd;
  const double b = (upper - mean) / sd;
  const double u = uniform();
  double z;
  if (a > 0.0) {
    // Entirely in the upper tail: Phi(a) would round to 1 and lose every digit, so sample the
    // mirror image [-b, -a] in the lower tail, where Phi keeps full relative precision.
    const double lo = normal_cdf(-b);
    const double hi = normal_cdf(-a);
    z = -normal_quantile(lo + u * (hi - lo));
  } else {
    const double lo = normal_cdf(a);
    const double hi = normal_cdf(b);
    z = normal_quantile(lo + u * (hi - lo));
  }
  // Rounding in Phi and its inverse can step just outside the bounds.
  const double x = mean + sd * z;
  if (x < lower) return lower;
  if (x > upper) return upper;
  return x;
}

bool RandomStream::bernoulli(double probability) {
  if (!(probability >= 0.0 && probability <= 1.0)) {
    throw std::invalid_argument("bernoulli: probability must be in [0, 1], got " +
                                fmt::format("{:g}", probability));
  }
  return uniform() < probability;
}

double normal_cdf(double z) { return 0.5 * std::erfc(-z * kInvSqrt2); }

double normal_quantile(double p) {
  if (std::isnan(p) || p < 0.0 || p > 1.0) return std::numeric_limits<double>::quiet_NaN();
  if (p == 0.0) return -std::numeric_limits<double>::infinity();
  if (p == 1.0) return std::numeric_limits<double>::infinity();

  // Coefficients of Wichura, M. J. (1988) Algorithm AS 241, Appl. Statist. 37:477-484, PPND16.
  const double q = p - 0.5;
  if (std::fabs(q) <= 0.425) {
    const double r = 0.180625 - q * q;
    return q *
           (((((((2.5090809287301226727e+3 * r + 3.3430575583588128105e+4) * r +
                 6.7265770927008700853e+4) * r + 4.5921953931549871457e+4) * r +
               1.3731693765509461125e+4) * r + 1.9715909503065514427e+3) * r +
             1.3314166789178437745e+2) * r + 3.3871328727963666080e+0) /
           (((((((5.2264952788528545610e+3 * r + 2.8729085735721942674e+4) * r +
                 3.9307895800092710610e+4) * r + 2.1213794301586595867e+4) * r +
               5.3941960214247511077e+3) * r + 6.8718700749205790830e+2) * r +
             4.2313330701600911252e+1) * r + 1.0);
  }
  // Tails: work with the smaller of p and 1 - p; p itself (not 1 - p) keeps full precision in
  // the lower tail, which is why callers should reflect upper-tail problems (see above).
  double r = q < 0.0 ? p : 1.0 - p;
  r = std::sqrt(-std::log(r));
  double value;
  if (r <= 5.0) {
    r -= 1.6;
    value = (((((((7.74545014278341407640e-4 * r + 2.27238449892691845833e-2) * r +
                  2.41780725177450611770e-1) * r + 1.27045825245236838258e+0) * r +
                3.64784832476320460504e+0) * r + 5.76949722146069140550e+0) * r +
              4.63033784615654529590e+0) * r + 1.42343711074968357734e+0) /
            (((((((1.05075007164441684324e-9 * r + 5.47593808499534494600e-4) * r +
                  1.51986665636164571966e-2) * r + 1.48103976427480074590e-1) * r +
                6.89767334985100004550e-1) * r + 1.67638483018380384940e+0) * r +
              2.05319162663775882187e+0) * r + 1.0);
  } else {
    r -= 5.0;
    value = (((((((2.01033439929228813265e-7 * r + 2.71155556874348757815e-5) * r +
                  1.24266094738807843860e-3) * r + 2.65321895265761230930e-2) * r +
                2.96560571828504891230e-1) * r + 1.78482653991729133580e+0) * r +
              5.46378491116411436990e+0) * r + 6.65790464350110377720e+0) /
            (((((((2.04426310338993978564e-15 * r + 1.42151175831644588870e-7) * r +
                  1.84631831751005468180e-5) * r + 7.86869131145613259100e-4) * r +
                1.48753612908506148525e-2) * r + 1.36929880922735805310e-1) * r +
              5.99832206555887937690e-1) * r + 1.0);
  }
  return q < 0.0 ? -value : value;
}

}  // namespace ketasim
