// `ketasim run` end to end: the printed table, and power from replicate trials.
#include <catch2/catch.hpp>

#include "../support/command.hpp"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <unistd.h>

namespace {

struct Run {
  int status;
  std::string out;
};

Run run_ketasim(const std::string& arguments) {
  const auto r = ketasim::testing::run_ketasim(arguments);
  return {r.status, r.all()};
}

// "power A vs B (remission, ...): 4.0% [..." -> 4.0
double printed_power(const std::string& out, const std::string& endpoint) {
  const std::regex line("power .* \\(" + endpoint + ", .*\\): ([0-9.]+)%");
  std::smatch m;
  REQUIRE(std::regex_search(out, m, line));
  return std::stod(m[1]);
}

}  // namespace

TEST_CASE("Power: identical arms give about the nominal 5% false positives, a real difference gives high power",
          "[cli][power]") {
  const std::string config = std::string(KETASIM_TEST_DATA_DIR) + "/power/placebo-contrast.yaml";
  const std::string output = "/tmp/ketasim_power_" + std::to_string(getpid()) + ".h5";
  // Same treatment in both arms: each of the 100 trials compares two different groups of 30
  // patients, so significance is chance. Binomial(100, 0.05) exceeds 12 with probability < 0.2%;
  // Newcombe's interval is conservative at these counts (measured: 0 of 100), so 0 is expected.
  // tests/python/test_power.py recomputes the printed figures from the file independently.
  const Run null_run =
      run_ketasim("run " + config + " --quiet -o " + output + " --set arms.0.background=oral_antidepressant --threads 2");
  INFO(null_run.out);
  REQUIRE(null_run.status == 0);
  CHECK(printed_power(null_run.out, "remission") <= 12.0);
  // The background effect (typically 40% of the baseline score) lifts remission by ~20 points; with
  // 30 patients per arm about half the trials detect it: measured 49% [39, 59]; 30% is 4 SE below.
  const Run effect_run = run_ketasim("run " + config + " --quiet -o " + output + " --threads 2");
  INFO(effect_run.out);
  REQUIRE(effect_run.status == 0);
  CHECK(printed_power(effect_run.out, "remission") >= 30.0);
  CHECK(printed_power(effect_run.out, "response") >= 90.0);  // measured 100% [96, 100]
  std::remove(output.c_str());
}

TEST_CASE("Power needs a cohort of at least 2 x replicates x patients per replicate", "[cli][power]") {
  const std::string config = std::string(KETASIM_TEST_DATA_DIR) + "/power/placebo-contrast.yaml";
  const Run r = run_ketasim("check " + config + " --set endpoints.power.replicates=101");
  INFO(r.out);
  CHECK(r.status == 1);
  CHECK(r.out.find("endpoints.power") != std::string::npos);
  CHECK(r.out.find("6060") != std::string::npos);
}

TEST_CASE("An output path in a missing folder is bad input, and no folder is created", "[cli]") {
  const std::string folder = "/tmp/ketasim_missing_" + std::to_string(getpid());
  const Run r = run_ketasim("run " + std::string(KETASIM_TEST_DATA_DIR) + "/power/placebo-contrast.yaml --quiet -o " +
                            folder + "/sub/out.h5");
  INFO(r.out);
  CHECK(r.status == 1);
  CHECK(r.out.find(folder + "/sub/out.h5: the output folder") != std::string::npos);
  CHECK(access(folder.c_str(), F_OK) != 0);
}

TEST_CASE("run -v reports the writer stage for every patient, and --quiet silences it", "[cli]") {
  // docs/scaling.md quotes the writer's throughput from this line: its patient count must be the
  // cohort's (here 300: a short last batch of 44 after one of 256), its times plain numbers.
  const std::string config = std::string(KETASIM_SOURCE_DIR) + "/configs/p1-benchmark.yaml";
  const std::string output = "/tmp/ketasim_verbose_" + std::to_string(getpid()) + ".h5";
  const Run r = run_ketasim("run " + config + " --patients 300 -v -o " + output);
  INFO(r.out);
  REQUIRE(r.status == 0);
  const std::regex line("ketasim: info: writer stage ([0-9.]+) s for ([0-9]+) patients \\(([0-9]+) patients/s\\); "
                        "commit ([0-9.]+) s");
  std::smatch m;
  REQUIRE(std::regex_search(r.out, m, line));
  CHECK(m[2] == "300");
  CHECK(std::stod(m[1]) >= 0.0);
  CHECK(std::stod(m[4]) >= 0.0);
  const Run quiet = run_ketasim("run " + config + " --patients 300 -v --quiet -o " + output);
  CHECK(quiet.status == 0);
  CHECK(quiet.out.find("writer stage") == std::string::npos);
  std::remove(output.c_str());
}
