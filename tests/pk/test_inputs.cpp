// Route inputs of the shipped esketamine model for the typical patient: per 28-mg device, F_NASAL
// 0.54 (x0.62 from the 2nd device) to the nasal depot; the remainder swallowed, of which F_GUT 0.64
// enters the gut zero-order over D_SWALLOW 0.53 h, and 0.36 of it is lost. Products of decimal
// constants: 1e-14 relative.
#include <catch2/catch.hpp>

#include <string>

#include "ketasim/pk/inputs.hpp"
#include "ketasim/pk/simulate.hpp"
#include "pk_test_models.hpp"

using namespace ketasim::pk;

TEST_CASE("Intranasal: nasal 0.54 then x0.62, remainder swallowed with F 0.64, lost amount", "[pk][inputs]") {
  const PkModel m = load_model(std::string(KETASIM_TEST_DATA_DIR) + "/../../models/perez-ruixo-2021-esketamine.yaml");
  ParameterValues p{};
  compute_individual_parameters(m, Covariates{70.0, 40.0, 0}, nullptr, p);
  const double dt = 5.0 / 60.0;
  const std::vector<Dose> doses{{0.0, Route::intranasal, 28.0, 0.0, 0, 0},
                                {dt, Route::intranasal, 28.0, 0.0, 1, 0},
                                {2 * dt, Route::intranasal, 28.0, 0.0, 2, 0}};
  std::vector<InputEvent> in;
  const double lost = resolve_inputs(m, p, doses, in);
  REQUIRE(in.size() == 6);
  const int nasal = 0, gut = 1;
  const double f[3] = {0.54, 0.54 * 0.62, 0.54 * 0.62};
  double expected_lost = 0.0;
  for (int d = 0; d < 3; ++d) {
    INFO("device " << d);
    const InputEvent& a = in[2 * d];
    const InputEvent& b = in[2 * d + 1];
    CHECK(a.compartment == nasal);
    CHECK(a.start_h == Approx(d * dt).epsilon(1e-15));
    CHECK(a.end_h == a.start_h);  // first-order absorption from the depot: a bolus into it
    CHECK(a.amount_mg == Approx(28.0 * f[d]).epsilon(1e-14));
    CHECK(b.compartment == gut);
    CHECK(b.end_h - b.start_h == Approx(0.53).epsilon(1e-14));
    CHECK(b.amount_mg == Approx(28.0 * (1.0 - f[d]) * 0.64).epsilon(1e-14));
    expected_lost += 28.0 * (1.0 - f[d]) * 0.36;
  }
  CHECK(lost == Approx(expected_lost).epsilon(1e-14));
  CHECK(amount_input_by(in, 2 * dt + 0.53) + lost == Approx(84.0).epsilon(1e-14));
}

TEST_CASE("IV racemate splits half S, half R, infusion uses the regimen's duration", "[pk][inputs]") {
  const PkModel m = load_model(std::string(KETASIM_TEST_DATA_DIR) + "/../../models/herd-anderson-2007.yaml");
  ParameterValues p{};
  compute_individual_parameters(m, Covariates{}, nullptr, p);
  std::vector<InputEvent> in;
  CHECK(resolve_inputs(m, p, {{10.0, Route::iv_infusion, 40.0, 2.0 / 3.0, 0, 0}}, in) == 0.0);
  REQUIRE(in.size() == 2);
  for (const auto& e : in) {
    CHECK(e.amount_mg == 20.0);
    CHECK(e.start_h == 10.0);
    CHECK(e.end_h == Approx(10.0 + 2.0 / 3.0).epsilon(1e-15));
  }
  CHECK(resolve_inputs(m, p, {{0.0, Route::intranasal, 28.0, 0.0, 0, 0}}, in) < 0.0);  // route the model lacks
}

TEST_CASE("Oral lag and bioavailability", "[pk][inputs]") {
  std::string y = ketasim::pk::testing::one_compartment_yaml(5, 50, 1, 0.6);
  y.replace(y.find("bioavailability: F}"), 19, "bioavailability: F, lag: 0.25}");
  const PkModel m = ketasim::pk::testing::model_from_text(y);
  ParameterValues p{};
  compute_individual_parameters(m, Covariates{}, nullptr, p);
  std::vector<InputEvent> in;
  CHECK(resolve_inputs(m, p, {{1.0, Route::oral, 100.0, 0.0, 0, 0}}, in) == Approx(40.0).epsilon(1e-14));
  REQUIRE(in.size() == 1);
  CHECK(in[0].start_h == 1.25);
  CHECK(in[0].amount_mg == Approx(60.0).epsilon(1e-14));
}
