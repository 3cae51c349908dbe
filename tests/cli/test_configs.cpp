// Every shipped config in configs/ passes `ketasim check` and runs (`run --patients 50`), so a
// config in the repository cannot rot. Configs are found by listing the folder, so new ones are
// covered without touching this test. 50 patients keep the whole set to a few seconds.
#include <catch2/catch.hpp>

#include "../support/command.hpp"

#include <dirent.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

const std::string kConfigs = std::string(KETASIM_SOURCE_DIR) + "/configs/";

std::vector<std::string> shipped_configs() {
  std::vector<std::string> out;
  if (DIR* dir = opendir(kConfigs.c_str())) {
    while (const dirent* e = readdir(dir)) {
      const std::string name = e->d_name;
      if (name.size() > 5 && name.substr(name.size() - 5) == ".yaml") out.push_back(name);
    }
    closedir(dir);
  }
  std::sort(out.begin(), out.end());
  return out;
}

using Result = ketasim::testing::CommandResult;


}  // namespace

TEST_CASE("Every shipped config passes check", "[cli][configs]") {
  const auto configs = shipped_configs();
  REQUIRE(configs.size() >= 4);  // default, p1-benchmark, sweep, sweep-esketamine at least
  for (const auto& name : configs) {
    const Result r = ketasim::testing::run_ketasim("check " + kConfigs + name);
    INFO(name << "\n" << r.err);
    CHECK(r.status == 0);
    CHECK(r.out.find("OK") != std::string::npos);
  }
}

TEST_CASE("Every shipped config runs with 50 patients", "[cli][configs]") {
  const std::string out = "/tmp/ketasim_configs_" + std::to_string(::getpid()) + ".h5";
  for (const auto& name : shipped_configs()) {
    const Result r = ketasim::testing::run_ketasim("run --quiet --patients 50 --threads 2 -o " + out + " " + kConfigs + name);
    INFO(name << "\n" << r.err);
    CHECK(r.status == 0);
    CHECK(r.out.find("50 patients per arm") != std::string::npos);
    CHECK(r.err.empty());  // --quiet: nothing on stderr for a clean run
    std::remove(out.c_str());
  }
}

TEST_CASE("check prints the schedule of every sweep point", "[cli][configs][sweep]") {
  const Result r = ketasim::testing::run_ketasim("check " + kConfigs + "sweep.yaml");
  INFO(r.err);
  REQUIRE(r.status == 0);
  CHECK(r.out.find("Sweep: 16 points") != std::string::npos);
  CHECK(r.out.find("Sweep point 6/16: dose_mg_per_kg=0.5 interval_d=14") != std::string::npos);
  CHECK(r.out.find("Sweep point 16/16: dose_mg_per_kg=1 interval_d=28") != std::string::npos);
  CHECK(r.out.find("1 mg/kg over 40 min") != std::string::npos);
}

TEST_CASE("Verbose and quiet flags: -v adds notes on stderr, --quiet silences warnings", "[cli][configs][log]") {
  const Result v = ketasim::testing::run_ketasim("check -v " + kConfigs + "sweep.yaml");
  CHECK(v.status == 0);
  CHECK(v.err.find("ketasim: info: sweep: 16 points") != std::string::npos);
  const Result d = ketasim::testing::run_ketasim("check -v -v " + kConfigs + "sweep-esketamine.yaml");
  CHECK(d.err.find("ketasim: debug: sweep point 'dose_mg=56 interval_d=7'") != std::string::npos);
  const Result w = ketasim::testing::run_ketasim("check --set sweep.grid.0.values=[56] " + kConfigs + "sweep-esketamine.yaml");
  CHECK(w.status == 0);
  CHECK(w.err.find("warning: sweep dimension 'dose_mg' has a single value") != std::string::npos);
  const Result q = ketasim::testing::run_ketasim("check --quiet --set sweep.grid.0.values=[56] " + kConfigs + "sweep-esketamine.yaml");
  CHECK(q.err.empty());
}
