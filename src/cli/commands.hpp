#pragma once
// The subcommands of the ketasim executable. Each returns the process exit status; InputError and
// RuntimeFailure propagate to main, which maps them to 1 and 2.
#include <iosfwd>
#include <string>
#include <vector>

#include "ketasim/trial/config.hpp"
#include "ketasim/trial/sweep.hpp"

namespace ketasim::cli {

int check_command(const trial::StudyConfig& config, std::ostream& out);
int pk_command(const trial::StudyConfig& config, const std::string& arm_name, std::ostream& out);

struct RunOptions {
  std::string output_path;
  int threads = 0;
  bool quiet = false;
  std::string command_line;
};
// `points` holds one config per sweep point (one when there is no sweep), all validated.
int run_command(const std::vector<trial::StudyConfig>& points, const trial::SweepPlan& plan, const RunOptions& options,
                std::ostream& out);
int summary_command(const std::string& results_path, std::ostream& out);
// Fits response-model parameters to trial targets (spec 5.4); see calibrations/*.yaml.
int calibrate_command(const std::string& calibration_path, std::ostream& out);

}  // namespace ketasim::cli
