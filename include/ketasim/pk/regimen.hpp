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
std::vector<Session> expand_sessions(const Regimen& regimen);
// Administrations for a patient of `weight_kg`; `taken[i]` false skips session i (adherence).
void expand_doses(const Regimen& regimen, const std::vector<Session>& sessions, double weight_kg,
                  const std::vector<char>* taken, std::vector<Dose>& out);
// Time after which nothing more is given (last session start + its duration/devices).
double regimen_end_h(const Regimen& regimen, const std::vector<Session>& sessions);

}  // namespace ketasim::pk
