// Regimen parsing and expansion: session times are sums of exact binary-representable hours (84, 168,
// 336...), so they are compared exactly; amounts to 1e-12 relative.
#include <catch2/catch.hpp>

#include <memory>
#include <vector>

#include "ketasim/pk/regimen.hpp"

using namespace ketasim;
using namespace ketasim::pk;
using Catch::Contains;

namespace {
struct Parsed {
  Regimen regimen;
  std::vector<std::string> errors;
};
Parsed parse(const std::string& text) {
  const YamlDocument doc = parse_yaml_text(text, "r.yaml");
  Diagnostics diagnostics;
  const InputNode root(doc.root, std::make_shared<const std::string>("r.yaml"), "regimen", &diagnostics);
  Parsed p{parse_regimen(root), diagnostics.messages()};
  return p;
}
std::vector<double> times_of(const std::vector<Session>& s) {
  std::vector<double> t;
  for (const auto& x : s) t.push_back(x.time_h);
  return t;
}
std::vector<double> every(double start, double step, int n) {
  std::vector<double> t;
  for (int i = 0; i < n; ++i) t.push_back(start + i * step);
  return t;
}
std::vector<double> concat(std::vector<double> a, const std::vector<double>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}
}  // namespace

TEST_CASE("Schedule phases: twice weekly, weekly, every other week", "[pk][regimen]") {
  const Parsed p = parse("route: iv_infusion\ndose: 0.5 mg/kg\ninfusion_duration: 40 min\n"
                         "schedule: [{every: 3.5d, count: 8}, {every: 7d, count: 4}, {every: 14d, until: 84d}]\n");
  REQUIRE(p.errors.empty());
  // 8 twice weekly (0..588 h), then weekly from 672 (one 3.5-d interval later), 4 doses to 1176,
  // then every other week from 1344 while t < 2016.
  const auto expected = concat(concat(every(0, 84, 8), every(672, 168, 4)), every(1344, 336, 2));
  CHECK(times_of(expand_sessions(p.regimen)) == expected);
  CHECK(p.regimen.dose_per_kg);
  CHECK(p.regimen.infusion_duration_h == Approx(40.0 / 60.0).epsilon(1e-15));
}

TEST_CASE("Induction then maintenance with until, NONMEM ii/addl, start offset", "[pk][regimen]") {
  const Parsed a = parse("route: iv_bolus\ndose: 35 mg\nstart: 1d\n"
                         "schedule: [{every: 3.5d, count: 8}, {every: 14d, until: 84d}]\n");
  REQUIRE(a.errors.empty());
  // The first phase starts at `start` (24 h); until is study time, so 84 d ends the maintenance.
  const auto sessions = expand_sessions(a.regimen);
  CHECK(sessions.front().time_h == 24.0);
  CHECK(times_of(sessions) == concat(every(24, 84, 8), every(696, 336, 4)));
  const Parsed b = parse("route: iv_bolus\ndose: 35 mg\nschedule: [{ii: 24h, addl: 4}]\n");
  REQUIRE(b.errors.empty());
  CHECK(times_of(expand_sessions(b.regimen)) == every(0, 24, 5));  // addl 4 = 5 doses
}

TEST_CASE("Phase dose override and intranasal devices 5 min apart", "[pk][regimen]") {
  const Parsed p = parse("route: intranasal\ndose: 84 mg\n"
                         "schedule: [{every: 3.5d, count: 1, dose: 56 mg}, {every: 3.5d, count: 2}]\n");
  REQUIRE(p.errors.empty());
  const auto sessions = expand_sessions(p.regimen);
  REQUIRE(sessions.size() == 3);
  CHECK(sessions[0].devices == 2);
  CHECK(sessions[0].dose == 56.0);
  CHECK(sessions[1].devices == 3);
  std::vector<Dose> doses;
  expand_doses(p.regimen, sessions, 70.0, nullptr, doses);
  REQUIRE(doses.size() == 8);  // 2 + 3 + 3 devices
  CHECK(doses[1].time_h == Approx(5.0 / 60.0).epsilon(1e-15));
  CHECK(doses[1].device == 1);
  CHECK(doses[4].time_h == Approx(84.0 + 10.0 / 60.0).epsilon(1e-15));
  CHECK(doses[4].device == 2);
  for (const auto& d : doses) CHECK(d.amount_mg == Approx(28.0).epsilon(1e-12));
  CHECK(regimen_end_h(p.regimen, sessions) == Approx(168.0 + 10.0 / 60.0).epsilon(1e-15));
}

