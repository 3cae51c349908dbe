#include "ketasim/pk/regimen.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "ketasim/core/limits.hpp"

namespace ketasim::pk {

namespace {

// Doses speak mg or mg/kg; intranasal devices only come in fixed mg.
double parse_dose(const InputNode& node, Regimen& regimen) {
  // A bare 0 needs no unit: zero milligrams and zero mg/kg are the same placebo session, so the
  // regimen's dose unit (and a phase's agreement with it) is left as it is.
  if (node.is_scalar()) {
    const std::string& text = node.yaml().Scalar();
    char* end = nullptr;
    const double v = std::strtod(text.c_str(), &end);
    if (!text.empty() && end == text.c_str() + text.size() && v == 0.0) return 0.0;
  }
  const std::size_t problems_before = node.diagnostics().messages().size();
  const auto [value, dimension] = node.quantity_of({Dimension::amount, Dimension::amount_per_weight});
  const bool per_kg = dimension == Dimension::amount_per_weight;
  // A unit typo is already reported; a second "not positive" message would only confuse.
  // Zero is a placebo session (saline infusion, placebo spray): no drug, the background applies.
  if (node.diagnostics().messages().size() == problems_before && !(value >= 0.0)) {
    node.fail("expected a dose >= 0 (0 for placebo), found '" + node.text() + "'");
  }
  const double limit = per_kg ? limits::kMaxDoseMgPerKg : limits::kMaxDoseMg;
  if (node.diagnostics().messages().size() == problems_before && value > limit) {
    node.fail("a dose of at most " + limits::format(limit) + (per_kg ? " mg/kg" : " mg") +
              " per session is accepted (a unit slip?), found '" + node.text() + "'");
  }
  regimen.dose_per_kg = per_kg;
  return value;
}

SchedulePhase parse_phase(const InputNode& node, Regimen& regimen) {
  node.check_keys({"every", "count", "until", "ii", "addl", "dose", "devices"});
  SchedulePhase phase;
  const bool nonmem = node.has("ii") || node.has("addl");
  if (nonmem) {
    if (node.has("every") || node.has("count") || node.has("until")) {
      node.fail("use either every/count/until or NONMEM-style ii/addl in one phase, not both");
    }
    phase.every_h = node.required("ii").quantity(Dimension::time);
    const long long addl = node.required("addl").integer();
    if (addl < 0) node.child("addl").fail("expected addl >= 0 (additional doses)");
    phase.count = static_cast<int>(addl) + 1;
  } else {
    phase.every_h = node.required("every").quantity(Dimension::time);
    if (node.has("count") == node.has("until")) {
      node.fail("a phase needs exactly one of count or until");
    } else if (const auto count = node.optional("count")) {
      const long long c = count->integer();
      if (c < 1) count->fail("expected a count >= 1");
      phase.count = static_cast<int>(c);
    } else {
      phase.until_h = node.child("until").quantity(Dimension::time);
    }
  }
  if (node.has("every") || node.has("ii")) {
    const InputNode interval = node.has("every") ? node.child("every") : node.child("ii");
    if (interval.is_scalar() && !(phase.every_h > 0.0)) {
      interval.fail("expected a positive dosing interval");
    } else if (interval.is_scalar() && phase.every_h < limits::kMinDosingIntervalH) {
      interval.fail("expected a dosing interval of at least 1 min");
      phase.every_h = 0.0;  // expand_sessions skips the phase instead of laying out millions of doses
    }
  }
  if (phase.count > limits::kMaxSessions) {
    node.child(nonmem ? "addl" : "count").fail("at most " + std::to_string(limits::kMaxSessions) + " doses per phase");
    phase.count = 0;
  }
  if (const auto dose = node.optional("dose")) {
    const bool regimen_per_kg = regimen.dose_per_kg;
    phase.dose_override = parse_dose(*dose, regimen);
    if (regimen.dose_per_kg != regimen_per_kg) dose->fail("a phase dose must use the regimen's dose unit");
    regimen.dose_per_kg = regimen_per_kg;
  }
  if (const auto devices = node.optional("devices")) {
    const long long n = devices->integer();
    if (n < 1 || n > limits::kMaxDevicesPerSession) {
      devices->fail("expected 1 to " + std::to_string(limits::kMaxDevicesPerSession) + " devices");
    } else {
      phase.devices_override = static_cast<int>(n);
    }
  }
  return phase;
}

// An intranasal phase dose is sessions of whole devices, checked like the regimen's own dose:
// a multiple of device_dose, and no more devices than a session can hold.
void check_phase_devices(const InputNode& node, const Regimen& regimen, SchedulePhase& phase) {
  // A dose over the limit is already reported.
  if (regimen.route != Route::intranasal || !(phase.dose_override > 0.0) || !(regimen.device_dose_mg > 0.0) ||
      phase.dose_override > limits::kMaxDoseMg) {
    return;
  }
  const auto dose = node.child("dose");
  const double devices = std::round(phase.dose_override / regimen.device_dose_mg);
  if (phase.devices_override > 0) {
    if (std::fabs(phase.devices_override * regimen.device_dose_mg - phase.dose_override) > 1e-9) {
      dose.fail("a phase dose must be devices x device_dose (" + std::to_string(phase.devices_override) + " x " +
                limits::format(regimen.device_dose_mg) + " mg)");
    }
  } else if (devices < 1.0 || std::fabs(devices * regimen.device_dose_mg - phase.dose_override) > 1e-9) {
    dose.fail("an intranasal dose must be a whole number of devices of " + limits::format(regimen.device_dose_mg) + " mg");
  } else if (devices > limits::kMaxDevicesPerSession) {
    dose.fail("this dose needs " + limits::format(devices) + " devices per session; at most " +
              std::to_string(limits::kMaxDevicesPerSession) + " are accepted");
  } else {
    phase.devices_override = static_cast<int>(devices);  // what expand_sessions lays out; checked for timing
  }
}

// `guided: {stretch_to: [14d], when: remission, otherwise: reset}`: the last phase (an `until`
// phase) starts at its own `every` and may stretch to the listed longer intervals.
void parse_guided(const InputNode& node, Regimen& regimen) {
  node.check_keys({"stretch_to", "when", "otherwise"});
  GuidedDosing& g = regimen.guided;
  g.enabled = true;
  if (regimen.phases.empty()) return;  // reported with the schedule
  const SchedulePhase& phase = regimen.phases.back();
  if (phase.until_h < 0.0) {
    node.fail("response-guided dosing sets the intervals of the last schedule phase, which must run `until` a time "
              "(not a `count`)");
  }
  g.intervals_h.push_back(phase.every_h);
  const InputNode stretch = node.required("stretch_to");
  for (const auto& v : stretch.is_sequence() ? stretch.sequence() : std::vector<InputNode>{stretch}) {
    const double h = v.quantity(Dimension::time);
    if (v.is_scalar() && !(h > g.intervals_h.back())) {
      v.fail("expected intervals longer than the last phase's `every` and each longer than the one before");
    }
    g.intervals_h.push_back(h);
  }
  if (const auto w = node.optional("when")) g.on_remission = w->choice({"remission", "response"}) == "remission";
  if (const auto o = node.optional("otherwise")) g.reset = o->choice({"reset", "step_down"}) == "reset";
}

// `titration: {to: 84 mg, from: 4d, unless: response}`.
void parse_titration(const InputNode& node, Regimen& regimen) {
  node.check_keys({"to", "from", "unless"});
  Titration& t = regimen.titration;
  t.enabled = true;
  const InputNode to = node.required("to");
  if (to.defined()) {
    Regimen probe = regimen;  // parse_dose records the unit on the regimen; the regimen's must not change
    t.to_dose = parse_dose(to, probe);
    if (probe.dose_per_kg != regimen.dose_per_kg) {
      to.fail("the titrated dose must use the regimen's dose unit");
    } else if (!(t.to_dose > regimen.dose)) {
      to.fail("expected a dose above the regimen's dose (titration only raises it)");
    } else if (regimen.route == Route::intranasal && regimen.device_dose_mg > 0.0) {
      const double devices = std::round(t.to_dose / regimen.device_dose_mg);
      if (devices < 1.0 || std::fabs(devices * regimen.device_dose_mg - t.to_dose) > 1e-9 ||
          devices > limits::kMaxDevicesPerSession) {
        to.fail("an intranasal dose must be a whole number of devices of " + limits::format(regimen.device_dose_mg) +
                " mg (at most " + std::to_string(limits::kMaxDevicesPerSession) + ")");
      } else {
        t.to_devices = static_cast<int>(devices);
      }
    }
  }
  if (const auto f = node.optional("from")) {
    t.from_h = f->quantity(Dimension::time);
    if (f->is_scalar() && !(t.from_h >= 0.0)) f->fail("expected a time >= 0");
  }
  if (const auto u = node.optional("unless")) t.unless_remission = u->choice({"response", "remission"}) == "remission";
  for (const auto& phase : regimen.phases) {
    if (phase.dose_override >= 0.0) {
      node.fail("titration raises the regimen's dose; it cannot be combined with a phase `dose`");
      break;
    }
  }
}

}  // namespace

Regimen parse_regimen(const InputNode& node) {
  if (node.has("data")) {
    // Doses per patient from a file: only what the records cannot say (the route and, for sprays,
    // the device) is given here; dose, timing and infusion rate are per record.
    node.check_keys({"data", "route", "device_dose", "device_interval"});
    Regimen regimen;
    parse_route(node.required("route").choice({"iv_infusion", "iv_bolus", "intranasal", "oral"}), regimen.route);
    regimen.data_path = node.child("data").text();
    if (regimen.data_path.empty()) node.child("data").fail("expected the path of an event data set (CSV)");
    if (regimen.route == Route::intranasal) {
      if (const auto d = node.optional("device_dose")) {
        regimen.device_dose_mg = d->quantity(Dimension::amount);
        if (d->is_scalar() && !(regimen.device_dose_mg > 0.0)) d->fail("expected a positive amount per device");
      }
      if (const auto d = node.optional("device_interval")) regimen.device_interval_h = d->quantity(Dimension::time);
    } else if (node.has("device_dose") || node.has("device_interval")) {
      node.fail("device_dose/device_interval apply only to route intranasal");
    }
    return regimen;
  }
  node.check_keys({"route", "dose", "infusion_duration", "infusion_rate", "devices", "device_interval",
                   "device_dose", "start", "schedule", "adherence", "guided", "titration"});
  Regimen regimen;
  const InputNode route = node.required("route");
  const std::string route_text = route.choice({"iv_infusion", "iv_bolus", "intranasal", "oral"});
  parse_route(route_text, regimen.route);
  const InputNode dose = node.required("dose");
  if (dose.defined()) regimen.dose = parse_dose(dose, regimen);
  if (regimen.route == Route::iv_infusion) {
    const int given = node.has("infusion_duration") + node.has("infusion_rate");
    if (given != 1) {
      node.fail("an iv_infusion regimen needs exactly one of infusion_duration or infusion_rate");
    } else if (const auto duration = node.optional("infusion_duration")) {
      regimen.infusion_duration_h = duration->quantity(Dimension::time);
      if (duration->is_scalar() && !(regimen.infusion_duration_h > 0.0)) {
        duration->fail("expected a positive infusion duration");
      }
    } else {
      // A rate fixes the duration per patient (dose / rate); stored negative to mark it.
      const auto rate = node.child("infusion_rate").quantity_of({Dimension::amount_rate});
      if (!(rate.first > 0.0)) node.child("infusion_rate").fail("expected a positive infusion rate");
      regimen.infusion_duration_h = -rate.first;
    }
  } else if (node.has("infusion_duration") || node.has("infusion_rate")) {
    node.fail("infusion_duration/infusion_rate apply only to route iv_infusion");
  }
  if (regimen.route == Route::intranasal) {
    if (regimen.dose_per_kg) dose.fail("intranasal doses are fixed amounts in mg (one device = device_dose)");
    if (const auto d = node.optional("device_dose")) regimen.device_dose_mg = d->quantity(Dimension::amount);
    if (const auto d = node.optional("device_interval")) regimen.device_interval_h = d->quantity(Dimension::time);
    if (const auto d = node.optional("device_dose")) {
      if (d->is_scalar() && !(regimen.device_dose_mg > 0.0)) d->fail("expected a positive amount per device");
    }
    if (const auto d = node.optional("devices")) {
      const long long n = d->integer();
      if (n < 1 || n > limits::kMaxDevicesPerSession) {
        d->fail("expected 1 to " + std::to_string(limits::kMaxDevicesPerSession) + " devices");
      } else {
        regimen.devices_per_session = static_cast<int>(n);
      }
    } else if (regimen.device_dose_mg > 0.0) {
      // At least one device: a placebo session (dose 0) is still a spray.
      const double devices = std::max(1.0, std::round(regimen.dose / regimen.device_dose_mg));
      if (devices > limits::kMaxDevicesPerSession) {
        dose.fail("this dose needs " + limits::format(devices) + " devices of " + limits::format(regimen.device_dose_mg) +
                  " mg per session; at most " + std::to_string(limits::kMaxDevicesPerSession) + " are accepted");
      } else {
        regimen.devices_per_session = static_cast<int>(devices);
      }
    }
    const double per_session = regimen.devices_per_session * regimen.device_dose_mg;
    // A placebo spray (dose 0) may still name its devices; it delivers nothing.
    if (dose.defined() && regimen.dose > 0.0 && std::fabs(per_session - regimen.dose) > 1e-9) {
      dose.fail("an intranasal dose must be devices x device_dose (" + std::to_string(regimen.devices_per_session) +
                " x " + fmt::format("{:g}", regimen.device_dose_mg) + " mg)");
    }
  } else if (node.has("devices") || node.has("device_interval") || node.has("device_dose")) {
    node.fail("devices/device_interval/device_dose apply only to route intranasal");
  }
  if (const auto start = node.optional("start")) regimen.start_h = start->quantity(Dimension::time);
  if (const auto adherence = node.optional("adherence")) {
    regimen.adherence_probability = adherence->number();
    if (regimen.adherence_probability <= 0.0 || regimen.adherence_probability > 1.0) {
      adherence->fail("expected a probability in (0, 1]");
    }
  }
  for (const auto& phase : node.required("schedule").sequence()) {
    regimen.phases.push_back(parse_phase(phase, regimen));
    check_phase_devices(phase, regimen, regimen.phases.back());
  }
  if (node.has("schedule") && node.child("schedule").is_sequence() && regimen.phases.empty()) {
    node.child("schedule").fail("expected at least one phase");
  }
  for (const auto& phase : regimen.phases) {
    if (regimen.route == Route::iv_infusion && regimen.infusion_duration_h > phase.every_h && phase.every_h > 0.0) {
      node.child("infusion_duration").fail("the infusion is longer than the dosing interval");
    }
  }
  if (const auto g = node.optional("guided")) parse_guided(*g, regimen);
  if (const auto t = node.optional("titration")) parse_titration(*t, regimen);
  return regimen;
}

std::vector<Session> expand_sessions(const Regimen& regimen) {
  double ignored = 0.0;
  return expand_sessions(regimen, regimen.phases.size(), ignored);
}

std::vector<Session> expand_sessions(const Regimen& regimen, std::size_t n_phases, double& next_phase_start_h) {
  std::vector<Session> sessions;
  double next_h = regimen.start_h;
  next_phase_start_h = next_h;
  for (std::size_t i = 0; i < n_phases && i < regimen.phases.size(); ++i) {
    const SchedulePhase& phase = regimen.phases[i];
    if (!(phase.every_h > 0.0)) break;
    double dose = phase.dose_override >= 0.0 ? phase.dose_override : regimen.dose;
    int devices = regimen.devices_per_session;
    if (regimen.route == Route::intranasal) {
      // A session is a whole number of devices; the dose follows from them.
      if (phase.devices_override > 0) {
        devices = phase.devices_override;
      } else if (phase.dose_override > 0.0) {
        devices = static_cast<int>(std::lround(phase.dose_override / regimen.device_dose_mg));
      }
      // A placebo session (dose 0) keeps its devices but delivers nothing.
      if (dose > 0.0) dose = devices * regimen.device_dose_mg;
    }
    double last_h = next_h - phase.every_h;
    for (int k = 0;; ++k) {
      const double t = next_h + k * phase.every_h;  // multiply, not accumulate: no drift over 100 doses
      if (phase.count >= 0 ? k >= phase.count : t >= phase.until_h - 1e-9) break;
      // Bounded whatever the input: the caller reports more than kMaxSessions as an error.
      if (static_cast<long long>(sessions.size()) > limits::kMaxSessions) return sessions;
      sessions.push_back({t, dose, devices});
      last_h = t;
    }
    next_h = last_h + phase.every_h;
    next_phase_start_h = next_h;
  }
  return sessions;
}

void expand_doses(const Regimen& regimen, const std::vector<Session>& sessions, double weight_kg,
                  const std::vector<char>* taken, std::vector<Dose>& out) {
  out.clear();
  for (std::size_t s = 0; s < sessions.size(); ++s) {
    if (taken && !(*taken)[s]) continue;
    const Session& session = sessions[s];
    const double amount_mg = regimen.dose_per_kg ? session.dose * weight_kg : session.dose;
    if (regimen.route == Route::intranasal) {
      const double per_device_mg = amount_mg / session.devices;
      for (int d = 0; d < session.devices; ++d) {
        out.push_back({session.time_h + d * regimen.device_interval_h, regimen.route, per_device_mg, 0.0, d,
                       static_cast<int>(s)});
      }
    } else {
      double duration_h = 0.0;
      if (regimen.route == Route::iv_infusion) {
        duration_h = regimen.infusion_duration_h > 0.0 ? regimen.infusion_duration_h
                                                       : amount_mg / -regimen.infusion_duration_h;
      }
      out.push_back({session.time_h, regimen.route, amount_mg, duration_h, 0, static_cast<int>(s)});
    }
  }
}

void expand_recorded_doses(const Regimen& regimen, const RecordedDose* records, std::size_t n,
                           std::vector<Session>& sessions, std::vector<Dose>& out) {
  sessions.clear();
  out.clear();
  for (std::size_t s = 0; s < n; ++s) {
    const RecordedDose& r = records[s];
    const int session = static_cast<int>(s);
    if (regimen.route == Route::intranasal) {
      // The study loader checked that AMT is a whole number of devices (or 0, a placebo spray).
      const int devices = std::max(1, static_cast<int>(std::lround(r.amount_mg / regimen.device_dose_mg)));
      sessions.push_back({r.time_h, r.amount_mg, devices});
      for (int d = 0; d < devices; ++d) {
        out.push_back({r.time_h + d * regimen.device_interval_h, regimen.route, r.amount_mg / devices, 0.0, d, session});
      }
      continue;
    }
    sessions.push_back({r.time_h, r.amount_mg, 1});
    Route route = regimen.route;
    // NONMEM's convention: RATE (or DUR) makes an IV record an infusion, its absence a bolus.
    if (route == Route::iv_infusion || route == Route::iv_bolus) route = r.duration_h > 0.0 ? Route::iv_infusion : Route::iv_bolus;
    out.push_back({r.time_h, route, r.amount_mg, route == Route::iv_infusion ? r.duration_h : 0.0, 0, session});
  }
}

double regimen_end_h(const Regimen& regimen, const std::vector<Session>& sessions) {
  if (sessions.empty()) return regimen.start_h;
  const Session& last = sessions.back();
  double extra_h = 0.0;
  if (regimen.route == Route::iv_infusion && regimen.infusion_duration_h > 0.0) extra_h = regimen.infusion_duration_h;
  if (regimen.route == Route::intranasal) extra_h = (last.devices - 1) * regimen.device_interval_h;
  return last.time_h + extra_h;
}

}  // namespace ketasim::pk
