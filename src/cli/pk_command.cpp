// `ketasim check` and `ketasim pk`: what a regimen expands to, and what the typical patient's
// exposure looks like, before anyone runs a trial.
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <cmath>
#include <iomanip>
#include <ostream>

#include "commands.hpp"
#include "ketasim/trial/optimize.hpp"
#include "ketasim/trial/withdrawal.hpp"
#include "ketasim/core/error.hpp"
#include "ketasim/core/limits.hpp"
#include "ketasim/pk/exposure.hpp"
#include "ketasim/pk/nca.hpp"
#include "ketasim/pk/simulate.hpp"

namespace ketasim::cli {

namespace {

using namespace ketasim::pk;

std::string format_dose(const Regimen& regimen, const Session& session) {
  std::ostringstream os;
  os << session.dose << (regimen.dose_per_kg ? " mg/kg" : " mg");
  if (regimen.route == Route::intranasal) os << " (" << session.devices << " device" << (session.devices > 1 ? "s" : "") << ")";
  if (regimen.route == Route::iv_infusion && regimen.infusion_duration_h > 0.0) {
    os << " over " << regimen.infusion_duration_h * 60.0 << " min";
  }
  return os.str();
}

// An arm that doses from an event data set has no one schedule: say where the doses come from and
// how many each patient gets, and list the first patient's.
void print_data_schedule(const trial::ArmConfig& arm, const population::PopulationTable* table, std::ostream& out) {
  out << "Arm '" << arm.name << "': model " << arm.model->name << " (" << arm.model->drug << "), route "
      << route_name(arm.regimen.route) << ", background " << arm.background << ", doses per patient from "
      << arm.regimen.data_path;
  if (!table || table->doses.empty()) {
    out << "\n";
    return;
  }
  std::size_t fewest = table->doses.front().size(), most = fewest, total = 0;
  for (const auto& d : table->doses) {
    fewest = std::min(fewest, d.size());
    most = std::max(most, d.size());
    total += d.size();
  }
  out << ": " << table->doses.size() << " patients, " << total << " doses (" << fewest << " to " << most
      << " per patient)\n";
  const int id = table->column("ID");
  out << "  first patient" << (id >= 0 ? " (ID " + limits::format(table->values.front()[id]) + ")" : std::string()) << ":\n";
  out << "  #    day     time_h  dose\n";
  const auto& doses = table->doses.front();
  for (std::size_t i = 0; i < doses.size(); ++i) {
    out << "  " << std::setw(3) << i + 1 << "  " << std::setw(6) << std::fixed << std::setprecision(2) << doses[i].time_h / 24.0
        << "  " << std::setw(8) << std::setprecision(2) << doses[i].time_h << "  " << std::defaultfloat << doses[i].amount_mg
        << " mg";
    if (doses[i].duration_h > 0.0) out << " over " << doses[i].duration_h * 60.0 << " min";
    out << "\n";
  }
}

void print_schedule(const trial::ArmConfig& arm, std::ostream& out, const population::PopulationTable* table = nullptr) {
  if (arm.regimen.from_data()) {
    print_data_schedule(arm, table, out);
    return;
  }
  const auto sessions = expand_sessions(arm.regimen);
  out << "Arm '" << arm.name << "': model " << arm.model->name << " (" << arm.model->drug << "), route "
      << route_name(arm.regimen.route) << ", background " << arm.background << ", "
      << (arm.regimen.adaptive() ? "at most " : "") << sessions.size() << " sessions";
  if (arm.regimen.adherence_probability < 1.0) out << ", adherence " << arm.regimen.adherence_probability;
  out << "\n";
  const auto& guided = arm.regimen.guided;
  if (guided.enabled) {
    out << "  response-guided: the last phase's interval starts at " << guided.intervals_h.front() / 24.0
        << " d and stretches to";
    for (std::size_t i = 1; i < guided.intervals_h.size(); ++i) out << (i > 1 ? ", " : " ") << guided.intervals_h[i] / 24.0 << " d";
    out << " one step per session while in " << (guided.on_remission ? "remission" : "response")
        << " at the latest visit, " << (guided.reset ? "back to the first" : "one step shorter") << " otherwise"
        << " (below: every interval at its shortest)\n";
  }
  const auto& titration = arm.regimen.titration;
  if (titration.enabled) {
    out << "  titration: from day " << titration.from_h / 24.0 << ", the dose rises to " << titration.to_dose
        << (arm.regimen.dose_per_kg ? " mg/kg" : " mg") << " at the first session without "
        << (titration.unless_remission ? "remission" : "response") << " at the latest visit, and stays there\n";
  }
  out << "  #    day     time_h  dose\n";
  for (std::size_t i = 0; i < sessions.size(); ++i) {
    out << "  " << std::setw(3) << i + 1 << "  " << std::setw(6) << std::fixed << std::setprecision(2)
        << sessions[i].time_h / 24.0 << "  " << std::setw(8) << std::setprecision(2) << sessions[i].time_h << "  "
        << std::defaultfloat << format_dose(arm.regimen, sessions[i]) << "\n";
  }
}

Covariates typical_patient(const trial::StudyConfig& config) {
  return Covariates{config.cohort.weight_kg.mean, config.cohort.age_y.mean, 0};
}

// Bioavailability of an intranasal session of `devices` devices: AUC(0-inf) relative to an IV bolus
// of the same amount, both from the exact integrals.
double intranasal_bioavailability(const PkModel& model, const ParameterValues& params, const Kinetics& kinetics,
                                  const Regimen& regimen, int devices) {
  std::vector<Dose> doses;
  for (int d = 0; d < devices; ++d) {
    doses.push_back({d * regimen.device_interval_h, Route::intranasal, regimen.device_dose_mg, 0.0, d, 0});
  }
  std::vector<InputEvent> inputs;
  if (resolve_inputs(model, params, doses, inputs) < 0.0) return NAN;
  const double auc_in = exposure_integrals(model, params, kinetics, inputs, 0).auc_h_ng_per_ml;
  const RouteDef* iv = model.find_route(Route::iv_bolus);
  if (!iv) iv = model.find_route(Route::iv_infusion);
  if (!iv) return NAN;
  std::vector<InputEvent> iv_inputs;
  for (const auto& input : iv->inputs) {
    iv_inputs.push_back({0.0, 0.0, input.compartment, devices * regimen.device_dose_mg * input.fraction.resolve(params.data())});
  }
  return auc_in / exposure_integrals(model, params, kinetics, iv_inputs, 0).auc_h_ng_per_ml;
}

void print_pk(const trial::StudyConfig& config, const trial::ArmConfig& arm, std::ostream& out, std::ostream* profile) {
  if (arm.regimen.from_data()) {
    // Each patient has their own doses: there is no typical patient's regimen to profile.
    out << "Arm '" << arm.name << "': doses per patient from " << arm.regimen.data_path
        << "; no typical-patient profile (each patient's concentrations come from `run`)\n\n";
    return;
  }
  const PkModel& model = *arm.model;
  const Covariates cov = typical_patient(config);
  ParameterValues params{};
  compute_individual_parameters(model, cov, nullptr, params);
  Kinetics kinetics;
  if (!build_kinetics(model, params, kinetics)) throw RuntimeFailure("typical patient's parameters are invalid");
  print_schedule(arm, out);
  const SolverKind solver = trial::solver_for(config, model);
  out << "Typical patient: " << cov.weight_kg << " kg, " << cov.age_y << " y, male; solver "
      << (solver == SolverKind::exact ? "exact (matrix exponential)" : "ODE (Dormand-Prince 5(4))") << "\n";
  out << "Individual parameters:";
  for (std::size_t i = 0; i < model.parameters.size(); ++i) {
    out << (i % 6 == 0 ? "\n  " : "  ") << model.parameters[i].name << " = " << std::setprecision(5) << params[i] << " "
        << canonical_unit(model.parameters[i].dimension);
  }
  out << std::defaultfloat << "\n";
  DerivedQuantities derived;
  if (derived_quantities(model, params, derived)) {
    out << "Derived (" << model.outputs[0].name << ", exact integrals after an IV bolus): CL " << std::setprecision(4)
        << derived.clearance_l_per_h << " L/h, Vss " << derived.vss_l << " L, terminal t1/2 " << derived.half_life_h
        << " h\n";
  }
  if (arm.regimen.route == Route::intranasal && model.linear) {
    out << "Intranasal bioavailability (" << model.outputs[0].name << ", AUC(0-inf) vs IV):";
    for (int devices = 1; devices <= 3; ++devices) {
      out << "  " << devices * arm.regimen.device_dose_mg << " mg: " << std::setprecision(3)
          << intranasal_bioavailability(model, params, kinetics, arm.regimen, devices);
    }
    out << "\n";
  }
  // Profile on a 5-minute grid: fine enough that Cmax of a 40-minute infusion or a nasal spray is
  // sampled within a few percent, coarse enough for a 12-week study in milliseconds.
  const auto sessions = expand_sessions(arm.regimen);
  std::vector<Dose> doses;
  expand_doses(arm.regimen, sessions, cov.weight_kg, nullptr, doses);
  std::vector<InputEvent> inputs;
  resolve_inputs(model, params, doses, inputs);
  const double step_h = 5.0 / 60.0;
  std::vector<double> times;
  for (long i = 0; i * step_h <= config.duration_h + 1e-9; ++i) times.push_back(i * step_h);
  SimulationWorkspace ws;
  std::vector<double> states(times.size() * kinetics.n_states);
  if (!simulate_states(kinetics, inputs, times.data(), static_cast<int>(times.size()), solver, config.tolerances, ws,
                       states.data())) {
    throw RuntimeFailure("the solver failed on the typical patient of arm '" + arm.name + "'");
  }
  for (std::size_t o = 0; o < model.outputs.size(); ++o) {
    std::vector<double> conc(times.size());
    for (std::size_t i = 0; i < times.size(); ++i) {
      conc[i] = output_concentration_ng_per_ml(model, params, static_cast<int>(o), &states[i * kinetics.n_states]);
    }
    if (profile) {
      for (std::size_t i = 0; i < times.size(); ++i) {
        *profile << arm.name << ',' << model.outputs[o].name << ',' << fmt::format("{:.10g},{:.10g}\n", times[i], conc[i]);
      }
    }
    out << "NCA of " << model.outputs[o].name << " (ng/mL, h):\n";
    out << "  dose  Cmax        Tmax    AUC_tau       AUC_0-24      t1/2     trough\n";
    for (std::size_t s = 0; s < sessions.size(); ++s) {
      const double start = sessions[s].time_h;
      const double end = s + 1 < sessions.size() ? sessions[s + 1].time_h : config.duration_h;
      const NcaResult r = nca_interval(times.data(), conc.data(), static_cast<int>(times.size()), start, end);
      out << "  " << std::setw(4) << s + 1 << "  " << std::setprecision(5) << std::setw(10) << r.cmax_ng_per_ml << "  "
          << std::setw(6) << r.tmax_h << "  " << std::setw(12) << r.auc_interval_h_ng_per_ml << "  " << std::setw(12)
          << r.auc_0_24_h_ng_per_ml << "  " << std::setw(7) << r.half_life_h << "  " << std::setw(9)
          << r.trough_ng_per_ml << "\n";
    }
  }
  out << "\n";
}

// `optimize:` candidates and which of them meet the constraints (what `optimize` will evaluate).
void print_optimize_candidates(const trial::Study& study, std::ostream& out) {
  const trial::OptimizeSpec& spec = *study.optimize;
  const std::vector<trial::StudyConfig> candidates = trial::expand_sweep(study.config, spec.candidates);
  const std::vector<std::string> violations = trial::candidate_violations(spec, candidates);
  std::size_t feasible = 0;
  std::ostringstream failing;
  for (std::size_t c = 0; c < candidates.size(); ++c) {
    const std::string& why = violations[c];
    if (why.empty()) {
      ++feasible;
    } else {
      failing << "  " << spec.candidates.points[c].label << ": " << why << "\n";
    }
  }
  out << "Optimize: arm '" << spec.arm << "', objective " << trial::objective_name(spec.objective) << " at day "
      << spec.visit_d << ", " << candidates.size() << (spec.search.continuous ? " discrete" : "") << " candidates, "
      << feasible << " meet the constraints\n"
      << failing.str();
  if (spec.search.continuous) {
    // What the search may choose from: the corners of its box for every discrete candidate.
    const auto corners = trial::corner_configs(study.config, spec);
    const auto corner_violations = trial::candidate_violations(spec, corners);
    const auto feasible_corners = std::count(corner_violations.begin(), corner_violations.end(), std::string());
    out << "Search: NLopt " << spec.search.algorithm << ", at most " << spec.search.max_evaluations
        << " evaluations per discrete candidate, over";
    for (const auto& v : spec.search.variables) {
      out << " " << v.key << " in [" << v.lower << ", " << v.upper << "]" << (v.unit == "1" ? "" : " " + v.unit);
      if (v.step > 0.0) out << " step " << v.step;
    }
    out << "; " << feasible_corners << " of " << corners.size() << " corners of the search box meet the constraints\n";
  }
  out << "\n";
}

// `withdrawal:` as the run will apply it.
void print_withdrawal_design(const trial::WithdrawalSpec& w, std::ostream& out) {
  std::ostringstream day;
  day << w.at_d;
  out << "Randomized withdrawal at day " << day.str() << ": '" << w.continue_arm << "' continues, '" << w.stop_arm
      << "' stops, ratio " << w.ratio[0] << ":" << w.ratio[1] << "; groups (first match):";
  for (const auto& g : w.groups) {
    out << " " << g.name << " (" << (g.on_remission ? "remission" : "response") << " at >= " << g.at_least << " of the last "
        << g.visits << " visits, the last " << g.last << " all)";
  }
  out << "; others " << (w.others_open_label ? "continue open label" : "leave") << "\n\n";
}

}  // namespace

int check_command(const trial::Study& study, std::ostream& out) {
  const trial::StudyConfig& config = study.config;
  out << "Config " << config.path << ": study '" << config.name << "', " << config.duration_h / 24.0 << " days, ";
  if (config.cohort.patients > 0) {
    out << config.cohort.patients << " patients per arm";
  } else {
    out << "patients from " << config.cohort.population_file;
  }
  out << ", seed " << config.seed << "\n";
  for (const auto& o : config.overrides) out << "  override " << o.key_path << " = " << o.value << "\n";
  // Every sweep point is validated like the file; its swept arms' schedules are printed.
  const trial::SweepPlan& plan = study.sweep;
  const std::vector<trial::StudyConfig>& points = study.points;
  out << "Response model " << study.response_model->path << ": '" << study.response_model->name << "', structure "
      << study.response_model->structure_name << "\n";
  if (study.population) {
    out << "Population file " << study.population->path << ": " << study.population->rows() << " patients\n";
  }
  if (plan.dimensions.empty()) {
    for (const auto& arm : config.arms) {
      print_schedule(arm, out, study.population.get());
      out << "\n";
    }
    if (study.optimize) print_optimize_candidates(study, out);
    if (study.withdrawal) print_withdrawal_design(*study.withdrawal, out);
    out << "OK\n";
    return 0;
  }
  out << "Sweep: " << points.size() << " points over";
  for (const auto& d : plan.dimensions) {
    out << " " << d.name << " [";
    for (std::size_t i = 0; i < d.size(); ++i) {
      out << (i ? ", " : "");
      if (d.labels.empty()) out << d.values[i];
      else out << d.labels[i];
    }
    out << "]" << (d.labels.empty() && d.units != "1" ? " " + d.units : std::string());
  }
  out << "; swept arms: ";
  if (plan.arms.empty()) {
    out << "all (keys are absolute)";
  } else {
    for (std::size_t i = 0; i < plan.arms.size(); ++i) out << (i ? ", " : "") << plan.arms[i];
  }
  out << "\n\n";
  auto swept = [&](const std::string& name) {
    return plan.arms.empty() || std::find(plan.arms.begin(), plan.arms.end(), name) != plan.arms.end();
  };
  bool any_fixed = false;
  for (const auto& arm : config.arms) {
    if (swept(arm.name)) continue;
    if (!any_fixed) out << "Arms not swept (the same at every point):\n";
    any_fixed = true;
    print_schedule(arm, out, study.population.get());
    out << "\n";
  }
  for (std::size_t p = 0; p < points.size(); ++p) {
    out << "Sweep point " << p + 1 << "/" << points.size() << ": " << plan.points[p].label << "\n";
    for (const auto& o : plan.points[p].overrides) out << "  set " << o.key_path << " = " << o.value << "\n";
    for (const auto& arm : points[p].arms) {
      if (!swept(arm.name)) continue;
      print_schedule(arm, out, study.population.get());
    }
    out << "\n";
  }
  out << "OK\n";
  return 0;
}

int pk_command(const trial::Study& study, const std::string& arm_name, const std::string& profile_path,
               std::ostream& out) {
  const trial::StudyConfig& config = study.config;
  std::string names;
  for (const auto& arm : config.arms) names += (names.empty() ? "" : ", ") + arm.name;
  const bool found = arm_name.empty() || std::any_of(config.arms.begin(), config.arms.end(),
                                                     [&](const trial::ArmConfig& a) { return a.name == arm_name; });
  if (!found) {
    throw InputError(SourceLocation{"--arm", "", 0, 0}, "no arm named '" + arm_name + "'; the arms are: " + names);
  }
  // The profile is written beside its final name and renamed when complete, like results files.
  std::ofstream profile;
  const std::string temporary = profile_path + ".tmp." + std::to_string(::getpid());
  if (!profile_path.empty()) {
    profile.open(temporary);
    if (!profile) throw InputError(SourceLocation{profile_path, "", 0, 0}, "cannot write the profile file (--profile)");
    profile << "arm,output,time_h,conc_ng_per_ml\n";
  }
  for (const auto& arm : config.arms) {
    if (!arm_name.empty() && arm.name != arm_name) continue;
    print_pk(config, arm, out, profile_path.empty() ? nullptr : &profile);
  }
  if (!profile_path.empty()) {
    profile.close();
    if (!profile || std::rename(temporary.c_str(), profile_path.c_str()) != 0) {
      std::remove(temporary.c_str());
      throw RuntimeFailure("cannot finish the profile file '" + profile_path + "'");
    }
    out << "Profile: " << profile_path << "\n";
  }
  return 0;
}

}  // namespace ketasim::cli
