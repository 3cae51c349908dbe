// Sweeps: the grid of configs/sweep.yaml becomes 16 row-major points with numeric coordinates and
// units; each point is a full validated config with the swept values; scenarios and string values
// make label dimensions; restricting to some arms leaves the others alone; a point's config does
// not sweep again.
#include <catch2/catch.hpp>

#include <sstream>
#include <string>

#include "ketasim/trial/config.hpp"
#include "ketasim/trial/sweep.hpp"
#include "ketasim/trial/study.hpp"

using namespace ketasim;
using namespace ketasim::trial;
using Catch::Contains;

namespace {
const std::string kSweep = std::string(KETASIM_TEST_DATA_DIR) + "/../../configs/sweep.yaml";
const std::string kEsk = std::string(KETASIM_TEST_DATA_DIR) + "/../../configs/sweep-esketamine.yaml";
const std::string kBase = std::string(KETASIM_TEST_DATA_DIR) + "/bad/base.yaml";

// The base config with a sweep block whose block (not yet its points) has been validated.
StudyConfig base_with_sweep(const std::string& sweep_yaml, const std::vector<Override>& overrides = {}) {
  const StudyConfig base = load_study_config(kBase);
  StudyConfig with = parse_study_config(kBase, base.yaml_text + "sweep:\n" + sweep_yaml, overrides);
  parse_sweep(with);
  return with;
}
}  // namespace

TEST_CASE("configs/sweep.yaml: 4 doses x 4 intervals, row-major, units and labels", "[trial][sweep]") {
  const StudyConfig base = load_study_config(kSweep);
  const SweepPlan plan = parse_sweep(base);
  REQUIRE(plan.dimensions.size() == 2);
  CHECK(plan.dimensions[0].name == "dose_mg_per_kg");
  CHECK(plan.dimensions[0].key == "regimen.dose");
  CHECK(plan.dimensions[0].units == "mg/kg");
  CHECK(plan.dimensions[0].values == std::vector<double>{0.25, 0.5, 0.75, 1.0});
  CHECK(plan.dimensions[1].name == "interval_d");
  CHECK(plan.dimensions[1].units == "d");
  CHECK(plan.dimensions[1].values == std::vector<double>{7, 14, 21, 28});
  CHECK(plan.arms == std::vector<std::string>{"iv_ketamine"});
  REQUIRE(plan.points.size() == 16);
  CHECK(plan.points[5].index == std::vector<std::size_t>{1, 1});
  CHECK(plan.points[5].label == "dose_mg_per_kg=0.5 interval_d=14");
  CHECK(plan.points[15].label == "dose_mg_per_kg=1 interval_d=28");
  REQUIRE(plan.points[5].overrides.size() == 2);
  CHECK(plan.points[5].overrides[0].key_path == "arms.0.regimen.dose");
  CHECK(plan.points[5].overrides[0].value == "0.5 mg/kg");
  CHECK(plan.points[5].overrides[1].key_path == "arms.0.regimen.schedule.1.every");
  CHECK(plan.points[5].overrides[1].value == "14 d");

  const auto points = expand_sweep(base, plan);
  REQUIRE(points.size() == 16);
  for (std::size_t p = 0; p < points.size(); ++p) {
    const auto& r = points[p].arms[0].regimen;
    CHECK(r.dose == plan.dimensions[0].values[plan.points[p].index[0]]);
    CHECK(r.dose_per_kg);
    CHECK(r.phases[1].every_h == 24.0 * plan.dimensions[1].values[plan.points[p].index[1]]);
    CHECK(points[p].cohort.patients == base.cohort.patients);
    CHECK(points[p].seed == base.seed);
  }
  // The same point through --set gives the same regimen.
  const StudyConfig alone = load_study_config(kSweep, {parse_override("arms.0.regimen.dose=0.5 mg/kg"),
                                                       parse_override("arms.0.regimen.schedule.1.every=14d"),
                                                       parse_override("sweep=null")});
  CHECK(parse_sweep(alone).dimensions.empty());
  CHECK(alone.arms[0].regimen.dose == points[5].arms[0].regimen.dose);
  CHECK(alone.arms[0].regimen.phases[1].every_h == points[5].arms[0].regimen.phases[1].every_h);
}