TEST_CASE("Per-kg dosing and the adherence skip vector", "[pk][regimen]") {
  const Parsed p = parse("route: iv_infusion\ndose: 0.5 mg/kg\ninfusion_duration: 40 min\nadherence: 0.8\n"
                         "schedule: [{every: 7d, count: 4}]\n");
  REQUIRE(p.errors.empty());
  CHECK(p.regimen.adherence_probability == 0.8);
  const auto sessions = expand_sessions(p.regimen);
  std::vector<Dose> doses;
  expand_doses(p.regimen, sessions, 82.0, nullptr, doses);
  REQUIRE(doses.size() == 4);
  CHECK(doses[0].amount_mg == Approx(41.0).epsilon(1e-12));
  CHECK(doses[0].infusion_duration_h == Approx(40.0 / 60.0).epsilon(1e-15));
  const std::vector<char> taken{1, 0, 1, 0};
  expand_doses(p.regimen, sessions, 82.0, &taken, doses);
  REQUIRE(doses.size() == 2);
  CHECK(doses[0].time_h == 0.0);
  CHECK(doses[1].time_h == 336.0);
  CHECK(doses[1].session == 2);  // keeps the scheduled session index
}

TEST_CASE("Regimen errors name the key", "[pk][regimen]") {
  auto errors = [](const std::string& text) {
    std::string all;
    for (const auto& m : parse(text).errors) all += m + "\n";
    return all;
  };
  CHECK_THAT(errors("route: iv_infusion\ndose: 10 mg\ninfusion_duration: 2d\nschedule: [{every: 1d, count: 2}]\n"),
             Contains("r.yaml:3:") && Contains("regimen.infusion_duration") && Contains("longer than the dosing interval"));
  CHECK_THAT(errors("route: iv_bolus\ndose: 10 mg\nschedule: [{every: 1d, count: 2, until: 3d}]\n"),
             Contains("exactly one of count or until"));
  CHECK_THAT(errors("route: intranasal\ndose: 80 mg\nschedule: [{every: 1d, count: 2}]\n"),
             Contains("r.yaml:2:") && Contains("devices x device_dose"));
  CHECK_THAT(errors("route: iv_bolus\ndose: 10 mg\nschedule: [{every: 1d, count: 2, ii: 1d, addl: 1}]\n"),
             Contains("regimen.schedule[0]") && Contains("not both"));
  CHECK_THAT(errors("route: iv_bolus\ndose: 10 mgs\nschedule: [{every: 1d, count: 1}]\n"),
             Contains("r.yaml:2:") && Contains("regimen.dose"));
}

// Regression: a missing required key once gave a yaml-cpp "zombie" node whose getters threw
// YAML::InvalidNode, so `ketasim` exited 2 ("failure: invalid node") instead of 1 with the key.
TEST_CASE("A phase with ii but no addl is reported, not thrown", "[pk][regimen]") {
  Parsed p;
  REQUIRE_NOTHROW(p = parse("route: iv_bolus\ndose: 10 mg\nschedule: [{ii: 1d}]\n"));
  REQUIRE(p.errors.size() >= 1);
  CHECK_THAT(p.errors[0], Contains("regimen.schedule[0].addl") && Contains("required key is missing"));
}

TEST_CASE("Dose 0 is a placebo session: valid, and nothing enters the body", "[pk][regimen]") {
  const Parsed iv = parse("route: iv_infusion\ndose: 0 mg/kg\ninfusion_duration: 40 min\n"
                          "schedule: [{every: 3.5d, count: 4}]\n");
  CHECK(iv.errors.empty());
  const auto sessions = expand_sessions(iv.regimen);
  CHECK(sessions.size() == 4);
  std::vector<Dose> doses;
  expand_doses(iv.regimen, sessions, 80.0, nullptr, doses);
  for (const auto& d : doses) CHECK(d.amount_mg == 0.0);

  // A placebo spray may name its devices; the devices x device_dose check is for real doses.
  const Parsed spray = parse("route: intranasal\ndose: 0 mg\ndevices: 2\nschedule: [{every: 7d, count: 2}]\n");
  CHECK(spray.errors.empty());
  expand_doses(spray.regimen, expand_sessions(spray.regimen), 80.0, nullptr, doses);
  CHECK(doses.size() == 4);
  for (const auto& d : doses) CHECK(d.amount_mg == 0.0);

  const Parsed negative = parse("route: iv_infusion\ndose: -1 mg/kg\ninfusion_duration: 40 min\n"
                                "schedule: [{every: 3.5d, count: 4}]\n");
  REQUIRE(negative.errors.size() == 1);
  CHECK_THAT(negative.errors[0], Contains("regimen.dose") && Contains("expected a dose >= 0"));
}

