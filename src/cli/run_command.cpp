// `ketasim run` and `ketasim summary`. The run writes the results file and then prints the table by
// reading that file back (its own temporary file, before the rename), so `run` and `summary` can
// never disagree.
#include <tbb/global_control.h>
#include <tbb/info.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <sys/stat.h>

#include "commands.hpp"
#include "utc_time.hpp"
#include "ketasim/core/error.hpp"
#include "ketasim/core/interrupt.hpp"
#include "ketasim/io/results_file.hpp"
#include "ketasim/io/results_reader.hpp"
#include "ketasim/trial/engine.hpp"
#include "ketasim/trial/parameter_uncertainty.hpp"
#include "ketasim/trial/config_json.hpp"
#include "ketasim/trial/statistics.hpp"
#include "ketasim/trial/survival.hpp"
#include "ketasim/version.hpp"

namespace ketasim::cli {

namespace {

std::string percent_with_ci(long successes, long n) {
  std::ostringstream os;
  const Interval ci = wilson_interval(successes, n);
  os << std::fixed << std::setprecision(1) << (n ? 100.0 * successes / n : NAN) << "% [" << 100.0 * ci.lower << ", "
     << 100.0 * ci.upper << "]";
  return os.str();
}

struct ArmCounts {
  long n = 0, responders = 0, remitters = 0, relapses = 0;
  std::vector<double> change;
};

// One `endpoints.comparisons` entry, arm - reference, two ways:
//  - parallel-group: each arm's ok patients as independent samples (Newcombe hybrid score for rates,
//    Welch for the mean change): the interval a trial with different patients per arm would have,
//    and the one the power estimate uses;
//  - paired: the same virtual patients in both arms (common random numbers), patients ok in both:
//    Newcombe's paired method 10 for rates, the mean of per-patient differences for the change.
void print_comparison(const io::EndpointData& d, std::size_t point, const std::vector<ArmCounts>& counts,
                      const std::vector<MeanSummary>& change, int arm, int reference, std::ostream& out) {
  const ArmCounts &x = counts[arm], &y = counts[reference];
  const Interval resp = newcombe_difference_interval(x.responders, x.n, y.responders, y.n);
  const Interval rem = newcombe_difference_interval(x.remitters, x.n, y.remitters, y.n);
  const MeanDifference md = mean_difference(change[arm], change[reference]);
  const std::string label = "difference " + d.arms[arm] + " - " + d.arms[reference];
  // ANCOVA of the change on arm and baseline over each arm's ok patients, as two separate groups.
  const std::size_t n_patients = static_cast<std::size_t>(d.n_patients);
  const std::size_t offset = point * d.arms.size() * n_patients;
  std::vector<double> outcome[2], base[2];
  long dropouts = 0;
  for (int g = 0; g < 2; ++g) {
    const std::size_t a = static_cast<std::size_t>(g == 0 ? arm : reference);
    for (std::size_t p = 0; p < n_patients; ++p) {
      const std::size_t i = offset + a * n_patients + p;
      if (d.status[i] != 0) continue;
      outcome[g].push_back(d.change[i]);
      base[g].push_back(d.baseline[i]);
      // dropout_time_d is the first visit missed: missing the primary visit is at or before it.
      dropouts += !std::isnan(d.dropout_time_d[i]) && d.dropout_time_d[i] <= d.primary_visit_d;
    }
  }
  const AncovaDifference ancova =
      ancova_difference(outcome[0].data(), base[0].data(), static_cast<long>(outcome[0].size()), outcome[1].data(),
                        base[1].data(), static_cast<long>(outcome[1].size()));
  out << std::fixed << std::setprecision(1) << label
      << " (parallel-group: independent Newcombe / Welch 95% CI, points): response "
      << 100.0 * (double(x.responders) / x.n - double(y.responders) / y.n) << " [" << 100.0 * resp.lower << ", "
      << 100.0 * resp.upper << "]; remission " << 100.0 * (double(x.remitters) / x.n - double(y.remitters) / y.n)
      << " [" << 100.0 * rem.lower << ", " << 100.0 * rem.upper << "]; mean MADRS change " << md.difference << " ["
      << md.ci_lower << ", " << md.ci_upper << "]\n";
  out << label << " (ANCOVA of MADRS change on arm and baseline, LS means, t 95% CI, points): " << std::setprecision(2)
      << ancova.difference << " [" << ancova.ci_lower << ", " << ancova.ci_upper << "]"
      << (dropouts == 0 ? "; with no dropout this is the MMRM LS-mean difference at the primary visit\n"
                        : "; " + std::to_string(dropouts) +
                              " dropouts enter with their last score (LOCF), so this is not an MMRM\n")
      << std::setprecision(1);
  // Paired: 2x2 tables over patients ok in both arms.
  long table[2][4] = {};  // [response, remission][both, arm only, reference only, neither]
  std::vector<double> differences;
  for (std::size_t p = 0; p < n_patients; ++p) {
    const std::size_t i = offset + static_cast<std::size_t>(arm) * n_patients + p;
    const std::size_t j = offset + static_cast<std::size_t>(reference) * n_patients + p;
    if (d.status[i] != 0 || d.status[j] != 0) continue;
    for (int k = 0; k < 2; ++k) {
      const std::vector<std::int8_t>& flag = k == 0 ? d.response : d.remission;
      ++table[k][flag[i] ? (flag[j] ? 0 : 1) : (flag[j] ? 2 : 3)];
    }
    differences.push_back(static_cast<double>(d.change[i]) - static_cast<double>(d.change[j]));
  }
  const MeanSummary paired = summarize_mean(differences.data(), static_cast<long>(differences.size()));
  out << label << " (paired: same patients in both arms, n = " << differences.size()
      << "; Newcombe paired / paired-difference 95% CI, points):";
  for (int k = 0; k < 2; ++k) {
    const long* t = table[k];
    const double n = static_cast<double>(t[0] + t[1] + t[2] + t[3]);
    const Interval ci = newcombe_paired_difference_interval(t[0], t[1], t[2], t[3]);
    out << (k == 0 ? " response " : "; remission ") << 100.0 * (t[1] - t[2]) / n << " [" << 100.0 * ci.lower << ", "
        << 100.0 * ci.upper << "]";
  }
  out << "; mean MADRS change " << paired.mean << " [" << paired.ci_lower << ", " << paired.ci_upper << "]"
      << std::setprecision(2) << "; standardized effect size (change difference / pooled SD) "
      << standardized_difference(change[arm], change[reference]) << "\n";
}

std::string days_with_ci(const trial::Quantile& q) {
  auto one = [](double x) {
    if (std::isnan(x)) return std::string("NR");
    std::ostringstream os;
    os << std::fixed << std::setprecision(1) << x;
    return os.str();
  };
  return one(q.estimate) + " [" + one(q.lower) + ", " + one(q.upper) + "]";
}

// Kaplan-Meier medians per arm and, for each comparison, the Cox hazard ratio and log-rank p,
// computed from the stored per-patient event times with the same code the run uses for the file's
// curves (trial/survival.hpp), over patients with status ok who were at risk.
void print_time_to_event(const io::EndpointData& d, std::size_t point, std::ostream& out) {
  if (d.event_endpoints.empty()) return;
  const std::size_t n = static_cast<std::size_t>(d.n_patients), n_end = d.event_endpoints.size();
  const std::size_t offset = point * d.arms.size() * n;
  auto group = [&](std::size_t arm, std::size_t e, std::vector<double>& time, std::vector<std::int8_t>& event) {
    time.clear();
    event.clear();
    for (std::size_t p = 0; p < n; ++p) {
      const std::size_t i = offset + arm * n + p;
      const std::size_t k = i * n_end + e;
      if (d.status[i] != 0 || d.event_observed[k] < 0) continue;
      time.push_back(d.event_time_d[k]);
      event.push_back(d.event_observed[k]);
    }
  };
  std::vector<double> t0, t1, both;
  std::vector<std::int8_t> e0, e1;
  out << "time to event (days; relapse: since the first response), Kaplan-Meier median [95% CI], NR = not reached:\n";
  for (std::size_t a = 0; a < d.arms.size(); ++a) {
    out << "  " << d.arms[a] << ":";
    for (std::size_t e = 0; e < n_end; ++e) {
      group(a, e, t0, e0);
      const std::vector<double> grid = trial::distinct_times(t0.data(), static_cast<long>(t0.size()));
      const trial::EventCounts c = trial::count_events(grid, t0.data(), e0.data(), static_cast<long>(t0.size()));
      const trial::KaplanMeier km = trial::kaplan_meier(grid, c);
      out << (e ? "; " : " ") << d.event_endpoints[e] << " " << days_with_ci(trial::km_quantile(grid, c, km))
          << " (n " << t0.size() << ")";
    }
    out << "\n";
  }
  for (const auto& [arm, reference] : d.comparisons) {
    out << "  hazard ratio " << d.arms[arm] << " vs " << d.arms[reference] << " (Cox, Efron ties, 95% CI; log-rank p):";
    for (std::size_t e = 0; e < n_end; ++e) {
      group(reference, e, t0, e0);
      group(arm, e, t1, e1);
      both = t0;
      both.insert(both.end(), t1.begin(), t1.end());
      const std::vector<double> grid = trial::distinct_times(both.data(), static_cast<long>(both.size()));
      const trial::CoxResult cox =
          trial::cox_two_groups(trial::count_events(grid, t0.data(), e0.data(), static_cast<long>(t0.size())),
                                trial::count_events(grid, t1.data(), e1.data(), static_cast<long>(t1.size())));
      std::ostringstream p;
      p << std::setprecision(2) << cox.logrank_p;
      out << (e ? "; " : " ") << d.event_endpoints[e] << " " << std::fixed << std::setprecision(2) << cox.hazard_ratio
          << " [" << cox.lower << ", " << cox.upper << "] p " << p.str();
    }
    out << "\n";
  }
}

void print_point_table(const io::EndpointData& d, std::size_t point, std::ostream& out) {
  std::vector<ArmCounts> counts(d.arms.size());
  const std::size_t offset = point * d.arms.size() * static_cast<std::size_t>(d.n_patients);
  for (std::size_t a = 0; a < d.arms.size(); ++a) {
    for (long long p = 0; p < d.n_patients; ++p) {
      const std::size_t i = offset + a * static_cast<std::size_t>(d.n_patients) + static_cast<std::size_t>(p);
      if (d.status[i] != 0) continue;  // failed patients are counted separately, not as non-responders
      ++counts[a].n;
      counts[a].responders += d.response[i];
      counts[a].remitters += d.remission[i];
      counts[a].relapses += d.relapse[i];
      counts[a].change.push_back(d.change[i]);
    }
  }
  if (!d.sweep_points[point].empty()) out << "sweep point " << d.sweep_points[point] << "\n";
  int name_width = 24;
  for (const auto& arm : d.arms) name_width = std::max(name_width, static_cast<int>(arm.size()) + 2);
  out << std::left << std::setw(name_width) << "arm" << std::right << std::setw(7) << "N" << "  " << std::setw(22)
      << "response" << "  " << std::setw(22) << "remission" << "  " << std::setw(24) << "MADRS change [95% CI]"
      << "  " << std::setw(9) << "relapse" << "  failed\n";
  std::vector<MeanSummary> change(d.arms.size());
  for (std::size_t a = 0; a < d.arms.size(); ++a) {
    const ArmCounts& c = counts[a];
    change[a] = summarize_mean(c.change.data(), static_cast<long>(c.change.size()));
    std::ostringstream ch;
    ch << std::fixed << std::setprecision(1) << change[a].mean << " [" << change[a].ci_lower << ", " << change[a].ci_upper
       << "]";
    out << std::left << std::setw(name_width) << d.arms[a] << std::right << std::setw(7) << c.n << "  " << std::setw(22)
        << percent_with_ci(c.responders, c.n) << "  " << std::setw(22) << percent_with_ci(c.remitters, c.n) << "  "
        << std::setw(24) << ch.str() << "  " << std::setw(8) << std::fixed << std::setprecision(1)
        << (c.n ? 100.0 * c.relapses / c.n : NAN) << "%  " << d.n_patients - c.n << "\n";
  }
  for (const auto& [arm, reference] : d.comparisons) print_comparison(d, point, counts, change, arm, reference, out);
  print_time_to_event(d, point, out);
}

// Replicate r: patients [2rn, 2rn+n) in the reference arm vs [(2r+1)n, (2r+2)n) in the other, so
// the groups are different people as in a parallel-group trial; significant when the Newcombe CI
// of the rate difference excludes 0.
void print_power(const io::EndpointData& d, std::size_t point, std::ostream& out) {
  const long long n = d.power_patients_per_replicate;
  const long long replicates = d.power_replicates;
  if (replicates <= 0 || n <= 0 || 2 * replicates * n > d.n_patients) return;
  const std::size_t offset = point * d.arms.size() * static_cast<std::size_t>(d.n_patients);
  auto count = [&](std::size_t arm, long long first, const std::vector<std::int8_t>& flag, long& ok) {
    long hits = 0;
    ok = 0;
    for (long long p = first; p < first + n; ++p) {
      const std::size_t i = offset + arm * static_cast<std::size_t>(d.n_patients) + static_cast<std::size_t>(p);
      if (d.status[i] != 0) continue;
      ++ok;
      hits += flag[i];
    }
    return hits;
  };
  for (std::size_t a = 1; a < d.arms.size(); ++a) {
    for (const auto& [name, flag] : {std::pair<const char*, const std::vector<std::int8_t>*>{"remission", &d.remission},
                                     {"response", &d.response}}) {
      long significant = 0;
      for (long long r = 0; r < replicates; ++r) {
        long n0 = 0, n1 = 0;
        const long x0 = count(0, 2 * r * n, *flag, n0);
        const long x1 = count(a, (2 * r + 1) * n, *flag, n1);
        const Interval ci = newcombe_difference_interval(x0, n0, x1, n1);
        significant += ci.lower > 0.0 || ci.upper < 0.0;
      }
      out << "power " << d.arms[0] << " vs " << d.arms[a] << " (" << name << ", parallel-group Newcombe, " << n
          << " patients per arm, "
          << replicates << " simulated trials): " << percent_with_ci(significant, static_cast<long>(replicates)) << "\n";
    }
  }
}

// Randomized withdrawal: per group, relapse after randomization in each arm among the patients
// randomized to it, Kaplan-Meier medians, and the Cox hazard ratio of stop vs continue (the
// file's withdrawal_* summaries).
void print_withdrawal(const io::EndpointData& d, std::ostream& out) {
  if (d.withdrawal_groups.empty()) return;
  const auto& arms = d.withdrawal_arms;
  std::ostringstream at;
  at << d.withdrawal_at_d;
  out << "randomized withdrawal at day " << at.str() << " (" << arms[0] << " : " << arms[1] << " = "
      << d.withdrawal_ratio << "); relapse after randomization, Kaplan-Meier median days [95% CI], NR = not reached:\n";
  for (std::size_t g = 0; g < d.withdrawal_groups.size(); ++g) {
    out << "  " << d.withdrawal_groups[g] << ":";
    for (std::size_t k = 0; k < 2; ++k) {
      const std::size_t i = g * 2 + k;
      const long long n = d.withdrawal_n[i], e = d.withdrawal_relapses[i];
      std::ostringstream rate;
      rate << std::fixed << std::setprecision(1) << (n ? 100.0 * e / n : NAN);
      out << (k ? ";" : "") << " " << arms[k] << " " << e << "/" << n << " relapsed (" << rate.str() << "%), median "
          << days_with_ci({d.withdrawal_median_d[i], d.withdrawal_median_lower_d[i], d.withdrawal_median_upper_d[i]});
    }
    std::ostringstream p, hr;
    p << std::setprecision(2) << d.withdrawal_logrank_p[g];
    if (std::isnan(d.withdrawal_hazard_ratio[g])) {
      hr << "not estimable (no relapse in an arm)";
    } else {
      hr << std::fixed << std::setprecision(2) << d.withdrawal_hazard_ratio[g] << " [" << d.withdrawal_hazard_ratio_lower[g]
         << ", " << d.withdrawal_hazard_ratio_upper[g] << "]";
    }
    out << "\n    hazard ratio " << arms[1] << " vs " << arms[0] << " (Cox, Efron ties, 95% CI): " << hr.str()
        << "; log-rank p " << p.str() << "\n";
  }
}

// Parameter draws: the spread of each endpoint over draws of the calibrated response-model
// parameters (model uncertainty), printed apart from the Monte-Carlo intervals of the table.
void print_parameter_draws(const io::EndpointData& d, std::ostream& out) {
  if (d.parameter_draws <= 0) return;
  const std::size_t arms = d.arms.size(), draws = static_cast<std::size_t>(d.parameter_draws);
  auto range = [&](auto value) {
    std::vector<double> v;
    for (std::size_t k = 0; k < draws; ++k) {
      const double x = value(k);
      if (!std::isnan(x)) v.push_back(x);
    }
    std::sort(v.begin(), v.end());
    return Interval{sorted_percentile(v, 0.025), sorted_percentile(v, 0.975)};
  };
  auto text = [](Interval i, double scale, int digits, const char* unit) {
    std::ostringstream s;
    s << std::fixed << std::setprecision(digits) << scale * i.lower << unit << " to " << scale * i.upper << unit;
    return s.str();
  };
  out << "model uncertainty: " << draws << " draws of the calibrated response-model parameters on the same patients "
      << "(2.5-97.5 percentiles; the CIs above are Monte-Carlo error only)\n";
  for (std::size_t a = 0; a < arms; ++a) {
    out << "  " << d.arms[a] << ": response " << text(range([&](std::size_t k) { return d.draw_response[k * arms + a]; }), 100, 1, "%")
        << ", remission " << text(range([&](std::size_t k) { return d.draw_remission[k * arms + a]; }), 100, 1, "%")
        << ", MADRS change " << text(range([&](std::size_t k) { return d.draw_change[k * arms + a]; }), 1, 1, "") << "\n";
  }
  for (const auto& [arm, reference] : d.comparisons) {
    const auto a = static_cast<std::size_t>(arm), r = static_cast<std::size_t>(reference);
    out << "  " << d.arms[a] << " - " << d.arms[r] << ": response "
        << text(range([&](std::size_t k) { return d.draw_response[k * arms + a] - d.draw_response[k * arms + r]; }), 100, 1, " points")
        << ", remission "
        << text(range([&](std::size_t k) { return d.draw_remission[k * arms + a] - d.draw_remission[k * arms + r]; }), 100, 1, " points")
        << "\n";
  }
}

void print_table(const io::EndpointData& d, std::ostream& out) {
  out << "Study '" << d.study_name << "': " << d.n_patients << " patients per arm; primary visit day "
      << d.primary_visit_d << "; remission MADRS <= " << d.remission_threshold << "; 95% Wilson CIs\n";
  for (std::size_t point = 0; point < d.sweep_points.size(); ++point) {
    if (point) out << "\n";
    print_point_table(d, point, out);
    print_power(d, point, out);
  }
  print_parameter_draws(d, out);
  print_withdrawal(d, out);
}

void ensure_parent_folder(const std::string& path) {
  const auto slash = path.find_last_of('/');
  if (slash == std::string::npos || slash == 0) return;
  const std::string folder = path.substr(0, slash);
  struct stat info {};
  if (stat(folder.c_str(), &info) == 0) return;
  ensure_parent_folder(folder);
  if (mkdir(folder.c_str(), 0775) != 0 && errno != EEXIST) {
    throw RuntimeFailure("cannot create output folder '" + folder + "'");
  }
}

}  // namespace

std::string prepare_output_path(const std::string& given, const std::string& default_path) {
  if (given.empty()) {
    ensure_parent_folder(default_path);  // the default results/ folder is ours to create
    return default_path;
  }
  // A folder the user named must exist: a typo should not create a tree of folders.
  const auto slash = given.find_last_of('/');
  const std::string folder = slash == std::string::npos ? "." : (slash == 0 ? "/" : given.substr(0, slash));
  struct stat info {};
  if (stat(folder.c_str(), &info) != 0 || !S_ISDIR(info.st_mode)) {
    throw InputError(SourceLocation{given, "", 0, 0}, "the output folder '" + folder + "' does not exist (-o)");
  }
  return given;
}

int run_command(const trial::Study& study, const RunOptions& options, const Ranks& ranks, std::ostream& out) {
  const trial::StudyConfig& config = study.config;
  const trial::SweepPlan& plan = study.sweep;
  const response::ResponseModel& response_model = *study.response_model;
  // The thread count (per rank) is set here and nowhere else; results do not depend on it.
  const int threads = options.threads > 0 ? options.threads : tbb::info::default_concurrency();
  tbb::global_control limit(tbb::global_control::max_allowed_parallelism, static_cast<std::size_t>(threads));
  install_interrupt_handlers();
  if (ranks.rank() != 0) {  // a share of the batches, sent to rank 0, which writes and prints
    trial::run_trial_share(study, ranks);
    return 0;
  }
  const std::string output = prepare_output_path(options.output_path, "results/" + config.name + ".h5");
  const bool show_progress = !options.quiet && isatty(STDERR_FILENO);
  const auto started = std::chrono::steady_clock::now();
  auto last_report = started;
  io::EndpointData endpoints;
  {
    io::ResultsFile file(output);
    for (const auto& stale : file.removed_stale_temporaries()) {
      if (!options.quiet) std::cerr << "ketasim: note: removed '" << stale << "', left by a run that no longer exists\n";
    }
    file.set_attribute("software", "ketasim");
    file.set_attribute("software_version", kVersion);
    file.set_attribute("git_commit", kGitCommit);
    file.set_attribute("created", utc_now("%Y-%m-%dT%H:%M:%SZ"));
    file.set_attribute("command_line", options.command_line);
    file.set_attribute("seed", static_cast<std::int64_t>(config.seed));
    file.set_attribute("seed_text", std::to_string(config.seed));  // R has no 64-bit integer attribute type
    file.set_attribute("rng", "Philox4x64-10 (Random123), key (seed, stream), counter (patient index, draw)");
    file.set_attribute("config_yaml", config.yaml_text);
    // Every setting as it ran, defaults filled in (for a sweep: the base, and the sweep block).
    file.set_attribute("config_json", trial::effective_config_json(study));
    file.set_attribute("Conventions", "CF-1.8");
    file.set_attribute("study_name", config.name);
    file.set_attribute("response_model", response_model.name + " (" + response_model.provenance + ")");
    file.set_attribute("response_structure", response_model.structure_name);
    file.set_attribute("primary_visit_d", config.endpoints.primary_visit_d);
    file.set_attribute("remission_threshold", config.endpoints.remission_threshold);
    std::string comparisons;  // "arm reference" arm indices, one pair per line (endpoints.comparisons)
    for (const auto& [arm, reference] : config.endpoints.comparisons) {
      comparisons += std::to_string(arm) + " " + std::to_string(reference) + "\n";
    }
    file.set_attribute("comparisons", comparisons);
    file.set_attribute("power_replicates", static_cast<std::int64_t>(config.endpoints.power_replicates));
    file.set_attribute("power_patients_per_replicate",
                       static_cast<std::int64_t>(config.endpoints.power_patients_per_replicate));
    if (!plan.dimensions.empty()) {
      std::string dims, labels;
      for (const auto& d : plan.dimensions) dims += (dims.empty() ? "" : " ") + d.name;
      for (const auto& p : plan.points) labels += (labels.empty() ? "" : "\n") + p.label;
      file.set_attribute("sweep_dimensions", dims);
      file.set_attribute("sweep_points", labels);
    }
    const trial::RunStatistics stats =
        trial::run_trial(study, file, [&](const trial::RunProgress& p) {
          if (!show_progress) return;
          const auto now = std::chrono::steady_clock::now();
          if (now - last_report < std::chrono::milliseconds(500) && p.patients_done < p.patients_total) return;
          last_report = now;
          const double elapsed_s = std::chrono::duration<double>(now - started).count();
          const double rate = p.patients_done / std::max(elapsed_s, 1e-9);
          std::cerr << "\r" << p.patients_done << "/" << p.patients_total << " patients, " << std::fixed
                    << std::setprecision(0) << rate << " patients/s, " << (p.patients_total - p.patients_done) / rate
                    << " s left   " << std::flush;
        }, ranks);
    if (show_progress) std::cerr << "\n";
    if (!options.quiet && ranks.distributed() && stats.split.busy_ranks < ranks.size()) {
      const int first_idle = stats.split.busy_ranks, last_idle = ranks.size() - 1;
      std::cerr << "ketasim: warning: " << stats.batches << " patient batches"
                << (stats.split.by_points ? " split by sweep point" : "") << " for " << ranks.size() << " ranks: "
                << (first_idle == last_idle ? "rank " + std::to_string(last_idle)
                                            : "ranks " + std::to_string(first_idle) + "-" + std::to_string(last_idle))
                << " had nothing to do; a smaller outputs.batch_patients spreads the work (docs/scaling.md)\n";
    }
    if (config.endpoints.parameter_draws > 0) trial::write_parameter_draws(trial::simulate_parameter_draws(study), file);
    // The table comes from this run's own file, read just before it takes the output path:
    // a concurrent run to the same path may rename its file over ours at any moment after.
    const auto commit_started = std::chrono::steady_clock::now();
    file.commit([&](const std::string& written) { endpoints = io::read_endpoints(written, io::Provenance::required); });
    if (options.verbose > 0 && !options.quiet) {
      // What docs/scaling.md's writer throughput is measured with: the serial stage, whatever the
      // thread and rank count, then closing the file, reading the endpoint table back and renaming.
      const double commit_s =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - commit_started).count();
      std::cerr << "ketasim: info: writer stage " << std::fixed << std::setprecision(3) << stats.writer_stage_s
                << " s for " << stats.patients << " patients ("
                << std::setprecision(0) << stats.patients / std::max(stats.writer_stage_s, 1e-9)
                << " patients/s); commit " << std::setprecision(3) << commit_s << " s\n";
    }
    if (stats.failed_patients > 0) {
      std::cerr << "ketasim: warning: " << stats.failed_patients
                << " patient-arm simulations failed; see the `status` variable\n";
    }
  }
  const double elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  print_table(endpoints, out);
  out << "Results: " << output << " (" << std::fixed << std::setprecision(2) << elapsed_s << " s, " << threads
      << " threads" << (ranks.distributed() ? " on each of " + std::to_string(ranks.size()) + " ranks" : "") << ")\n";
  return 0;
}

