// Unit tests of src/trial/endpoint_rules.cpp against hand-worked cases: every boundary of the
// response (>= fraction x baseline), remission (<= threshold) and relapse (>= threshold at the
// given number of consecutive visits after a response) rules, dropout and both imputations.
// Expected values are written out by hand from docs/config.md, not computed by the rules.
#include "ketasim/trial/endpoint_rules.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

using ketasim::trial::EndpointConfig;
using ketasim::trial::EndpointRules;
using ketasim::trial::PatientEndpoints;

namespace {

struct Result {
  std::vector<float> madrs;
  std::vector<std::int8_t> response, remission;
  PatientEndpoints out;
};

// Visits 0, 7, 14, 21, 28 d; primary 28 d; baseline 30.
Result evaluate(const EndpointConfig& c, const std::vector<double>& scores, const std::vector<double>& stay,
                int primary = 4) {
  const std::vector<double> visits{0, 7, 14, 21, 28};
  Result r;
  r.madrs.assign(visits.size(), -1);
  r.response.assign(visits.size(), -1);
  r.remission.assign(visits.size(), -1);
  r.out.madrs = r.madrs.data();
  r.out.response_by_visit = r.response.data();
  r.out.remission_by_visit = r.remission.data();
  EndpointRules(c).evaluate(visits.data(), static_cast<int>(visits.size()), primary, 30.0, scores.data(), stay.data(),
                            r.out);
  return r;
}

const std::vector<double> kStay(5, 0.99);  // uniforms that never leave at a small hazard

}  // namespace

TEST_CASE("Response is a reduction of at least the fraction of baseline: 15 of 30 is, 16 is not", "[trial][endpoints]") {
  EndpointConfig c;  // response_fraction 0.5, remission <= 12
  Result r = evaluate(c, {30, 20, 16, 15, 15}, kStay);
  CHECK(r.response == std::vector<std::int8_t>{0, 0, 0, 1, 1});
  CHECK(r.out.response == 1);
  r = evaluate(c, {30, 20, 16, 15, 16}, kStay);
  CHECK(r.out.response == 0);
  CHECK(r.out.change == -14.0f);
}

TEST_CASE("Remission is a score at or below the threshold: 12 is, 13 is not", "[trial][endpoints]") {
  EndpointConfig c;
  c.remission_threshold = 12;
  CHECK(evaluate(c, {30, 20, 16, 13, 12}, kStay).out.remission == 1);
  CHECK(evaluate(c, {30, 20, 16, 12, 13}, kStay).out.remission == 0);
  CHECK(evaluate(c, {30, 20, 16, 12, 13}, kStay).remission == std::vector<std::int8_t>{0, 0, 0, 1, 0});
}

TEST_CASE("Relapse: consecutive visits at or above the threshold after a response", "[trial][endpoints]") {
  EndpointConfig c;
  c.relapse_threshold = 22;
  c.relapse_consecutive = 2;
  CHECK(evaluate(c, {30, 14, 22, 22, 10}, kStay).out.relapse == 1);   // 22, 22 after responding at day 7
  CHECK(evaluate(c, {30, 14, 22, 21, 22}, kStay).out.relapse == 0);   // not consecutive
  CHECK(evaluate(c, {30, 14, 21, 21, 21}, kStay).out.relapse == 0);   // below the threshold
  CHECK(evaluate(c, {30, 22, 22, 14, 10}, kStay).out.relapse == 0);   // high scores before any response
  c.relapse_consecutive = 1;
  CHECK(evaluate(c, {30, 14, 21, 22, 10}, kStay).out.relapse == 1);
}

TEST_CASE("Dropout: the hazard per week, the first missed visit, and both imputations", "[trial][endpoints]") {
  EndpointConfig c;
  c.dropout_per_week = 0.1;
  // P(leave within a week) = 1 - exp(-0.1) = 0.0952: a uniform below it leaves.
  CHECK(EndpointRules(c).dropout_probability(0, 7) == Approx(1 - std::exp(-0.1)).epsilon(1e-15));
  CHECK(EndpointRules(c).dropout_probability(7, 21) == Approx(1 - std::exp(-0.2)).epsilon(1e-15));
  const std::vector<double> leave_at_21{0.5, 0.5, 0.5, 0.05, 0.5};
  // Responder at day 14 (score 14), leaves before day 21.
  Result nri = evaluate(c, {30, 20, 14, 10, 8}, leave_at_21);
  CHECK(nri.out.dropout_time_d == 21.0);
  CHECK(std::isnan(nri.madrs[3]));
  CHECK(std::isnan(nri.madrs[4]));
  CHECK(nri.madrs[2] == 14.0f);
  CHECK(nri.response == std::vector<std::int8_t>{0, 0, 1, 0, 0});  // non-responder imputation
  CHECK(nri.out.response == 0);
  CHECK(nri.out.remission == 0);
  CHECK(nri.out.change == -16.0f);  // from the last observed score
  c.dropout_locf = true;
  Result locf = evaluate(c, {30, 20, 14, 10, 8}, leave_at_21);
  CHECK(locf.response == std::vector<std::int8_t>{0, 0, 1, 1, 1});  // carried forward
  CHECK(locf.remission == std::vector<std::int8_t>{0, 0, 0, 0, 0});
  CHECK(locf.out.response == 1);
  CHECK(locf.out.change == -16.0f);
  // A patient who stays has no dropout time.
  CHECK(std::isnan(evaluate(c, {30, 20, 14, 10, 8}, kStay).out.dropout_time_d));
  // No hazard: nobody leaves whatever the uniforms.
  EndpointConfig none;
  CHECK(std::isnan(evaluate(none, {30, 20, 14, 10, 8}, {0.0, 0.0, 0.0, 0.0, 0.0}).out.dropout_time_d));
}

TEST_CASE("Efficacy-dependent dropout: the hazard rises with the fraction of baseline left", "[trial][endpoints]") {
  EndpointConfig c;
  c.dropout_per_week = 0.05;
  c.dropout_lack_of_improvement_per_week = 0.7;
  const EndpointRules rules(c);
  // By hand: one week, half of baseline left: hazard 0.05 + 0.7 * 0.5 = 0.4 per week.
  CHECK(rules.dropout_probability(0, 7, 0.5) == Approx(1 - std::exp(-0.4)).epsilon(1e-15));
  // Worse than baseline counts as no improvement (clipped at 1); full remission to 0 leaves the base rate.
  CHECK(rules.dropout_probability(0, 7, 1.4) == Approx(1 - std::exp(-0.75)).epsilon(1e-15));
  CHECK(rules.dropout_probability(0, 7, 0.0) == Approx(1 - std::exp(-0.05)).epsilon(1e-15));
  // The same uniforms: 0.3 at day 14 lies between P(leave | 1/3 of baseline left) = 1 - exp(-0.2833)
  // = 0.247 and P(leave | no improvement) = 1 - exp(-0.75) = 0.528, so only the non-improver leaves.
  const std::vector<double> uniforms{0.9, 0.9, 0.3, 0.9, 0.9};
  const Result improver = evaluate(c, {30, 10, 10, 10, 10}, uniforms);
  const Result non_improver = evaluate(c, {30, 30, 30, 30, 30}, uniforms);
  CHECK(std::isnan(improver.out.dropout_time_d));
  CHECK(non_improver.out.dropout_time_d == 14.0);
  // Without the lack-of-improvement term the probability is today's constant hazard, exactly.
  EndpointConfig constant;
  constant.dropout_per_week = 0.05;
  CHECK(EndpointRules(constant).dropout_probability(0, 7, 0.2) == -std::expm1(-0.05));
}
