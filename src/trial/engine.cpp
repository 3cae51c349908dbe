#include "ketasim/trial/engine.hpp"

#include <tbb/enumerable_thread_specific.h>
#include <tbb/parallel_pipeline.h>
#include <tbb/task_arena.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>
#include <optional>

#include "batch.hpp"
#include "batch_codec.hpp"
#include "concentration_check.hpp"
#include "time_grid.hpp"
#include "ketasim/core/error.hpp"
#include "ketasim/core/interrupt.hpp"
#include "ketasim/pk/nca.hpp"
#include "ketasim/pk/plausibility.hpp"
#include "ketasim/pk/simulate.hpp"
#include "ketasim/population/cohort.hpp"
#include "ketasim/population/random_stream.hpp"
#include "ketasim/response/structure.hpp"
#include "ketasim/trial/endpoint_rules.hpp"
#include "ketasim/trial/response_parameters.hpp"
#include "power_counter.hpp"
#include "time_to_event.hpp"
#include "withdrawal_counter.hpp"
#include "results_writer.hpp"

namespace ketasim::trial {

namespace {

bool same_distribution(const population::TruncatedNormalSpec& a, const population::TruncatedNormalSpec& b) {
  return a.mean == b.mean && a.sd == b.sd && a.min == b.min && a.max == b.max;
}

// Whether two sweep points draw their patients through the same covariate distributions.
bool same_distributions(const population::CohortConfig& a, const population::CohortConfig& b) {
  return same_distribution(a.weight_kg, b.weight_kg) && same_distribution(a.age_y, b.age_y) &&
         same_distribution(a.baseline_madrs, b.baseline_madrs) && a.female_fraction == b.female_fraction;
}

// Everything about an arm that is the same for all its patients, built once and shared read-only.
struct ArmPlan {
  const ArmConfig* arm = nullptr;
  const pk::PkModel* model = nullptr;
  pk::SolverKind solver = pk::SolverKind::exact;
  std::vector<pk::Session> sessions;
  std::vector<double> grid_h;
  std::vector<int> output_index;    // grid index of each output time
  std::vector<int> visit_index;     // grid index of each visit
  std::vector<int> output_slot;     // model output -> global output slot
  std::vector<int> parameter_slot;  // model parameter -> global parameter slot
  // Unbound concentration of each moiety: its observed compartment's amount / volume x factor.
  struct Moiety {
    int compartment;
    int volume_parameter;
    double mg_per_l_to_unbound_um;
  };
  std::vector<Moiety> moieties;
  std::vector<double> ki_um;  // per moiety, from the response model
  int background = 0;
  const response::ResponseModel* rm = nullptr;  // the study's, or its point's with response_parameters
  // Population file columns feeding this arm's model (-1: not in the file).
  std::vector<int> eta_column;        // per variability term
  std::vector<int> parameter_column;  // per parameter
  std::vector<double> parameter_unit_factor;
  // Doses per patient from the event data set (population table) instead of `sessions`; grid_h,
  // output_index and visit_index are then built per patient (Engine::patient_schedule).
  bool from_data = false;
  // Response-guided dosing or titration: each patient's sessions are decided at their visits
  // (Engine::guided_schedule); `sessions` is then the most the schedule can give. `fixed_sessions`
  // precede the guided phase, which starts at `guided_start_h`.
  bool adaptive = false;
  std::vector<pk::Session> fixed_sessions;
  double guided_start_h = 0.0;
  std::vector<int> sample_index;  // grid index of each sampling time (regimen arms)
  std::vector<const pk::ResidualErrorDef*> residual;  // per model output, null without one
};

// What one patient receives in one arm and the grid it is simulated on: the arm's own for a
// regimen, the workspace's for doses from an event data set.
struct Schedule {
  const std::vector<pk::Session>* sessions;
  const std::vector<double>* grid_h;
  const std::vector<int>* output_index;
  const std::vector<int>* visit_index;
  const std::vector<int>* sample_index;
};

// One worker's scratch space, sized on first use and reused for every patient after.
struct Workspace {
  pk::SimulationWorkspace sim;
  pk::Kinetics kinetics;
  pk::ParameterValues parameters{};
  std::vector<double> z, eta, response_effects;
  std::vector<pk::Dose> doses;
  std::vector<pk::InputEvent> inputs;
  std::vector<char> taken;
  std::vector<double> states, conc, unbound_um;
  std::vector<int> conc_compartment;  // per term of the output being recorded
  std::vector<double> conc_factor;       // per term of the output: 1000 / volume (mg -> ng/mL)
  std::vector<double> nca_bounds_h;      // dose times and the study's end: the NCA intervals
  std::vector<pk::NcaResult> nca;        // per dose
  pk::NcaScratch nca_scratch;
  std::vector<double> session_uniforms, stay_uniforms;
  std::vector<double> scores, expected, state, occupancy, response_scratch;
  // A patient's own schedule when the arm doses from an event data set.
  std::vector<pk::Session> sessions;
  std::vector<double> grid_h;
  std::vector<int> output_index, visit_index, sample_index;
  std::vector<double> eps;  // standard normals of the residual error, [global output slot][sample]
};

class Engine {
 public:
  // All points share the cohort, seed, study duration and visits of the first (expand_sweep checks).
  Engine(const std::vector<StudyConfig>& points, const response::ResponseModel& rm,
         const population::PopulationTable* population)
      : points_(points), config_(points.front()), rm_(rm), table_(population), rules_(config_.endpoints) {
    // A point with `response_parameters` runs its own copy of the model (the study loader has
    // checked the values; a problem here is a caller that skipped it).
    for (const StudyConfig& point : points_) {
      if (point.response_parameters.empty()) {
        point_models_.push_back(nullptr);
        continue;
      }
      Diagnostics problems;
      point_models_.push_back(std::make_unique<const response::ResponseModel>(with_response_parameters(rm_, point, problems)));
      problems.throw_if_any();
    }
    plan();
  }

  const Layout& layout() const { return layout_; }