int summary_command(const std::string& results_path, std::ostream& out) {
  // A results file from elsewhere may be damaged in ways libhdf5 itself does not survive (a
  // corrupted global heap loops forever; some corrupted headers crash it). The file is therefore
  // read in a child process with a time limit: whatever happens there, this process answers with
  // a clear exit 1, never a crash or a hang. The child prints the table only if it read it all.
  std::cout.flush();
  const pid_t child = fork();
  if (child < 0) throw RuntimeFailure("cannot start a reader process (fork failed)");
  if (child == 0) {
    int status = 0;
    try {
      std::ostringstream table;
      print_table(io::read_endpoints(results_path, io::Provenance::required), table);
      std::cout << table.str() << std::flush;
    } catch (const InputError& e) {
      std::cerr << "ketasim: error: " << e.what() << "\n";
      status = 1;
    } catch (const std::exception& e) {
      std::cerr << "ketasim: failure: " << e.what() << "\n";
      status = 2;
    }
    std::cerr.flush();
    _exit(status);
  }
  constexpr int kReadLimitS = 60;  // a summary of even a million patients reads in seconds
  int wait_status = 0;
  for (int waited_ms = 0;; waited_ms += 20) {
    const pid_t done = waitpid(child, &wait_status, WNOHANG);
    if (done == child) break;
    if (done < 0) throw RuntimeFailure("lost the reader process");
    if (waited_ms >= kReadLimitS * 1000) {
      kill(child, SIGKILL);
      waitpid(child, &wait_status, 0);
      throw InputError(SourceLocation{results_path, "", 0, 0},
                       "reading it did not finish within " + std::to_string(kReadLimitS) + " s (damaged file?)");
    }
    usleep(20000);
  }
  if (WIFSIGNALED(wait_status)) {
    throw InputError(SourceLocation{results_path, "", 0, 0},
                     "the HDF5 library crashed reading it (signal " + std::to_string(WTERMSIG(wait_status)) +
                         "): the file is damaged");
  }
  const int code = WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : 2;
  (void)out;  // the child wrote the table to stdout
  return code;
}

}  // namespace ketasim::cli
