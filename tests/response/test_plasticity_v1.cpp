// Unit tests of src/response/plasticity_v1.cpp against closed forms worked by hand from spec 5.1:
// occupancy S/(1+S) of competitive binding, the Hill drive, P under a constant drive
// (kin g / kout (1 - e^{-kout t})), and the expected score B (1 - placebo) (1 - Emax P/(P50+P)).
// With the visit noise switched off the observed score is the rounded expected score.
#include "ketasim/response/plasticity_v1.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "ketasim/response/response_model.hpp"

using namespace ketasim::response;

namespace {

const std::string kInitial = std::string(KETASIM_SOURCE_DIR) + "/models/response/initial.yaml";

struct Patient {
  std::vector<double> grid, unbound, ki{0.3, 1.4}, visits_h;
  std::vector<int> visit_index;
  std::vector<double> effects{0.0, 0.0};
  PatientExposure exposure;
  // Two moieties held at constant unbound concentrations c1, c2 (umol/L) on an hourly grid.
  Patient(double c1, double c2, double hours, std::vector<double> visits) : visits_h(std::move(visits)) {
    for (double t = 0; t <= hours + 1e-9; t += 1.0) {
      grid.push_back(t);
      unbound.push_back(c1);
      unbound.push_back(c2);
    }
    for (double v : visits_h) visit_index.push_back(static_cast<int>(std::lround(v)));
    exposure.seed = 1;
    exposure.patient_index = 0;
    exposure.baseline_madrs = 30.0;
    exposure.random_effects = effects.data();
    exposure.background = 0;  // none
    exposure.grid_h = grid.data();
    exposure.n_grid = static_cast<int>(grid.size());
    exposure.unbound_um = unbound.data();
    exposure.ki_um = ki.data();
    exposure.n_moieties = 2;
    exposure.visit_grid_index = visit_index.data();
    exposure.visit_h = visits_h.data();
    exposure.n_visits = static_cast<int>(visits_h.size());
  }
};

ResponseModel quiet_model() {
  ResponseModel m = load_response_model(kInitial);
  *m.parameters.find("ou_sd_points") = 0.0;
  *m.parameters.find("rater_sd_points") = 0.0;
  return m;
}

}  // namespace

TEST_CASE("plasticity_v1: occupancy, drive, state and score match their closed forms", "[response][plasticity]") {
  const ResponseModel m = quiet_model();
  const PlasticityV1 structure;
  REQUIRE(m.background_index("none") == 0);
  // S = 0.15/0.3 + 0.7/1.4 = 1.0 -> occupancy 0.5.
  Patient patient(0.15, 0.7, 96.0, {0.0, 24.0, 96.0});
  std::vector<double> madrs(3), expected(3), state(3), occupancy(3), scratch;
  VisitScores out{madrs.data(), expected.data(), state.data(), occupancy.data()};
  structure.score(m, patient.exposure, out, scratch);
  const double occ50 = *m.parameters.find("occupancy50"), hill = *m.parameters.find("occupancy_hill");
  const double kin = *m.parameters.find("kin"), kout = *m.parameters.find("kout"), p50 = *m.parameters.find("p50");
  const double emax = *m.parameters.find("emax_typical");  // random effect 0: the typical value
  const double drive = std::pow(0.5, hill) / (std::pow(occ50, hill) + std::pow(0.5, hill));
  for (int v = 0; v < 3; ++v) {
    const double t = patient.visits_h[v];
    CHECK(occupancy[v] == Approx(0.5).epsilon(1e-14));
    // Constant drive from t = 0: P(t) = kin g / kout (1 - e^{-kout t}) (the integrator is exact).
    const double p = kin * drive / kout * (1.0 - std::exp(-kout * t));
    CHECK(state[v] == Approx(p).epsilon(1e-10).margin(1e-14));
    const double mean = t <= 0.0 ? 30.0 : 30.0 * (1.0 - emax * p / (p50 + p));  // background none: no placebo
    CHECK(expected[v] == Approx(mean).epsilon(1e-10));
    CHECK(madrs[v] == std::round(mean));
  }
  CHECK(madrs[0] == 30.0);  // day 0 is the baseline itself
}

TEST_CASE("plasticity_v1: no drug, no effect, the drive is monotone in concentration", "[response][plasticity]") {
  const ResponseModel m = quiet_model();
  const PlasticityV1 structure;
  std::vector<double> madrs(2), expected(2), state(2), occupancy(2), scratch;
  VisitScores out{madrs.data(), expected.data(), state.data(), occupancy.data()};
  Patient none(0.0, 0.0, 48.0, {24.0, 48.0});
  structure.score(m, none.exposure, out, scratch);
  CHECK(state[1] == 0.0);
  CHECK(expected[1] == 30.0);
  double previous = -1.0;
  for (double c : {0.01, 0.05, 0.1, 0.3, 1.0, 3.0}) {
    Patient p(c, 0.0, 48.0, {24.0, 48.0});
    structure.score(m, p.exposure, out, scratch);
    CHECK(state[1] > previous);
    previous = state[1];
  }
}