  // Sweep points [point_begin, point_end) of the batch (work_split: all of them unless the ranks
  // split the points); the other points' plans are left as Batch::resize set them. A point's values
  // do not depend on which other points are simulated with it: every draw is keyed by the patient.
  void simulate_batch(Batch& b, Workspace& ws, int point_begin, int point_end) const {
    for (int p = 0; p < b.count; ++p) {
      const std::uint64_t index = static_cast<std::uint64_t>(b.first + p);
      if (layout_.has_patient_id) b.patient_id[p] = table_->values[index][id_column_];
      // Every draw below depends on the patient only, never on the arm: common random numbers.
      RandomStream pk_rng(config_.seed, Stream::pk_variability, index);
      ws.z.resize(layout_.max_eta);
      for (auto& z : ws.z) z = pk_rng.normal();
      RandomStream adherence_rng(config_.seed, Stream::adherence, index);
      ws.session_uniforms.resize(max_sessions_);
      for (auto& u : ws.session_uniforms) u = adherence_rng.uniform();
      RandomStream response_rng(config_.seed, Stream::response, index);
      ws.response_effects.resize(layout_.response_effects);
      for (auto& e : ws.response_effects) e = response_rng.normal();
      if (!config_.cohort.variability) {  // drawn all the same, so that no other stream moves
        std::fill(ws.z.begin(), ws.z.end(), 0.0);
        std::fill(ws.response_effects.begin(), ws.response_effects.end(), 0.0);
      }
      RandomStream dropout_rng(config_.seed, Stream::dropout, index);
      ws.stay_uniforms.resize(layout_.visits_d.size());
      for (auto& u : ws.stay_uniforms) u = dropout_rng.uniform();
      // Observation errors depend on the patient, the output and the sampling time, never on the
      // arm: the same draw in every arm (common random numbers), on a stream of their own so that
      // no other draw moves when sampling times are added.
      if (!layout_.sampling_times_h.empty()) {
        RandomStream residual_rng(config_.seed, Stream::residual_error, index);
        ws.eps.resize(layout_.outputs.size() * layout_.sampling_times_h.size());
        for (auto& e : ws.eps) e = residual_rng.normal();
      }
      // The patient's covariates: drawn once, or (a sweep over the cohort's distributions) through
      // each point's distributions from the same covariate stream, so patient i keeps its quantiles.
      population::Patient patient;
      for (int point = point_begin; point < point_end; ++point) {
        if (point == point_begin || layout_.cohort_swept) {
          // Without a cohort sweep every point has point 0's cohort.
          patient = draw_patient(points_[static_cast<std::size_t>(layout_.cohort_swept ? point : 0)].cohort, index);
          const std::size_t c = static_cast<std::size_t>(layout_.cohort_swept ? point : 0) * b.count + p;
          b.weight_kg[c] = patient.covariates.weight_kg;
          b.age_y[c] = patient.covariates.age_y;
          b.sex[c] = static_cast<std::int8_t>(patient.covariates.sex);
        }
        for (int a = point * layout_.n_arms; a < (point + 1) * layout_.n_arms; ++a) simulate_patient_arm(patient, a, p, b, ws);
      }
    }
  }

  population::Patient draw_patient(const population::CohortConfig& cohort, std::uint64_t index) const {
    population::Patient patient = population::sample_patient(cohort, config_.seed, index);
    if (table_) {
      // Covariates in the file replace the drawn ones; the draws still happen so that every
      // other covariate and stream stays where it would be without the file.
      const auto& row = table_->values[index];
      // A missing cell (".", NaN) keeps the drawn value; WT is never missing (the loader says so).
      patient.covariates.weight_kg = row[table_->column("WT")];
      if (const int c = table_->column("AGE"); c >= 0 && !std::isnan(row[c])) patient.covariates.age_y = row[c];
      if (const int c = table_->column("SEX"); c >= 0 && !std::isnan(row[c])) patient.covariates.sex = row[c] != 0.0;
    }
    return patient;
  }

 private:
  void plan() {
    const StudyConfig& c = config_;
    layout_.n_patients = c.cohort.patients;
    if (table_ && layout_.n_patients <= 0) layout_.n_patients = static_cast<long long>(table_->rows());
    id_column_ = table_ ? table_->column("ID") : -1;
    layout_.has_patient_id = id_column_ >= 0;
    layout_.sampling_times_h = c.sampling_times_h;
    for (const StudyConfig& point : points_) {
      for (const auto& arm : point.arms) layout_.store_dose_duration |= arm.regimen.from_data() && table_ && table_->events;
    }
    layout_.n_arms = static_cast<int>(c.arms.size());
    layout_.n_points = static_cast<int>(points_.size());
    layout_.n_plans = layout_.n_arms * layout_.n_points;
    for (const StudyConfig& point : points_) layout_.cohort_swept |= !same_distributions(point.cohort, c.cohort);
    layout_.store_conc = c.concentration == ConcentrationOutput::full;
    layout_.summarize_conc = c.concentration != ConcentrationOutput::none;
    layout_.store_response_state = c.store_response_state;
    layout_.response_effects = rm_.structure->random_effect_count();
    layout_.chunk_patients = static_cast<int>(std::min<long long>(c.batch_patients, layout_.n_patients));
    layout_.visits_d = c.endpoints.visits_d;
    layout_.event_grid_d = event_time_grid(layout_.visits_d);
    layout_.primary_visit = static_cast<int>(
        std::find(layout_.visits_d.begin(), layout_.visits_d.end(), c.endpoints.primary_visit_d) - layout_.visits_d.begin());
    auto slot_of = [](std::vector<std::string>& names, const std::string& name) {
      const auto it = std::find(names.begin(), names.end(), name);
      if (it != names.end()) return static_cast<int>(it - names.begin());
      names.push_back(name);
      return static_cast<int>(names.size()) - 1;
    };
    for (std::size_t pt = 0; pt < points_.size(); ++pt) {
      const StudyConfig& point = points_[pt];
      for (const auto& arm : point.arms) {
        ArmPlan plan;
        plan.arm = &arm;
        plan.rm = point_models_[pt] ? point_models_[pt].get() : &rm_;
        plan.model = arm.model.get();
        plan.solver = solver_for(point, *arm.model);
        plan.from_data = arm.regimen.from_data() && table_ && table_->events;
        if (!plan.from_data) plan.sessions = pk::expand_sessions(arm.regimen);
        plan.adaptive = !plan.from_data && arm.regimen.adaptive();
        if (plan.adaptive) {
          const std::size_t n_fixed = arm.regimen.guided.enabled ? arm.regimen.phases.size() - 1 : arm.regimen.phases.size();
          plan.fixed_sessions = pk::expand_sessions(arm.regimen, n_fixed, plan.guided_start_h);
        }
        for (const auto& o : arm.model->outputs) plan.output_slot.push_back(slot_of(layout_.outputs, variable_suffix(o.name)));
        plan.residual.assign(arm.model->outputs.size(), nullptr);
        for (const auto& e : arm.model->residual_error) plan.residual[e.output] = &e;
        for (const auto& p : arm.model->parameters) plan.parameter_slot.push_back(slot_of(layout_.parameters, p.name));
        for (const auto& m : arm.model->moieties) {
          const int c_obs = m.observed_compartment;
          // mg/L in the compartment x 1000 = ug/L; unbound ug/L / (g/mol) = umol/L.
          plan.moieties.push_back({c_obs, arm.model->compartments[c_obs].volume_parameter,
                                   1000.0 * m.fraction_unbound / m.molecular_weight_g_per_mol});
          plan.ki_um.push_back(rm_.ki_um_for(m.name));
        }
        plan.background = rm_.background_index(arm.background);
        for (const auto& v : arm.model->variability) {
          plan.eta_column.push_back(table_ ? table_->column("ETA_" + arm.model->parameters[v.parameter].name) : -1);
        }
        for (const auto& p : arm.model->parameters) {
          plan.parameter_column.push_back(table_ ? table_->column(p.name) : -1);
          const auto unit = parse_unit(p.unit_text);
          plan.parameter_unit_factor.push_back(unit ? unit->to_canonical : 1.0);
        }
        layout_.n_doses = std::max(layout_.n_doses, static_cast<int>(plan.sessions.size()));
        if (plan.from_data) {
          for (long long i = 0; i < layout_.n_patients; ++i) {
            layout_.n_doses = std::max(layout_.n_doses, static_cast<int>(table_->doses[i].size()));
          }
        }
        max_sessions_ = std::max(max_sessions_, plan.sessions.size());
        layout_.max_eta = std::max(layout_.max_eta, static_cast<int>(arm.model->variability.size()));
        plans_.push_back(std::move(plan));
      }
    }
    // Output times: the regular grid, user-listed times, and times anchored to every session of
    // every arm (so that the stored curves hold each dose's peak), on one shared time axis.
    std::vector<double> times;
    for (long long i = 0; i * c.output_step_h <= c.duration_h + 1e-9; ++i) times.push_back(static_cast<double>(i) * c.output_step_h);
    for (double t : c.output_times_h) times.push_back(t);
    for (const auto& plan : plans_) {
      for (const auto& s : plan.sessions) {
        for (double offset : c.output_after_each_dose_h) {
          if (s.time_h + offset <= c.duration_h + 1e-9) times.push_back(s.time_h + offset);
        }
      }
      if (!plan.from_data) continue;
      for (long long i = 0; i < layout_.n_patients; ++i) {
        for (const auto& d : table_->doses[i]) {
          for (double offset : c.output_after_each_dose_h) {
            if (d.time_h + offset <= c.duration_h + 1e-9) times.push_back(d.time_h + offset);
          }
        }
      }
    }
    layout_.output_times_h = sorted_unique(std::move(times));
    for (auto& plan : plans_) {
      std::vector<double> grid = layout_.output_times_h;
      for (const auto& s : plan.sessions) {
        for (int k = 0; k * kFineStepH <= kFineWindowH; ++k) {
          if (s.time_h + k * kFineStepH <= c.duration_h) grid.push_back(s.time_h + k * kFineStepH);
        }
      }
      for (double d : layout_.visits_d) grid.push_back(d * 24.0);
      for (double t : layout_.sampling_times_h) grid.push_back(t);
      grid.push_back(c.duration_h);
      plan.grid_h = sorted_unique(std::move(grid));
      for (double t : layout_.output_times_h) plan.output_index.push_back(grid_index(plan.grid_h, t));
      for (double d : layout_.visits_d) plan.visit_index.push_back(grid_index(plan.grid_h, d * 24.0));
      for (double t : layout_.sampling_times_h) plan.sample_index.push_back(grid_index(plan.grid_h, t));
    }
    for (double d : layout_.visits_d) visits_h_.push_back(d * 24.0);
  }

