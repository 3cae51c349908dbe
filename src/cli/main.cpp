// ketasim command line (spec section 1). Exit status: 0 success, 1 bad input, 2 runtime failure.
#include <CLI/CLI.hpp>

#include <exception>
#include <iostream>
#include <optional>
#include <string>

#include "commands.hpp"
#include "ketasim/core/error.hpp"
#include "ketasim/core/limits.hpp"
#include "ketasim/core/ranks.hpp"
#include "ketasim/io/results_file.hpp"
#include "ketasim/core/log.hpp"
#include "ketasim/io/results_schema.hpp"
#include "ketasim/trial/config_json.hpp"
#include "ketasim/version.hpp"


int main(int argc, char** argv) {
  using namespace ketasim;
  io::skip_hdf5_shutdown_at_exit();  // before any HDF5 call: a full disk must not turn exit 2 into SIGSEGV
  // Started by mpirun or srun (an MPI build): one of several ranks (docs/scaling.md). Every rank
  // parses the same command line and config; only rank 0 prints what they would all print.
  std::optional<Ranks> joined;
  try {
    joined.emplace(Ranks::from_launcher());
  } catch (const std::exception& e) {
    std::cerr << "ketasim: failure: " << e.what() << "\n";
    return 2;
  }
  const Ranks& ranks = *joined;
  bool speaker = ranks.rank() == 0;  // the rank that reports a failure all ranks share
  CLI::App app{"ketasim: population PK and virtual trials of ketamine and esketamine regimens"};
  app.set_version_flag("--version", std::string("ketasim ") + kVersion + " (" + kGitCommit + ")" +
                                        (Ranks::built_with_mpi() ? " with MPI" : ""));
  app.require_subcommand(1);

  std::string config_path, arm_name, results_path, output_path;
  std::vector<std::string> sets;
  // Numbers are read as text and checked here (cli/options.cpp), so a bad value gets the project's own message.
  std::string patients_text, seed_text, threads_text;
  bool quiet = false;
  int verbose = 0;

  auto* run = app.add_subcommand("run", "Run a virtual trial and write an HDF5 results file");
  run->add_option("config", config_path, "Study config (YAML)")->required();
  run->add_option("-o,--output", output_path, "Results file (default: results/<study name>.h5)");
  run->add_option("--threads", threads_text, "Worker threads (default: all cores)");
  run->add_option("--seed", seed_text, "Random seed, an integer 0 to 2^63-1 (overrides study.seed)");
  run->add_option("--patients", patients_text, "Patients per arm (overrides cohort.patients)");
  run->add_option("--set", sets, "Override a config key: key.path=value (repeatable)");
  bool no_variability = false;
  run->add_flag("--no-variability", no_variability,
                "Every random effect zero (cohort.variability=false): typical-value patients with their own covariates");
  run->add_flag("-q,--quiet", quiet, "No progress output and no warnings (errors only)");
  run->add_flag("-v,--verbose", verbose, "More notes on stderr (repeat for debug detail)");

  auto* optimize = app.add_subcommand("optimize", "Best regimen over the config's `optimize:` candidates, with costs");
  optimize->add_option("config", config_path, "Study config with an `optimize:` block (YAML)")->required();
  optimize->add_option("-o,--output", output_path, "Results file (default: results/<study name>-optimize.h5)");
  optimize->add_option("--threads", threads_text, "Worker threads (default: all cores)");
  optimize->add_option("--seed", seed_text, "Random seed, an integer 0 to 2^63-1 (overrides study.seed)");
  optimize->add_option("--patients", patients_text, "Patients per candidate (overrides cohort.patients)");
  optimize->add_option("--set", sets, "Override a config key: key.path=value (repeatable)");
  optimize->add_flag("-q,--quiet", quiet, "No progress output and no warnings (errors only)");

  auto* check = app.add_subcommand(
      "check", "Validate a config, its models and its sweep; print the dosing schedule per arm and sweep point");
  check->add_option("config", config_path, "Study config (YAML)")->required();
  check->add_option("--set", sets, "Override a config key: key.path=value (repeatable)");
  check->add_flag("-q,--quiet", quiet, "No warnings (errors only)");
  check->add_flag("-v,--verbose", verbose, "More notes on stderr (repeat for debug detail)");

  auto* pk = app.add_subcommand("pk", "Typical-patient profile and NCA table per arm");
  pk->add_option("config", config_path, "Study config (YAML)")->required();
  pk->add_option("--arm", arm_name, "Only this arm");
  std::string profile_path;
  pk->add_option("--profile", profile_path,
                 "Also write the typical patient's profile as CSV: arm, output, time_h, conc_ng_per_ml");
  pk->add_option("--set", sets, "Override a config key: key.path=value (repeatable)");
  pk->add_flag("-q,--quiet", quiet, "No warnings (errors only)");
  pk->add_flag("-v,--verbose", verbose, "More notes on stderr (repeat for debug detail)");

  auto* summary = app.add_subcommand("summary", "Endpoint table of an existing results file");
  summary->add_option("results", results_path, "Results file (HDF5)")->required();

  std::string calibration_path;
  auto* calibrate = app.add_subcommand("calibrate", "Fit response-model parameters to trial targets");
  calibrate->add_option("calibration", calibration_path, "Calibration file (YAML)")->required();
  cli::CalibrateOptions calibrate_options;
  calibrate->add_option("--profile", calibrate_options.profile,
                        "Print the objective (counts and expected) along one fitted parameter, others at start; no fit");
  calibrate->add_option("--points", calibrate_options.points, "Grid points of --profile (default 21)");
  calibrate->add_flag("--evaluate", calibrate_options.evaluate,
                      "Evaluate the targets at the start values (no fit, nothing written)");
  calibrate->add_flag("--uncertainty", calibrate_options.uncertainty,
                      "Print the parameter uncertainty (Gauss-Newton) at the start values (no fit, nothing written)");

  auto* schema = app.add_subcommand("schema", "Print the results-file schema (every variable, its dims, units) as JSON");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (!speaker) return e.get_exit_code() == 0 ? 0 : 1;
    const int status = app.exit(e);
    return status == 0 ? 0 : 1;
  }
  // Any failure once the ranks work together takes the whole group down (MPI_Abort), after rank
  // 0's results file has removed its temporary file: a rank waiting for a dead one would wait forever.
  // Before that (command-line numbers) every rank fails alike, and rank 0 alone says so.
  bool working_together = false;
  const auto fail = [&](const char* kind, const std::exception& e, int status) {
    if (!working_together) {
      if (speaker) std::cerr << "ketasim: " << kind << ": " << (ranks.rank() ? ranks.message_prefix() : "") << e.what() << "\n";
      return status;
    }
    std::cerr << "ketasim: " << kind << ": " << ranks.message_prefix() << e.what() << "\n";
    if (ranks.distributed()) ranks.abort(status);
    return status;
  };


  try {
    if (ranks.distributed() && !run->parsed()) {
      if (!speaker) return 1;
      std::cerr << "ketasim: error: started as " << ranks.size() << " ranks (mpirun/srun), but only `run` splits its "
                << "work across ranks; run `" << app.get_subcommands().front()->get_name() << "` without mpirun\n";
      return 1;
    }
    if (schema->parsed()) {
      std::cout << io::schema_json() << "\n";
      return 0;
    }
    if (summary->parsed()) return cli::summary_command(results_path, std::cout);
    const long long patients = cli::parse_count_option("--patients", patients_text, 1, limits::kMaxPatients,
                                                       "patients per arm (a run that size already takes days; split the cohort)");
    const int threads = static_cast<int>(cli::parse_count_option("--threads", threads_text, 1, limits::kMaxThreads,
                                                                 "worker threads (more threads than cores only add overhead)"));
    if (!seed_text.empty()) cli::parse_seed_option(seed_text);
    if (calibrate->parsed()) return cli::calibrate_command(calibration_path, std::cout, calibrate_options);
    std::vector<trial::Override> overrides;
    for (const auto& s : sets) overrides.push_back(trial::parse_override(s));
    if (patients > 0) overrides.push_back({"cohort.patients", std::to_string(patients)});
    if (!seed_text.empty()) overrides.push_back({"study.seed", seed_text});
    if (no_variability) overrides.push_back({"cohort.variability", "false"});
    const Logger log(std::cerr, log_level_from_flags(quiet || !speaker, verbose));
    // The one front door: config, sweep points, models, response model and population file, all
    // validated together, whatever the command. Ranks agree on the outcome before any of them
    // starts: a rank that cannot read a file must not leave the others waiting for its batches.
    std::optional<trial::Study> loaded;
    std::exception_ptr load_error;
    try {
      loaded.emplace(trial::load_study(config_path, overrides, &log));
    } catch (...) {
      load_error = std::current_exception();
    }
    if (ranks.distributed()) {
      const std::vector<int> failed = ranks.failed_ranks(!load_error);
      // The first rank that failed says why; the others leave quietly with the same kind of status.
      if (!failed.empty() && failed.front() != ranks.rank()) return 1;
      if (!failed.empty()) speaker = true;  // this rank failed first
    }
    if (load_error) std::rethrow_exception(load_error);
    const trial::Study& study = *loaded;
    if (ranks.distributed()) {
      // Every rank must simulate the same study: a file that differs between machines would
      // otherwise give a file mixing two studies, without a word.
      std::string fingerprint = trial::effective_config_json(study);
      for (const auto& input : study.inputs) fingerprint += "\n" + input.role + " " + input.sha256;
      const std::vector<int> differing = ranks.differing_from_rank0(fingerprint);
      if (!differing.empty()) {
        if (speaker) {
          std::string list;
          for (const int r : differing) list += (list.empty() ? "" : ", ") + std::to_string(r);
          std::cerr << "ketasim: error: rank" << (differing.size() > 1 ? "s " : " ") << list
                    << " loaded a different study from rank 0 (the command line, or a config, model or population "
                       "file, differs between them); every rank must read the same inputs\n";
        }
        return 1;
      }
    }
    working_together = true;
    log.debug("config " + config_path + " loaded with " + std::to_string(overrides.size()) + " override(s)");
    if (pk->parsed()) return cli::pk_command(study, arm_name, profile_path, std::cout);
    if (check->parsed()) return cli::check_command(study, std::cout);
    std::string command_line;
    for (int i = 0; i < argc; ++i) command_line += (i ? " " : "") + std::string(argv[i]);
    if (optimize->parsed()) {
      return cli::optimize_command(study, cli::RunOptions{output_path, threads, quiet, command_line}, std::cout);
    }
    return cli::run_command(study, cli::RunOptions{output_path, threads, quiet, command_line, verbose}, ranks, std::cout);
  } catch (const InputError& e) {
    return fail("error", e, 1);
  } catch (const RuntimeFailure& e) {
    return fail("failure", e, 2);
  } catch (const std::exception& e) {
    return fail("failure", e, 2);
  }
}
