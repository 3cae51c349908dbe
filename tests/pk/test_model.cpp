// Model loader: canonical units, omega from CV%, and errors naming key and line.
#include <catch2/catch.hpp>

#include <cmath>
#include <string>

#include "ketasim/pk/model.hpp"
#include "pk_test_models.hpp"

using namespace ketasim;
using namespace ketasim::pk;
using Catch::Contains;

namespace {
// Line numbers below refer to this text: line 1 "name", ..., see the comments.
std::string base_model(const std::string& params_extra = "", const std::string& cl = "5",
                       const std::string& v_unit = "L", const std::string& route = "iv_bolus",
                       const std::string& tail = "") {
  return "name: m\n"                                                                   // 1
         "drug: t\n"                                                                   // 2
         "moieties: {d: {molecular_weight_g_per_mol: 200}}\n"                          // 3
         "compartments:\n"                                                             // 4
         "  - {name: c, moiety: d, volume: V, observed: true}\n"                       // 5
         "  - {name: p, moiety: d, volume: V2}\n"                                      // 6
         "parameters:\n"                                                               // 7
         "  CL: {value: " + cl + ", unit: L/min, source: t" + params_extra + "}\n"     // 8
         "  V: {value: 50, unit: " + v_unit + ", source: t}\n"                          // 9
         "  V2: {value: 80, unit: L, source: t}\n"                                     // 10
         "  Q: {value: 2, unit: 1/min, source: t}\n"                                   // 11
         "flows:\n"                                                                    // 12
         "  - {from: c, to: elimination, clearance: CL}\n"                             // 13
         "  - {from: c, to: p, rate_constant: Q}\n"                                    // 14
         "  - {from: p, to: c, rate_constant: Q}\n"                                    // 15
         "routes:\n"                                                                   // 16
         "  " + route + ": {inputs: [{compartment: c}]}\n"                             // 17
         + tail;
}
PkModel parse(const std::string& text) { return parse_model(parse_yaml_text(text, "m.yaml")); }
}  // namespace

TEST_CASE("A valid model loads in canonical units", "[pk][model]") {
  const PkModel m = parse(base_model("", "5", "L", "iv_bolus",
                                     "variability:\n  CL: {cv_percent: 30, source: t}\n  V: {omega_sq: 0.2, source: t}\n"
                                     "correlations:\n  - {between: [CL, V], value: 0.5, source: t}\n"));
  CHECK(m.parameters[m.find_parameter("CL")].typical == Approx(300.0).epsilon(1e-15));  // 5 L/min = 300 L/h
  CHECK(m.parameters[m.find_parameter("Q")].typical == Approx(120.0).epsilon(1e-15));   // 2 /min = 120 /h
  CHECK(m.linear);
  CHECK(m.sink_index() == 2);
  REQUIRE(m.omega.rows() == 2);
  const double w_cl = std::log(1.0 + 0.3 * 0.3);
  CHECK(m.omega(0, 0) == Approx(w_cl).epsilon(1e-14));
  CHECK(m.omega(1, 1) == Approx(0.2).epsilon(1e-14));
  CHECK(m.omega(0, 1) == Approx(0.5 * std::sqrt(w_cl * 0.2)).epsilon(1e-14));
  const Eigen::MatrixXd llt = m.omega_cholesky * m.omega_cholesky.transpose();
  CHECK((llt - m.omega).cwiseAbs().maxCoeff() < 1e-15);
  REQUIRE(m.find_route(Route::iv_bolus));
  CHECK_FALSE(m.find_route(Route::intranasal));
}

