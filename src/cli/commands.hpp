#pragma once
// The subcommands of the ketasim executable. Each returns the process exit status; InputError and
// RuntimeFailure propagate to main, which maps them to 1 and 2.
#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include "ketasim/core/ranks.hpp"
#include "ketasim/trial/study.hpp"

namespace ketasim::cli {

int check_command(const trial::Study& study, std::ostream& out);
// `profile_path` (optional): the typical patient's concentrations on the 5-minute grid as long CSV.
int pk_command(const trial::Study& study, const std::string& arm_name, const std::string& profile_path,
               std::ostream& out);

struct RunOptions {
  std::string output_path;
  int threads = 0;
  bool quiet = false;
  std::string command_line;
  int verbose = 0;  // -v: also say how long the serial writer stage and the commit took
};
// With several ranks (mpirun), rank 0 writes the file and prints; the others compute their share.
int run_command(const trial::Study& study, const RunOptions& options, const Ranks& ranks, std::ostream& out);
// The results path of `run` and `optimize`: `given` (-o), whose folder must exist, or
// `default_path` under results/, whose folders are created. Throws InputError.
std::string prepare_output_path(const std::string& given, const std::string& default_path);
// Best regimen over the `optimize:` block's candidates (trial/optimize.hpp, docs/optimize.md).
int optimize_command(const trial::Study& study, const RunOptions& options, std::ostream& out);
int summary_command(const std::string& results_path, std::ostream& out);
// Fits response-model parameters to trial targets (spec 5.4); see calibrations/*.yaml.
struct CalibrateOptions {
  std::string profile;  // a fitted parameter: print the objective along it instead of fitting
  int points = 21;
  bool evaluate = false;  // print the targets at the start values instead of fitting
  bool uncertainty = false;  // print the Gauss-Newton parameter uncertainty at the start values
};
int calibrate_command(const std::string& calibration_path, std::ostream& out, const CalibrateOptions& options = {});

// Command-line numbers in the project's own words: "--patients: expected 1 to ..., found '0'".
// An empty text means the option was not given (0 is returned). Throws InputError.
long long parse_count_option(const std::string& option, const std::string& text, long long min, long long max,
                             const std::string& what);
std::uint64_t parse_seed_option(const std::string& text);

}  // namespace ketasim::cli