  // The grid a regimen arm builds once in plan(), built here for one patient's own doses in the
  // same way (same times, same order), so that equal doses give bit-identical concentrations.
  Schedule patient_schedule(const ArmPlan& plan, const population::Patient& patient, Workspace& ws) const {
    if (!plan.from_data) return {&plan.sessions, &plan.grid_h, &plan.output_index, &plan.visit_index, &plan.sample_index};
    const auto& records = table_->doses[patient.index];
    pk::expand_recorded_doses(plan.arm->regimen, records.data(), records.size(), ws.sessions, ws.doses);
    return workspace_schedule(ws);
  }

  // The grid of the sessions in ws.sessions, laid out as plan() lays out an arm's.
  Schedule workspace_schedule(Workspace& ws) const {
    const double duration_h = config_.duration_h;
    ws.grid_h.assign(layout_.output_times_h.begin(), layout_.output_times_h.end());
    for (const auto& s : ws.sessions) {
      for (int k = 0; k * kFineStepH <= kFineWindowH; ++k) {
        if (s.time_h + k * kFineStepH <= duration_h) ws.grid_h.push_back(s.time_h + k * kFineStepH);
      }
    }
    for (double d : layout_.visits_d) ws.grid_h.push_back(d * 24.0);
    for (double t : layout_.sampling_times_h) ws.grid_h.push_back(t);
    ws.grid_h.push_back(duration_h);
    sort_unique_in_place(ws.grid_h);
    ws.output_index.clear();
    ws.visit_index.clear();
    ws.sample_index.clear();
    for (double t : layout_.output_times_h) ws.output_index.push_back(grid_index(ws.grid_h, t));
    for (double d : layout_.visits_d) ws.visit_index.push_back(grid_index(ws.grid_h, d * 24.0));
    for (double t : layout_.sampling_times_h) ws.sample_index.push_back(grid_index(ws.grid_h, t));
    return {&ws.sessions, &ws.grid_h, &ws.output_index, &ws.visit_index, &ws.sample_index};
  }

  // Infusion duration of session s (0: bolus or a route without one), for the results file when
  // records mix boluses and infusions.
  double dose_duration_h(const ArmPlan& plan, const population::Patient& patient, std::size_t s, double amount_mg) const {
    if (plan.from_data) return table_->doses[patient.index][s].duration_h;
    const pk::Regimen& r = plan.arm->regimen;
    if (r.route != pk::Route::iv_infusion) return 0.0;
    return r.infusion_duration_h > 0.0 ? r.infusion_duration_h : amount_mg / -r.infusion_duration_h;
  }

