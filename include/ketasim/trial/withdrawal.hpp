#pragma once
// Randomized withdrawal (config block `withdrawal:`, docs/config.md), as in SUSTAIN-1: two arms
// give the same sessions until the randomization time `at` and differ after it (one continues,
// one stops, e.g. a placebo spray). At `at`, each patient's own visits select them into a group
// (stable remitters, stable responders), and selected patients are randomized to continue or stop.
// Common random numbers make the two arms the same patients, so up to `at` their scores agree and
// after it each selected patient has an outcome under both; the randomized (parallel-group)
// comparison uses the arm the patient was assigned to. The endpoint is relapse after
// randomization: the endpoint rules' relapse score at `relapse.consecutive_visits` consecutive
// visits after `at`.
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "ketasim/core/yaml_input.hpp"
#include "ketasim/trial/config.hpp"
#include "ketasim/trial/endpoint_rules.hpp"
#include "ketasim/trial/survival.hpp"

namespace ketasim::trial {

// Selected when, of the last `visits` visits at or before `at`, at least `at_least` meet the rule
// and the last `last` all do (a missing score does not meet it).
struct WithdrawalGroup {
  std::string name;
  bool on_remission = true;  // the rule: remission (else response)
  int visits = 1;
  int at_least = 1;
  int last = 1;
};

struct WithdrawalSpec {
  double at_d = 0.0;
  int at_visit = -1;  // the visit at `at`
  std::string continue_arm, stop_arm;
  int continue_index = -1, stop_index = -1;
  double stop_probability = 0.5;  // ratio [continue, stop] as a probability of stopping
  std::vector<int> ratio{1, 1};
  std::vector<WithdrawalGroup> groups;  // a patient belongs to the first group whose rule holds
  bool others_open_label = false;       // non-selected patients: leave (false) or continue open label
  SourceLocation location;
};

// Reads `withdrawal:` of a validated config into `problems` (file, key, line): arms that exist and
// give identical sessions before `at`, `at` one of the visits, groups that fit the visits before it.
WithdrawalSpec parse_withdrawal(const StudyConfig& config, Diagnostics& problems);

// The first group whose rule the scores meet (-1: none). `madrs` holds the patient's stored
// observed scores per visit (NaN after leaving the study).
int withdrawal_group(const WithdrawalSpec& spec, const EndpointRules& rules, int n_visits, double baseline,
                     const float* madrs);

// Relapse after randomization: days from `at` to the visit at which the relapse score has held at
// the rule's number of consecutive visits after `at` (event 1); otherwise censored at the last
// visit after `at` with a score (0 d when there is none).
void withdrawal_relapse(const WithdrawalSpec& spec, const EndpointRules& rules, const double* visits_d, int n_visits,
                        const float* madrs, double& time_d, std::int8_t& event);

// What a run found, per group: patients randomized to each arm and their relapses, Kaplan-Meier
// medians of time to relapse, and Cox / log-rank of stop vs continue (the file holds the same).
struct WithdrawalGroupResult {
  std::string name;
  std::array<long long, 2> randomized{}, relapses{};  // [continue, stop]
  std::array<Quantile, 2> median{};
  CoxResult cox{};  // stop vs continue
};

struct WithdrawalResult {
  std::vector<WithdrawalGroupResult> groups;
  long long not_selected = 0;  // patients ok in both arms but in no group
};

}  // namespace ketasim::trial
