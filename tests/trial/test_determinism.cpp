// Spec 6: results are bit-identical for any thread count. Runs the real binary on
// tests/data/engine/two-arms.yaml (two arms, 300 patients in 19 batches of 16, full concentration
// output) with --threads 1, 2 and 8, then compares the files with h5diff:
//   * `h5diff --exclude-attribute /` must find no difference at all: every dataset (values,
//     shapes, types) and every attribute of every dataset;
//   * `h5diff -v` lists the root attributes: the only ones allowed to differ are `created` (a
//     clock) and `command_line` (it names the thread count and output path).
#include <catch2/catch.hpp>

#include "../support/command.hpp"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <sys/wait.h>
#include <unistd.h>

namespace {

using Output = ketasim::testing::CommandResult;
Output shell(const std::string& command) { return ketasim::testing::run_command(command); }

}  // namespace

TEST_CASE("Results are bit-identical at 1, 2 and 8 threads", "[trial][determinism]") {
  const std::string config = std::string(KETASIM_TEST_DATA_DIR) + "/engine/two-arms.yaml";
  const std::string dir = "/tmp/ketasim_test_determinism_" + std::to_string(::getpid());
  REQUIRE(shell("mkdir -p " + dir).status == 0);
  std::vector<std::string> files;
  for (int threads : {1, 2, 8}) {
    const std::string path = dir + "/t" + std::to_string(threads) + ".h5";
    const Output run = shell(std::string("\"") + KETASIM_EXE + "\" run " + config + " --threads " +
                             std::to_string(threads) + " -o " + path + " --quiet");
    INFO(run.all());
    REQUIRE(run.status == 0);
    files.push_back(path);
  }
  for (std::size_t k = 1; k < files.size(); ++k) {
    const Output datasets = shell("h5diff --exclude-attribute / " + files[0] + " " + files[k]);
    INFO("h5diff " << files[0] << " " << files[k] << ":\n" << datasets.all());
    CHECK(datasets.status == 0);
    // Root attributes: parse "attribute: <NAME of </>> ..." followed by "N differences found".
    const Output verbose = shell("h5diff -v " + files[0] + " " + files[k]);
    std::istringstream lines(verbose.all());
    std::string line, current;
    int root_attributes = 0, datasets_compared = 0;
    const std::regex attribute(R"(^attribute: <(\S+) of </>>)"), differences(R"(^(\d+) differences? found)");
    std::smatch m;
    while (std::getline(lines, line)) {
      if (std::regex_search(line, m, attribute)) {
        current = m[1];
        ++root_attributes;
      } else if (line.rfind("dataset:", 0) == 0) {
        current = "";
        ++datasets_compared;
      } else if (std::regex_search(line, m, differences)) {
        if (std::stol(m[1]) > 0) {
          INFO("differs: " << (current.empty() ? line : current));
          CHECK((current == "created" || current == "command_line"));
        }
      }
      CHECK(line.find("not comparable") == std::string::npos);
    }
    CHECK(root_attributes >= 10);   // software, seed, rng, config_yaml, config_json, ...
    CHECK(datasets_compared >= 20);  // coordinates, covariates, pk_*, conc_*, NCA, madrs, ...
  }
  shell("rm -rf " + dir);
}
