// Study config: the shipped default loads, paths resolve relative to the config, overrides are
// validated like the file.
#include <catch2/catch.hpp>

#include <string>

#include "ketasim/trial/config.hpp"

using namespace ketasim;
using namespace ketasim::trial;
using Catch::Contains;

namespace {
const std::string kDefault = std::string(KETASIM_TEST_DATA_DIR) + "/../../configs/default.yaml";
const std::string kBase = std::string(KETASIM_TEST_DATA_DIR) + "/bad/base.yaml";
}  // namespace

TEST_CASE("The default config loads with both arms and their models", "[trial][config]") {
  const StudyConfig c = load_study_config(kDefault);
  CHECK(c.duration_h == 84.0 * 24.0);
  REQUIRE(c.arms.size() == 2);
  CHECK(c.arms[0].model->name == "herd-anderson-2007");
  CHECK(c.arms[1].model->name == "perez-ruixo-2021-esketamine");
  CHECK(c.arms[0].model_path == std::string(KETASIM_TEST_DATA_DIR) + "/../../configs/../models/herd-anderson-2007.yaml");
  CHECK(c.arms[1].regimen.route == pk::Route::intranasal);
  CHECK(pk::expand_sessions(c.arms[1].regimen).size() == 12);
  CHECK(c.endpoints.visits_d.back() == 84.0);
  CHECK(c.output_step_h == 1.0);
  CHECK(solver_for(c, *c.arms[0].model) == pk::SolverKind::exact);
}

TEST_CASE("Overrides apply before validation and get the same checks", "[trial][config]") {
  const StudyConfig c = load_study_config(kBase, {parse_override("cohort.patients=25"),
                                                  parse_override("arms.0.regimen.dose=1 mg/kg"),
                                                  parse_override("solver.method=ode")});
  CHECK(c.cohort.patients == 25);
  CHECK(c.arms[0].regimen.dose == 1.0);
  CHECK(solver_for(c, *c.arms[0].model) == pk::SolverKind::ode);
  REQUIRE_THROWS_WITH(load_study_config(kBase, {parse_override("cohort.patients=0")}),
                      Contains("base.yaml") && Contains("cohort.patients"));
  REQUIRE_THROWS_WITH(load_study_config(kBase, {parse_override("cohort.weigth_kg.mean=3")}),
                      Contains("cohort.weigth_kg") && Contains("unknown key"));
  REQUIRE_THROWS_AS(parse_override("no-equals-sign"), InputError);
}

TEST_CASE("Doses after the end of the study and bad visits are config errors", "[trial][config]") {
  REQUIRE_THROWS_WITH(load_study_config(kBase, {parse_override("study.duration=20d")}),
                      Contains("arms[0].regimen.schedule") && Contains("after the end of the study"));
  REQUIRE_THROWS_WITH(load_study_config(kBase, {parse_override("endpoints.visits=[0d, 28d, 7d]")}),
                      Contains("endpoints.visits[2]") && Contains("increasing"));
  CHECK(resolve_relative("a/b/c.yaml", "../m.yaml") == "a/b/../m.yaml");
  CHECK(resolve_relative("c.yaml", "m.yaml") == "m.yaml");
  CHECK(resolve_relative("a/c.yaml", "/abs/m.yaml") == "/abs/m.yaml");
}
