// Issue 14, through the real binary: every hostile or absurd input of the robustness probe is bad
// input (exit 1) with a message naming the key and the limit, fast, and leaves no file behind.
// Commands that used to hang or crash run under `timeout` so that a regression fails instead of
// blocking the suite.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "../support/command.hpp"
#include "../support/scratch.hpp"

namespace fs = std::filesystem;
using Catch::Contains;
using ketasim::testing::CommandResult;

namespace {

const std::string kSource = KETASIM_SOURCE_DIR;
const std::string kDefault = kSource + "/configs/default.yaml";

// The shared scratch folder, named after this file's tests.
struct Scratch : ketasim::testing::ScratchFolder {
  explicit Scratch(const std::string& tag) : ScratchFolder("ketasim_hostile", tag) {}
};

// `ketasim <arguments>` under a 60 s timeout (exit 124 if it hangs), from `cwd`.
CommandResult ketasim_in(const std::string& cwd, const std::string& arguments) {
  return ketasim::testing::run_command("cd '" + cwd + "' && timeout -s KILL 60 \"" + std::string(KETASIM_EXE) + "\" " +
                                       arguments);
}

// Runs `arguments` (a `run` writes into the scratch folder) and expects exit 1, every fragment on
// stderr, and nothing written.
void expect_refused(const std::string& arguments, const std::vector<std::string>& fragments) {
  Scratch scratch("case");
  const CommandResult r = ketasim_in(scratch.path.string(), arguments);
  INFO("ketasim " << arguments << "\nstatus " << r.status << "\nstderr:\n" << r.err.substr(0, 2000));
  CHECK(r.status == 1);
  for (const auto& fragment : fragments) {
    INFO("expected on stderr: " << fragment);
    CHECK(r.err.find(fragment) != std::string::npos);
  }
  CHECK(scratch.all_paths().empty());
}

std::string quoted(const std::string& text) { return "'" + text + "'"; }

std::string alias_bomb() {
  std::string value = "[&a0 [x, x, x, x, x, x, x, x, x, x]";
  for (int i = 1; i <= 9; ++i) {
    const std::string prev = "*a" + std::to_string(i - 1);
    value += ", &a" + std::to_string(i) + " [" + prev;
    for (int k = 1; k < 10; ++k) value += ", " + prev;
    value += "]";
  }
  return value + "]";
}

}  // namespace

TEST_CASE("A self-referencing alias in --set is exit 1, not a stack overflow", "[cli][robust]") {
  expect_refused("check " + kDefault + " --set " + quoted("endpoints.visits=&a [0d, *a]"),
                 {"--set endpoints.visits=&a [0d, *a]", "nested more than 64 levels deep"});
  expect_refused("run " + kDefault + " -o out.h5 --set " + quoted("endpoints.visits=&a [0d, *a]"),
                 {"nested more than 64 levels deep"});
}

TEST_CASE("An alias bomb in --set or in a sweep scenario is exit 1 at once", "[cli][robust]") {
  expect_refused("check " + kDefault + " --set " + quoted("endpoints.visits=" + alias_bomb()),
                 {"expands to more than 200000 values"});
  Scratch folder("bomb");
  const std::string config = (folder.path / "bomb.yaml").string();
  {
    std::ifstream in(kDefault);
    std::ofstream out(config);
    std::string line;
    while (std::getline(in, line)) {
      if (line.find("model: ../models/") != std::string::npos) line.replace(line.find("../models/"), 10, kSource + "/models/");
      if (line.find("model: ../models/response") != std::string::npos) line.replace(line.find("../models/"), 10, kSource + "/models/");
      out << line << "\n";
    }
    out << "sweep:\n  scenarios:\n    - name: bomb\n      set: {endpoints.visits: " << alias_bomb() << "}\n";
  }
  expect_refused("check " + config, {"bomb.yaml:", "expands to more than 200000 values"});
}

TEST_CASE("A duplicate key in a config is exit 1 naming both lines", "[cli][robust]") {
  Scratch folder("dup");
  const std::string config = (folder.path / "dup.yaml").string();
  std::ofstream(config) << "study: {name: a, duration: 1d}\ncohort: {patients: 1}\nstudy: {name: b}\n";
  expect_refused("check " + config, {"dup.yaml:3:1: key 'study': duplicate key (first on line 1)"});
}

