// Bad input through the real binary: every case must exit with status 1 (spec 1: bad input) and
// print a message on stderr that names the file, the key path and `:<line>` of the problem, so a
// user can go straight to it. The files are under tests/data/bad/: base.yaml is a valid config
// (checked here too, so a broken base cannot make every case "pass"); each config-*.yaml and
// model-*.yaml is a copy of base.yaml or of a shipped model with exactly one thing broken.
#include <catch2/catch.hpp>

#include "../support/command.hpp"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <sys/wait.h>
#include <unistd.h>

namespace {

using ketasim::testing::CommandResult;
using RunResult = CommandResult;

// `ketasim check <config>`; the messages name the config as given on the command line.
RunResult run_check(const std::string& config) { return ketasim::testing::run_ketasim("check " + config); }

const std::string kDir = std::string(KETASIM_TEST_DATA_DIR) + "/bad/";

// "<file>:<line>:<column>:" of `token` on that line of the fixture, column 1-based, computed from
// the file's text: the column the message must name (README: "names the file, the key path, the
// line and column"). The old fragments stopped at the line, so a wrong column passed.
std::string at(const std::string& file, int line, const std::string& token) {
  std::ifstream in(kDir + file);
  std::string text;
  for (int i = 0; i < line && std::getline(in, text); ++i) {
  }
  const auto column = text.find(token);
  REQUIRE(column != std::string::npos);
  REQUIRE(text.find(token, column + 1) == std::string::npos);  // the token must be unambiguous
  return file + ":" + std::to_string(line) + ":" + std::to_string(column + 1) + ":";
}

void expect_bad(const std::string& config_file, const std::vector<std::string>& fragments) {
  const RunResult r = run_check(kDir + config_file);
  INFO("config " << config_file << "\nstderr:\n" << r.err);
  CHECK(r.status == 1);
  for (const auto& fragment : fragments) {
    INFO("expected stderr to contain: " << fragment);
    CHECK(r.err.find(fragment) != std::string::npos);
  }
}

}  // namespace

TEST_CASE("The valid base config of the bad-input cases passes check", "[cli]") {
  const RunResult r = run_check(kDir + "base.yaml");
  INFO(r.err);
  CHECK(r.status == 0);
  CHECK(r.err.empty());
}

TEST_CASE("Bad model files: exit 1 and the model file, key and line are named", "[cli]") {
  SECTION("missing parameter (V2 deleted; its first use is reported)") {
    expect_bad("config-model-missing-parameter.yaml",
               {at("model-missing-parameter.yaml", 32, "V2"), "compartments[1].volume", "unknown parameter 'V2'",
                at("config-model-missing-parameter.yaml", 6, "model-missing-parameter.yaml"), "arms[0].model"});
  }
  SECTION("negative clearance") {
    expect_bad("config-model-negative-clearance.yaml",
               {at("model-negative-clearance.yaml", 37, "-90"), "parameters.CL.value", "positive clearance"});
  }
  SECTION("unknown route") {
    // The route's value (a block mapping) starts on line 57; the key itself is on line 56.
    expect_bad("config-model-unknown-route.yaml",
               {"model-unknown-route.yaml:5", "routes.iv_bolous", "unknown route 'iv_bolous'"});
  }
  SECTION("omega block that is not positive definite (correlations 0.9, 0.9, -0.9)") {
    expect_bad("config-model-omega-not-pd.yaml",
               {at("model-omega-not-pd.yaml", 69, "- {"), "correlations", "not positive definite"});
  }
  SECTION("unit typo (l for L)") {
    expect_bad("config-model-unit-typo.yaml", {at("model-unit-typo.yaml", 38, "l,   allometric"), "parameters.V1.unit", "unknown unit 'l'"});
  }
  SECTION("unknown key (alometric_exponent)") {
    expect_bad("config-model-unknown-key.yaml",
               {at("model-unknown-key.yaml", 39, "alometric_exponent"), "parameters.Q.alometric_exponent", "unknown key"});
  }
  SECTION("model file that does not exist: the config key that names it and its line") {
    expect_bad("config-model-file-missing.yaml",
               {"model-does-not-exist.yaml", "file not found", at("config-model-file-missing.yaml", 6, "model-does-not-exist.yaml"), "arms[0].model"});
  }
}

TEST_CASE("Bad config files: exit 1 and the file, key and line are named", "[cli]") {
  SECTION("unknown regimen route") {
    expect_bad("config-unknown-route.yaml",
               {at("config-unknown-route.yaml", 17, "intranasl"), "arms[1].regimen.route", "found 'intranasl'"});
  }
  SECTION("unknown key") {
    expect_bad("config-unknown-key.yaml", {at("config-unknown-key.yaml", 3, "weigth_kg"), "cohort.weigth_kg", "unknown key"});
  }
  SECTION("unit typo") {
    expect_bad("config-unit-typo.yaml",
               {at("config-unit-typo.yaml", 10, "40 mni"), "arms[0].regimen.infusion_duration", "unit 'mni'"});
  }
  SECTION("infusion longer than the dosing interval") {
    expect_bad("config-infusion-too-long.yaml",
               {at("config-infusion-too-long.yaml", 10, "4d"), "arms[0].regimen.infusion_duration", "longer than the dosing interval"});
  }
  SECTION("visit beyond the end of the study") {
    expect_bad("config-visit-beyond-end.yaml",
               {at("config-visit-beyond-end.yaml", 23, "90d"), "endpoints.visits[4]", "beyond the end of the study"});
  }
  SECTION("regimen route the model lacks") {
    expect_bad("config-route-not-in-model.yaml",
               {at("config-route-not-in-model.yaml", 8, "oral"), "arms[0].regimen.route", "has no route 'oral'"});
  }
  SECTION("malformed YAML (unclosed flow sequence): the line of the syntax error") {
    expect_bad("config-malformed.yaml", {"config-malformed.yaml:10:", "malformed YAML"});
  }
  SECTION("empty file: no key or line exists, the file is named") {
    expect_bad("config-empty.yaml", {"config-empty.yaml", "empty"});
  }
  SECTION("binary file") {
    expect_bad("config-binary.yaml", {"config-binary.yaml", "binary"});
  }
  SECTION("missing config file") {
    expect_bad("no-such-config.yaml", {"no-such-config.yaml", "file not found"});
  }
}

// Regression: a missing required scalar key once exited 2 ("failure: invalid node; first invalid
// key") instead of 1 with file/key/line.
TEST_CASE("An empty arm name exits 1 naming the key (it would label the arm's results)", "[cli]") {
  expect_bad("config-empty-arm-name.yaml",
             {at("config-empty-arm-name.yaml", 5, "\"\""), "arms[0].name", "expected a non-empty arm name"});
}

TEST_CASE("Missing required keys exit 1 naming the key", "[cli]") {
  SECTION("study.name missing") {
    expect_bad("config-missing-key.yaml", {at("config-missing-key.yaml", 2, "{"), "study.name", "required key is missing"});
  }
  SECTION("phase with ii but no addl") {
    expect_bad("config-ii-without-addl.yaml",
               {at("config-ii-without-addl.yaml", 12, "{"), "arms[0].regimen.schedule[0].addl", "required key is missing"});
  }
}
