// Dosing from a NONMEM-style event data set (arms[i].regimen.data, docs/config.md): the loader's
// reading of records (RATE, ADDL/II, '.', quoted cells, extra columns), the doses they become, and
// every kind of bad file as an input error naming the file, line, CSV column and what was expected.
// The end-to-end match with equivalent YAML regimens is tests/python/test_event_data.py.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "ketasim/population/population_file.hpp"
#include "ketasim/trial/study.hpp"

using namespace ketasim;
using Catch::Contains;

namespace {
const std::string kData = std::string(KETASIM_TEST_DATA_DIR);

std::string error_of(const std::string& config) {
  try {
    trial::load_study(kData + "/bad/" + config);
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST_CASE("An event data set: one patient per ID, doses with ADDL laid out, extra columns kept", "[population][event_data]") {
  const auto t = population::load_event_csv(kData + "/events/three.csv");
  REQUIRE(t.events);
  REQUIRE(t.rows() == 3);
  REQUIRE(t.doses.size() == 3);
  const int id = t.column("ID"), wt = t.column("WT"), sex = t.column("SEX");
  CHECK(t.values[0][id] == 101.0);
  CHECK(t.values[1][id] == 102.0);
  CHECK(t.values[2][id] == 103.0);
  // The quoted "Oslo, NO" is one cell: WT and SEX did not shift.
  CHECK(t.values[0][wt] == 70.0);
  CHECK(t.values[1][sex] == 1.0);
  CHECK(t.column("SITE") >= 0);
  CHECK(t.row_line == std::vector<int>{2, 6, 8});
  // 101: three records with RATE 52.5 mg/h -> 35 mg over 2/3 h; the observation row is not a dose.
  REQUIRE(t.doses[0].size() == 3);
  for (std::size_t k = 0; k < 3; ++k) {
    CHECK(t.doses[0][k].time_h == 84.0 * k);
    CHECK(t.doses[0][k].amount_mg == 35.0);
    CHECK(t.doses[0][k].duration_h == Approx(2.0 / 3.0).epsilon(1e-15));
    CHECK(t.doses[0][k].cmt == 1);
  }
  // 102: one record, ADDL 3, II 168 h -> four weekly doses, the three extra ones marked additional.
  REQUIRE(t.doses[1].size() == 4);
  for (std::size_t k = 0; k < 4; ++k) {
    CHECK(t.doses[1][k].time_h == 168.0 * k);
    CHECK(t.doses[1][k].additional == (k > 0));
    CHECK(t.doses[1][k].line == 6);
  }
  // 103: boluses (RATE '.' or 0), CMT '.', an EVID 2 record skipped, ADDL 1 on the last record.
  REQUIRE(t.doses[2].size() == 4);
  const double times[] = {0, 72, 240, 480}, amounts[] = {20, 20, 30, 30};
  for (std::size_t k = 0; k < 4; ++k) {
    CHECK(t.doses[2][k].time_h == times[k]);
    CHECK(t.doses[2][k].amount_mg == amounts[k]);
    CHECK(t.doses[2][k].duration_h == 0.0);
  }
  CHECK(t.doses[2][0].cmt == 0);
}

TEST_CASE("Recorded doses become the administrations a regimen would give", "[pk][event_data]") {
  pk::Regimen iv;
  iv.route = pk::Route::iv_infusion;
  iv.data_path = "x.csv";
  const std::vector<pk::RecordedDose> records = {{0.0, 35.0, 2.0 / 3.0, 1, 2}, {72.0, 20.0, 0.0, 0, 3}};
  std::vector<pk::Session> sessions;
  std::vector<pk::Dose> doses;
  pk::expand_recorded_doses(iv, records.data(), records.size(), sessions, doses);
  REQUIRE(doses.size() == 2);
  CHECK(doses[0].route == pk::Route::iv_infusion);
  CHECK(doses[0].infusion_duration_h == 2.0 / 3.0);
  CHECK(doses[1].route == pk::Route::iv_bolus);  // no RATE/DUR: NONMEM's bolus
  CHECK(doses[1].session == 1);
  REQUIRE(sessions.size() == 2);
  CHECK(sessions[1].time_h == 72.0);
  CHECK(sessions[1].dose == 20.0);
  // Intranasal: 84 mg = three 28-mg devices 5 minutes apart, as a YAML session of 84 mg.
  pk::Regimen nasal;
  nasal.route = pk::Route::intranasal;
  nasal.data_path = "x.csv";
  const pk::RecordedDose spray{24.0, 84.0, 0.0, 0, 2};
  pk::expand_recorded_doses(nasal, &spray, 1, sessions, doses);
  REQUIRE(doses.size() == 3);
  CHECK(sessions.front().devices == 3);
  for (int d = 0; d < 3; ++d) {
    CHECK(doses[d].time_h == 24.0 + d * nasal.device_interval_h);
    CHECK(doses[d].amount_mg == 28.0);
    CHECK(doses[d].device == d);
  }
}

TEST_CASE("Bad event data sets name the file, line, column and what was expected", "[population][event_data]") {
  struct Case {
    const char* config;
    std::vector<std::string> fragments;
  };
  const std::vector<Case> cases = {
      {"config-events-unknown-cmt.yaml", {"bad-unknown-cmt.csv:3:6: key 'CMT'", "unknown CMT 7", "compartments 1 to 4"}},
      {"config-events-wrong-cmt.yaml", {"bad-wrong-cmt.csv:3:6: key 'CMT'", "CMT 2 (peripheral_S)", "expected CMT 1 (central_S)"}},
      {"config-events-negative-amt.yaml", {"bad-negative-amt.csv:3:3: key 'AMT'", "expected AMT >= 0 (mg"}},
      {"config-events-rate-without-amt.yaml", {"bad-rate-without-amt.csv:3:4: key 'RATE'", "RATE 52.5 with AMT 0"}},
      {"config-events-evid-reset.yaml", {"bad-evid-reset.csv:3:5: key 'EVID'", "EVID 4 (reset) is not supported"}},
      {"config-events-evid-unknown.yaml", {"bad-evid-unknown.csv:3:5: key 'EVID'", "expected EVID 0 (observation), 1 (dose) or 2"}},
      {"config-events-steady-state.yaml", {"bad-steady-state.csv:2:9: key 'SS'", "steady-state doses (SS 1) are not supported"}},
      {"config-events-id-not-contiguous.yaml", {"bad-id-not-contiguous.csv:4:1: key 'ID'", "ID 1 are not contiguous", "line 2"}},
      {"config-events-time-decreasing.yaml", {"bad-time-decreasing.csv:4:2: key 'TIME'", "TIME decreases within ID 1", "line 3"}},
      {"config-events-dose-after-end.yaml", {"bad-dose-after-end.csv:3:2: key 'TIME'", "after the end of the study", "672 h"}},
      {"config-events-text-in-time.yaml", {"bad-text-in-time.csv:3:2: key 'TIME'", "expected a number or '.' (missing), found '1d'"}},
      {"config-events-missing-amt-column.yaml", {"bad-missing-amt-column.csv:1: key 'AMT'", "required column AMT"}},
      {"config-events-covariate-changes.yaml", {"bad-covariate-changes.csv:3:10: key 'WT'", "WT changes within ID 1", "time-varying"}},
      {"config-events-addl-without-ii.yaml", {"bad-addl-without-ii.csv:2:7: key 'II'", "ADDL 3 needs an interval II > 0"}},
      {"config-events-rate-from-model.yaml", {"bad-rate-from-model.csv:2:4: key 'RATE'", "RATE -2", "not supported"}},
      {"config-events-with-population-file.yaml", {"config-events-with-population-file.yaml:3:", "cohort.population_file", "put covariates"}},
      {"config-events-two-files.yaml", {"config-events-two-files.yaml:10:", "arms[1].regimen.data", "must name the same file"}},
      {"config-events-nasal-rate.yaml", {"three.csv:2:4: key 'RATE'", "RATE applies to IV doses", "route intranasal"}},
  };
  for (const auto& c : cases) {
    const std::string message = error_of(c.config);
    INFO(c.config << ":\n" << message);
    CHECK(!message.empty());
    for (const auto& f : c.fragments) CHECK_THAT(message, Contains(f));
  }
}

TEST_CASE("ADDL doses after the end of the study are not given, a record there is an error", "[population][event_data]") {
  // three.csv's 102 has ADDL 3 weekly from 0 h: with a 15-day study only 0, 168 and 336 h remain.
  const trial::Study study = trial::load_study(
      kData + "/events/three.yaml", {trial::parse_override("study.duration=15d"), trial::parse_override("endpoints.visits=[0d, 7d, 14d]"),
                                     trial::parse_override("endpoints.primary_visit=14d")});
  REQUIRE(study.population);
  const auto& doses = study.population->doses[1];
  REQUIRE(doses.size() == 3);
  CHECK(doses.back().time_h == 336.0);
  // ... but 103's record at 240 h is past a 9-day study: an error, not a silently dropped dose.
  try {
    trial::load_study(kData + "/events/three.yaml", {trial::parse_override("study.duration=9d"), trial::parse_override("endpoints.visits=[0d, 7d]"),
                                                     trial::parse_override("endpoints.primary_visit=7d")});
    FAIL("expected an input error");
  } catch (const InputError& e) {
    CHECK_THAT(std::string(e.what()), Contains("three.csv:11:2: key 'TIME': a dose at TIME 240 h is after the end"));
  }
}

TEST_CASE("after_each_dose with an event data set keeps the time axis bounded", "[population][event_data]") {
  // 201 distinct dose times (ADDL 200, II 1 h) x 5000 offsets > 1e6 points: an error, not a
  // gigabyte time axis; outputs.times is the way to ask for many times.
  const std::string csv = "/tmp/ketasim_events_many_" + std::to_string(::getpid()) + ".csv";
  {
    std::ofstream out(csv);
    out << "ID,TIME,AMT,II,ADDL,WT\n1,0,10,1,200,70\n";
  }
  std::string offsets = "[";
  for (int k = 0; k < 5000; ++k) offsets += k ? ", 1h" : "1h";
  offsets += "]";
  std::string message;
  try {
    trial::load_study(kData + "/events/three.yaml",
                      {trial::parse_override("arms.0.regimen.data=" + csv), trial::parse_override("outputs.after_each_dose=" + offsets)});
  } catch (const InputError& e) {
    message = e.what();
  }
  std::remove(csv.c_str());
  CHECK_THAT(message, Contains("outputs.after_each_dose") && Contains("201 distinct dose times") && Contains("use outputs.times"));
}