  void simulate_patient_arm(const population::Patient& patient, int a, int p, Batch& b, Workspace& ws) const {
    const ArmPlan& plan = plans_[a];
    const pk::PkModel& model = *plan.model;
    const std::size_t ap = static_cast<std::size_t>(a) * b.count + p;
    const std::size_t arm_patients = static_cast<std::size_t>(layout_.n_plans) * b.count;
    const int n_eta = static_cast<int>(model.variability.size());
    ws.eta.resize(n_eta);
    pk::correlate_random_effects(model, ws.z.data(), ws.eta.data());
    if (table_) {
      const auto& row = table_->values[patient.index];
      for (int k = 0; k < n_eta; ++k) {
        if (plan.eta_column[k] >= 0 && !std::isnan(row[plan.eta_column[k]])) ws.eta[k] = row[plan.eta_column[k]];
      }
    }
    pk::compute_individual_parameters(model, patient.covariates, ws.eta.data(), ws.parameters);
    if (table_) {
      const auto& row = table_->values[patient.index];
      for (std::size_t k = 0; k < model.parameters.size(); ++k) {
        const int c = plan.parameter_column[k];
        if (c >= 0 && !std::isnan(row[c])) ws.parameters[k] = row[c] * plan.parameter_unit_factor[k];
      }
    }
    for (std::size_t k = 0; k < model.parameters.size(); ++k) {
      b.parameters[plan.parameter_slot[k] * arm_patients + ap] = ws.parameters[k];
    }
    const double baseline = std::round(patient.baseline_madrs);
    b.baseline[ap] = static_cast<float>(baseline);
    // Non-physical individual values (a CSV's CL = 0 or V1 = 1e-300) fail the patient, not the run.
    const bool parameters_ok =
        pk::implausible_parameter(model, ws.parameters).empty() && pk::build_kinetics(model, ws.parameters, ws.kinetics);
    // What the patient is given: the arm's schedule, the data set's records, or (guided dosing,
    // titration) sessions decided at the patient's own visits, which needs the exposure so far.
    int status = 0;
    Schedule schedule{};
    if (plan.adaptive) {
      ws.sessions.clear();
      if (parameters_ok) status = guided_schedule(plan, patient, baseline, ws);
      schedule = workspace_schedule(ws);
    } else {
      schedule = patient_schedule(plan, patient, ws);
      ws.taken.resize(schedule.sessions->size());
      for (std::size_t s = 0; s < schedule.sessions->size(); ++s) {
        // A data set records what was given: no adherence draw.
        ws.taken[s] = plan.from_data || ws.session_uniforms[s] < plan.arm->regimen.adherence_probability;
      }
    }
    const std::vector<pk::Session>& sessions = *schedule.sessions;
    // Doses are recorded even for a failed PK so the patient stays visible.
    const double weight = plan.arm->regimen.dose_per_kg ? patient.covariates.weight_kg : 1.0;
    for (std::size_t s = 0; s < sessions.size(); ++s) {
      const std::size_t k = ap * layout_.n_doses + s;
      b.dose_time[k] = sessions[s].time_h;
      b.dose_taken[k] = ws.taken[s] ? 1 : 0;
      b.dose_amount[k] = ws.taken[s] ? sessions[s].dose * weight : 0.0;
      if (layout_.store_dose_duration) b.dose_duration[k] = dose_duration_h(plan, patient, s, b.dose_amount[k]);
    }
    if (!parameters_ok) {
      b.status[ap] = status_invalid_parameters;
      return;
    }
    if (status == 0) status = simulate_exposure(plan, patient, baseline, schedule, ws);
    if (status != 0) {
      b.status[ap] = static_cast<std::int8_t>(status);
      return;
    }
    const int n_visits = static_cast<int>(layout_.visits_d.size());
    if (!record_concentrations(plan, schedule, a, p, b, ws) ||
        !std::all_of(ws.scores.begin(), ws.scores.end(), [](double s) { return s >= 0.0 && s <= 60.0; })) {
      b.status[ap] = status_non_physical;
      return;
    }
    const std::size_t visit0 = ap * n_visits;
    PatientEndpoints out;
    out.madrs = &b.madrs[visit0];
    out.response_by_visit = &b.response_by_visit[visit0];
    out.remission_by_visit = &b.remission_by_visit[visit0];
    rules_.evaluate(layout_.visits_d.data(), n_visits, layout_.primary_visit, baseline, ws.scores.data(),
                    ws.stay_uniforms.data(), out);
    b.change[ap] = out.change;
    b.response[ap] = out.response;
    b.remission[ap] = out.remission;
    b.relapse[ap] = out.relapse;
    b.dropout_time[ap] = out.dropout_time_d;
    derive_event_times(layout_.visits_d.data(), n_visits, out, &b.event_time[ap * kEventEndpoints],
                       &b.event_observed[ap * kEventEndpoints]);
    if (layout_.store_response_state) {
      for (int v = 0; v < n_visits; ++v) {
        b.occupancy[visit0 + v] = static_cast<float>(ws.occupancy[v]);
        b.state[visit0 + v] = static_cast<float>(ws.state[v]);
        b.expected[visit0 + v] = static_cast<float>(ws.expected[v]);
      }
    }
  }

  // PK on the schedule's grid, unbound concentrations and the response model's scores at every
  // visit (ws.scores). Returns 0 or the patient's failure status.
  int simulate_exposure(const ArmPlan& plan, const population::Patient& patient, double baseline,
                        const Schedule& schedule, Workspace& ws) const {
    const pk::PkModel& model = *plan.model;
    // (patient_schedule already laid out the doses of an arm that doses from a data set)
    if (!plan.from_data) {
      pk::expand_doses(plan.arm->regimen, *schedule.sessions, patient.covariates.weight_kg, &ws.taken, ws.doses);
    }
    if (pk::resolve_inputs(model, ws.parameters, ws.doses, ws.inputs) < 0.0) return status_invalid_parameters;
    const std::vector<double>& grid_h = *schedule.grid_h;
    const int n_grid = static_cast<int>(grid_h.size());
    const int n_states = ws.kinetics.n_states;
    ws.states.resize(static_cast<std::size_t>(n_grid) * n_states);
    if (!pk::simulate_states(ws.kinetics, ws.inputs, grid_h.data(), n_grid, plan.solver, config_.tolerances,
                             ws.sim, ws.states.data())) {
      return status_solver_failure;
    }
    // Unbound concentrations of every moiety on the grid: what the response model sees.
    const int n_moieties = static_cast<int>(plan.moieties.size());
    ws.unbound_um.resize(static_cast<std::size_t>(n_grid) * n_moieties);
    // Amount (mg) to unbound uM: a factor per moiety and patient, a multiplication per grid point
    // (a division per point was ~4% of a P1 run).
    for (int m = 0; m < n_moieties; ++m) {
      const auto& moiety = plan.moieties[m];
      const double factor = moiety.mg_per_l_to_unbound_um / ws.parameters[moiety.volume_parameter];
      const int compartment = moiety.compartment;
      for (int g = 0; g < n_grid; ++g) {
        ws.unbound_um[static_cast<std::size_t>(g) * n_moieties + m] =
            ws.states[static_cast<std::size_t>(g) * n_states + compartment] * factor;
      }
    }
    const int n_visits = static_cast<int>(layout_.visits_d.size());
    response::PatientExposure exposure;
    exposure.seed = config_.seed;
    exposure.patient_index = patient.index;
    exposure.baseline_madrs = baseline;
    exposure.age_y = patient.covariates.age_y;
    exposure.random_effects = ws.response_effects.data();
    exposure.background = plan.background;
    exposure.grid_h = grid_h.data();
    exposure.n_grid = n_grid;
    exposure.unbound_um = ws.unbound_um.data();
    exposure.ki_um = plan.ki_um.data();
    exposure.n_moieties = n_moieties;
    exposure.visit_grid_index = schedule.visit_index->data();
    exposure.visit_h = visits_h_.data();
    exposure.n_visits = n_visits;
    ws.scores.resize(n_visits);
    ws.expected.resize(n_visits);
    ws.state.resize(n_visits);
    ws.occupancy.resize(n_visits);
    response::VisitScores scores{ws.scores.data(), ws.expected.data(), ws.state.data(), ws.occupancy.data()};
    plan.rm->structure->score(*plan.rm, exposure, scores, ws.response_scratch);
    return 0;
  }

