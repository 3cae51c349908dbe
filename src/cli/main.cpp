// ketasim command line (spec section 1). Exit status: 0 success, 1 bad input, 2 runtime failure.
#include <CLI/CLI.hpp>

#include <charconv>
#include <iostream>
#include <string>

#include "commands.hpp"
#include "ketasim/core/error.hpp"
#include "ketasim/core/limits.hpp"
#include "ketasim/io/results_file.hpp"
#include "ketasim/core/log.hpp"
#include "ketasim/version.hpp"

namespace {

// A whole number in [min, max], read exactly: no exponent, no sign games, no clamping of values
// beyond the type (CLI11 would turn 1e12 into a number and saturate 2^64). Returns "" or a message.
std::string check_integer(const std::string& text, long long min, long long max, const std::string& why,
                          long long* value = nullptr) {
  long long parsed = 0;
  const char* end = text.data() + text.size();
  const auto [stop, error] = std::from_chars(text.data(), end, parsed);
  if (text.empty() || stop != end || error != std::errc() || parsed < min || parsed > max) {
    return "expected a whole number from " + std::to_string(min) + " to " + std::to_string(max) + why + ", found '" +
           text + "'";
  }
  if (value) *value = parsed;
  return "";
}

CLI::Validator whole_number(long long min, long long max, const std::string& why) {
  return CLI::Validator([=](std::string& text) { return check_integer(text, min, max, why); }, "INT", "");
}

}  // namespace

int main(int argc, char** argv) {
  using namespace ketasim;
  io::skip_hdf5_shutdown_at_exit();  // before any HDF5 call: a full disk must not turn exit 2 into SIGSEGV
  CLI::App app{"ketasim: population PK and virtual trials of ketamine and esketamine regimens"};
  app.set_version_flag("--version", std::string("ketasim ") + kVersion + " (" + kGitCommit + ")");
  app.require_subcommand(1);

  std::string config_path, arm_name, results_path, output_path;
  std::vector<std::string> sets;
  std::string patients_text, seed_text, threads_text;
  bool quiet = false;
  int verbose = 0;

  auto* run = app.add_subcommand("run", "Run a virtual trial and write an HDF5 results file");
  run->add_option("config", config_path, "Study config (YAML)")->required();
  run->add_option("-o,--output", output_path, "Results file (default: results/<study name>.h5)");
  run->add_option("--threads", threads_text, "Worker threads (default: all cores)")
      ->check(whole_number(1, limits::kMaxThreads, " (more threads than cores only add overhead)"));
  run->add_option("--seed", seed_text, "Random seed (overrides study.seed)")
      ->check(whole_number(0, limits::kMaxSeed, " (the results file stores the seed as a signed 64-bit integer)"));
  run->add_option("--patients", patients_text, "Patients per arm (overrides cohort.patients)")
      ->check(whole_number(1, limits::kMaxPatients, " per arm (a run that size already takes days; split the cohort)"));
  run->add_option("--set", sets, "Override a config key: key.path=value (repeatable)");
  run->add_flag("-q,--quiet", quiet, "No progress output and no warnings (errors only)");
  run->add_flag("-v,--verbose", verbose, "More notes on stderr (repeat for debug detail)");

  auto* check = app.add_subcommand(
      "check", "Validate a config, its models and its sweep; print the dosing schedule per arm and sweep point");
  check->add_option("config", config_path, "Study config (YAML)")->required();
  check->add_option("--set", sets, "Override a config key: key.path=value (repeatable)");
  check->add_flag("-q,--quiet", quiet, "No warnings (errors only)");
  check->add_flag("-v,--verbose", verbose, "More notes on stderr (repeat for debug detail)");

  auto* pk = app.add_subcommand("pk", "Typical-patient profile and NCA table per arm");
  pk->add_option("config", config_path, "Study config (YAML)")->required();
  pk->add_option("--arm", arm_name, "Only this arm");
  pk->add_option("--set", sets, "Override a config key: key.path=value (repeatable)");
  pk->add_flag("-q,--quiet", quiet, "No warnings (errors only)");
  pk->add_flag("-v,--verbose", verbose, "More notes on stderr (repeat for debug detail)");

  auto* summary = app.add_subcommand("summary", "Endpoint table of an existing results file");
  summary->add_option("results", results_path, "Results file (HDF5)")->required();

  std::string calibration_path;
  auto* calibrate = app.add_subcommand("calibrate", "Fit response-model parameters to trial targets");
  calibrate->add_option("calibration", calibration_path, "Calibration file (YAML)")->required();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int status = app.exit(e);
    return status == 0 ? 0 : 1;
  }

  try {
    if (summary->parsed()) return cli::summary_command(results_path, std::cout);
    if (calibrate->parsed()) return cli::calibrate_command(calibration_path, std::cout);
    std::vector<trial::Override> overrides;
    for (const auto& s : sets) overrides.push_back(trial::parse_override(s));
    // Already checked by the validators; the texts are plain decimal integers in range.
    if (!patients_text.empty()) overrides.push_back({"cohort.patients", patients_text});
    if (!seed_text.empty()) overrides.push_back({"study.seed", seed_text});
    long long threads = 0;
    if (!threads_text.empty()) check_integer(threads_text, 1, limits::kMaxThreads, "", &threads);
    const Logger log(std::cerr, log_level_from_flags(quiet, verbose));
    trial::StudyConfig config = trial::load_study_config(config_path, overrides);
    log.debug("config " + config_path + " loaded with " + std::to_string(overrides.size()) + " override(s)");
    if (pk->parsed()) return cli::pk_command(config, arm_name, std::cout);
    // Every sweep point is expanded and validated before anything runs (check prints them all).
    const trial::SweepPlan plan = trial::parse_sweep(config);
    const std::vector<trial::StudyConfig> points = trial::expand_sweep(config, overrides, plan, &log);
    if (check->parsed()) return cli::check_command(config, std::cout);
    std::string command_line;
    for (int i = 0; i < argc; ++i) command_line += (i ? " " : "") + std::string(argv[i]);
    return cli::run_command(points, plan, cli::RunOptions{output_path, static_cast<int>(threads), quiet, command_line}, std::cout);
  } catch (const InputError& e) {
    std::cerr << "ketasim: error: " << e.what() << "\n";
    return 1;
  } catch (const RuntimeFailure& e) {
    std::cerr << "ketasim: failure: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "ketasim: failure: " << e.what() << "\n";
    return 2;
  }
}
