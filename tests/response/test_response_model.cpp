// Unit tests of src/response/response_model.cpp: the placebo curve, the loader (values, units,
// backgrounds as data, errors naming file/key/line) and the public parameter table.
#include "ketasim/response/response_model.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <set>
#include <string>
#include <unistd.h>

using Catch::Contains;
using ketasim::response::placebo_fraction;

namespace {

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

TEST_CASE("placebo_fraction rises as max_i (1 - e^{-t/onset}) with a logit-normal max_i", "[response]") {
  auto m = ketasim::response::load_response_model(kInitialModel);
  const int oral = m.background_index("oral_antidepressant");
  REQUIRE(oral >= 0);
  *m.parameters.find("placebo.oral_antidepressant.max_typical") = 0.4;
  *m.parameters.find("placebo.oral_antidepressant.logit_sd") = 1.2;
  *m.parameters.find("placebo.oral_antidepressant.onset") = 240.0;
  CHECK(placebo_fraction(m, m.background_index("none"), 0.0, 100.0) == 0.0);  // none: max_typical 0
  CHECK(placebo_fraction(m, oral, 0.7, 0.0) == 0.0);      // nothing at or before the first dose
  CHECK(placebo_fraction(m, oral, 0.7, -5.0) == 0.0);
  CHECK(placebo_fraction(m, oral, 0.0, 240.0) == Approx(0.4 * (1.0 - std::exp(-1.0))).epsilon(1e-12));
  CHECK(placebo_fraction(m, oral, 0.0, 1e6) == Approx(0.4).epsilon(1e-12));
  // eta = +1: logit(max_i) = logit(0.4) + 1.2
  const double max_i = 1.0 / (1.0 + std::exp(-(std::log(0.4 / 0.6) + 1.2)));
  CHECK(placebo_fraction(m, oral, 1.0, 1e6) == Approx(max_i).epsilon(1e-12));
  CHECK(placebo_fraction(m, oral, -1.0, 1e6) < 0.4);
  // Monotone in time, bounded by (0, 1).
  double previous = 0.0;
  for (double t = 1.0; t < 2000.0; t *= 1.5) {
    const double f = placebo_fraction(m, oral, 3.0, t);
    CHECK(f > previous);
    CHECK(f < 1.0);
    previous = f;
  }
}

TEST_CASE("Backgrounds are data: a model may define its own, and only those exist", "[response]") {
  const std::string text = default_with("\nplacebo:", "\nplacebo:\n  psychotherapy: {max_typical: 0.2, logit_sd: 0.5, onset: 21d, "
                                                       "rationale: \"test background\"}\n  #");
  const std::string path = write_temp("background.yaml", text);
  const auto m = ketasim::response::load_response_model(path);
  const int b = m.background_index("psychotherapy");
  REQUIRE(b >= 0);
  CHECK(*m.parameters.find("placebo.psychotherapy.onset") == Approx(21 * 24.0));
  CHECK(placebo_fraction(m, b, 0.0, 21 * 24.0) == Approx(0.2 * (1.0 - std::exp(-1.0))).epsilon(1e-12));
  CHECK(m.background_index("no_such_background") == -1);
  std::remove(path.c_str());
}

TEST_CASE("The initial (hand-set) response model loads in canonical units", "[response]") {
  const auto m = ketasim::response::load_response_model(kInitialModel);
  CHECK(m.name == "initial");
  CHECK(m.path == kInitialModel);
  const auto& p = m.parameters;
  CHECK(*p.find("kout") == Approx(0.012));
  CHECK(*p.find("ou_half_life") == Approx(7 * 24.0));                         // 7 d -> h
  CHECK(*p.find("placebo.oral_antidepressant.onset") == Approx(10 * 24.0));  // 10 d
  CHECK(*p.find("placebo.active_placebo.onset") == Approx(12.0));            // 12 h
  CHECK(*p.find("placebo.none.max_typical") == 0.0);
  CHECK(*p.find("emax_typical") == Approx(0.55));
  CHECK(m.structure_name == "plasticity_v1");  // a file without `structure:` is v1
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

TEST_CASE("The parameter table: every name finds its own value, with its dimension", "[response]") {
  auto m = ketasim::response::load_response_model(kInitialModel);
  auto& p = m.parameters;
  CHECK(p.size() == 11 + 4 * 3);  // v1's 11 and 3 per background
  std::set<double*> fields;
  for (const auto& name : p.names) {
    double* field = p.find(name);
    REQUIRE(field != nullptr);
    CHECK(fields.insert(field).second);  // distinct names, distinct values
  }
  CHECK(p.dimensions[static_cast<std::size_t>(p.index("kout"))] == ketasim::Dimension::rate_constant);
  CHECK(p.dimensions[static_cast<std::size_t>(p.index("placebo.saline.onset"))] == ketasim::Dimension::time);
  CHECK(p.find("kout_per_h") == nullptr);
  CHECK(p.find("placebo.saline") == nullptr);
  CHECK(p.find("") == nullptr);
  // Writing through find() changes exactly that value.
  const double kout = *p.find("kout");
  *p.find("p50") = 7.5;
  CHECK(*p.find("p50") == 7.5);
  CHECK(*p.find("kout") == kout);
  CHECK(ketasim::response::parameter_allowed(m, "emax_typical", 0.5));
  CHECK_FALSE(ketasim::response::parameter_allowed(m, "emax_typical", 1.0));
  CHECK_FALSE(ketasim::response::parameter_allowed(m, "no_such", 1.0));
}

TEST_CASE("An unknown structure is an input error listing the known ones", "[response]") {
  const std::string text = default_with("name: initial\n", "name: initial\nstructure: plasticity_v9\n");
  const std::string path = write_temp("structure.yaml", text);
  REQUIRE_THROWS_WITH(ketasim::response::load_response_model(path),
                      Contains(path + ":") && Contains("plasticity_v9") && Contains("plasticity_v1"));
  std::remove(path.c_str());
}