  // Response-guided dosing and titration (docs/config.md, regimen `guided` and `titration`): the
  // sessions one patient is given, decided in time order into ws.sessions and ws.taken. A decision
  // at a session reads the score at the latest visit at or before it, assessed before that
  // session's dose: the exposure then comes from the sessions already decided, all earlier, and
  // since neither the PK nor the response models look ahead, that score is also the one the final
  // simulation of all sessions gives (tests/python/test_guided_dosing.py checks it on the file).
  // Re-simulated only when a decision needs a visit later than the last simulation covered.
  int guided_schedule(const ArmPlan& plan, const population::Patient& patient, double baseline, Workspace& ws) const {
    const pk::Regimen& regimen = plan.arm->regimen;
    const pk::GuidedDosing& guided = regimen.guided;
    const pk::Titration& titration = regimen.titration;
    const double until_h = guided.enabled ? regimen.phases.back().until_h : 0.0;
    const double base_dose = regimen.dose;
    const int base_devices = regimen.devices_per_session;
    ws.taken.clear();
    double next_h = plan.guided_start_h;
    double simulated_until_h = -1.0;  // scores are final for visits at or before this time
    int level = 0;
    bool titrated = false;
    for (std::size_t s = 0; s < max_sessions_; ++s) {
      pk::Session session;
      const bool guided_session = s >= plan.fixed_sessions.size();
      if (!guided_session) {
        session = plan.fixed_sessions[s];
      } else {
        if (!guided.enabled || next_h >= until_h - 1e-9) break;
        session = {next_h, base_dose, base_devices};
      }
      const bool decides_interval = guided.enabled && guided_session;
      const bool decides_dose = titration.enabled && !titrated && session.time_h >= titration.from_h - 1e-9;
      int visit = -1;
      for (std::size_t v = 0; v < visits_h_.size() && visits_h_[v] <= session.time_h + 1e-9; ++v) visit = static_cast<int>(v);
      if ((decides_interval || decides_dose) && visit >= 0 && visits_h_[visit] > simulated_until_h) {
        const int status = simulate_exposure(plan, patient, baseline, workspace_schedule(ws), ws);
        if (status != 0) return status;
        simulated_until_h = session.time_h;
      }
      auto rule_met = [&](bool remission) {
        if (visit < 0) return false;
        const double score = ws.scores[visit];
        return remission ? rules_.remitter(score) : rules_.responder(baseline, score);
      };
      if (decides_dose && !rule_met(titration.unless_remission)) titrated = true;
      if (titrated) {
        session.dose = titration.to_dose;
        session.devices = titration.to_devices;
      }
      ws.sessions.push_back(session);
      ws.taken.push_back(ws.session_uniforms[s] < regimen.adherence_probability);
      if (decides_interval) {
        const int top = static_cast<int>(guided.intervals_h.size()) - 1;
        level = rule_met(guided.on_remission) ? std::min(level + 1, top) : guided.reset ? 0 : std::max(level - 1, 0);
        next_h = session.time_h + guided.intervals_h[level];
      }
    }
    return 0;
  }

