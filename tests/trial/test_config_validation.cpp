// Config validation, one test per class of error: every message names the file, the key path and
// the line (and what was expected vs found), and every problem of a file is reported in one run.
// The configs are written inline (line numbers below refer to kBase) and parsed as if they were
// tests/data/bad/inline.yaml, so relative model paths resolve like tests/data/bad/base.yaml's.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "ketasim/trial/config.hpp"
#include "ketasim/trial/sweep.hpp"
#include "ketasim/trial/study.hpp"

using namespace ketasim;
using namespace ketasim::trial;
using Catch::Contains;

namespace {

const std::string kPath = std::string(KETASIM_TEST_DATA_DIR) + "/bad/inline.yaml";

const std::string kBase =
    "study: {name: v, duration: 84d, seed: 1}\n"                      // 1
    "cohort: {patients: 10}\n"                                         // 2
    "arms:\n"                                                          // 3
    "  - name: iv\n"                                                   // 4
    "    model: ../../../models/herd-anderson-2007.yaml\n"             // 5
    "    regimen:\n"                                                   // 6
    "      route: iv_infusion\n"                                       // 7
    "      dose: 0.5 mg/kg\n"                                          // 8
    "      infusion_duration: 40 min\n"                                // 9
    "      schedule:\n"                                                // 10
    "        - {every: 3.5d, count: 8}\n"                              // 11
    "        - {every: 14d, until: 84d}\n"                             // 12
    "  - name: nasal\n"                                                // 13
    "    model: ../../../models/perez-ruixo-2021-esketamine.yaml\n"    // 14
    "    regimen:\n"                                                   // 15
    "      route: intranasal\n"                                        // 16
    "      dose: 84 mg\n"                                              // 17
    "      schedule:\n"                                                // 18
    "        - {every: 3.5d, count: 8}\n"                              // 19
    "endpoints:\n"                                                     // 20
    "  model: ../../../models/response/default.yaml\n"                 // 21
    "  visits: [0d, 7d, 28d, 84d]\n"                                   // 22
    "  primary_visit: 84d\n";                                          // 23

// kBase with `from` replaced by `to` (which must occur exactly once).
std::string edit(std::string text, const std::string& from, const std::string& to) {
  const auto at = text.find(from);
  REQUIRE(at != std::string::npos);
  REQUIRE(text.find(from, at + 1) == std::string::npos);
  return text.replace(at, from.size(), to);
}

// All messages of a config that must fail ("" when it loads).
std::string errors(const std::string& text, const std::vector<Override>& overrides = {}) {
  try {
    // The front door, as every command uses it: config, sweep, response model, population.
    load_study(kPath, text, overrides);
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

std::size_t lines(const std::string& s) {
  std::size_t n = s.empty() ? 0 : 1;
  for (char c : s) n += c == '\n';
  return n;
}

}  // namespace

TEST_CASE("The inline base config is valid", "[trial][validation]") { CHECK(errors(kBase) == ""); }

TEST_CASE("Unknown keys: file, key path, line and the accepted keys", "[trial][validation]") {
  const std::string e = errors(edit(kBase, "      dose: 0.5 mg/kg\n", "      dose: 0.5 mg/kg\n      dosis: 1\n"));
  INFO(e);
  CHECK_THAT(e, Contains("inline.yaml:9:") && Contains("key 'arms[0].regimen.dosis'") && Contains("unknown key") &&
                    Contains("expected one of: route, dose"));
}

TEST_CASE("Missing required keys: reported, not a crash", "[trial][validation]") {
  const std::string e = errors(edit(kBase, "{name: v, duration: 84d, seed: 1}", "{duration: 84d, seed: 1}"));
  INFO(e);
  CHECK_THAT(e, Contains("inline.yaml:1:") && Contains("key 'study.name'") && Contains("required key is missing"));
}

TEST_CASE("Wrong types: expected vs found", "[trial][validation]") {
  const std::string e = errors(edit(kBase, "{patients: 10}", "{patients: many}"));
  INFO(e);
  CHECK_THAT(e, Contains("inline.yaml:2:") && Contains("key 'cohort.patients'") && Contains("expected an integer") &&
                    Contains("found 'many'"));
  const std::string l = errors(edit(kBase, "visits: [0d, 7d, 28d, 84d]", "visits: 28d"));
  CHECK_THAT(l, Contains("inline.yaml:22:") && Contains("key 'endpoints.visits'") && Contains("expected a list"));
}

TEST_CASE("Wrong units: the unit found and the units accepted", "[trial][validation]") {
  const std::string e = errors(edit(kBase, "{every: 14d, until: 84d}", "{every: 14 mg, until: 84d}"));
  INFO(e);
  CHECK_THAT(e, Contains("inline.yaml:12:") && Contains("key 'arms[0].regimen.schedule[1].every'") &&
                    Contains("unit 'mg' is not a time"));
  const std::string typo = errors(edit(kBase, "infusion_duration: 40 min", "infusion_duration: 40 mins"));
  CHECK_THAT(typo, Contains("inline.yaml:9:") && Contains("arms[0].regimen.infusion_duration") && Contains("'mins'"));
  const std::string bare = errors(edit(kBase, "duration: 84d", "duration: 84"));
  CHECK_THAT(bare, Contains("inline.yaml:1:") && Contains("study.duration") && Contains("missing unit"));
}

TEST_CASE("Out-of-range values", "[trial][validation]") {
  SECTION("negative dose") {
    const std::string e = errors(edit(kBase, "dose: 0.5 mg/kg", "dose: -0.5 mg/kg"));
    CHECK_THAT(e, Contains("inline.yaml:8:") && Contains("key 'arms[0].regimen.dose'") &&
                      Contains("expected a dose >= 0 (0 for placebo), found '-0.5 mg/kg'"));
  }
  SECTION("zero dosing interval") {
    const std::string e = errors(edit(kBase, "{every: 14d, until: 84d}", "{every: 0d, until: 84d}"));
    CHECK_THAT(e, Contains("inline.yaml:12:") && Contains("arms[0].regimen.schedule[1].every") &&
                      Contains("positive dosing interval"));
  }
  SECTION("infusion longer than the dosing interval") {
    const std::string e = errors(edit(kBase, "infusion_duration: 40 min", "infusion_duration: 4d"));
    CHECK_THAT(e, Contains("inline.yaml:9:") && Contains("arms[0].regimen.infusion_duration") &&
                      Contains("longer than the dosing interval"));
  }
  SECTION("overlapping phases: until before the phase starts") {
    const std::string e = errors(edit(kBase, "{every: 14d, until: 84d}", "{every: 14d, until: 21d}"));
    CHECK_THAT(e, Contains("inline.yaml:12:") && Contains("arms[0].regimen.schedule[1].until") &&
                      Contains("phases overlap") && Contains("day 28"));
  }
  SECTION("intranasal devices longer than the dosing interval") {
    const std::string e = errors(edit(kBase, "      dose: 84 mg\n", "      dose: 84 mg\n      device_interval: 4d\n"));
    CHECK_THAT(e, Contains("inline.yaml:20:") && Contains("arms[1].regimen.schedule[0].every") &&
                      Contains("devices of one session take longer than the dosing interval"));
  }
  SECTION("negative start") {
    const std::string e = errors(edit(kBase, "      dose: 0.5 mg/kg\n", "      dose: 0.5 mg/kg\n      start: -1d\n"));
    CHECK_THAT(e, Contains("inline.yaml:9:") && Contains("arms[0].regimen.start") && Contains("start >= 0"));
  }
  SECTION("visit beyond the end of the study") {
    const std::string e = errors(edit(kBase, "[0d, 7d, 28d, 84d]", "[0d, 7d, 28d, 84d, 90d]"));
    CHECK_THAT(e, Contains("inline.yaml:22:") && Contains("endpoints.visits[4]") && Contains("beyond the end of the study"));
  }
  SECTION("fraction outside [0, 1]") {
    const std::string e = errors(edit(kBase, "{patients: 10}", "{patients: 10, female_fraction: 1.5}"));
    CHECK_THAT(e, Contains("inline.yaml:2:") && Contains("cohort.female_fraction") && Contains("[0, 1]"));
  }
  SECTION("zero patients") {
    const std::string e = errors(edit(kBase, "{patients: 10}", "{patients: 0}"));
    CHECK_THAT(e, Contains("inline.yaml:2:") && Contains("cohort.patients") && Contains("at least 1 patient"));
  }
}

TEST_CASE("Missing files: the key that names them and its line", "[trial][validation]") {
  SECTION("model") {
    const std::string e = errors(edit(kBase, "herd-anderson-2007.yaml", "no-such-model.yaml"));
    CHECK_THAT(e, Contains("inline.yaml:5:") && Contains("arms[0].model") && Contains("file not found"));
  }
  SECTION("response model") {
    const std::string e = errors(edit(kBase, "response/default.yaml", "response/none.yaml"));
    CHECK_THAT(e, Contains("inline.yaml:21:") && Contains("endpoints.model") && Contains("not found"));
  }
  SECTION("population file") {
    const std::string e = errors(edit(kBase, "{patients: 10}", "{population_file: no-such.csv}"));
    CHECK_THAT(e, Contains("inline.yaml:2:") && Contains("cohort.population_file") && Contains("not found"));
  }
}

TEST_CASE("Every problem of a file is reported in one run", "[trial][validation]") {
  std::string text = edit(kBase, "dose: 0.5 mg/kg", "dose: -0.5 mg/kg");                // arm 0 regimen, line 8
  text = edit(text, "  - name: nasal\n", "  - name: nasal\n    background: placebo\n");   // arm 1, line 14
  text = edit(text, "[0d, 7d, 28d, 84d]", "[0d, 7d, 28d, 84d, 90d]");                    // visit, line 23
  text = edit(text, "{patients: 10}", "{patients: 10, weigth_kg: {mean: 70}}");          // unknown key, line 2
  text += "sweep:\n  grid:\n    - {key: arms.0.regimen.dose, values: [0.5, 0.5], unit: mg/kg}\n";  // line 27
  const std::string e = errors(text);
  INFO(e);
  CHECK_THAT(e, Contains("inline.yaml:8:") && Contains("arms[0].regimen.dose"));
  CHECK_THAT(e, Contains("inline.yaml:14:") && Contains("arms[1].background") && Contains("found 'placebo'"));
  CHECK_THAT(e, Contains("inline.yaml:23:") && Contains("endpoints.visits[4]"));
  CHECK_THAT(e, Contains("inline.yaml:2:") && Contains("cohort.weigth_kg"));
  CHECK_THAT(e, Contains("inline.yaml:27:") && Contains("sweep.grid[0].values[1]") && Contains("duplicate value"));
  CHECK(lines(e) == 5);
}

TEST_CASE("Override values get the file's checks and say they came from --set", "[trial][validation]") {
  const std::string e = errors(kBase, {Override("arms.0.regimen.dose", "-1 mg/kg")});
  INFO(e);
  CHECK_THAT(e, Contains("inline.yaml:") && Contains("key 'arms[0].regimen.dose'") && Contains("expected a dose >= 0") &&
                    Contains("(value from --set arms.0.regimen.dose=-1 mg/kg)"));
  // The value's own position in the --set text (1:1) is not passed off as a line of the file.
  CHECK_THAT(e, !Contains("inline.yaml:1:1"));
  CHECK_THAT(errors(kBase, {Override("arms.0.regimen.dose.x", "1")}), Contains("cannot be set inside a value"));
  CHECK_THAT(errors(kBase, {Override("arms.7.regimen.dose", "1 mg")}), Contains("not an index of the list"));
}

TEST_CASE("Sweep blocks are validated with file, key path and line", "[trial][validation][sweep]") {
  auto with_sweep = [&](const std::string& block) { return errors(kBase + "sweep:\n" + block); };  // block: line 25
  SECTION("unknown key") {
    const std::string e = with_sweep("  grid:\n    - {key: regimen.dose, vals: [1]}\n");
    CHECK_THAT(e, Contains("inline.yaml:26:") && Contains("sweep.grid[0].vals") && Contains("unknown key"));
  }
  SECTION("unknown arm") {
    const std::string e = with_sweep("  arms: [ivv]\n  grid:\n    - {key: regimen.dose, values: [1], unit: mg/kg}\n");
    CHECK_THAT(e, Contains("inline.yaml:25:") && Contains("sweep.arms[0]") && Contains("no arm named 'ivv'") &&
                      Contains("iv, nasal"));
  }
  SECTION("a key that would change the patients") {
    const std::string e = with_sweep("  grid:\n    - {key: cohort.patients, values: [10, 20]}\n");
    CHECK_THAT(e, Contains("inline.yaml:26:") && Contains("sweep.grid[0].key") && Contains("cannot be swept"));
  }
  SECTION("a value that is invalid for the key names the sweep value and its line") {
    const std::string e =
        with_sweep("  arms: [iv]\n  grid:\n    - {key: regimen.dose, values: [0.5, -1], unit: mg/kg}\n");
    INFO(e);
    CHECK_THAT(e, Contains("key 'arms[0].regimen.dose'") && Contains("expected a dose >= 0") &&
                      Contains("value from sweep.grid[0].values[1] at ") && Contains("inline.yaml:27:"));
    CHECK(lines(e) == 1);  // reported once, not once per point
  }
  SECTION("mixed numbers and names") {
    const std::string e = with_sweep("  grid:\n    - {key: arms.0.regimen.route, values: [iv_bolus, 3]}\n");
    CHECK_THAT(e, Contains("inline.yaml:26:") && Contains("sweep.grid[0].values") && Contains("found a mix"));
  }
  SECTION("dimension name already used by the results file") {
    const std::string e = with_sweep("  grid:\n    - {key: arms.0.regimen.dose, name: dose, values: [1], unit: mg/kg}\n");
    CHECK_THAT(e, Contains("sweep.grid") && Contains("'dose' is already used"));
  }
  SECTION("relative keys with sweep.arms") {
    const std::string e = with_sweep("  arms: [iv]\n  grid:\n    - {key: arms.0.regimen.dose, values: [1], unit: mg/kg}\n");
    CHECK_THAT(e, Contains("inline.yaml:27:") && Contains("sweep.grid[0].key") && Contains("relative to each listed arm"));
  }
  SECTION("a point whose combination is invalid names the point") {
    // A 40-minute infusion does not fit a 0.02-day (29-minute) interval: the problem is reported at
    // the infusion duration (not swept), so the message names the sweep point.
    const std::string e = with_sweep(
        "  arms: [iv]\n  scenarios:\n    - {name: ok, set: {regimen.infusion_duration: 20 min}}\n"
        "    - {name: fast, set: {regimen.schedule: [{every: 0.02d, count: 3}]}}\n");
    INFO(e);
    CHECK_THAT(e, Contains("inline.yaml:9:") && Contains("arms[0].regimen.infusion_duration") &&
                      Contains("longer than the dosing interval") && Contains("(in sweep point 'scenario=fast')"));
    CHECK(lines(e) == 1);
  }
}

// Regression (0900520: 12 messages): a duration without a unit used to add "expected a positive
// duration" and one "beyond the end of the study" per visit.
TEST_CASE("A bad duration is one root message, not one per visit and dose", "[trial][validation]") {
  const std::string e = errors(kBase, {Override("study.duration", "12")});
  INFO(e);
  CHECK_THAT(e, Contains("study.duration") && Contains("missing unit"));
  CHECK(lines(e) == 1);
}

TEST_CASE("A bare dose 0 is a placebo session, in mg or mg/kg regimens alike", "[trial][validation]") {
  CHECK(errors(kBase, {Override("arms.0.regimen.dose", "0")}) == "");
  const StudyConfig c = parse_study_config(kPath, kBase, {Override("arms.0.regimen.dose", "0")});
  CHECK(c.arms[0].regimen.dose == 0.0);
}
