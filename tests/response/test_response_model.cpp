// Unit tests of src/response/response_model.cpp: the exponential integrator first_order_step
// against closed forms, the placebo curve, the loader (values, units, errors naming file/key/line)
// and the name -> parameter table used by calibration.
#include "ketasim/response/response_model.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <set>
#include <string>
#include <unistd.h>

using Catch::Contains;
using ketasim::response::first_order_step;
using ketasim::response::placebo_fraction;
using ketasim::response::ResponseParameters;

namespace {

// Closed form of y' = gain u(t) - k y with u(t) = u0 + b t, b = (u1 - u0)/h, derived independently
// of the implementation: particular solution y_p(t) = gain (u0/k + b t/k - b/k^2), plus the
// homogeneous part (y0 - y_p(0)) e^{-k t}.
double closed_form_linear(double y0, double k, double gain, double u0, double u1, double h) {
  const double b = (u1 - u0) / h;
  auto yp = [&](double t) { return gain * (u0 / k + b * t / k - b / (k * k)); };
  return yp(h) + (y0 - yp(0.0)) * std::exp(-k * h);
}

std::string write_temp(const std::string& name, const std::string& text) {
  const std::string path = "/tmp/ketasim_test_response_" + std::to_string(::getpid()) + "_" + name;
  std::ofstream(path) << text;
  return path;
}

// The hand-set starting model: fixed text and values (default.yaml is rewritten by calibration).
const std::string kInitialModel = std::string(KETASIM_SOURCE_DIR) + "/models/response/initial.yaml";

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// initial.yaml with one line replaced (the line must exist verbatim).
std::string default_with(const std::string& from, const std::string& to) {
  std::string text = read_file(kInitialModel);
  const auto at = text.find(from);
  REQUIRE(at != std::string::npos);
  return text.replace(at, from.size(), to);
}

int line_of(const std::string& text, const std::string& what) {
  const auto at = text.find(what);
  REQUIRE(at != std::string::npos);
  int line = 1;
  for (std::size_t i = 0; i < at; ++i) line += text[i] == '\n';
  return line;
}

}  // namespace

TEST_CASE("first_order_step is exact for a constant input", "[response]") {
  // y' = gain u - k y, u constant: y(h) = y0 e^{-kh} + gain u (1 - e^{-kh}) / k.
  for (double k : {0.012, 0.3, 5.0}) {
    for (double h : {0.05, 1.0, 48.0}) {
      const double y0 = 0.7, gain = 1.3, u = 0.4;
      const double expected = y0 * std::exp(-k * h) + gain * u * (1.0 - std::exp(-k * h)) / k;
      CHECK(first_order_step(y0, k, gain, u, u, h) == Approx(expected).epsilon(1e-12));
    }
  }
  // Steady state: starting at gain u / k, the state does not move.
  CHECK(first_order_step(2.0, 0.5, 1.0, 1.0, 1.0, 10.0) == Approx(2.0).epsilon(1e-14));
}

TEST_CASE("first_order_step is exact for a linearly varying input", "[response]") {
  for (double k : {0.012, 0.3, 5.0}) {
    for (double h : {0.05, 1.0, 48.0}) {
      const double y0 = 0.2, gain = 0.8, u0 = 0.9, u1 = 0.1;
      CHECK(first_order_step(y0, k, gain, u0, u1, h) == Approx(closed_form_linear(y0, k, gain, u0, u1, h)).epsilon(1e-9));
      CHECK(first_order_step(y0, k, gain, u1, u0, h) == Approx(closed_form_linear(y0, k, gain, u1, u0, h)).epsilon(1e-9));
    }
  }
  // Composition: two half steps of a linear input equal one full step (the integrator is exact).
  const double k = 0.2, gain = 1.0, u0 = 0.0, u1 = 1.0, h = 6.0;
  const double half = first_order_step(0.5, k, gain, u0, 0.5 * (u0 + u1), h / 2);
  CHECK(first_order_step(half, k, gain, 0.5 * (u0 + u1), u1, h / 2) ==
        Approx(first_order_step(0.5, k, gain, u0, u1, h)).epsilon(1e-12));
}