  // Concentrations at the output times, their batch sums and NCA per session. Returns false when
  // a concentration is non-finite or negative beyond solver noise (nothing is then summed).
  bool record_concentrations(const ArmPlan& plan, const Schedule& schedule, int a, int p, Batch& b, Workspace& ws) const {
    const pk::PkModel& model = *plan.model;
    const Layout& l = layout_;
    const std::vector<double>& grid_h = *schedule.grid_h;
    const std::vector<int>& output_index = *schedule.output_index;
    const std::vector<pk::Session>& sessions = *schedule.sessions;
    const int n_grid = static_cast<int>(grid_h.size());
    const int n_states = ws.kinetics.n_states;
    const std::size_t n_time = l.output_times_h.size();
    const std::size_t arm_patients = static_cast<std::size_t>(l.n_plans) * b.count;
    const std::size_t ap = static_cast<std::size_t>(a) * b.count + p;
    const std::size_t n_outputs = model.outputs.size();
    ws.conc.resize(static_cast<std::size_t>(n_grid) * n_outputs);
    for (std::size_t o = 0; o < n_outputs; ++o) {
      double* conc = &ws.conc[o * n_grid];
      // pk::output_concentration_ng_per_ml with its lookups (the output's moieties, their observed
      // compartments and 1000 / volume) done once per patient instead of at every grid point;
      // the arithmetic is the same, term by term.
      ws.conc_compartment.clear();
      ws.conc_factor.clear();
      for (int m : model.outputs[o].moieties) {
        const int c = model.moieties[m].observed_compartment;
        ws.conc_compartment.push_back(c);
        ws.conc_factor.push_back(1000.0 / ws.parameters[model.compartments[c].volume_parameter]);
      }
      const std::size_t n_terms = ws.conc_compartment.size();
      // Solver round-off may dip a hair below zero; a real negative or NaN is a failure.
      ConcentrationCheck check;
      if (n_terms == 1) {
        // One moiety (most outputs): the loop below without its inner loop over terms, which cost
        // ~5% of a P1 run in index loads and loop control. 0.0 + term keeps its bits (-0 -> +0).
        // Four checks, each over every fourth point: one check's two running values were a chain
        // of dependent additions and minimums through the whole grid (~4% of a P1 run). Together
        // they give one check's verdict (every part finite and not below the floor).
        const double* state_mg = &ws.states[static_cast<std::size_t>(ws.conc_compartment[0])];
        const double factor = ws.conc_factor[0];
        ConcentrationCheck part[4];
        int g = 0;
        for (; g + 3 < n_grid; g += 4) {
          for (int k = 0; k < 4; ++k) {
            const double total = 0.0 + state_mg[static_cast<std::size_t>(g + k) * n_states] * factor;
            conc[g + k] = total;
            part[k].add(total);
          }
        }
        for (; g < n_grid; ++g) {
          const double total = 0.0 + state_mg[static_cast<std::size_t>(g) * n_states] * factor;
          conc[g] = total;
          part[0].add(total);
        }
        if (!(part[0].ok() && part[1].ok() && part[2].ok() && part[3].ok())) return false;
        continue;
      }
      for (int g = 0; g < n_grid; ++g) {
        const double* state_mg = &ws.states[static_cast<std::size_t>(g) * n_states];
        double total = 0.0;
        for (std::size_t k = 0; k < n_terms; ++k) total += state_mg[ws.conc_compartment[k]] * ws.conc_factor[k];
        conc[g] = total;
        check.add(total);
      }
      if (!check.ok()) return false;
    }
    // Per dose, from its time to the next dose's (or the end): the intervals of every output's NCA.
    ws.nca_bounds_h.clear();
    for (const auto& session : sessions) ws.nca_bounds_h.push_back(session.time_h);
    ws.nca_bounds_h.push_back(config_.duration_h);
    ws.nca.resize(sessions.size());
    for (std::size_t o = 0; o < n_outputs; ++o) {
      const double* conc = &ws.conc[o * n_grid];
      const int slot = plan.output_slot[o];
      if (l.summarize_conc) {
        double* sum = &b.conc_sum[(static_cast<std::size_t>(slot) * l.n_plans + a) * n_time];
        double* sumsq = &b.conc_sumsq[(static_cast<std::size_t>(slot) * l.n_plans + a) * n_time];
        for (std::size_t t = 0; t < n_time; ++t) {
          const double c = conc[output_index[t]];
          sum[t] += c;
          sumsq[t] += c * c;
        }
        ++b.conc_n[static_cast<std::size_t>(slot) * l.n_plans + a];
      }
      if (l.store_conc) {
        float* out = &b.conc[(static_cast<std::size_t>(slot) * arm_patients + ap) * n_time];
        for (std::size_t t = 0; t < n_time; ++t) out[t] = static_cast<float>(conc[output_index[t]]);
      }
      record_observations(plan, schedule, slot, static_cast<int>(o), conc, ap, arm_patients, b, ws);
      pk::nca_exposures(grid_h.data(), conc, n_grid, ws.nca_bounds_h.data(), static_cast<int>(sessions.size()),
                        ws.nca_scratch, ws.nca.data());
      for (std::size_t s = 0; s < sessions.size(); ++s) {
        const pk::NcaResult& r = ws.nca[s];
        const std::size_t k = (static_cast<std::size_t>(slot) * arm_patients + ap) * l.n_doses + s;
        b.cmax[k] = r.cmax_ng_per_ml;
        b.tmax[k] = r.tmax_h;
        b.auc[k] = r.auc_interval_h_ng_per_ml;
      }
    }
    return true;
  }

  // IPRED and DV of one output at the sampling times (docs/model-format.md, residual_error):
  // DV = IPRED + sqrt(add^2 + (prop x IPRED)^2) x eps, or IPRED x exp(sd x eps) (log-additive).
  // DV stays NaN for an output the arm's model gives no residual error.
  void record_observations(const ArmPlan& plan, const Schedule& schedule, int slot, int output, const double* conc,
                           std::size_t ap, std::size_t arm_patients, Batch& b, const Workspace& ws) const {
    const std::size_t n_samples = layout_.sampling_times_h.size();
    if (n_samples == 0) return;
    const pk::ResidualErrorDef* error = plan.residual[output];
    const double* eps = &ws.eps[static_cast<std::size_t>(slot) * n_samples];
    double* ipred = &b.ipred[(static_cast<std::size_t>(slot) * arm_patients + ap) * n_samples];
    double* dv = &b.dv[(static_cast<std::size_t>(slot) * arm_patients + ap) * n_samples];
    for (std::size_t s = 0; s < n_samples; ++s) {
      const double c = std::max(0.0, conc[(*schedule.sample_index)[s]]);  // solver round-off below zero is zero
      ipred[s] = c;
      if (!error) continue;
      if (error->log_additive > 0.0) {
        dv[s] = c * std::exp(error->log_additive * eps[s]);
      } else {
        const double a = error->additive_ng_per_ml, p = error->proportional * c;
        dv[s] = c + std::sqrt(a * a + p * p) * eps[s];
      }
    }
  }