// docs/config.md: a phase starts one interval *of the previous phase* after that phase's last dose,
// and `until` is study time since day 0 (not time since the first dose). Each case below tells
// the two readings apart; the values are worked by hand.
TEST_CASE("Phase start and until: the documented clock", "[pk][regimen]") {
  // Previous phase's interval: doses 0, 84 h, then the next phase starts at 84 + 84 = 168 h
  // (its own 14-day interval would give 84 + 336 = 420 h).
  const Parsed a = parse("route: iv_bolus\ndose: 35 mg\nschedule: [{every: 3.5d, count: 2}, {every: 14d, count: 2}]\n");
  REQUIRE(a.errors.empty());
  CHECK(times_of(expand_sessions(a.regimen)) == std::vector<double>{0, 84, 168, 504});
  // until 10 d of study time with a 2-day start: 48, 120, 192 h (240 is not < 240); counted from
  // the first dose it would also give 264 h.
  const Parsed b = parse("route: iv_bolus\ndose: 35 mg\nstart: 2d\nschedule: [{every: 3d, until: 10d}]\n");
  REQUIRE(b.errors.empty());
  CHECK(times_of(expand_sessions(b.regimen)) == std::vector<double>{48, 120, 192});
}

TEST_CASE("A phase-level intranasal dose is checked like the regimen's dose", "[pk][regimen][robust]") {
  const std::string head = "route: intranasal\ndose: 84 mg\nschedule:\n";
  SECTION("1e6 mg is refused, not laid out as 35,714 devices") {
    const Parsed p = parse(head + "  - {every: 7d, count: 2, dose: 1e6 mg}\n");
    REQUIRE(p.errors.size() == 1);
    CHECK_THAT(p.errors[0], Contains("regimen.schedule[0].dose") && Contains("at most 10000 mg"));
  }
  SECTION("a dose that is not whole devices") {
    const Parsed p = parse(head + "  - {every: 7d, count: 2, dose: 30 mg}\n");
    REQUIRE(p.errors.size() == 1);
    CHECK_THAT(p.errors[0], Contains("whole number of devices of 28 mg"));
  }
  SECTION("more devices than a session holds") {
    const Parsed p = parse(head + "  - {every: 7d, count: 2, dose: 336 mg}\n");
    REQUIRE(p.errors.size() == 1);
    CHECK_THAT(p.errors[0], Contains("12 devices per session; at most 10"));
  }
  SECTION("a valid phase dose gives its devices") {
    const Parsed p = parse(head + "  - {every: 7d, count: 1, dose: 56 mg}\n  - {every: 7d, count: 1}\n");
    REQUIRE(p.errors.empty());
    const auto sessions = expand_sessions(p.regimen);
    REQUIRE(sessions.size() == 2);
    CHECK(sessions[0].devices == 2);
    CHECK(sessions[1].devices == 3);
  }
}

TEST_CASE("Absurd doses, intervals and counts are refused up front", "[pk][regimen][robust]") {
  CHECK_THAT(parse("route: iv_bolus\ndose: 1e308 mg/kg\nschedule: [{every: 7d, count: 1}]\n").errors.at(0),
             Contains("at most 100 mg/kg"));
  CHECK_THAT(parse("route: iv_bolus\ndose: 1 mg\nschedule: [{every: 1e-300 h, until: 84d}]\n").errors.at(0),
             Contains("at least 1 min"));
  CHECK_THAT(parse("route: iv_bolus\ndose: 1 mg\nschedule: [{every: 1d, count: 2000000000}]\n").errors.at(0),
             Contains("at most 10000 doses"));
  CHECK_THAT(parse("route: intranasal\ndose: 84 mg\ndevices: 100000\nschedule: [{every: 7d, count: 1}]\n").errors.at(0),
             Contains("expected 1 to 10 devices"));
}