TEST_CASE("first_order_step tends to the trapezoid as k -> 0 and ignores empty steps", "[response]") {
  const double y0 = 1.5, gain = 2.0, u0 = 0.3, u1 = 0.9, h = 3.0;
  const double trapezoid = y0 + gain * 0.5 * (u0 + u1) * h;
  CHECK(first_order_step(y0, 0.0, gain, u0, u1, h) == Approx(trapezoid).epsilon(1e-15));
  CHECK(first_order_step(y0, 1e-12, gain, u0, u1, h) == Approx(trapezoid).epsilon(1e-10));
  // Either side of the switch to the trapezoid (k h = 1e-8) the results agree to O(k h).
  const double below = first_order_step(y0, 0.9e-8 / h, gain, u0, u1, h);
  const double above = first_order_step(y0, 1.1e-8 / h, gain, u0, u1, h);
  CHECK(above == Approx(below).epsilon(1e-7));
  // Small but not tiny k: the exact form stays accurate (no cancellation blow-up).
  CHECK(first_order_step(y0, 1e-5, gain, u0, u1, h) ==
        Approx(closed_form_linear(y0, 1e-5, gain, u0, u1, h)).epsilon(1e-7));
  CHECK(first_order_step(y0, 0.3, gain, u0, u1, 0.0) == y0);
  CHECK(first_order_step(y0, 0.3, gain, u0, u1, -1.0) == y0);
}

TEST_CASE("placebo_fraction rises as max_i (1 - e^{-t/onset}) with a logit-normal max_i", "[response]") {
  ResponseParameters p;
  p.placebo[3] = {0.4, 1.2, 240.0};  // oral_antidepressant
  CHECK(placebo_fraction(p, 0, 0.0, 100.0) == 0.0);    // background none: max_typical 0
  CHECK(placebo_fraction(p, 3, 0.7, 0.0) == 0.0);      // nothing at or before the first dose
  CHECK(placebo_fraction(p, 3, 0.7, -5.0) == 0.0);
  CHECK(placebo_fraction(p, 3, 0.0, 240.0) == Approx(0.4 * (1.0 - std::exp(-1.0))).epsilon(1e-12));
  CHECK(placebo_fraction(p, 3, 0.0, 1e6) == Approx(0.4).epsilon(1e-12));
  // eta = +1: logit(max_i) = logit(0.4) + 1.2
  const double max_i = 1.0 / (1.0 + std::exp(-(std::log(0.4 / 0.6) + 1.2)));
  CHECK(placebo_fraction(p, 3, 1.0, 1e6) == Approx(max_i).epsilon(1e-12));
  CHECK(placebo_fraction(p, 3, -1.0, 1e6) < 0.4);
  // Monotone in time, bounded by (0, 1).
  double previous = 0.0;
  for (double t = 1.0; t < 2000.0; t *= 1.5) {
    const double f = placebo_fraction(p, 3, 3.0, t);
    CHECK(f > previous);
    CHECK(f < 1.0);
    previous = f;
  }
}

TEST_CASE("The initial (hand-set) response model loads in canonical units", "[response]") {
  const auto m = ketasim::response::load_response_model(kInitialModel);
  CHECK(m.name == "initial");
  CHECK(m.path == kInitialModel);
  const auto& p = m.parameters;
  CHECK(p.kout_per_h == Approx(0.012));
  CHECK(p.ou_half_life_h == Approx(7 * 24.0));         // 7 d -> h
  CHECK(p.placebo[3].onset_h == Approx(10 * 24.0));    // oral_antidepressant onset 10 d
  CHECK(p.placebo[2].onset_h == Approx(12.0));         // active_placebo 12 h
  CHECK(p.placebo[0].max_typical == 0.0);
  CHECK(p.emax_typical == Approx(0.55));
  CHECK(m.ki_um_for("S-ketamine") == Approx(0.3));
  CHECK(m.ki_um_for("R-norketamine") == Approx(13.0));
  CHECK(std::isnan(m.ki_um_for("no-such-moiety")));
}

