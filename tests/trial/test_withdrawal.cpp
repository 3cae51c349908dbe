// Unit tests of src/trial/withdrawal.cpp: the selection and relapse rules on hand-written score
// sequences (expected values worked out by hand from docs/config.md, `withdrawal`), and the
// block's validation against the study.
#include "ketasim/trial/withdrawal.hpp"

#include <catch2/catch.hpp>
#include <cmath>
#include <vector>

using namespace ketasim;
using namespace ketasim::trial;

namespace {

// Visits 0, 7, ..., 70 d; randomization at day 42 (visit 6).
const std::vector<double> kVisits{0, 7, 14, 21, 28, 35, 42, 49, 56, 63, 70};

WithdrawalSpec spec_with(std::vector<WithdrawalGroup> groups) {
  WithdrawalSpec s;
  s.at_d = 42.0;
  s.at_visit = 6;
  s.groups = std::move(groups);
  return s;
}

}  // namespace

TEST_CASE("withdrawal_group: at least k of the last n visits, the last m all", "[withdrawal]") {
  EndpointConfig c;  // remission <= 12, response >= 50%
  const EndpointRules rules(c);
  const WithdrawalSpec s = spec_with({{"stable_remitters", true, 4, 3, 2}, {"stable_responders", false, 2, 2, 2}});
  const int n = static_cast<int>(kVisits.size());
  auto group = [&](std::vector<float> madrs) { return withdrawal_group(s, rules, n, 36.0, madrs.data()); };
  // Visits 3-6 (days 21-42) are the window: 10, 20, 12, 11 -> 3 of 4 remitted, the last two too.
  CHECK(group({36, 30, 20, 10, 20, 12, 11, 30, 30, 30, 30}) == 0);
  // 20, 10, 12, 13: 2 of the last 2 not both remitted (13 at day 42) -> not a stable remitter;
  // response at days 35 and 42 (12 and 13 <= 18) -> stable responder.
  CHECK(group({36, 30, 20, 20, 10, 12, 13, 30, 30, 30, 30}) == 1);
  // 3 of 4 remitted but day 35 is not (excursion at the second-to-last visit): responder.
  CHECK(group({36, 30, 20, 10, 11, 14, 12, 30, 30, 30, 30}) == 1);
  // Response at day 42 only (18 = exactly 50% of 36 counts), not day 35 (19): nobody.
  CHECK(group({36, 30, 20, 10, 11, 19, 18, 30, 30, 30, 30}) == -1);
  // A missing score (left the study) fails the rule.
  CHECK(group({36, 30, 20, 10, 11, 12, NAN, NAN, NAN, NAN, NAN}) == -1);
  // Scores after randomization do not matter.
  CHECK(group({36, 30, 20, 10, 20, 12, 11, 60, 60, 60, 60}) == 0);
}

TEST_CASE("withdrawal_relapse: consecutive visits after randomization, censoring", "[withdrawal]") {
  EndpointConfig c;  // relapse: >= 22 at 2 consecutive visits
  const EndpointRules rules(c);
  const WithdrawalSpec s = spec_with({{"g", true, 1, 1, 1}});
  const int n = static_cast<int>(kVisits.size());
  auto relapse = [&](std::vector<float> madrs) {
    double t = -1;
    std::int8_t e = -1;
    withdrawal_relapse(s, rules, kVisits.data(), n, madrs.data(), t, e);
    return std::make_pair(t, static_cast<int>(e));
  };
  // 22 at day 49 and 56: relapse timed at the visit that completes the run, 14 d after day 42.
  CHECK(relapse({36, 30, 20, 10, 10, 10, 25, 22, 22, 10, 10}) == std::make_pair(14.0, 1));
  // The visit at randomization itself (25) does not start the run.
  CHECK(relapse({36, 30, 20, 10, 10, 10, 25, 22, 10, 22, 10}) == std::make_pair(28.0, 0));
  // 21 is below the threshold: never; censored at the last visit, 28 d after day 42.
  CHECK(relapse({36, 30, 20, 10, 10, 10, 10, 21, 21, 21, 21}) == std::make_pair(28.0, 0));
  // Left after day 56: censored at the last scored visit (14 d).
  CHECK(relapse({36, 30, 20, 10, 10, 10, 10, 30, 10, NAN, NAN}) == std::make_pair(14.0, 0));
  // Left right after randomization: censored at 0 d.
  CHECK(relapse({36, 30, 20, 10, 10, 10, 10, NAN, NAN, NAN, NAN}) == std::make_pair(0.0, 0));
}