TEST_CASE("Model errors name key and line", "[pk][model]") {
  SECTION("missing parameter") {
    std::string text = base_model();
    text.replace(text.find("  V2: {value: 80, unit: L, source: t}\n"), 38, "");
    REQUIRE_THROWS_WITH(parse(text), Contains("m.yaml:6:") && Contains("compartments[1].volume") &&
                                         Contains("unknown parameter 'V2'"));
  }
  SECTION("negative clearance") {
    REQUIRE_THROWS_WITH(parse(base_model("", "-5")),
                        Contains("m.yaml:8:") && Contains("parameters.CL.value") && Contains("positive clearance"));
  }
  SECTION("unknown route") {
    REQUIRE_THROWS_WITH(parse(base_model("", "5", "L", "iv_bolos")),
                        Contains("m.yaml:17:") && Contains("routes.iv_bolos") && Contains("unknown route"));
  }
  SECTION("non-positive-definite omega") {
    const std::string tail =
        "variability:\n  CL: {cv_percent: 30, source: t}\n  V: {cv_percent: 30, source: t}\n"
        "  V2: {cv_percent: 30, source: t}\n"
        "correlations:\n  - {between: [CL, V], value: 0.9, source: t}\n  - {between: [CL, V2], value: 0.9, source: t}\n"
        "  - {between: [V, V2], value: -0.9, source: t}\n";
    REQUIRE_THROWS_WITH(parse(base_model("", "5", "L", "iv_bolus", tail)),
                        Contains("m.yaml:23:") && Contains("correlations") && Contains("not positive definite"));
  }
  SECTION("unit typo") {
    REQUIRE_THROWS_WITH(parse(base_model("", "5", "Litre")),
                        Contains("m.yaml:9:") && Contains("parameters.V.unit") && Contains("unknown unit 'Litre'"));
  }
  SECTION("unknown key") {
    REQUIRE_THROWS_WITH(parse(base_model(", alometric_exponent: 0.75")),
                        Contains("m.yaml:8:") && Contains("parameters.CL.alometric_exponent") && Contains("unknown key"));
  }
  SECTION("correlation outside (-1, 1)") {
    const std::string tail = "variability:\n  CL: {cv_percent: 30, source: t}\n  V: {cv_percent: 30, source: t}\n"
                             "correlations:\n  - {between: [CL, V], value: 1.0, source: t}\n";
    REQUIRE_THROWS_WITH(parse(base_model("", "5", "L", "iv_bolus", tail)),
                        Contains("m.yaml:22:") && Contains("correlations[0].value"));
  }
}

TEST_CASE("Every shipped model loads and is linear", "[pk][model]") {
  for (const char* name : {"domino-1984", "clements-nimmo-1981", "herd-anderson-2007", "perez-ruixo-2021-esketamine",
                           "p1-benchmark"}) {
    INFO(name);
    const PkModel m = load_model(std::string(KETASIM_TEST_DATA_DIR) + "/../../models/" + name + ".yaml");
    CHECK(m.name == name);
    CHECK(m.linear);
    for (const auto& p : m.parameters) CHECK_FALSE(p.source.empty());
  }
}

TEST_CASE("A flow from a compartment to itself is refused", "[pk][model][robust]") {
  std::string text = base_model();
  text.replace(text.find("{from: p, to: c, rate_constant: Q}"), 34, "{from: p, to: p, rate_constant: Q}");
  CHECK_THROWS_WITH(parse(text), Contains("m.yaml:15:") && Contains("flows[2].to") && Contains("not back to 'p'"));
}

TEST_CASE("A correlation given twice for the same pair is refused", "[pk][model][robust]") {
  const std::string tail =
      "variability:\n"
      "  CL: {cv_percent: 30, source: t}\n"
      "  V: {cv_percent: 30, source: t}\n"
      "correlations:\n"
      "  - {between: [CL, V], value: 0.3, source: t}\n"
      "  - {between: [V, CL], value: 0.6, source: t}\n"  // line 23
      "  - {between: [V, V], value: 0.5, source: t}\n";  // line 24
  try {
    parse(base_model("", "5", "L", "iv_bolus", tail));
    FAIL("duplicate correlations were accepted");
  } catch (const InputError& e) {
    const std::string all = e.what();
    INFO(all);
    CHECK_THAT(all, Contains("m.yaml:23:") && Contains("duplicate correlation between 'V' and 'CL'"));
    CHECK_THAT(all, Contains("m.yaml:24:") && Contains("two different parameters"));
  }
}