TEST_CASE("Response model errors name the file, the key path and the line", "[response]") {
  using ketasim::response::load_response_model;
  SECTION("wrong unit dimension") {
    const std::string text = default_with("    value: 0.012\n    unit: 1/h", "    value: 0.012\n    unit: mg");
    const std::string path = write_temp("unit.yaml", text);
    REQUIRE_THROWS_WITH(load_response_model(path), Contains(path + ":" + std::to_string(line_of(text, "unit: mg"))) &&
                                                        Contains("parameters.kout.unit") && Contains("'mg'"));
    std::remove(path.c_str());
  }
  SECTION("Emax outside (0, 1)") {
    const std::string text = default_with("value: 0.55", "value: 1.5");
    const std::string path = write_temp("emax.yaml", text);
    REQUIRE_THROWS_WITH(load_response_model(path), Contains(path + ":") && Contains("parameters.emax_typical") &&
                                                        Contains("fraction in (0, 1)"));
    std::remove(path.c_str());
  }
  SECTION("unknown parameter key") {
    const std::string text = default_with("  kout:\n", "  k_out:\n");
    const std::string path = write_temp("key.yaml", text);
    REQUIRE_THROWS_WITH(load_response_model(path),
                        Contains(path + ":" + std::to_string(line_of(text, "k_out:"))) && Contains("k_out"));
    std::remove(path.c_str());
  }
  SECTION("missing file") {
    REQUIRE_THROWS_WITH(load_response_model("/nonexistent/response.yaml"), Contains("/nonexistent/response.yaml"));
  }
}

// Regression: for a missing key of a const mapping, `node_[key]` is a yaml-cpp "zombie" node; a
// getter on it used to throw YAML::InvalidNode instead of the InputError naming file, key and line
// (exit 2 instead of 1). InputNode now replaces invalid nodes with undefined ones.
TEST_CASE("A response model without a parameter's rationale is an input error naming file, key and line",
          "[response]") {
  using ketasim::response::load_response_model;
  const std::string text = default_with(
      "    rationale: \"MADRS inter-rater error of about 2 points; assumption\"\n", "");
  const std::string path = write_temp("rationale.yaml", text);
  REQUIRE_THROWS_WITH(load_response_model(path), Contains(path + ":") && Contains("parameters.rater_sd_points") &&
                                                      Contains("rationale") && Contains("missing"));
  std::remove(path.c_str());
}

TEST_CASE("Every parameter name finds its own field and find/names round-trip", "[response]") {
  ResponseParameters p;
  const auto names = p.names();
  CHECK(names.size() == 11 + 4 * 3);
  std::set<double*> fields;
  for (const auto& name : names) {
    double* field = p.find(name);
    REQUIRE(field != nullptr);
    CHECK(fields.insert(field).second);  // distinct names, distinct fields
  }
  CHECK(p.find("kout") == &p.kout_per_h);
  CHECK(p.find("ou_half_life") == &p.ou_half_life_h);
  CHECK(p.find("placebo.saline.onset") == &p.placebo[1].onset_h);
  CHECK(p.find("placebo.oral_antidepressant.max_typical") == &p.placebo[3].max_typical);
  CHECK(p.find("kout_per_h") == nullptr);
  CHECK(p.find("placebo.saline") == nullptr);
  CHECK(p.find("") == nullptr);
  // Writing through find() changes exactly that field.
  ResponseParameters q;
  *q.find("p50") = 7.5;
  CHECK(q.p50 == 7.5);
  CHECK(q.kout_per_h == ResponseParameters().kout_per_h);
}