  const std::vector<StudyConfig>& points_;
  const StudyConfig& config_;
  const response::ResponseModel& rm_;
  std::vector<std::unique_ptr<const response::ResponseModel>> point_models_;  // null: rm_
  const population::PopulationTable* table_;
  EndpointRules rules_;
  Layout layout_;
  std::vector<ArmPlan> plans_;
  std::vector<double> visits_h_;
  std::size_t max_sessions_ = 0;
  int id_column_ = -1;
};

// Runs the batches through the engine on oneTBB and hands each finished batch to `sink`, one at a
// time, in patient order, on one thread. With several ranks the work is split as work_split says:
// - by batches: batch k is computed by rank k mod K; rank 0 runs its own and receives the others'
//   in order;
// - by sweep points: every rank computes its points of every batch and rank 0 joins them into the
//   whole batch before `sink`.
// Either way `sink` sees exactly the sequence a single process produces (the same writes and the
// same order of every sum: bit-identical results); on the other ranks `sink` is never called.
// `to_file`: each batch's datasets are compressed into their chunks by the thread that computed
// it (encode_patient_chunks), so that the writer only copies bytes; split by points, rank 0
// compresses each joined batch itself.
void for_each_batch(const Engine& engine, int batch_patients, const Ranks& ranks, bool to_file,
                    const std::function<void(const Batch&)>& sink) {
  const Layout& l = engine.layout();
  const long long n_batches = (l.n_patients + batch_patients - 1) / batch_patients;
  const int n_ranks = ranks.size();
  const bool writer = ranks.rank() == 0;
  const WorkSplit split = work_split(n_batches, l.n_points, ranks.rank(), n_ranks);
  // A rank beyond the sweep points has nothing to compute or send (rank 0 always has point 0).
  if (split.by_points && split.point_end == split.point_begin) return;
  // Rank 0's pipeline carries every batch but computes 1/K of them: K times the window keeps as
  // many of its own in flight as a single process has.
  const int tokens =
      std::max(2, 2 * tbb::this_task_arena::max_concurrency()) * (writer && !split.by_points ? n_ranks : 1);
  // Buffers are reused round-robin: the sink stage is serial and in order, so when the
  // (i + tokens)-th batch enters the pipeline, the i-th has already been consumed.
  // Allocated on first use. On rank 0 a slot holding another rank's batch carries only its place
  // in the order (first patient, owner): the batch itself is decoded into `received` at the sink.
  std::vector<std::unique_ptr<Batch>> pool(static_cast<std::size_t>(tokens));
  tbb::enumerable_thread_specific<Workspace> workspaces;
  long long next_batch = writer || split.by_points ? 0 : ranks.rank();
  const long long stride = writer || split.by_points ? 1 : n_ranks;
  long long issued = 0;
  std::vector<unsigned char> message;  // used by the serial last stage only
  Batch received;
  tbb::parallel_pipeline(
      static_cast<std::size_t>(tokens),
      tbb::make_filter<void, Batch*>(tbb::filter_mode::serial_in_order,
                                     [&](tbb::flow_control& fc) -> Batch* {
                                       if (next_batch >= n_batches || interrupt_requested()) {
                                         fc.stop();
                                         return nullptr;
                                       }
                                       std::unique_ptr<Batch>& slot = pool[static_cast<std::size_t>(issued++ % tokens)];
                                       if (!slot) slot = std::make_unique<Batch>();
                                       Batch* b = slot.get();
                                       b->first = next_batch * batch_patients;
                                       b->count = static_cast<int>(std::min<long long>(batch_patients, l.n_patients - b->first));
                                       b->rank = split.by_points ? ranks.rank() : static_cast<int>(next_batch % n_ranks);
                                       // A batch another rank computes arrives whole (decode_batch).
                                       if (b->rank == ranks.rank()) b->resize(l, b->count);
                                       next_batch += stride;
                                       return b;
                                     }) &
          tbb::make_filter<Batch*, Batch*>(tbb::filter_mode::parallel,
                                           [&](Batch* b) {
                                             if (b->rank != ranks.rank()) return b;
                                             engine.simulate_batch(*b, workspaces.local(), split.point_begin,
                                                                   split.point_end);
                                             if (to_file && !split.by_points) encode_patient_chunks(l, *b);
                                             return b;
                                           }) &
          tbb::make_filter<Batch*, void>(tbb::filter_mode::serial_in_order, [&](Batch* b) {
            if (split.by_points) {
              if (!writer) {
                encode_plans(l, *b, split.point_begin, split.point_end, message);
                ranks.send(0, message);
                return;
              }
              for (int r = 1; r < n_ranks; ++r) {
                const WorkSplit other = work_split(n_batches, l.n_points, r, n_ranks);
                if (other.point_end == other.point_begin) continue;
                ranks.receive(r, message);
                decode_plans(l, message, r, other.point_begin, other.point_end, *b);
              }
              if (to_file) encode_patient_chunks(l, *b);
              sink(*b);
              return;
            }
            if (!writer) {
              encode_batch(*b, message);
              ranks.send(0, message);
              return;
            }
            if (b->rank == 0) {
              sink(*b);
              return;
            }
            // Into one buffer for every received batch (this stage is serial), so that rank 0 holds
            // its own batches in flight plus one, not a window's worth of other ranks' batches.
            ranks.receive(b->rank, message);
            decode_batch(message, b->rank, received);
            if (received.first != b->first) {
              throw RuntimeFailure("rank " + std::to_string(b->rank) + " sent patients from " +
                                   std::to_string(received.first) + " where " + std::to_string(b->first) +
                                   " were due (ranks running different configs?)");
            }
            sink(received);
          }));
  throw_if_interrupted();
}

}  // namespace

WorkSplit work_split(long long n_batches, int n_points, int rank, int n_ranks) {
  WorkSplit split;
  split.by_points = n_ranks > 1 && n_batches < n_ranks && n_points > 1;
  if (!split.by_points) {
    split.point_end = n_points;
    split.busy_ranks = static_cast<int>(std::min<long long>(n_ranks, n_batches));
    return split;
  }
  // P / K points each and one more for the first P mod K ranks: shares differ by at most one point,
  // and with fewer points than ranks the idle ones are the last (rank 0, the writer, always has
  // point 0).
  const int share = n_points / n_ranks, extra = n_points % n_ranks;
  split.point_begin = rank * share + std::min(rank, extra);
  split.point_end = split.point_begin + share + (rank < extra ? 1 : 0);
  split.busy_ranks = std::min(n_ranks, n_points);
  return split;
}

RunStatistics run_trial(const Study& study, io::ResultsFile& file,
                        const std::function<void(const RunProgress&)>& on_progress, const Ranks& ranks) {
  const Engine engine(study.points, *study.response_model, study.population.get());
  const Layout& l = engine.layout();
  const StudyConfig& config = study.config;
  // The file's variables are defined by the first batch's writer stage, while the other workers
  // compute: defining ~90 datasets with their dimension scales is 10-13 ms of HDF5 metadata work
  // (P1), which before the pipeline left every core but one idle. The operations on the file and
  // their order are the same either way (P1: h5diff finds the same datasets, the size is equal).
  std::optional<FileVariables> defined;
  const std::size_t n_time = l.output_times_h.size();
  const std::size_t summary_size = l.outputs.size() * l.n_plans * n_time;
  std::vector<double> sum(summary_size, 0.0), sumsq(summary_size, 0.0);
  std::vector<long long> count(l.outputs.size() * l.n_plans, 0);
  PowerCounter power(l, config.endpoints);
  SurvivalCounter survival(l);
  std::optional<WithdrawalCounter> withdrawal;
  if (study.withdrawal) withdrawal.emplace(*study.withdrawal, config.endpoints, l, config.seed);
  auto define = [&]() -> const FileVariables& {
    if (!defined) {
      defined = define_file(study, l, file);
      if (withdrawal) withdrawal->define(file);
    }
    return *defined;
  };
  RunStatistics stats;
  stats.batches = (l.n_patients + config.batch_patients - 1) / config.batch_patients;
  stats.split = work_split(stats.batches, l.n_points, ranks.rank(), ranks.size());
  stats.patients = l.n_patients;
  RunProgress progress{0, l.n_patients};
  for_each_batch(engine, config.batch_patients, ranks, true, [&](const Batch& b) {
    const FileVariables& vars = define();
    const auto stage_started = std::chrono::steady_clock::now();
    write_batch(l, vars, b, file);
    // Sums are added in batch order, so the mean and SD are identical for any thread count.
    for (std::size_t i = 0; i < summary_size; ++i) {
      sum[i] += b.conc_sum[i];
      sumsq[i] += b.conc_sumsq[i];
    }
    for (std::size_t i = 0; i < count.size(); ++i) count[i] += b.conc_n[i];
    for (auto s : b.status) stats.failed_patients += s != status_ok;
    power.add(b);
    survival.add(b);
    if (withdrawal) withdrawal->add(b, file);
    progress.patients_done += b.count;
    stats.writer_stage_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - stage_started).count();
    if (on_progress) on_progress(progress);
  });
  const FileVariables& vars = define();  // (an interrupt before the first batch)
  if (l.summarize_conc) {
    std::vector<double> mean(n_time), sd(n_time);
    for (std::size_t s = 0; s < l.outputs.size(); ++s) {
      for (int a = 0; a < l.n_plans; ++a) {
        const long long n = count[s * l.n_plans + a];
        for (std::size_t t = 0; t < n_time; ++t) {
          const std::size_t i = (s * l.n_plans + a) * n_time + t;
          const double m = n > 0 ? sum[i] / n : Batch::kNaN;
          mean[t] = m;
          sd[t] = n > 1 ? std::sqrt(std::max(0.0, (sumsq[i] - n * m * m) / (n - 1))) : Batch::kNaN;
        }
        write_plan_values(l, study.sweep, vars.conc_mean[s], a, mean.data(), n_time, file);
        write_plan_values(l, study.sweep, vars.conc_sd[s], a, sd.data(), n_time, file);
      }
    }
  }
  write_survival(l, study.sweep, vars, survival, file);
  if (withdrawal) stats.withdrawal = withdrawal->finish(file);
  if (config.endpoints.power_replicates > 0) {
    for (int a = 0; a < l.n_plans; ++a) {
      const double response = power.power(a, l.n_arms, 0), remission = power.power(a, l.n_arms, 1);
      write_plan_values(l, study.sweep, vars.power_response, a, &response, 0, file);
      write_plan_values(l, study.sweep, vars.power_remission, a, &remission, 0, file);
    }
  }
  return stats;
}

