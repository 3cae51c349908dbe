#include "ketasim/trial/engine.hpp"

#include <tbb/enumerable_thread_specific.h>
#include <tbb/info.h>
#include <tbb/parallel_pipeline.h>
#include <tbb/task_arena.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>

#include "ketasim/core/error.hpp"
#include "ketasim/core/interrupt.hpp"
#include "ketasim/pk/nca.hpp"
#include "ketasim/pk/simulate.hpp"
#include "ketasim/population/cohort.hpp"
#include "ketasim/population/population_file.hpp"
#include "ketasim/population/random_stream.hpp"

namespace ketasim::trial {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
// Concentrations are sampled every 5 minutes for 12 h after each session: fine enough to catch a
// 40-minute infusion's or a nasal spray's peak (NCA) and to integrate the occupancy drive, whose
// time scale is the drug's distribution half-life, not the output step.
constexpr double kFineStepH = 5.0 / 60.0;
constexpr double kFineWindowH = 12.0;

std::string variable_suffix(const std::string& name) {
  std::string out;
  for (char c : name) out += (c == '-' || c == ' ') ? '_' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Everything about an arm that is the same for all its patients, built once and shared read-only.
struct ArmPlan {
  const ArmConfig* arm = nullptr;
  const pk::PkModel* model = nullptr;
  pk::SolverKind solver = pk::SolverKind::exact;
  std::vector<pk::Session> sessions;
  std::vector<double> grid_h;
  std::vector<int> output_index;  // grid index of each output time
  std::vector<int> visit_index;   // grid index of each visit
  std::vector<int> output_slot;   // model output -> global output slot
  std::vector<int> parameter_slot;  // model parameter -> global parameter slot
  // Occupancy: for each moiety, its observed compartment and the factor turning mg in it into
  // unbound uM divided by Ki (except for the volume, which is per patient).
  struct Potency {
    int compartment;
    int volume_parameter;
    double ug_per_l_to_um_over_ki;
  };
  std::vector<Potency> potency;
  int background = 0;
  // Population file columns feeding this arm's model (-1: not in the file).
  std::vector<int> eta_column;        // per variability term
  std::vector<int> parameter_column;  // per parameter
  std::vector<double> parameter_unit_factor;
};

struct Layout {
  long long n_patients = 0;
  int n_arms = 0;   // arms per sweep point
  int n_plans = 0;  // sweep points x arms: what each patient is simulated under
  std::vector<double> output_times_h;
  std::vector<double> visits_d;
  int n_doses = 0;
  int primary_visit = 0;
  std::vector<std::string> outputs;     // global output names (moieties and totals)
  std::vector<std::string> parameters;  // global PK parameter names
  int max_eta = 0;
  bool store_conc = false;
  bool summarize_conc = false;
};

std::vector<double> build_grid(const std::vector<pk::Session>& sessions, const std::vector<double>& outputs_h,
                               const std::vector<double>& visits_d, double duration_h) {
  std::vector<double> grid = outputs_h;
  for (const auto& s : sessions) {
    for (int k = 0; k * kFineStepH <= kFineWindowH; ++k) {
      const double t = s.time_h + k * kFineStepH;
      if (t <= duration_h) grid.push_back(t);
    }
    if (s.time_h <= duration_h) grid.push_back(s.time_h);
  }
  for (double d : visits_d) grid.push_back(d * 24.0);
  grid.push_back(duration_h);
  std::sort(grid.begin(), grid.end());
  // Merge points closer than a microsecond: they are the same time written two ways.
  std::vector<double> merged;
  for (double t : grid) {
    if (merged.empty() || t - merged.back() > 1e-9) merged.push_back(t);
  }
  return merged;
}

double integer_power(double x, int n) {
  double result = 1.0;
  for (int i = 0; i < n; ++i) result *= x;
  return result;
}

int grid_index(const std::vector<double>& grid, double t) {
  const auto it = std::lower_bound(grid.begin(), grid.end(), t - 1e-9);
  return static_cast<int>(it - grid.begin());
}

// Per-batch results, laid out [arm][patient][...] to match the HDF5 hyperslabs.
struct Batch {
  long long first = 0;
  int count = 0;
  std::vector<double> weight_kg, age_y;
  std::vector<std::int8_t> sex;
  std::vector<std::int8_t> status;
  std::vector<double> parameters;  // [slot][arm][patient]
  std::vector<float> conc;         // [slot][arm][patient][time]
  std::vector<double> conc_sum, conc_sumsq;  // [slot][arm][time], over this batch's ok patients
  std::vector<long long> conc_n;             // [slot][arm]
  std::vector<double> cmax, tmax, auc;       // [slot][arm][patient][dose]
  std::vector<float> madrs;                  // [arm][patient][visit]
  std::vector<float> baseline, change;       // [arm][patient]
  std::vector<std::int8_t> response, remission, relapse;
  // Full concentrations, compressed per output in the parallel stage (one HDF5 chunk each).
  std::vector<std::vector<unsigned char>> encoded_conc;
  std::vector<float> padded;
  std::vector<unsigned char> shuffle_scratch;

  void resize(const Layout& l, int batch_patients) {
    const std::size_t ap = static_cast<std::size_t>(l.n_plans) * batch_patients;
    const std::size_t slots = l.outputs.size();
    weight_kg.assign(batch_patients, kNaN);
    age_y.assign(batch_patients, kNaN);
    sex.assign(batch_patients, 0);
    status.assign(ap, 0);
    parameters.assign(l.parameters.size() * ap, kNaN);
    if (l.store_conc) conc.assign(slots * ap * l.output_times_h.size(), NAN);
    conc_sum.assign(slots * l.n_plans * l.output_times_h.size(), 0.0);
    conc_sumsq.assign(conc_sum.size(), 0.0);
    conc_n.assign(slots * l.n_plans, 0);
    cmax.assign(slots * ap * l.n_doses, kNaN);
    tmax.assign(cmax.size(), kNaN);
    auc.assign(cmax.size(), kNaN);
    madrs.assign(ap * l.visits_d.size(), NAN);
    baseline.assign(ap, NAN);
    change.assign(ap, NAN);
    response.assign(ap, 0);
    remission.assign(ap, 0);
    relapse.assign(ap, 0);
  }
};

// One worker's scratch space, sized on first use and reused for every patient after.
struct Workspace {
  pk::SimulationWorkspace sim;
  pk::Kinetics kinetics;
  pk::ParameterValues parameters{};
  std::vector<double> z, eta;
  std::vector<pk::Dose> doses;
  std::vector<pk::InputEvent> inputs;
  std::vector<char> taken;
  std::vector<double> states;
  std::vector<double> conc;  // one output on the grid
  std::vector<double> drive;
  std::vector<double> effect_conc;
  std::vector<double> plasticity_at_visit;
  std::vector<double> session_uniforms;
};

class Engine {
 public:
  // All points share the cohort, seed, study duration and visits of the first (expand_sweep checks).
  Engine(const std::vector<StudyConfig>& points, const response::ResponseModel& rm)
      : points_(points), config_(points.front()), rm_(rm) {
    plan();
  }

  const Layout& layout() const { return layout_; }
  const std::vector<ArmPlan>& plans() const { return plans_; }

  void simulate_batch(Batch& b, Workspace& ws) const {
    for (int p = 0; p < b.count; ++p) {
      const std::uint64_t index = static_cast<std::uint64_t>(b.first + p);
      population::Patient patient = population::sample_patient(config_.cohort, config_.seed, index);
      if (table_) {
        // Covariates in the file replace the drawn ones; the draws still happen so that every
        // other covariate and stream stays where it would be without the file.
        const auto& row = table_->values[index];
        patient.covariates.weight_kg = row[table_->column("WT")];
        if (const int c = table_->column("AGE"); c >= 0) patient.covariates.age_y = row[c];
        if (const int c = table_->column("SEX"); c >= 0) patient.covariates.sex = row[c] != 0.0 ? 1 : 0;
      }
      b.weight_kg[p] = patient.covariates.weight_kg;
      b.age_y[p] = patient.covariates.age_y;
      b.sex[p] = static_cast<std::int8_t>(patient.covariates.sex);
      // The same standard normals feed every arm's model: common random numbers.
      RandomStream pk_rng(config_.seed, Stream::pk_variability, index);
      ws.z.resize(layout_.max_eta);
      for (auto& z : ws.z) z = pk_rng.normal();
      // Adherence: one uniform per scheduled session, compared per arm with its probability.
      RandomStream adherence_rng(config_.seed, Stream::adherence, index);
      ws.session_uniforms.resize(max_sessions_);
      for (auto& u : ws.session_uniforms) u = adherence_rng.uniform();
      RandomStream response_rng(config_.seed, Stream::response, index);
      const double emax_z = response_rng.normal();
      const double placebo_z = response_rng.normal();
      for (int a = 0; a < layout_.n_plans; ++a) {
        const ArmPlan& plan = plans_[a];
        ws.taken.resize(plan.sessions.size());
        for (std::size_t s = 0; s < plan.sessions.size(); ++s) {
          ws.taken[s] = ws.session_uniforms[s] < plan.arm->regimen.adherence_probability;
        }
        simulate_patient_arm(patient, a, p, b, ws, emax_z, placebo_z);
      }
    }
  }

 private:
  void plan() {
    const StudyConfig& c = config_;
    layout_.n_patients = c.cohort.patients;
    if (!c.cohort.population_file.empty()) {
      table_ = std::make_shared<const population::PopulationTable>(population::load_population_csv(c.cohort.population_file));
      if (layout_.n_patients <= 0) layout_.n_patients = static_cast<long long>(table_->rows());
      if (layout_.n_patients > static_cast<long long>(table_->rows())) {
        throw InputError(SourceLocation{c.path, "cohort.patients", 0, 0},
                         "asks for " + std::to_string(layout_.n_patients) + " patients but " + table_->path + " has " +
                             std::to_string(table_->rows()));
      }
    }
    layout_.n_arms = static_cast<int>(c.arms.size());
    layout_.n_plans = layout_.n_arms * static_cast<int>(points_.size());
    layout_.store_conc = c.concentration == ConcentrationOutput::full;
    layout_.summarize_conc = c.concentration != ConcentrationOutput::none;
    for (long long i = 0; i * c.output_step_h <= c.duration_h + 1e-9; ++i) {
      layout_.output_times_h.push_back(static_cast<double>(i) * c.output_step_h);
    }
    layout_.visits_d = c.endpoints.visits_d;
    layout_.primary_visit = static_cast<int>(
        std::find(layout_.visits_d.begin(), layout_.visits_d.end(), c.endpoints.primary_visit_d) -
        layout_.visits_d.begin());
    auto slot_of = [](std::vector<std::string>& names, const std::string& name) {
      const auto it = std::find(names.begin(), names.end(), name);
      if (it != names.end()) return static_cast<int>(it - names.begin());
      names.push_back(name);
      return static_cast<int>(names.size()) - 1;
    };
    for (const StudyConfig& point : points_) {
    for (const auto& arm : point.arms) {
      ArmPlan plan;
      plan.arm = &arm;
      plan.model = arm.model.get();
      plan.solver = solver_for(point, *arm.model);
      plan.sessions = pk::expand_sessions(arm.regimen);
      plan.grid_h = build_grid(plan.sessions, layout_.output_times_h, layout_.visits_d, c.duration_h);
      for (double t : layout_.output_times_h) plan.output_index.push_back(grid_index(plan.grid_h, t));
      for (double d : layout_.visits_d) plan.visit_index.push_back(grid_index(plan.grid_h, d * 24.0));
      for (const auto& o : arm.model->outputs) plan.output_slot.push_back(slot_of(layout_.outputs, variable_suffix(o.name)));
      for (const auto& p : arm.model->parameters) plan.parameter_slot.push_back(slot_of(layout_.parameters, p.name));
      for (const auto& m : arm.model->moieties) {
        const int c_obs = m.observed_compartment;
        // mg/L in the compartment x 1000 = ug/L; unbound ug/L / (g/mol) = umol/L.
        plan.potency.push_back({c_obs, arm.model->compartments[c_obs].volume_parameter,
                                1000.0 * m.fraction_unbound / m.molecular_weight_g_per_mol / rm_.ki_um_for(m.name)});
      }
      plan.background = static_cast<int>(arm.background);
      for (const auto& v : arm.model->variability) {
        plan.eta_column.push_back(table_ ? table_->column("ETA_" + arm.model->parameters[v.parameter].name) : -1);
      }
      for (const auto& p : arm.model->parameters) {
        plan.parameter_column.push_back(table_ ? table_->column(p.name) : -1);
        const auto unit = parse_unit(p.unit_text);
        plan.parameter_unit_factor.push_back(unit ? unit->to_canonical : 1.0);
      }
      layout_.n_doses = std::max(layout_.n_doses, static_cast<int>(plan.sessions.size()));
      max_sessions_ = std::max(max_sessions_, plan.sessions.size());
      layout_.max_eta = std::max(layout_.max_eta, static_cast<int>(arm.model->variability.size()));
      plans_.push_back(std::move(plan));
    }
    }
    if (table_) check_population_columns();
  }

  void simulate_patient_arm(const population::Patient& patient, int a, int p, Batch& b, Workspace& ws, double emax_z,
                            double placebo_z) const {
    const ArmPlan& plan = plans_[a];
    const pk::PkModel& model = *plan.model;
    const Layout& l = layout_;
    const std::size_t ap = static_cast<std::size_t>(a) * b.count + p;
    const std::size_t arm_patients = static_cast<std::size_t>(l.n_plans) * b.count;
    const int n_eta = static_cast<int>(model.variability.size());
    ws.eta.resize(n_eta);
    pk::correlate_random_effects(model, ws.z.data(), ws.eta.data());
    if (table_) {
      const auto& row = table_->values[patient.index];
      for (int k = 0; k < n_eta; ++k) {
        if (plan.eta_column[k] >= 0) ws.eta[k] = row[plan.eta_column[k]];
      }
    }
    pk::compute_individual_parameters(model, patient.covariates, ws.eta.data(), ws.parameters);
    if (table_) {
      const auto& row = table_->values[patient.index];
      for (std::size_t k = 0; k < model.parameters.size(); ++k) {
        if (plan.parameter_column[k] >= 0) ws.parameters[k] = row[plan.parameter_column[k]] * plan.parameter_unit_factor[k];
      }
    }
    for (std::size_t k = 0; k < model.parameters.size(); ++k) {
      b.parameters[plan.parameter_slot[k] * arm_patients + ap] = ws.parameters[k];
    }
    // Baseline is recorded even for a failed PK so the patient stays visible in every table.
    b.baseline[ap] = static_cast<float>(std::round(patient.baseline_madrs));
    if (!pk::build_kinetics(model, ws.parameters, ws.kinetics)) {
      b.status[ap] = status_invalid_parameters;
      return;
    }
    pk::expand_doses(plan.arm->regimen, plan.sessions, patient.covariates.weight_kg, &ws.taken, ws.doses);
    if (pk::resolve_inputs(model, ws.parameters, ws.doses, ws.inputs) < 0.0) {
      b.status[ap] = status_invalid_parameters;
      return;
    }
    const int n_grid = static_cast<int>(plan.grid_h.size());
    const int n_states = ws.kinetics.n_states;
    ws.states.resize(static_cast<std::size_t>(n_grid) * n_states);
    if (!pk::simulate_states(ws.kinetics, ws.inputs, plan.grid_h.data(), n_grid, plan.solver, config_.tolerances,
                             ws.sim, ws.states.data())) {
      b.status[ap] = status_solver_failure;
      return;
    }
    record_concentrations(plan, a, p, b, ws);
    // Occupancy drive on the grid: competitive binding of all moieties, then the sigmoid.
    const response::ResponseParameters& rp = rm_.parameters;
    const double occupancy50_pow = std::pow(rp.occupancy50, rp.occupancy_hill);
    // Below this binding the drive is under 1e-12, i.e. under 1e-12 h of full drive per hour:
    // nothing a MADRS score can show, so pow() is skipped for the long drug-free stretches.
    const double negligible_binding = rp.occupancy50 * std::pow(1e-12, 1.0 / rp.occupancy_hill);
    // Whole Hill coefficients (the usual case) take repeated multiplication instead of pow().
    const int integer_hill = rp.occupancy_hill == std::floor(rp.occupancy_hill) && rp.occupancy_hill >= 1.0 &&
                                     rp.occupancy_hill <= 16.0
                                 ? static_cast<int>(rp.occupancy_hill)
                                 : 0;
    ws.drive.resize(n_grid);
    ws.effect_conc.assign(plan.potency.size(), 0.0);
    std::vector<double>& drive = ws.drive;
    response::FirstOrderFilter effect_site(rp.ke0_per_h, rp.ke0_per_h);
    for (int g = 0; g < n_grid; ++g) {
      const double* x = &ws.states[static_cast<std::size_t>(g) * n_states];
      double s = 0.0;
      for (std::size_t m = 0; m < plan.potency.size(); ++m) {
        const auto& pot = plan.potency[m];
        double c = x[pot.compartment] / ws.parameters[pot.volume_parameter] * pot.ug_per_l_to_um_over_ki;
        if (rp.ke0_per_h > 0.0) {
          // Effect site follows plasma with rate ke0 (linear interpolation of plasma between points).
          if (g > 0) {
            const double* x0 = &ws.states[static_cast<std::size_t>(g - 1) * n_states];
            const double c0 = x0[pot.compartment] / ws.parameters[pot.volume_parameter] * pot.ug_per_l_to_um_over_ki;
            ws.effect_conc[m] = effect_site.step(ws.effect_conc[m], c0, c, plan.grid_h[g] - plan.grid_h[g - 1]);
          }
          c = ws.effect_conc[m];
        }
        s += std::max(0.0, c);
      }
      if (s < negligible_binding) {
        drive[g] = 0.0;
        continue;
      }
      const double occupancy = s / (1.0 + s);
      const double oh = integer_hill > 0 ? integer_power(occupancy, integer_hill) : std::pow(occupancy, rp.occupancy_hill);
      drive[g] = oh / (occupancy50_pow + oh);
    }
    // Plasticity P through the grid; exact for a drive linear between grid points.
    ws.plasticity_at_visit.assign(l.visits_d.size(), 0.0);
    response::FirstOrderFilter plasticity_filter(rp.kout_per_h, rp.kin_per_h);
    double plasticity = 0.0;
    std::size_t next_visit = 0;
    for (int g = 0; g < n_grid; ++g) {
      if (g > 0) plasticity = plasticity_filter.step(plasticity, drive[g - 1], drive[g], plan.grid_h[g] - plan.grid_h[g - 1]);
      while (next_visit < plan.visit_index.size() && plan.visit_index[next_visit] == g) {
        ws.plasticity_at_visit[next_visit++] = plasticity;
      }
    }
    score_visits(patient, plan, ap, b, ws, emax_z, placebo_z);
  }

  void record_concentrations(const ArmPlan& plan, int a, int p, Batch& b, Workspace& ws) const {
    const pk::PkModel& model = *plan.model;
    const Layout& l = layout_;
    const int n_grid = static_cast<int>(plan.grid_h.size());
    const int n_states = ws.kinetics.n_states;
    const std::size_t n_time = l.output_times_h.size();
    const std::size_t arm_patients = static_cast<std::size_t>(l.n_plans) * b.count;
    const std::size_t ap = static_cast<std::size_t>(a) * b.count + p;
    ws.conc.resize(n_grid);
    for (std::size_t o = 0; o < model.outputs.size(); ++o) {
      const int slot = plan.output_slot[o];
      for (int g = 0; g < n_grid; ++g) {
        ws.conc[g] = pk::output_concentration_ng_per_ml(model, ws.parameters, static_cast<int>(o),
                                                        &ws.states[static_cast<std::size_t>(g) * n_states]);
      }
      if (l.summarize_conc) {
        double* sum = &b.conc_sum[(static_cast<std::size_t>(slot) * l.n_plans + a) * n_time];
        double* sumsq = &b.conc_sumsq[(static_cast<std::size_t>(slot) * l.n_plans + a) * n_time];
        for (std::size_t t = 0; t < n_time; ++t) {
          const double c = ws.conc[plan.output_index[t]];
          sum[t] += c;
          sumsq[t] += c * c;
        }
        ++b.conc_n[static_cast<std::size_t>(slot) * l.n_plans + a];
      }
      if (l.store_conc) {
        float* out = &b.conc[(static_cast<std::size_t>(slot) * arm_patients + ap) * n_time];
        for (std::size_t t = 0; t < n_time; ++t) out[t] = static_cast<float>(ws.conc[plan.output_index[t]]);
      }
      for (std::size_t s = 0; s < plan.sessions.size(); ++s) {
        const double start = plan.sessions[s].time_h;
        const double end = s + 1 < plan.sessions.size() ? plan.sessions[s + 1].time_h : config_.duration_h;
        const pk::NcaResult r = pk::nca_interval(plan.grid_h.data(), ws.conc.data(), n_grid, start, end);
        const std::size_t k = (static_cast<std::size_t>(slot) * arm_patients + ap) * l.n_doses + s;
        b.cmax[k] = r.cmax_ng_per_ml;
        b.tmax[k] = r.tmax_h;
        b.auc[k] = r.auc_interval_h_ng_per_ml;
      }
    }
  }

  void score_visits(const population::Patient& patient, const ArmPlan& plan, std::size_t ap, Batch& b, Workspace& ws,
                    double emax_z, double placebo_z) const {
    const response::ResponseParameters& rp = rm_.parameters;
    const Layout& l = layout_;
    const EndpointConfig& e = config_.endpoints;
    const double logit_emax = std::log(rp.emax_typical / (1.0 - rp.emax_typical)) + rp.emax_logit_sd * emax_z;
    const double emax = 1.0 / (1.0 + std::exp(-logit_emax));
    const double baseline = b.baseline[ap];
    // Noise draws depend only on the patient and the visit, never on the arm.
    RandomStream noise(config_.seed, Stream::visit_noise, patient.index);
    // Dropout draws are per visit and independent of the arm: the same patient leaves at the same
    // visit in every arm (common random numbers), which keeps arm differences about the drug.
    RandomStream dropout(config_.seed, Stream::dropout, patient.index);
    bool in_study = true;
    int last_observed = 0;
    double ou = 0.0;
    double previous_h = 0.0;
    bool responded = false;
    int high_run = 0;
    bool relapsed = false;
    const std::size_t n_visits = l.visits_d.size();
    float* madrs = &b.madrs[ap * n_visits];
    for (std::size_t v = 0; v < n_visits; ++v) {
      const double t_h = l.visits_d[v] * 24.0;
      const double ou_z = noise.normal();
      const double rater_z = noise.normal();
      const double stay_u = dropout.uniform();
      if (t_h > 0.0 && in_study && e.dropout_per_week > 0.0) {
        const double gap_weeks = (t_h - previous_h) / 168.0;
        in_study = stay_u >= -std::expm1(-e.dropout_per_week * gap_weeks);
      }
      if (t_h <= 0.0) {
        madrs[v] = static_cast<float>(baseline);  // day 0 is the entry assessment itself
        continue;
      }
      // Exact OU transition over the gap since the previous visit.
      const double theta = std::log(2.0) / rp.ou_half_life_h;
      const double decay = std::exp(-theta * (t_h - previous_h));
      ou = ou * decay + rp.ou_sd_points * std::sqrt(1.0 - decay * decay) * ou_z;
      previous_h = t_h;
      const double pl = response::placebo_fraction(rp, plan.background, placebo_z, t_h);
      const double pv = ws.plasticity_at_visit[v];
      const double mean = baseline * (1.0 - pl) * (1.0 - emax * pv / (rp.p50 + pv));
      const double score = std::clamp(std::round(mean + ou + rp.rater_sd_points * rater_z), 0.0, 60.0);
      if (!in_study) {
        madrs[v] = NAN;
        continue;
      }
      madrs[v] = static_cast<float>(score);
      last_observed = static_cast<int>(v);
      if (responded) {
        high_run = score >= e.relapse_threshold ? high_run + 1 : 0;
        if (high_run >= e.relapse_consecutive) relapsed = true;
      }
      if (baseline - score >= e.response_fraction * baseline) responded = true;
    }
    const bool completed = !std::isnan(madrs[l.primary_visit]);
    // A dropout's change is from the last observed score; the flags follow the imputation rule.
    const double primary = completed ? madrs[l.primary_visit] : madrs[std::min(last_observed, l.primary_visit)];
    const bool flags_observed = completed || e.dropout_locf;
    b.change[ap] = static_cast<float>(primary - baseline);
    b.response[ap] = flags_observed && baseline - primary >= e.response_fraction * baseline ? 1 : 0;
    b.remission[ap] = flags_observed && primary <= e.remission_threshold ? 1 : 0;
    b.relapse[ap] = relapsed ? 1 : 0;
  }

  // Every column must mean something to at least one arm's model: a typo is an error, not ignored.
  void check_population_columns() const {
    Diagnostics d;
    for (const auto& column : table_->columns) {
      if (column == "ID" || column == "WT" || column == "AGE" || column == "SEX") continue;
      bool used = false;
      for (const StudyConfig& point : points_) for (const auto& arm : point.arms) {
        for (const auto& v : arm.model->variability) used |= column == "ETA_" + arm.model->parameters[v.parameter].name;
        for (const auto& p : arm.model->parameters) used |= column == p.name;
      }
      if (!used) {
        d.add(SourceLocation{table_->path, column, 1, 0},
              "unknown column; expected ID, WT, AGE, SEX, ETA_<parameter with variability> or <parameter> of an arm's model");
      }
    }
    d.throw_if_any();
  }

  const std::vector<StudyConfig>& points_;
  const StudyConfig& config_;
  const response::ResponseModel& rm_;
  std::shared_ptr<const population::PopulationTable> table_;
  Layout layout_;
  std::vector<ArmPlan> plans_;
  std::size_t max_sessions_ = 0;
};

// Creates every variable once; ids in the order written by write_batch.
struct FileVariables {
  int weight = -1, age = -1, sex = -1, status = -1, madrs = -1, baseline = -1, change = -1, response = -1,
      remission = -1, relapse = -1;
  std::vector<int> parameters, conc, conc_mean, conc_sd, cmax, tmax, auc;
};

// Where plan v (sweep point x arm) lives in a per-arm variable: the point's index along each sweep
// dimension, then the arm.
std::vector<hsize_t> plan_prefix(const SweepPlan& sweep, const Layout& l, int v) {
  std::vector<hsize_t> prefix;
  for (std::size_t i : sweep.points[v / l.n_arms].index) prefix.push_back(i);
  prefix.push_back(static_cast<hsize_t>(v % l.n_arms));
  return prefix;
}

FileVariables define_file(const StudyConfig& config, const SweepPlan& sweep, const Engine& engine, io::ResultsFile& f) {
  const Layout& l = engine.layout();
  std::vector<std::string> prefix;  // sweep dimensions, then arm
  for (const auto& d : sweep.dimensions) {
    if (d.labels.empty()) {
      f.add_dimension(d.name, d.values, d.units, "swept " + d.key);
    } else {
      f.add_label_dimension(d.name, d.labels, "sweep scenario");
    }
    prefix.push_back(d.name);
  }
  prefix.push_back("arm");
  std::vector<std::string> arm_names;
  for (const auto& arm : config.arms) arm_names.push_back(arm.name);
  f.add_label_dimension("arm", arm_names, "trial arm");
  std::vector<std::int64_t> patients(static_cast<std::size_t>(l.n_patients));
  for (std::size_t i = 0; i < patients.size(); ++i) patients[i] = static_cast<std::int64_t>(i);
  f.add_dimension("patient", patients, "1", "virtual patient index (same patient in every arm)");
  if (l.summarize_conc) f.add_dimension("time", l.output_times_h, "h", "time after the first dose");
  f.add_dimension("visit", l.visits_d, "d", "MADRS visit, days after the first dose");
  std::vector<std::int32_t> doses(l.n_doses);
  for (int i = 0; i < l.n_doses; ++i) doses[i] = i;
  f.add_dimension("dose", doses, "1", "index of the scheduled session within the arm");
  const hsize_t chunk = static_cast<hsize_t>(std::min<long long>(config.batch_patients, l.n_patients));
  auto dims = [&](std::vector<std::string> tail) {
    std::vector<std::string> all = prefix;
    all.insert(all.end(), tail.begin(), tail.end());
    return all;
  };
  auto make = [&](const std::string& name, std::vector<std::string> d, io::ElementType type, const std::string& units,
                  const std::string& long_name) {
    io::VariableSpec spec(name, std::move(d), type, units, long_name);
    spec.chunk_patients = chunk;
    return spec;
  };
  FileVariables v;
  v.weight = f.create_variable(make("weight_kg", {"patient"}, io::ElementType::float64, "kg", "body weight"));
  v.age = f.create_variable(make("age_y", {"patient"}, io::ElementType::float64, "yr", "age"));
  auto sex = make("sex", {"patient"}, io::ElementType::int8, "1", "sex");
  sex.flag_values = {0, 1};
  sex.flag_meanings = "male female";
  v.sex = f.create_variable(sex);
  auto status = make("status", dims({"patient"}), io::ElementType::int8, "1", "simulation status");
  status.flag_values = {0, 1, 2};
  status.flag_meanings = "ok solver_failure invalid_parameters";
  v.status = f.create_variable(status);
  for (const auto& name : l.parameters) {
    std::string units = "1";
    for (const auto& arm : config.arms) {
      const int k = arm.model->find_parameter(name);
      if (k >= 0) units = canonical_unit(arm.model->parameters[k].dimension);
    }
    v.parameters.push_back(f.create_variable(make("pk_" + name, dims({"patient"}), io::ElementType::float64, units,
                                                  "individual PK parameter " + name + " (NaN where the arm's model has none)")));
  }
  for (const auto& out : l.outputs) {
    if (l.store_conc) {
      v.conc.push_back(f.create_variable(make("conc_" + out, dims({"patient", "time"}), io::ElementType::float32,
                                              "ng/mL", "plasma concentration of " + out)));
    }
    if (l.summarize_conc) {
      v.conc_mean.push_back(f.create_variable(make("conc_" + out + "_mean", dims({"time"}), io::ElementType::float64,
                                                   "ng/mL", "mean plasma concentration of " + out + " across patients")));
      v.conc_sd.push_back(f.create_variable(make("conc_" + out + "_sd", dims({"time"}), io::ElementType::float64, "ng/mL",
                                                 "standard deviation of plasma concentration of " + out)));
    }
    v.cmax.push_back(f.create_variable(make("cmax_" + out, dims({"patient", "dose"}), io::ElementType::float64, "ng/mL",
                                            "peak concentration of " + out + " after the dose")));
    v.tmax.push_back(f.create_variable(make("tmax_" + out, dims({"patient", "dose"}), io::ElementType::float64, "h",
                                            "time of the peak of " + out + " after the dose")));
    v.auc.push_back(f.create_variable(make("auc_" + out, dims({"patient", "dose"}), io::ElementType::float64,
                                           "h*ng/mL", "AUC of " + out + " over the dosing interval")));
  }
  v.madrs = f.create_variable(make("madrs", dims({"patient", "visit"}), io::ElementType::float32, "1", "MADRS total score"));
  v.baseline = f.create_variable(make("baseline_madrs", dims({"patient"}), io::ElementType::float32, "1", "MADRS at day 0"));
  v.change = f.create_variable(make("madrs_change", dims({"patient"}), io::ElementType::float32, "1",
                                    "MADRS change from baseline at the primary visit"));
  auto flag = [&](const std::string& name, const std::string& long_name) {
    auto spec = make(name, dims({"patient"}), io::ElementType::int8, "1", long_name);
    spec.flag_values = {0, 1};
    spec.flag_meanings = "no yes";
    return f.create_variable(spec);
  };
  v.response = flag("response", "MADRS reduced by at least the response fraction at the primary visit");
  v.remission = flag("remission", "MADRS at or below the remission threshold at the primary visit");
  v.relapse = flag("relapse", "relapse after a response (consecutive visits at or above the relapse threshold)");
  return v;
}

void write_batch(const Layout& l, const SweepPlan& sweep, const FileVariables& v, const Batch& b, io::ResultsFile& f) {
  const hsize_t first = static_cast<hsize_t>(b.first), n = static_cast<hsize_t>(b.count);
  const hsize_t plans = static_cast<hsize_t>(l.n_plans);
  // The batch buffers hold [plan][patient] for this batch's patients; one hyperslab per plan.
  auto per_plan = [&](int var, const auto* data, hsize_t inner) {
    for (hsize_t a = 0; a < plans; ++a) {
      std::vector<hsize_t> start = plan_prefix(sweep, l, static_cast<int>(a));
      std::vector<hsize_t> count(start.size(), 1);
      start.push_back(first);
      count.push_back(n);
      if (inner) {
        start.push_back(0);
        count.push_back(inner);
      }
      f.write(var, start, count, data + a * n * (inner ? inner : 1));
    }
  };
  f.write(v.weight, {first}, {n}, b.weight_kg.data());
  f.write(v.age, {first}, {n}, b.age_y.data());
  f.write(v.sex, {first}, {n}, b.sex.data());
  per_plan(v.status, b.status.data(), 0);
  for (std::size_t k = 0; k < v.parameters.size(); ++k) per_plan(v.parameters[k], b.parameters.data() + k * plans * n, 0);
  const hsize_t n_doses = static_cast<hsize_t>(l.n_doses);
  for (std::size_t s = 0; s < l.outputs.size(); ++s) {
    if (l.store_conc) {
      std::vector<hsize_t> chunk_start(f.chunk_shape(v.conc[s]).size(), 0);
      chunk_start[chunk_start.size() - 2] = first;  // (sweep..., arm, patient, time): all but patient at 0
      f.write_encoded_chunk(v.conc[s], chunk_start, b.encoded_conc[s]);
    }
    per_plan(v.cmax[s], b.cmax.data() + s * plans * n * n_doses, n_doses);
    per_plan(v.tmax[s], b.tmax.data() + s * plans * n * n_doses, n_doses);
    per_plan(v.auc[s], b.auc.data() + s * plans * n * n_doses, n_doses);
  }
  per_plan(v.madrs, b.madrs.data(), l.visits_d.size());
  per_plan(v.baseline, b.baseline.data(), 0);
  per_plan(v.change, b.change.data(), 0);
  per_plan(v.response, b.response.data(), 0);
  per_plan(v.remission, b.remission.data(), 0);
  per_plan(v.relapse, b.relapse.data(), 0);
}

// Compresses each output's concentrations of a batch as one HDF5 chunk (every plan, the batch's
// patients, the whole time axis), padding a short last batch with NaN to the chunk's length, so
// that deflate runs on all workers instead of the single writer.
void encode_concentrations(const Layout& l, int chunk_patients, Batch& b) {
  const std::size_t n_time = l.output_times_h.size();
  const std::size_t plans = static_cast<std::size_t>(l.n_plans);
  const std::size_t per_output = plans * b.count * n_time;
  const std::size_t chunk_elements = plans * static_cast<std::size_t>(chunk_patients) * n_time;
  b.encoded_conc.resize(l.outputs.size());
  for (std::size_t s = 0; s < l.outputs.size(); ++s) {
    const float* source = b.conc.data() + s * per_output;
    if (b.count != chunk_patients) {
      b.padded.assign(chunk_elements, NAN);
      for (std::size_t a = 0; a < plans; ++a) {
        std::copy(source + a * b.count * n_time, source + (a + 1) * b.count * n_time,
                  b.padded.begin() + static_cast<std::ptrdiff_t>(a * chunk_patients * n_time));
      }
      source = b.padded.data();
    }
    io::ResultsFile::encode_chunk(source, chunk_elements, b.shuffle_scratch, b.encoded_conc[s]);
  }
}

// Runs every batch through the engine on oneTBB and hands finished batches to `sink` one at a
// time, in patient order, on one thread.
void for_each_batch(const Engine& engine, int batch_patients, const std::function<void(const Batch&)>& sink) {
  const Layout& l = engine.layout();
  const long long n_batches = (l.n_patients + batch_patients - 1) / batch_patients;
  const int tokens = std::max(2, 2 * tbb::this_task_arena::max_concurrency());
  // Buffers are reused round-robin: the sink stage is serial and in order, so when batch
  // k + tokens enters the pipeline, batch k has already been consumed.
  std::vector<std::unique_ptr<Batch>> pool;
  for (int i = 0; i < tokens; ++i) pool.push_back(std::make_unique<Batch>());
  tbb::enumerable_thread_specific<Workspace> workspaces;
  long long next_batch = 0;
  tbb::parallel_pipeline(
      static_cast<std::size_t>(tokens),
      tbb::make_filter<void, Batch*>(tbb::filter_mode::serial_in_order,
                                     [&](tbb::flow_control& fc) -> Batch* {
                                       if (next_batch >= n_batches || interrupt_requested()) {
                                         fc.stop();
                                         return nullptr;
                                       }
                                       Batch* b = pool[next_batch % tokens].get();
                                       b->first = next_batch * batch_patients;
                                       b->count = static_cast<int>(std::min<long long>(batch_patients, l.n_patients - b->first));
                                       b->resize(l, b->count);
                                       ++next_batch;
                                       return b;
                                     }) &
          tbb::make_filter<Batch*, Batch*>(tbb::filter_mode::parallel,
                                           [&](Batch* b) {
                                             engine.simulate_batch(*b, workspaces.local());
                                             if (l.store_conc) encode_concentrations(l, batch_patients, *b);
                                             return b;
                                           }) &
          tbb::make_filter<Batch*, void>(tbb::filter_mode::serial_in_order, [&](Batch* b) { sink(*b); }));
  throw_if_interrupted();
}

}  // namespace

void check_response_model(const StudyConfig& config, const response::ResponseModel& rm) {
  Diagnostics d;
  for (const auto& arm : config.arms) {
    for (const auto& m : arm.model->moieties) {
      if (std::isnan(rm.ki_um_for(m.name))) {
        d.add(SourceLocation{rm.path, "potency", 0, 0},
              "no Ki for moiety '" + m.name + "' of model '" + arm.model->name + "' (arm '" + arm.name + "')");
      }
    }
  }
  d.throw_if_any();
}

RunStatistics run_trial(const std::vector<StudyConfig>& points, const SweepPlan& sweep,
                        const response::ResponseModel& rm, io::ResultsFile& file,
                        const std::function<void(const RunProgress&)>& on_progress) {
  for (const auto& point : points) check_response_model(point, rm);
  const Engine engine(points, rm);
  const Layout& l = engine.layout();
  const StudyConfig& config = points.front();
  const FileVariables vars = define_file(config, sweep, engine, file);
  const std::size_t n_time = l.output_times_h.size();
  const std::size_t summary_size = l.outputs.size() * l.n_plans * n_time;
  std::vector<double> sum(summary_size, 0.0), sumsq(summary_size, 0.0);
  std::vector<long long> count(l.outputs.size() * l.n_plans, 0);
  RunStatistics stats;
  RunProgress progress{0, l.n_patients};
  for_each_batch(engine, config.batch_patients, [&](const Batch& b) {
    write_batch(l, sweep, vars, b, file);
    // Sums are added in batch order, so the mean and SD are identical for any thread count.
    for (std::size_t i = 0; i < summary_size; ++i) {
      sum[i] += b.conc_sum[i];
      sumsq[i] += b.conc_sumsq[i];
    }
    for (std::size_t i = 0; i < count.size(); ++i) count[i] += b.conc_n[i];
    for (auto s : b.status) stats.failed_patients += s != status_ok;
    progress.patients_done += b.count;
    if (on_progress) on_progress(progress);
  });
  if (l.summarize_conc) {
    std::vector<double> mean(n_time), sd(n_time);
    for (std::size_t s = 0; s < l.outputs.size(); ++s) {
      for (int a = 0; a < l.n_plans; ++a) {
        const long long n = count[s * l.n_plans + a];
        for (std::size_t t = 0; t < n_time; ++t) {
          const std::size_t i = (s * l.n_plans + a) * n_time + t;
          const double m = n > 0 ? sum[i] / n : kNaN;
          mean[t] = m;
          sd[t] = n > 1 ? std::sqrt(std::max(0.0, (sumsq[i] - n * m * m) / (n - 1))) : kNaN;
        }
        std::vector<hsize_t> start = plan_prefix(sweep, l, a);
        std::vector<hsize_t> extent(start.size(), 1);
        start.push_back(0);
        extent.push_back(n_time);
        file.write(vars.conc_mean[s], start, extent, mean.data());
        file.write(vars.conc_sd[s], start, extent, sd.data());
      }
    }
  }
  return stats;
}

TrialSummary simulate_endpoints(const StudyConfig& config, const response::ResponseModel& rm) {
  check_response_model(config, rm);
  std::vector<StudyConfig> quiet{config};
  quiet[0].concentration = ConcentrationOutput::none;  // nothing but endpoints is needed
  const Engine engine(quiet, rm);
  const Layout& l = engine.layout();
  const std::size_t n_visits = l.visits_d.size();
  TrialSummary summary;
  summary.visits_d = l.visits_d;
  summary.arms.resize(l.n_arms);
  for (int a = 0; a < l.n_arms; ++a) {
    summary.arms[a].name = config.arms[a].name;
    summary.arms[a].visits.resize(n_visits);
  }
  const EndpointConfig& e = config.endpoints;
  for_each_batch(engine, config.batch_patients, [&](const Batch& b) {
    for (int a = 0; a < l.n_arms; ++a) {
      ArmSummary& arm = summary.arms[a];
      for (int p = 0; p < b.count; ++p) {
        const std::size_t ap = static_cast<std::size_t>(a) * b.count + p;
        if (b.status[ap] != status_ok) continue;
        ++arm.n;
        const double baseline = b.baseline[ap];
        for (std::size_t v = 0; v < n_visits; ++v) {
          const double score = b.madrs[ap * n_visits + v];
          if (std::isnan(score)) continue;  // left the study before this visit
          VisitSummary& vs = arm.visits[v];
          ++vs.observed;
          vs.responders += baseline - score >= e.response_fraction * baseline;
          vs.remitters += score <= e.remission_threshold;
          vs.sum_change += score - baseline;
          vs.sum_change_sq += (score - baseline) * (score - baseline);
          vs.sum_score += score;
        }
      }
    }
  });
  return summary;
}

}  // namespace ketasim::trial