TEST_CASE("Guided dosing and titration: parsed values, and the sessions before the guided phase", "[pk][regimen]") {
  const Parsed p = parse(
      "{route: intranasal, dose: 56 mg, schedule: [{every: 3.5d, count: 8}, {every: 7d, count: 4}, {every: 7d, until: 168d}],\n"
      " guided: {stretch_to: [14d, 21d], when: response, otherwise: step_down},\n"
      " titration: {to: 84 mg, from: 3.5d, unless: remission}}");
  REQUIRE(p.errors.empty());
  const Regimen& r = p.regimen;
  CHECK(r.adaptive());
  CHECK(r.guided.intervals_h == std::vector<double>{168.0, 336.0, 504.0});
  CHECK_FALSE(r.guided.on_remission);
  CHECK_FALSE(r.guided.reset);
  CHECK(r.titration.to_dose == 84.0);
  CHECK(r.titration.to_devices == 3);
  CHECK(r.titration.from_h == 84.0);
  CHECK(r.titration.unless_remission);
  // The two fixed phases: days 0..24.5 twice weekly, then 28, 35, 42, 49; the guided phase starts
  // one weekly interval after day 49, on day 56.
  double next_h = 0.0;
  const auto fixed = expand_sessions(r, 2, next_h);
  CHECK(times_of(fixed) == concat(every(0.0, 84.0, 8), every(672.0, 168.0, 4)));
  CHECK(next_h == 56.0 * 24.0);
  // As written (every interval at its shortest) the schedule is the most it can give.
  CHECK(expand_sessions(r).size() == 8 + 4 + 16);
  // Defaults: remission, reset; titration unless response, from day 0.
  const Parsed d = parse("{route: iv_infusion, dose: 0.5 mg/kg, infusion_duration: 40 min, schedule: [{every: 7d, until: 84d}],\n"
                         " guided: {stretch_to: 28d}, titration: {to: 0.75 mg/kg}}");
  REQUIRE(d.errors.empty());
  CHECK(d.regimen.guided.on_remission);
  CHECK(d.regimen.guided.reset);
  CHECK(d.regimen.guided.intervals_h == std::vector<double>{168.0, 672.0});
  CHECK(d.regimen.titration.to_dose == 0.75);
  CHECK_FALSE(d.regimen.titration.unless_remission);
}

TEST_CASE("Guided dosing and titration errors name the key", "[pk][regimen]") {
  const std::string head = "{route: intranasal, dose: 56 mg, schedule: [{every: 3.5d, count: 8}, {every: 7d, until: 84d}], ";
  auto errors = [&](const std::string& tail) {
    std::string all;
    for (const auto& e : parse(head + tail).errors) all += e + "\n";
    return all;
  };
  CHECK_THAT(errors("guided: {stretch_to: [7d]}}"), Contains("regimen.guided.stretch_to") && Contains("longer than"));
  CHECK_THAT(errors("guided: {stretch_to: [21d, 14d]}}"), Contains("each longer than the one before"));
  CHECK_THAT(errors("guided: {stretch_to: [14d], when: happiness}}"), Contains("regimen.guided.when"));
  CHECK_THAT(errors("guided: {stretch_to: [14d], otherwise: panic}}"), Contains("regimen.guided.otherwise"));
  CHECK_THAT(errors("guided: {}}"), Contains("regimen.guided.stretch_to"));
  CHECK_THAT(errors("titration: {to: 70 mg}}"), Contains("regimen.titration.to") && Contains("whole number of devices"));
  CHECK_THAT(errors("titration: {to: 56 mg}}"), Contains("above the regimen's dose"));
  CHECK_THAT(errors("titration: {to: 1 mg/kg}}"), Contains("the regimen's dose unit"));
  CHECK_THAT(errors("titration: {to: 84 mg, unless: tomorrow}}"), Contains("regimen.titration.unless"));
  CHECK_THAT(parse("{route: intranasal, dose: 56 mg, schedule: [{every: 7d, count: 12}], guided: {stretch_to: [14d]}}")
                 .errors.front(),
             Contains("regimen.guided") && Contains("must run `until`"));
  CHECK_THAT(parse("{route: intranasal, dose: 56 mg, schedule: [{every: 7d, count: 2, dose: 28 mg}, {every: 7d, until: 84d}],"
                   " titration: {to: 84 mg}}")
                 .errors.front(),
             Contains("regimen.titration") && Contains("phase `dose`"));
}