void run_trial_share(const Study& study, const Ranks& ranks) {
  const Engine engine(study.points, *study.response_model, study.population.get());
  for_each_batch(engine, study.config.batch_patients, ranks, true, {});
}

TrialSummary simulate_endpoints(const StudyConfig& config, const response::ResponseModel& rm,
                                const population::PopulationTable* population,
                                const std::function<void(const PatientVisits&)>& each_patient) {
  std::vector<StudyConfig> quiet{config};
  quiet[0].concentration = ConcentrationOutput::none;  // nothing but endpoints is needed
  quiet[0].store_response_state = static_cast<bool>(each_patient);  // the visitor needs `expected`
  const Engine engine(quiet, rm, population);
  const Layout& l = engine.layout();
  const std::size_t n_visits = l.visits_d.size();
  TrialSummary summary;
  summary.visits_d = l.visits_d;
  summary.arms.resize(l.n_arms);
  for (int a = 0; a < l.n_arms; ++a) {
    summary.arms[a].name = config.arms[a].name;
    summary.arms[a].visits.resize(n_visits);
  }
  for_each_batch(engine, config.batch_patients, Ranks(), false, [&](const Batch& b) {
    for (int a = 0; a < l.n_arms; ++a) {
      ArmSummary& arm = summary.arms[a];
      for (int p = 0; p < b.count; ++p) {
        const std::size_t ap = static_cast<std::size_t>(a) * b.count + p;
        if (b.status[ap] != status_ok) continue;
        ++arm.n;
        const double baseline = b.baseline[ap];
        if (each_patient) {
          const std::size_t v0 = ap * n_visits;
          each_patient({a, baseline, &b.expected[v0], &b.madrs[v0], &b.response_by_visit[v0], &b.remission_by_visit[v0],
                        static_cast<int>(n_visits)});
        }
        for (std::size_t v = 0; v < n_visits; ++v) {
          VisitSummary& vs = arm.visits[v];
          // The flags EndpointRules set, imputation included: the rates `run` reports.
          vs.responders += b.response_by_visit[ap * n_visits + v];
          vs.remitters += b.remission_by_visit[ap * n_visits + v];
          const double score = b.madrs[ap * n_visits + v];
          if (std::isnan(score)) continue;  // left the study before this visit
          ++vs.observed;
          vs.sum_change += score - baseline;
          vs.sum_change_sq += (score - baseline) * (score - baseline);
          vs.sum_score += score;
        }
      }
    }
  });
  return summary;
}

PatientOutcomes simulate_outcomes(const StudyConfig& config, const response::ResponseModel& rm,
                                  const population::PopulationTable* population) {
  std::vector<StudyConfig> quiet{config};
  quiet[0].concentration = ConcentrationOutput::none;
  quiet[0].store_response_state = false;
  const Engine engine(quiet, rm, population);
  const Layout& l = engine.layout();
  PatientOutcomes out;
  out.n_patients = l.n_patients;
  out.n_arms = l.n_arms;
  out.n_visits = static_cast<int>(l.visits_d.size());
  out.n_doses = l.n_doses;
  out.visits_d = l.visits_d;
  const std::size_t ap = static_cast<std::size_t>(l.n_arms) * static_cast<std::size_t>(l.n_patients);
  out.status.assign(ap, 0);
  out.response_by_visit.assign(ap * out.n_visits, 0);
  out.remission_by_visit.assign(ap * out.n_visits, 0);
  out.dose_time_h.assign(ap * out.n_doses, Batch::kNaN);
  out.dose_amount_mg.assign(ap * out.n_doses, Batch::kNaN);
  out.dose_taken.assign(ap * out.n_doses, 0);
  out.dropout_time_d.assign(ap, Batch::kNaN);
  for_each_batch(engine, config.batch_patients, Ranks(), false, [&](const Batch& b) {
    for (int a = 0; a < l.n_arms; ++a) {
      for (int p = 0; p < b.count; ++p) {
        const std::size_t from = static_cast<std::size_t>(a) * b.count + p;
        const std::size_t to = static_cast<std::size_t>(a) * l.n_patients + static_cast<std::size_t>(b.first + p);
        out.status[to] = b.status[from];
        out.dropout_time_d[to] = b.dropout_time[from];
        const std::size_t nv = out.n_visits, nd = out.n_doses;
        std::copy_n(&b.response_by_visit[from * nv], nv, &out.response_by_visit[to * nv]);
        std::copy_n(&b.remission_by_visit[from * nv], nv, &out.remission_by_visit[to * nv]);
        std::copy_n(&b.dose_time[from * nd], nd, &out.dose_time_h[to * nd]);
        std::copy_n(&b.dose_amount[from * nd], nd, &out.dose_amount_mg[to * nd]);
        for (std::size_t k = 0; k < nd; ++k) out.dose_taken[to * nd + k] = b.dose_taken[from * nd + k] == 1;
      }
    }
  });
  return out;
}

}  // namespace ketasim::trial
