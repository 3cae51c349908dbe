// Parameter draws of a calibrated response model (src/response/parameter_draws.cpp) and the
// loader of the `calibration.uncertainty` block they draw from: the draws' sample mean and
// covariance against the distribution they come from (Monte-Carlo, 5 SE), the log working
// scale, clamping to the bounds, determinism per (seed, draw), and malformed blocks.
#include <catch2/catch.hpp>

#include <array>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "ketasim/core/error.hpp"
#include "ketasim/response/parameter_draws.hpp"
#include "ketasim/response/response_model.hpp"

using namespace ketasim;
using namespace ketasim::response;

namespace {

const std::string kSource = KETASIM_SOURCE_DIR;

ParameterDistribution two_parameters() {
  // a linear (emax-like), b on log scale; correlation -0.6.
  ParameterDistribution d;
  d.names = {"emax_typical", "fast_half_life"};
  d.log_scale = {false, true};
  d.mean_working = {0.5, std::log(48.0)};
  const double sa = 0.05, sb = 0.2, rho = -0.6;
  d.covariance = {{sa * sa, rho * sa * sb}, {rho * sa * sb, sb * sb}};
  d.lower = {0.0, 1.0};
  d.upper = {1.0, 1e6};
  return d;
}

std::string text_of(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

TEST_CASE("Parameter draws have the distribution's mean and covariance on the working scale", "[response][draws]") {
  const ParameterDistribution d = two_parameters();
  const int n = 20000;
  double m[2] = {0, 0}, c[3] = {0, 0, 0};
  std::vector<std::array<double, 2>> w(n);
  for (int k = 0; k < n; ++k) {
    const auto v = draw_parameters(d, 2027, static_cast<std::uint64_t>(k));
    w[k] = {v[0], std::log(v[1])};
    m[0] += w[k][0] / n, m[1] += w[k][1] / n;
  }
  for (const auto& x : w) {
    c[0] += (x[0] - m[0]) * (x[0] - m[0]) / (n - 1);
    c[1] += (x[0] - m[0]) * (x[1] - m[1]) / (n - 1);
    c[2] += (x[1] - m[1]) * (x[1] - m[1]) / (n - 1);
  }
  // SE of a mean: sd / sqrt(n); of a variance: var sqrt(2 / (n - 1)); of a covariance with
  // correlation rho: sa sb sqrt((1 + rho^2) / (n - 1)). 5 SE: each check fails by chance < 1e-6.
  const double sa = 0.05, sb = 0.2, rho = -0.6;
  CHECK(std::abs(m[0] - 0.5) < 5 * sa / std::sqrt(n));
  CHECK(std::abs(m[1] - std::log(48.0)) < 5 * sb / std::sqrt(n));
  CHECK(std::abs(c[0] - sa * sa) < 5 * sa * sa * std::sqrt(2.0 / (n - 1)));
  CHECK(std::abs(c[2] - sb * sb) < 5 * sb * sb * std::sqrt(2.0 / (n - 1)));
  CHECK(std::abs(c[1] - rho * sa * sb) < 5 * sa * sb * std::sqrt((1 + rho * rho) / (n - 1)));
}

TEST_CASE("Draws are clamped to the bounds, reproducible per (seed, draw) and semi-definite matrices work",
          "[response][draws]") {
  ParameterDistribution d = two_parameters();
  d.upper = {0.52, 60.0};  // inside the spread: many draws hit it
  bool hit_upper = false;
  for (std::uint64_t k = 0; k < 500; ++k) {
    const auto v = draw_parameters(d, 7, k);
    CHECK(v[0] <= 0.52);
    CHECK(v[1] <= 60.0);
    CHECK(v[1] >= 1.0);
    hit_upper = hit_upper || v[0] == 0.52;
    CHECK(draw_parameters(d, 7, k) == v);  // the same draw whatever was drawn before
  }
  CHECK(hit_upper);
  CHECK(draw_parameters(d, 7, 3) != draw_parameters(d, 8, 3));
  // Perfect correlation (rank 1): an eigen-decomposition square root; the two move together.
  d = two_parameters();
  d.covariance = {{0.01, 0.01}, {0.01, 0.01}};
  d.upper = {1e6, 1e6};
  d.lower = {-1e6, 1e-6};
  for (std::uint64_t k = 0; k < 50; ++k) {
    const auto v = draw_parameters(d, 1, k);
    CHECK(v[0] - 0.5 == Approx(std::log(v[1]) - std::log(48.0)).margin(1e-9));
  }
}

TEST_CASE("model_with_draw sets exactly the drawn parameters", "[response][draws]") {
  ResponseModel model = load_response_model(kSource + "/models/response/v2-initial.yaml");
  REQUIRE_FALSE(model.uncertainty);
  model.uncertainty = two_parameters();
  const auto v = draw_parameters(*model.uncertainty, 11, 4);
  const ResponseModel drawn = model_with_draw(model, v);
  CHECK(*drawn.parameters.find("emax_typical") == v[0]);
  CHECK(*drawn.parameters.find("fast_half_life") == v[1]);
  for (std::size_t i = 0; i < model.parameters.values.size(); ++i) {
    const std::string& name = model.parameters.names[i];
    if (name != "emax_typical" && name != "fast_half_life") CHECK(drawn.parameters.values[i] == model.parameters.values[i]);
  }
}

TEST_CASE("calibration.uncertainty loads from a model file, and malformed blocks name the key and line",
          "[response][draws]") {
  const std::string base = text_of(kSource + "/models/response/v2-initial.yaml");
  const std::string path = "test_parameter_draws_model.yaml";
  auto write = [&](const std::string& block) {
    std::ofstream(path) << base << "\ncalibration:\n  uncertainty:\n" << block;
  };
  write("    parameters: [emax_typical, fast_half_life]\n    working_scale: [linear, log]\n"
        "    estimate: [0.5, 3.8712]\n    bounds_lower: [0.1, 24]\n    bounds_upper: [0.95, 72]\n"
        "    covariance:\n      - [0.0025, -0.006]\n      - [-0.006, 0.04]\n");
  const ResponseModel m = load_response_model(path);
  REQUIRE(m.uncertainty);
  CHECK(m.uncertainty->names == std::vector<std::string>{"emax_typical", "fast_half_life"});
  CHECK(m.uncertainty->log_scale == std::vector<bool>{false, true});
  CHECK(m.uncertainty->covariance[1][0] == -0.006);
  CHECK(m.uncertainty->upper[1] == 72);

  write("    parameters: [emax_typical, no_such]\n    working_scale: [linear, log]\n"
        "    estimate: [0.5, 3.8712]\n    bounds_lower: [0.1, 24]\n    bounds_upper: [0.95, 72]\n"
        "    covariance:\n      - [0.0025, -0.006]\n      - [-0.006, 0.04]\n");
  try {
    load_response_model(path);
    FAIL("an unknown parameter was accepted");
  } catch (const InputError& e) {
    CHECK_THAT(e.what(), Catch::Contains("calibration.uncertainty.parameters") && Catch::Contains("no_such"));
  }
  write("    parameters: [emax_typical, fast_half_life]\n    working_scale: [linear, log]\n"
        "    estimate: [0.5]\n    bounds_lower: [0.1, 24]\n    bounds_upper: [0.95, 72]\n"
        "    covariance:\n      - [0.0025, -0.006]\n      - [-0.006]\n");
  try {
    load_response_model(path);
    FAIL("a short estimate was accepted");
  } catch (const InputError& e) {
    CHECK_THAT(e.what(), Catch::Contains("calibration.uncertainty.estimate") && Catch::Contains("expected 2 entries"));
    CHECK_THAT(e.what(), Catch::Contains("2 x 2 matrix"));
  }
  std::remove(path.c_str());
}