TEST_CASE("configs/sweep-esketamine.yaml: 56/84 mg x weekly/every other week", "[trial][sweep]") {
  const StudyConfig base = load_study_config(kEsk);
  const SweepPlan plan = parse_sweep(base);
  const auto points = expand_sweep(base, plan);
  REQUIRE(points.size() == 4);
  CHECK(plan.points[1].label == "dose_mg=56 interval_d=14");
  CHECK(points[0].arms[0].regimen.devices_per_session == 2);
  CHECK(points[3].arms[0].regimen.devices_per_session == 3);
  CHECK(pk::expand_sessions(points[2].arms[0].regimen).size() == 16);  // 8 induction + weekly from day 28
  CHECK(pk::expand_sessions(points[3].arms[0].regimen).size() == 12);
}

TEST_CASE("Points run on top of --set overrides, sweeping a fixed key is refused", "[trial][sweep]") {
  const StudyConfig base = load_study_config(kSweep, {parse_override("cohort.patients=7")});
  const auto points = expand_sweep(base, parse_sweep(base));
  for (const auto& p : points) CHECK(p.cohort.patients == 7);
  REQUIRE_THROWS_WITH(base_with_sweep("  grid:\n    - {key: study.seed, values: [1, 2]}\n"),
                      Contains("base.yaml:27:") && Contains("'study.seed' cannot be swept"));
}

TEST_CASE("Scenarios and string values make label dimensions, arms not listed are untouched", "[trial][sweep]") {
  const StudyConfig base = base_with_sweep(
      "  arms: [iv]\n"
      "  scenarios:\n"
      "    - {name: low, set: {regimen.dose: 0.25 mg/kg}}\n"
      "    - {name: weekly_high, set: {regimen.dose: 1 mg/kg, regimen.schedule: [{every: 7d, until: 84d}]}}\n"
      "  grid:\n"
      "    - {key: regimen.route, name: route, values: [iv_infusion, iv_bolus]}\n");
  const SweepPlan plan = parse_sweep(base);
  REQUIRE(plan.dimensions.size() == 2);
  CHECK(plan.dimensions[0].name == "scenario");
  CHECK(plan.dimensions[0].labels == std::vector<std::string>{"low", "weekly_high"});
  CHECK(plan.dimensions[1].labels == std::vector<std::string>{"iv_infusion", "iv_bolus"});
  CHECK(plan.dimensions[1].values.empty());
  REQUIRE(plan.points.size() == 4);
  CHECK(plan.points[3].label == "scenario=weekly_high route=iv_bolus");
  // iv_bolus with an infusion_duration is invalid: the message names the regimen and the points.
  REQUIRE_THROWS_WITH(expand_sweep(base, plan), Contains("base.yaml:8:") && Contains("key 'arms[0].regimen'") &&
                                                        Contains("infusion_duration/infusion_rate apply only") &&
                                                        Contains("(in sweep point 'scenario=low route=iv_bolus')"));
}

TEST_CASE("A sweep over a structured value and over both arms", "[trial][sweep]") {
  const StudyConfig base = base_with_sweep(
      "  scenarios:\n"
      "    - {name: a, set: {arms.0.regimen.dose: 0.25 mg/kg, arms.1.regimen.dose: 56 mg}}\n"
      "    - {name: b, set: {arms.0.regimen.adherence: 0.8}}\n");
  const SweepPlan plan = parse_sweep(base);
  const auto points = expand_sweep(base, plan);
  REQUIRE(points.size() == 2);
  CHECK(points[0].arms[0].regimen.dose == 0.25);
  CHECK(points[0].arms[1].regimen.dose == 56.0);
  CHECK(points[1].arms[0].regimen.dose == 0.5);
  CHECK(points[1].arms[0].regimen.adherence_probability == 0.8);
  // Each point's config keeps the sweep block (it is part of the effective config) but expanding
  // is only ever done on the base: the point count does not multiply.
  CHECK(points[1].effective["sweep"].IsDefined());
  CHECK(plan.effective["sweep"].IsDefined());
}

TEST_CASE("Values written with their unit, default names, a single point warns", "[trial][sweep]") {
  const StudyConfig base = base_with_sweep("  grid:\n    - {key: arms.0.regimen.schedule.1.every, values: [7d, 14d]}\n");
  const SweepPlan plan = parse_sweep(base);
  REQUIRE(plan.dimensions.size() == 1);
  CHECK(plan.dimensions[0].name == "arms_0_regimen_schedule_1_every_d");
  CHECK(plan.dimensions[0].units == "d");
  CHECK(plan.dimensions[0].values == std::vector<double>{7, 14});
  CHECK(plan.points[1].overrides[0].value == "14d");

  const StudyConfig one = base_with_sweep("  grid:\n    - {key: arms.1.regimen.dose, name: nasal_mg, values: [56], unit: mg}\n");
  std::ostringstream out;
  const Logger log(out, LogLevel::info);
  expand_sweep(one, parse_sweep(one), &log);
  CHECK_THAT(out.str(), Contains("warning: sweep dimension 'nasal_mg' has a single value") && Contains("info: sweep: 1 points"));
}

