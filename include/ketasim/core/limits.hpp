#pragma once
// Limits on what a run may ask for, in one place (docs/robustness.md lists them with the reasons).
// Each is far beyond any real study and exists so that a typo or a hostile input is refused up
// front with a message naming the limit, instead of allocating until the machine runs out of
// memory or running for days.
#include <cstdint>
#include <string>

namespace ketasim::limits {

// Patients per arm (`cohort.patients`, `--patients`). A million patients per arm take ~8 minutes
// per arm on 2 cores; 10^8 would take half a day per arm and write > 10 GB per arm even without
// concentrations.
inline constexpr long long kMaxPatients = 100'000'000;

// Worker threads (`--threads`). More threads than cores only add overhead; each costs oneTBB a
// stack reservation.
inline constexpr int kMaxThreads = 256;

// Largest seed (`--seed`, `study.seed`): the results file stores it as a signed 64-bit integer.
inline constexpr std::int64_t kMaxSeed = INT64_MAX;

// Study length (`study.duration`): 10 years.
inline constexpr double kMaxStudyDurationH = 10.0 * 365.0 * 24.0;
// Points of the concentration grid per patient (`study.duration` / `outputs.time_step`): every
// worker holds grid x states doubles per patient; 12 weeks hourly is 2,016 points.
inline constexpr long long kMaxGridPoints = 1'000'000;
// Dosing sessions per arm: a session every day for 10 years is 3,650.
inline constexpr long long kMaxSessions = 10'000;
// Shortest dosing interval (`every`, `ii`): 1 minute.
inline constexpr double kMinDosingIntervalH = 1.0 / 60.0;
// Largest dose per session: 10 g, or 100 mg/kg (ketamine anaesthesia is 1-4.5 mg/kg). A unit slip
// (mg for ug) or an overflow (1e308) is caught here rather than as NaN concentrations.
inline constexpr double kMaxDoseMg = 10'000.0;
inline constexpr double kMaxDoseMgPerKg = 100.0;
// Devices in one intranasal session (the esketamine label uses up to 3).
inline constexpr int kMaxDevicesPerSession = 10;

// What a person can be, whether a covariate comes from a CSV row or from the config's
// distributions (heaviest recorded human 635 kg, oldest 122 y).
struct Range {
  double min, max;
  std::string text() const;  // "0.5 to 700"
};
inline constexpr Range kWeightKg{0.5, 700.0};
inline constexpr Range kAgeY{0.0, 130.0};
// MADRS total score (ten items scored 0-6).
inline constexpr Range kMadrs{0.0, 60.0};

// Shortest decimal text of a limit ("1e+08" -> "100000000", "0.5").
std::string format(double value);

}  // namespace ketasim::limits
