// Time-to-event endpoints derived from EndpointRules' output (src/trial/time_to_event.cpp), on
// hand-worked patients: each expected time is read off the visit table in the comment above it.
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "../../src/trial/time_to_event.hpp"
#include "ketasim/trial/endpoint_rules.hpp"

using namespace ketasim::trial;

namespace {

struct Patient {
  std::vector<float> madrs;
  std::vector<std::int8_t> response, remission;
  PatientEndpoints out;
  double time[3];
  std::int8_t event[3];
};

// Runs the one EndpointRules on scores (no dropout unless stay < its probability), then derives.
Patient run(const EndpointConfig& c, const std::vector<double>& visits, double baseline, const std::vector<double>& scores,
            const std::vector<double>& stay) {
  Patient p;
  const int n = static_cast<int>(visits.size());
  p.madrs.assign(n, NAN);
  p.response.assign(n, 0);
  p.remission.assign(n, 0);
  p.out.madrs = p.madrs.data();
  p.out.response_by_visit = p.response.data();
  p.out.remission_by_visit = p.remission.data();
  EndpointRules rules(c);
  rules.evaluate(visits.data(), n, n - 1, baseline, scores.data(), stay.data(), p.out);
  derive_event_times(visits.data(), n, p.out, p.time, p.event);
  return p;
}

}  // namespace

TEST_CASE("time to response, remission and relapse from the endpoint rules' flags") {
  EndpointConfig c;  // response: >= 50% reduction; remission <= 12; relapse >= 22 at 2 consecutive visits
  const std::vector<double> visits{0, 7, 14, 21, 28, 35, 42};
  const std::vector<double> stay(visits.size(), 1.0);

  SECTION("responder who remits and relapses") {
    // day:    0   7  14  21  28  35  42
    // score: 36  20  18  12  22  25  30   response (<= 18) first at 14, remission (<= 12) at 21,
    //                                      relapse run 22, 25 after response: met at 35 -> 35 - 14 = 21 d
    const Patient p = run(c, visits, 36, {36, 20, 18, 12, 22, 25, 30}, stay);
    CHECK(p.out.relapse_visit == 5);
    CHECK(p.time[0] == 14.0);
    CHECK(p.event[0] == 1);
    CHECK(p.time[1] == 21.0);
    CHECK(p.event[1] == 1);
    CHECK(p.time[2] == 21.0);
    CHECK(p.event[2] == 1);
  }
  SECTION("non-responder: censored at study end, not at risk of relapse") {
    const Patient p = run(c, visits, 36, {36, 30, 30, 30, 30, 30, 30}, stay);
    CHECK(p.time[0] == 42.0);
    CHECK(p.event[0] == 0);
    CHECK(p.time[1] == 42.0);
    CHECK(p.event[1] == 0);
    CHECK(std::isnan(p.time[2]));
    CHECK(p.event[2] == -1);
  }
  SECTION("responder at the last visit: relapse censored at 0 days after response") {
    const Patient p = run(c, visits, 36, {36, 30, 30, 30, 30, 30, 18}, stay);
    CHECK(p.time[0] == 42.0);
    CHECK(p.event[0] == 1);
    CHECK(p.time[2] == 0.0);
    CHECK(p.event[2] == 0);
  }
  SECTION("dropout: censored at the last observed visit, even with LOCF flags after it") {
    EndpointConfig locf = c;
    locf.dropout_per_week = 1.0;
    locf.dropout_locf = true;
    // Leaves before day 28 (uniform 0 < any probability); responded at 14 and remits never.
    std::vector<double> leave{1, 1, 1, 1, 0, 1, 1};
    const Patient p = run(locf, visits, 36, {36, 20, 18, 15, 10, 10, 10}, leave);
    CHECK(p.out.dropout_time_d == 28.0);
    CHECK(p.response[6] == 1);  // carried forward by LOCF ...
    CHECK(p.time[0] == 14.0);   // ... but the event is the observed one
    CHECK(p.event[0] == 1);
    CHECK(p.time[1] == 21.0);   // remission never observed: censored at day 21, the last visit attended
    CHECK(p.event[1] == 0);
    CHECK(p.time[2] == 7.0);    // 21 - 14
    CHECK(p.event[2] == 0);
  }
  SECTION("relapse before a second response is timed from the first response") {
    // response at 7 (18 <= 18), relapse run 22, 22 at 14, 21 -> met at 21: 14 d
    const Patient p = run(c, visits, 36, {36, 18, 22, 22, 10, 10, 10}, stay);
    CHECK(p.time[2] == 14.0);
    CHECK(p.event[2] == 1);
    CHECK(p.time[1] == 28.0);
  }
}

TEST_CASE("the event-time grid holds day 0, the visits and their differences") {
  const std::vector<double> grid = event_time_grid({0, 7, 14, 30});
  CHECK(grid == std::vector<double>{0, 7, 14, 16, 23, 30});
}
