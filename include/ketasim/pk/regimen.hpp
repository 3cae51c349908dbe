#pragma once
// A regimen in clinical terms (route, dose, infusion duration, devices per session, schedule of
// phases) and its expansion into the list of dose administrations one patient receives.
#include <string>
#include <vector>

#include "ketasim/core/yaml_input.hpp"
#include "ketasim/pk/model.hpp"

namespace ketasim::pk {

// One phase: doses every `every_h`, either `count` of them or while time < `until_h`.
// A phase starts one interval of the previous phase after that phase's last dose (its period ends).
struct SchedulePhase {
  double every_h = 0.0;
  int count = -1;          // -1 when `until_h` is used
  double until_h = -1.0;   // exclusive, study time since day 0 (the clock of duration and visits)
  double dose_override = -1.0;   // same unit as Regimen::dose (mg or mg/kg), -1: the regimen's
  int devices_override = -1;
};

// Response-guided dosing (regimen key `guided`, docs/config.md): the last phase's interval is set
// at each of its sessions by the patient's own score at the latest visit at or before the session
// (assessed before dosing, as in the trials): one step longer along `intervals_h` while the rule
// holds, back to the first (or one step shorter) when it does not.
struct GuidedDosing {
  bool enabled = false;
  std::vector<double> intervals_h;  // the phase's own `every`, then `stretch_to`, increasing
  bool on_remission = true;         // the rule: remission (else response) at that visit
  bool reset = true;                // when it fails: back to the first interval (else one step shorter)
};

// Titration (regimen key `titration`): from `from_h` on, at the first session whose latest visit
// does not meet the rule, the dose rises to `to_dose` and stays there.
struct Titration {
  bool enabled = false;
  double to_dose = 0.0;      // in the regimen's dose unit (mg or mg/kg)
  int to_devices = 1;        // intranasal: devices per session at the raised dose
  double from_h = 0.0;
  bool unless_remission = false;  // the rule: remission (else response, the default)
};

struct Regimen {
  Route route = Route::iv_infusion;
  double dose = 0.0;        // mg, or mg/kg when dose_per_kg
  bool dose_per_kg = false;
  double infusion_duration_h = 0.0;  // iv_infusion
  int devices_per_session = 1;       // intranasal: one device = one dose unit, a few minutes apart
  double device_interval_h = 5.0 / 60.0;
  double device_dose_mg = 28.0;      // intranasal: amount per device
  double start_h = 0.0;
  std::vector<SchedulePhase> phases;
  double adherence_probability = 1.0;  // each scheduled session is taken with this probability
  GuidedDosing guided;
  Titration titration;
  bool adaptive() const { return guided.enabled || titration.enabled; }
  // `regimen: {data: events.csv}`: every patient's doses come from an event data set (NONMEM-style,
  // population/population_file.hpp) instead of `schedule`; resolved against the config file.
  std::string data_path;
  bool from_data() const { return !data_path.empty(); }
};

// One dose record of an event data set after ADDL/II expansion: AMT (mg) at TIME (h), over
// `duration_h` (0: bolus, else a zero-order infusion from RATE or DUR). `line` is the record's line
// in the file, for messages.
struct RecordedDose {
  double time_h = 0.0;
  double amount_mg = 0.0;
  double duration_h = 0.0;
  int cmt = 0;  // NONMEM CMT (1-based model compartment), 0 when not given
  int line = 0;
  bool additional = false;  // laid out from the record's ADDL/II, not a record of its own
};

// One administration: an IV dose, or one intranasal device.
struct Dose {
  double time_h = 0.0;
  Route route = Route::iv_infusion;
  double amount_mg = 0.0;
  double infusion_duration_h = 0.0;
  int device = 0;         // 0 for the first (or only) device of a session
  int session = 0;        // index of the scheduled session (what NCA calls "dose")
};

// A scheduled session before it is turned into administrations for a given body weight.
struct Session {
  double time_h = 0.0;
  double dose = 0.0;  // mg or mg/kg as in the regimen
  int devices = 1;
};

Regimen parse_regimen(const InputNode& node);
// The sessions of the schedule as written. For a guided regimen that is the most it can give (every
// interval at its shortest): the bound the results layout and session constraints use.
std::vector<Session> expand_sessions(const Regimen& regimen);
// The sessions of the first `n_phases` phases, and when the next phase would start.
std::vector<Session> expand_sessions(const Regimen& regimen, std::size_t n_phases, double& next_phase_start_h);
// Administrations for a patient of `weight_kg`; `taken[i]` false skips session i (adherence).
void expand_doses(const Regimen& regimen, const std::vector<Session>& sessions, double weight_kg,
                  const std::vector<char>* taken, std::vector<Dose>& out);
// Administrations of recorded doses (sorted by time) through the regimen's route: an IV record with a
// duration is an iv_infusion, without one an iv_bolus; an intranasal record is AMT / device_dose
// devices `device_interval_h` apart. `sessions` receives one session per record (for NCA and the
// results file). Both outputs are cleared first and reuse their capacity.
void expand_recorded_doses(const Regimen& regimen, const RecordedDose* records, std::size_t n,
                           std::vector<Session>& sessions, std::vector<Dose>& out);
// Time after which nothing more is given (last session start + its duration/devices).
double regimen_end_h(const Regimen& regimen, const std::vector<Session>& sessions);

}  // namespace ketasim::pk
