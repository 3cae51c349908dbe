// `ketasim optimize`: evaluates the optimize block's candidates (trial/optimize.hpp), prints the
// ranking, and writes every candidate, the Pareto front and the optimum to an HDF5 file
// (docs/optimize.md), atomically like `run`.
#include <tbb/global_control.h>
#include <tbb/info.h>
#include <unistd.h>

#include <cmath>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "commands.hpp"
#include "utc_time.hpp"
#include "ketasim/core/error.hpp"
#include "ketasim/core/interrupt.hpp"
#include "ketasim/io/results_file.hpp"
#include "ketasim/trial/config_json.hpp"
#include "ketasim/trial/optimize.hpp"
#include "ketasim/version.hpp"

namespace ketasim::cli {

namespace {

std::string fixed(double x, int digits) {
  if (std::isnan(x)) return "-";
  if (std::isinf(x)) return "inf";
  std::ostringstream os;
  os << std::fixed << std::setprecision(digits) << x;
  return os.str();
}

bool is_rate(trial::Objective o) { return o == trial::Objective::remission || o == trial::Objective::response; }

std::string objective_text(trial::Objective o, double value, double lower, double upper) {
  const double scale = is_rate(o) ? 100.0 : 1.0;
  const int digits = is_rate(o) || o == trial::Objective::days_in_remission ? 1 : 0;
  return fixed(scale * value, digits) + (is_rate(o) ? "%" : "") + " [" + fixed(scale * lower, digits) + ", " +
         fixed(scale * upper, digits) + "]";
}

void print_result(const trial::Study& study, const trial::OptimizeSpec& spec, const trial::OptimizeResult& r,
                  std::ostream& out) {
  const trial::Objective o = spec.objective;
  out << "Optimize '" << study.config.name << "', arm '" << spec.arm << "': " << trial::objective_name(o) << " at day "
      << spec.visit_d << " (" << (trial::objective_maximized(o) ? "higher" : "lower") << " is better), "
      << study.config.cohort.patients << " patients per candidate (same patients for every candidate), 95% paired "
      << "bootstrap CIs (" << spec.bootstrap << " replicates)\n";
  if (spec.search.continuous) {
    out << "Search: NLopt " << spec.search.algorithm << " over";
    for (const auto& v : spec.search.variables) {
      out << " " << v.name << " in [" << v.lower << ", " << v.upper << "]" << (v.unit == "1" ? "" : " " + v.unit);
      if (v.step > 0.0) out << " step " << v.step;
    }
    out << ", at most " << spec.search.max_evaluations << " candidates per "
        << (spec.candidates.dimensions.empty() ? "search" : "discrete candidate") << "; " << r.candidates.size()
        << " evaluated, in search order\n";
  }
  std::size_t width = 10;
  for (const auto& c : r.candidates) width = std::max(width, c.label.size() + 2);
  const std::string cost_head = spec.costs.given ? "cost/patient (" + spec.costs.currency + ")" : "";
  out << std::left << std::setw(static_cast<int>(width)) << "candidate" << std::right << std::setw(26) << "objective"
      << std::setw(11) << "remission" << std::setw(10) << "sessions" << std::setw(22) << cost_head << "  notes\n";
  for (std::size_t k = 0; k < r.candidates.size(); ++k) {
    const auto& c = r.candidates[k];
    std::string notes;
    if (static_cast<int>(k) == r.best) notes += "BEST ";
    if (static_cast<int>(k) == r.runner_up) notes += "runner-up ";
    if (c.pareto) notes += "pareto ";
    if (!c.feasible) notes += "infeasible: " + c.infeasible_because;
    out << std::left << std::setw(static_cast<int>(width)) << c.label << std::right << std::setw(26)
        << objective_text(o, c.objective, c.objective_lower, c.objective_upper) << std::setw(10)
        << fixed(100.0 * c.remission, 1) + "%" << std::setw(10) << fixed(c.sessions_taken, 1) << std::setw(22)
        << (spec.costs.given ? fixed(c.cost_per_patient, 0) : "") << "  " << notes << "\n";
  }
  const auto& best = r.candidates[r.best];
  out << "Best: " << best.label << "; on fresh patients (seed " << spec.fresh_seed << "): "
      << objective_text(o, r.best_fresh.objective, r.best_fresh.objective_lower, r.best_fresh.objective_upper)
      << " (search: " << objective_text(o, best.objective, best.objective_lower, best.objective_upper) << ")\n";
  if (r.runner_up >= 0) {
    out << "Runner-up: " << r.candidates[r.runner_up].label << "; on the same fresh patients: "
        << objective_text(o, r.runner_up_fresh.objective, r.runner_up_fresh.objective_lower,
                          r.runner_up_fresh.objective_upper)
        << "\nProbability the best beats the runner-up (paired bootstrap over the search's patients): "
        << fixed(100.0 * r.probability_best_beats_runner_up, 1) << "%\n";
  }
  if (spec.costs.given) {
    out << "Cost per remission of the best (" << spec.costs.currency << "): " << fixed(best.cost_per_remission, 0)
        << "; per remission-week: " << fixed(best.cost_per_remission_week, 0);
    if (spec.reference_index >= 0) {
      out << "; incremental cost per extra remission vs '" << spec.reference << "': "
          << fixed(best.incremental_cost_per_remission, 0);
    }
    out << "\n";
    if (!spec.costs.note.empty()) out << "Costs: " << spec.costs.note << "\n";
  }
}

void write_file(const trial::Study& study, const trial::OptimizeSpec& spec, const trial::OptimizeResult& r,
                const std::string& command_line, io::ResultsFile& file) {
  file.set_attribute("software", "ketasim");
  file.set_attribute("software_version", kVersion);
  file.set_attribute("git_commit", kGitCommit);
  file.set_attribute("created", utc_now("%Y-%m-%dT%H:%M:%SZ"));
  file.set_attribute("command_line", command_line);
  file.set_attribute("results_kind", "optimize");
  file.set_attribute("seed", static_cast<std::int64_t>(study.config.seed));
  file.set_attribute("seed_text", std::to_string(study.config.seed));
  file.set_attribute("fresh_seed_text", std::to_string(spec.fresh_seed));
  file.set_attribute("config_yaml", study.config.yaml_text);
  file.set_attribute("config_json", trial::effective_config_json(study));
  file.set_attribute("Conventions", "CF-1.8");
  file.set_attribute("study_name", study.config.name);
  file.set_attribute("optimized_arm", spec.arm);
  file.set_attribute("objective", trial::objective_name(spec.objective));
  file.set_attribute("objective_direction", trial::objective_maximized(spec.objective) ? "maximize" : "minimize");
  file.set_attribute("objective_visit_d", spec.visit_d);
  file.set_attribute("best", r.candidates[r.best].label);
  file.set_attribute("runner_up", r.runner_up >= 0 ? r.candidates[r.runner_up].label : "");
  file.set_attribute("probability_best_beats_runner_up", r.probability_best_beats_runner_up);
  file.set_attribute("best_fresh_objective", r.best_fresh.objective);
  file.set_attribute("best_fresh_objective_lower", r.best_fresh.objective_lower);
  file.set_attribute("best_fresh_objective_upper", r.best_fresh.objective_upper);
  file.set_attribute("bootstrap_replicates", static_cast<std::int64_t>(spec.bootstrap));
  if (spec.costs.given) {
    file.set_attribute("currency", spec.costs.currency);
    file.set_attribute("costs_note", spec.costs.note);
  }
  std::vector<std::string> labels;
  for (const auto& c : r.candidates) labels.push_back(c.label);
  file.add_label_dimension("candidate", labels, "candidate regimen (optimize.candidates point)");
  const std::size_t n = r.candidates.size();
  // The candidates' coordinates along each decision variable, so a reader can pivot on them.
  for (std::size_t d = 0; d < spec.candidates.dimensions.size(); ++d) {
    const auto& dim = spec.candidates.dimensions[d];
    if (dim.labels.empty()) {
      std::vector<double> values(n);
      for (std::size_t c = 0; c < n; ++c) values[c] = dim.values[spec.candidates.points[r.candidates[c].discrete].index[d]];
      const int v = file.create_variable(io::VariableSpec(dim.name, {"candidate"}, io::ElementType::float64, dim.units,
                                                          "decision variable " + dim.key));
      file.write(v, {0}, {n}, values.data());
    } else {
      std::vector<std::string> values(n);
      for (std::size_t c = 0; c < n; ++c) values[c] = dim.labels[spec.candidates.points[r.candidates[c].discrete].index[d]];
      file.add_string_variable(dim.name, "candidate", values, "decision variable (scenario)");
    }
  }
  for (std::size_t k = 0; k < spec.search.variables.size(); ++k) {
    const auto& var = spec.search.variables[k];
    std::vector<double> values(n);
    for (std::size_t c = 0; c < n; ++c) values[c] = r.candidates[c].search_values[k];
    const int v = file.create_variable(io::VariableSpec(var.name, {"candidate"}, io::ElementType::float64, var.unit,
                                                        "decision variable " + var.key + " (searched)"));
    file.write(v, {0}, {n}, values.data());
  }
  if (spec.search.continuous) {
    file.set_attribute("search_method", "nlopt");
    file.set_attribute("search_algorithm", spec.search.algorithm);
    file.set_attribute("search_max_evaluations", static_cast<std::int64_t>(spec.search.max_evaluations));
    std::vector<std::int64_t> order(n);  // evaluation order within each discrete candidate's search
    std::vector<std::int64_t> discrete(n);
    for (std::size_t c = 0; c < n; ++c) {
      discrete[c] = r.candidates[c].discrete;
      order[c] = c > 0 && discrete[c] == discrete[c - 1] ? order[c - 1] + 1 : 0;
    }
    io::VariableSpec vs("search_step", {"candidate"}, io::ElementType::int64, "1",
                        "order in which the search evaluated this candidate (0 first) within its discrete candidate");
    file.write(file.create_variable(vs), {0}, {n}, order.data());
  } else {
    file.set_attribute("search_method", "grid");
  }
  const std::string cost_unit = spec.costs.given ? spec.costs.currency : "1";
  struct Column {
    const char* name;
    const char* units;
    const char* long_name;
    double trial::CandidateResult::*field;
  };
  const std::string objective_units =
      is_rate(spec.objective) ? "1" : spec.objective == trial::Objective::days_in_remission ? "d"
                                    : spec.objective == trial::Objective::sessions_per_remission ? "1" : cost_unit;
  const Column columns[] = {
      {"objective", objective_units.c_str(), "objective value (see the objective attribute)", &trial::CandidateResult::objective},
      {"objective_lower", objective_units.c_str(), "lower 95% paired-bootstrap limit of the objective", &trial::CandidateResult::objective_lower},
      {"objective_upper", objective_units.c_str(), "upper 95% paired-bootstrap limit of the objective", &trial::CandidateResult::objective_upper},
      {"remission_rate", "1", "remission rate at the objective visit", &trial::CandidateResult::remission},
      {"response_rate", "1", "response rate at the objective visit", &trial::CandidateResult::response},
      {"days_in_remission", "d", "mean days in remission up to the objective visit", &trial::CandidateResult::days_in_remission},
      {"sessions_scheduled", "1", "sessions scheduled up to the objective visit", &trial::CandidateResult::sessions_scheduled},
      {"sessions_taken", "1", "mean sessions taken per patient up to the objective visit", &trial::CandidateResult::sessions_taken},
      {"cost_per_patient", cost_unit.c_str(), "mean cost per patient-course (NaN without costs)", &trial::CandidateResult::cost_per_patient},
      {"cost_per_remission", cost_unit.c_str(), "mean cost per patient / remission rate", &trial::CandidateResult::cost_per_remission},
      {"cost_per_remission_week", cost_unit.c_str(), "mean cost per patient / mean weeks in remission", &trial::CandidateResult::cost_per_remission_week},
      {"incremental_cost_per_remission", cost_unit.c_str(), "extra cost per extra remission vs the reference arm", &trial::CandidateResult::incremental_cost_per_remission},
  };
  for (const auto& col : columns) {
    std::vector<double> values(n);
    for (std::size_t c = 0; c < n; ++c) values[c] = r.candidates[c].*(col.field);
    const int v = file.create_variable(io::VariableSpec(col.name, {"candidate"}, io::ElementType::float64, col.units, col.long_name));
    file.write(v, {0}, {n}, values.data());
  }
  for (const auto& [name, long_name, pick] :
       {std::tuple<const char*, const char*, int>{"feasible", "candidate meets the constraints", 0},
        {"pareto", "on the Pareto front (remission vs cost, or vs sessions without costs)", 1},
        {"is_best", "the chosen optimum", 2}}) {
    std::vector<std::int8_t> flags(n);
    for (std::size_t c = 0; c < n; ++c) {
      flags[c] = pick == 0 ? r.candidates[c].feasible : pick == 1 ? r.candidates[c].pareto : static_cast<int>(c) == r.best;
    }
    io::VariableSpec vs(name, {"candidate"}, io::ElementType::int8, "1", long_name);
    vs.flag_values = {0, 1};
    vs.flag_meanings = "no yes";
    const int v = file.create_variable(vs);
    file.write(v, {0}, {n}, flags.data());
  }
}

}  // namespace

int optimize_command(const trial::Study& study, const RunOptions& options, std::ostream& out) {
  if (!study.optimize) {
    throw InputError(SourceLocation{study.config.path, "optimize", 0, 0},
                     "`ketasim optimize` needs an `optimize:` block (docs/optimize.md)");
  }
  const trial::OptimizeSpec& spec = *study.optimize;
  const std::string output =
      prepare_output_path(options.output_path, "results/" + study.config.name + "-optimize.h5");
  const int threads = options.threads > 0 ? options.threads : tbb::info::default_concurrency();
  tbb::global_control limit(tbb::global_control::max_allowed_parallelism, static_cast<std::size_t>(threads));
  install_interrupt_handlers();
  const bool show_progress = !options.quiet && isatty(STDERR_FILENO);
  io::ResultsFile file(output);
  const trial::OptimizeResult result = trial::optimize(study, spec, [&](int done, int total) {
    if (show_progress) std::cerr << "\r" << done << "/" << total << " candidates" << std::flush;
  });
  if (show_progress) std::cerr << "\n";
  write_file(study, spec, result, options.command_line, file);
  file.commit();
  print_result(study, spec, result, out);
  out << "Results: " << output << "\n";
  return 0;
}

}  // namespace ketasim::cli