TEST_CASE("study.name cannot lead out of results/", "[cli][robust]") {
  Scratch outer("name");
  const fs::path inner = outer.path / "a" / "b";
  fs::create_directories(inner);
  const CommandResult r = ketasim_in(inner.string(), "run " + kDefault + " --patients 2 --set " +
                                                         quoted("study.name=../../x/y/z"));
  INFO(r.err);
  CHECK(r.status == 1);
  CHECK_THAT(r.err, Contains("key 'study.name'") && Contains("plain name"));
  CHECK_FALSE(fs::exists(outer.path / "x"));
  CHECK(fs::is_empty(inner));
  for (const char* name : {"..", ".", "-o", "a/b", ""}) {
    expect_refused("check " + kDefault + " --set " + quoted(std::string("study.name=") + name), {"key 'study.name'"});
  }
}

TEST_CASE("Grid size, thread, patient and seed limits are checked up front with the limit named", "[cli][robust]") {
  expect_refused("run " + kDefault + " -o out.h5 --set " + quoted("outputs.time_step=1e-300 h") +
                     " --set outputs.concentration=none",
                 {"key 'outputs.time_step'", "more than 1000000 time points"});
  expect_refused("run " + kDefault + " -o out.h5 --set " + quoted("study.duration=1e308 d"),
                 {"key 'study.duration'", "at most 10 years"});
  expect_refused("run " + kDefault + " -o out.h5 --threads 2147483647", {"--threads", "from 1 to 256"});
  expect_refused("run " + kDefault + " -o out.h5 --patients 1e12", {"--patients", "from 1 to 100000000", "'1e12'"});
  expect_refused("run " + kDefault + " -o out.h5 --patients 1000000000000", {"--patients", "100000000"});
  expect_refused("run " + kDefault + " -o out.h5 --set cohort.patients=1000000000000", {"key 'cohort.patients'", "at most 100000000"});
  expect_refused("run " + kDefault + " -o out.h5 --seed 18446744073709551616", {"--seed", "9223372036854775807"});
  expect_refused("run " + kDefault + " -o out.h5 --seed 99999999999999999999", {"--seed", "9223372036854775807"});
  expect_refused("run " + kDefault + " -o out.h5 --set study.seed=18446744073709551615", {"key 'study.seed'"});
}

TEST_CASE("Absurd doses, tolerances and baseline scores are exit 1, not silently wrong results", "[cli][robust]") {
  expect_refused("check " + kDefault + " --set " + quoted("arms.1.regimen.schedule.0.dose=1e6 mg"),
                 {"key 'arms[1].regimen.schedule[0].dose'", "at most 10000 mg"});
  expect_refused("check " + kDefault + " --set " + quoted("arms.0.regimen.dose=1e308 mg/kg"),
                 {"key 'arms[0].regimen.dose'", "at most 100 mg/kg"});
  expect_refused("check " + kDefault + " --set " + quoted("solver.relative_tolerance=1e-300"),
                 {"key 'solver.relative_tolerance'", "1e-14 to 0.1"});
  expect_refused("check " + kDefault + " --set " + quoted("solver.relative_tolerance=1e308") + " --set " +
                     quoted("solver.absolute_tolerance_mg=1e308"),
                 {"key 'solver.relative_tolerance'", "key 'solver.absolute_tolerance_mg'"});
  expect_refused("check " + kDefault + " --set " + quoted("cohort.baseline_madrs={mean: 1000, sd: 5, min: 0, max: 2000}"),
                 {"key 'cohort.baseline_madrs'", "0 to 60"});
  expect_refused("check " + kDefault + " --set " + quoted("cohort.baseline_madrs={mean: -5, sd: 5, min: -10, max: 60}"),
                 {"key 'cohort.baseline_madrs'", "0 to 60"});
  expect_refused("check " + kDefault + " --set " + quoted("cohort.weight_kg={mean: 70, sd: 5, min: 1e-300, max: 80}"),
                 {"key 'cohort.weight_kg'", "0.5 to 700"});
}

TEST_CASE("Covariates from a population file are range-checked like the config's", "[cli][robust]") {
  Scratch folder("csv");
  const std::string csv = (folder.path / "people.csv").string();
  std::ofstream(csv) << "\xEF\xBB\xBFID,WT,AGE\n1,1e-300,40\n2,70,500\n";
  const CommandResult r = ketasim_in(folder.path.string(), "run " + kSource + "/tests/data/population/study.yaml -o " +
                                                               (folder.path / "out.h5").string() +
                                                               " --set cohort.population_file=" + csv);
  INFO(r.err);
  CHECK(r.status == 1);
  CHECK_THAT(r.err, Contains("people.csv:2:2: key 'WT'") && Contains("people.csv:3:3: key 'AGE'"));
  CHECK_THAT(r.err, !Contains("unknown column"));  // the byte-order mark did not hide 'ID'
  CHECK(folder.all_paths() == std::vector<std::string>{csv});
}