TEST_CASE("Without a sweep block there is one point and no dimension", "[trial][sweep]") {
  const StudyConfig base = load_study_config(kBase);
  const SweepPlan plan = parse_sweep(base);
  CHECK(plan.dimensions.empty());
  REQUIRE(plan.points.size() == 1);
  CHECK(plan.points[0].overrides.empty());
  CHECK(expand_sweep(base, plan).size() == 1);
}

TEST_CASE("A range with a step is the same grid as the values it stands for", "[trial][sweep]") {
  // Written out by hand: 0.25 to 1 mg/kg by 0.25 (bare numbers with `unit`), 7 to 28 d by 7 (inline unit).
  const SweepPlan listed = parse_sweep(base_with_sweep(
      "  grid:\n    - {key: arms.0.regimen.dose, name: dose_mg_per_kg, values: [0.25, 0.5, 0.75, 1], unit: mg/kg}\n"
      "    - {key: arms.0.regimen.schedule.1.every, name: every, values: [7d, 14d, 21d, 28d]}\n"));
  const SweepPlan ranged = parse_sweep(base_with_sweep(
      "  grid:\n    - {key: arms.0.regimen.dose, name: dose_mg_per_kg, range: [0.25, 1], step: 0.25, unit: mg/kg}\n"
      "    - {key: arms.0.regimen.schedule.1.every, name: every, range: [7d, 28d], step: 7d}\n"));
  REQUIRE(ranged.points.size() == 16);
  for (std::size_t d = 0; d < 2; ++d) {
    CHECK(ranged.dimensions[d].values == listed.dimensions[d].values);
    CHECK(ranged.dimensions[d].units == listed.dimensions[d].units);
  }
  for (std::size_t p = 0; p < 16; ++p) {
    CHECK(ranged.points[p].label == listed.points[p].label);
    for (std::size_t k = 0; k < 2; ++k) {
      CHECK(ranged.points[p].overrides[k].key_path == listed.points[p].overrides[k].key_path);
      CHECK(parse_quantity(ranged.points[p].overrides[k].value)->value ==
            parse_quantity(listed.points[p].overrides[k].value)->value);
    }
  }
  // `to` off the step grid is not reached: 7, 14, 21 (not 25).
  const SweepPlan short_range = parse_sweep(
      base_with_sweep("  grid:\n    - {key: arms.0.regimen.schedule.1.every, range: [7d, 25d], step: 7d}\n"));
  CHECK(short_range.dimensions[0].values == std::vector<double>{7, 14, 21});
}

TEST_CASE("Bad ranges name the entry", "[trial][sweep]") {
  auto problem = [](const std::string& entry) {
    try {
      base_with_sweep("  grid:\n    - " + entry + "\n");
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  CHECK_THAT(problem("{key: arms.0.regimen.dose, range: [1, 0.5], step: 0.25, unit: mg/kg}"), Contains("from <= to"));
  CHECK_THAT(problem("{key: arms.0.regimen.dose, range: [0.25, 1], step: 0, unit: mg/kg}"), Contains("positive step"));
  CHECK_THAT(problem("{key: arms.0.regimen.dose, range: [0.25, 1], unit: mg/kg}"), Contains("step"));
  CHECK_THAT(problem("{key: arms.0.regimen.schedule.1.every, range: [7d, 28h], step: 7d}"), Contains("same unit"));
  CHECK_THAT(problem("{key: arms.0.regimen.dose, range: [0.25, 1, 2], step: 0.25, unit: mg/kg}"), Contains("[from, to]"));
  CHECK_THAT(problem("{key: arms.0.regimen.dose, values: [1], range: [0.25, 1], step: 0.25, unit: mg/kg}"),
             Contains("not both"));
  CHECK_THAT(problem("{key: arms.0.regimen.dose, range: [0, 1e9], step: 1e-3, unit: mg/kg}"), Contains("more than"));
}
