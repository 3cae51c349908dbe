// Unit tests of src/response/structure.cpp: the registry, the shared observation model, and the
// seam itself: a second response structure, defined only here, runs through the unchanged trial
// engine (simulate_endpoints) once its model file names it. Nothing in trial/ knows about it.
#include "ketasim/response/structure.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <unistd.h>

#include "ketasim/trial/engine.hpp"
#include "ketasim/trial/study.hpp"

using namespace ketasim;
using namespace ketasim::response;

namespace {

// Relief of a fixed number of points at every visit after the first session with any drug,
// nothing before: simple enough that every score is known in closed form.
class ConstantRelief final : public ResponseStructure {
 public:
  std::string name() const override { return "constant_relief"; }
  std::vector<ParameterSpec> parameters() const override {
    return {{"relief_points", Dimension::dimensionless, 0.0, 60.0}};
  }
  int random_effect_count() const override { return 0; }
  void score(const ResponseModel& model, const PatientExposure& p, VisitScores& out,
             std::vector<double>&) const override {
    const double relief = model.parameters.values[0];
    for (int v = 0; v < p.n_visits; ++v) {
      bool exposed = false;
      for (int g = 0; g <= p.visit_grid_index[v]; ++g) exposed |= p.unbound_um[g * p.n_moieties] > 0.0;
      out.expected[v] = p.visit_h[v] <= 0.0 || !exposed ? p.baseline_madrs : p.baseline_madrs - relief;
      out.madrs[v] = out.expected[v];
    }
  }
};

std::string write_temp(const std::string& name, const std::string& text) {
  const std::string path = "/tmp/ketasim_test_structure_" + std::to_string(::getpid()) + "_" + name;
  std::ofstream(path) << text;
  return path;
}

}  // namespace

TEST_CASE("The builtin registry makes plasticity_v1 and benefit_v2 and nothing else", "[response][structure]") {
  CHECK(builtin_structures().make("plasticity_v1") != nullptr);
  CHECK(builtin_structures().make("benefit_v2") != nullptr);
  CHECK(builtin_structures().make("constant_relief") == nullptr);
  CHECK(builtin_structures().names() == "benefit_v2, plasticity_v1");
}

TEST_CASE("A new structure runs through the unchanged trial engine", "[response][structure]") {
  StructureRegistry registry;
  registry.add("constant_relief", [] { return std::make_shared<const ConstantRelief>(); });
  const std::string path = write_temp("relief.yaml",
                                      "name: relief\nprovenance: test\nstructure: constant_relief\n"
                                      "potency: {S-ketamine: {ki_um: 0.3, source: t}, R-ketamine: {ki_um: 1.4, source: t}}\n"
                                      "parameters: {relief_points: {value: 10, unit: '1', rationale: test}}\n"
                                      "placebo: {oral_antidepressant: {max_typical: 0, logit_sd: 0, onset: 1d, rationale: t}}\n");
  const ResponseModel model = load_response_model(path, registry);
  CHECK(model.structure_name == "constant_relief");
  CHECK(model.parameters.names == std::vector<std::string>{"relief_points", "placebo.oral_antidepressant.max_typical",
                                                          "placebo.oral_antidepressant.logit_sd",
                                                          "placebo.oral_antidepressant.onset"});
  // The engine's two-arm study, IV arm only (its model's moieties have Ki above): every patient
  // is dosed on day 0, so every later visit is baseline - 10 and the change is exactly -10.
  const std::string config = std::string(KETASIM_TEST_DATA_DIR) + "/engine/two-arms.yaml";
  trial::StudyConfig c = trial::load_study(config, {{"cohort.patients", "40"}}).config;
  c.arms.resize(1);
  c.arms[0].regimen.adherence_probability = 1.0;
  const trial::TrialSummary s = trial::simulate_endpoints(c, model);
  REQUIRE(s.arms[0].n == 40);
  for (std::size_t v = 1; v < s.visits_d.size(); ++v) {
    CHECK(s.arms[0].visits[v].sum_change == Approx(-10.0 * 40));
  }
  CHECK(s.arms[0].visits[0].sum_change == 0.0);
  std::remove(path.c_str());
}

TEST_CASE("observe_scores: no noise gives the rounded expected score, clipped to 0-60", "[response][structure]") {
  const std::vector<double> visits{0.0, 24.0, 48.0, 72.0};
  const std::vector<double> expected{30.0, 12.4, -3.0, 70.0};
  PatientExposure p;
  p.baseline_madrs = 30.0;
  p.visit_h = visits.data();
  p.n_visits = 4;
  std::vector<double> madrs(4);
  observe_scores(p, 0.0, 168.0, 0.0, expected.data(), madrs.data());
  CHECK(madrs == std::vector<double>{30.0, 12.0, 0.0, 60.0});
}
