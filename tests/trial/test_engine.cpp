// Unit tests of src/trial/engine.cpp at library level (no binary):
//   * simulate_endpoints is deterministic, independent of the thread count, and equal to what
//     run_trial writes into the results file;
//   * common random numbers: identical arms give identical summaries, and with no drug effect two
//     arms with different models but the same background give identical MADRS;
//   * a failed patient gets status 2 and every other patient is simulated;
//   * with no drug effect and background none the MADRS change has mean 0 (no drug, no placebo);
//   * the OU noise has the stated SD: Var(MADRS - baseline) = ou_sd^2 (1 - e^{-2 theta t}) + 1/12
//     (the 1/12 is Sheppard's correction for rounding to integers; the baseline is an integer),
//     within 5 SE, SE(SD) = SD / sqrt(2 (N - 1)) for normal data.
#include "ketasim/trial/engine.hpp"

#include <catch2/catch.hpp>
#include <tbb/global_control.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <unistd.h>

#include "ketasim/io/results_file.hpp"
#include "ketasim/io/results_reader.hpp"
#include "ketasim/trial/config.hpp"
#include "ketasim/trial/sweep.hpp"

using namespace ketasim;

namespace {

const std::string kData = std::string(KETASIM_TEST_DATA_DIR) + "/engine/";

trial::StudyConfig load(const std::string& name, const std::vector<trial::Override>& overrides = {}) {
  return trial::load_study_config(kData + name, overrides);
}

void check_same(const trial::ArmSummary& x, const trial::ArmSummary& y) {
  REQUIRE(x.n == y.n);
  REQUIRE(x.visits.size() == y.visits.size());
  for (std::size_t v = 0; v < x.visits.size(); ++v) {
    CHECK(x.visits[v].responders == y.visits[v].responders);
    CHECK(x.visits[v].remitters == y.visits[v].remitters);
    CHECK(x.visits[v].sum_change == y.visits[v].sum_change);
    CHECK(x.visits[v].sum_change_sq == y.visits[v].sum_change_sq);
    CHECK(x.visits[v].sum_score == y.visits[v].sum_score);
  }
}

// run_trial into a results file in /tmp, with the root attributes read_endpoints needs.
io::EndpointData run_to_file(const trial::StudyConfig& config, const std::string& tag,
                             trial::RunStatistics* stats = nullptr) {
  const std::string path = "/tmp/ketasim_test_engine_" + std::to_string(::getpid()) + "_" + tag + ".h5";
  const trial::Study study = trial::load_study(config.path, config.overrides);
  {
    io::ResultsFile file(path);
    file.set_attribute("study_name", config.name);
    file.set_attribute("primary_visit_d", config.endpoints.primary_visit_d);
    file.set_attribute("remission_threshold", config.endpoints.remission_threshold);
    const auto s = trial::run_trial(study, file, nullptr);
    if (stats) *stats = s;
    file.commit();
  }
  io::EndpointData d = io::read_endpoints(path);
  std::remove(path.c_str());
  return d;
}

}  // namespace

TEST_CASE("simulate_endpoints is deterministic, thread-count independent and equal to what run_trial writes",
          "[trial][engine]") {
  const trial::StudyConfig config = load("two-arms.yaml", {{"outputs.concentration", "none"}});
  const auto rm = response::load_response_model(config.response_model_path);
  const trial::TrialSummary a = trial::simulate_endpoints(config, rm);
  const trial::TrialSummary b = trial::simulate_endpoints(config, rm);
  trial::TrialSummary one;
  {
    tbb::global_control limit(tbb::global_control::max_allowed_parallelism, 1);
    one = trial::simulate_endpoints(config, rm);
  }
  REQUIRE(a.arms.size() == 2);
  REQUIRE(a.visits_d == config.endpoints.visits_d);
  for (int arm = 0; arm < 2; ++arm) {
    CHECK(a.arms[arm].name == config.arms[arm].name);
    CHECK(a.arms[arm].n == config.cohort.patients);
    check_same(a.arms[arm], b.arms[arm]);
    check_same(a.arms[arm], one.arms[arm]);
  }
  // The file written by run_trial: primary-visit counts and mean change must agree exactly.
  const io::EndpointData d = run_to_file(config, "equal");
  REQUIRE(d.arms.size() == 2);
  const std::size_t primary = a.visits_d.size() - 1;
  REQUIRE(a.visits_d[primary] == config.endpoints.primary_visit_d);
  for (std::size_t arm = 0; arm < 2; ++arm) {
    long long n = 0, responders = 0, remitters = 0;
    double sum_change = 0;
    for (long long p = 0; p < d.n_patients; ++p) {
      const std::size_t i = arm * d.n_patients + p;
      if (d.status[i] != 0) continue;
      ++n;
      responders += d.response[i];
      remitters += d.remission[i];
      sum_change += d.change[i];
    }
    CHECK(n == a.arms[arm].n);
    CHECK(responders == a.arms[arm].visits[primary].responders);
    CHECK(remitters == a.arms[arm].visits[primary].remitters);
    CHECK(sum_change == Approx(a.arms[arm].visits[primary].sum_change).margin(1e-9));
  }
  // Sanity: the drug does something in this config (not a vacuous comparison).
  CHECK(a.arms[0].visits[primary].responders > 0);
}

TEST_CASE("Common random numbers: identical arms agree, and without drug effect so do different models",
          "[trial][engine]") {
  {
    const trial::StudyConfig config = load("same-patient.yaml");
    const auto rm = response::load_response_model(config.response_model_path);
    const trial::TrialSummary s = trial::simulate_endpoints(config, rm);
    REQUIRE(s.arms.size() == 3);
    check_same(s.arms[0], s.arms[1]);  // a and b differ only in name
    // a and c have different drugs, so they must differ (the test would be vacuous otherwise).
    CHECK(s.arms[0].visits.back().sum_change != s.arms[2].visits.back().sum_change);
  }
  {
    // kin = 0: P = 0, no drug effect; same background -> same placebo draw, same visit noise.
    const trial::StudyConfig config = load("same-patient.yaml", {{"endpoints.model", "response-no-drug.yaml"}});
    const auto rm = response::load_response_model(config.response_model_path);
    REQUIRE(*rm.parameters.find("kin") == 0.0);
    const trial::TrialSummary s = trial::simulate_endpoints(config, rm);
    check_same(s.arms[0], s.arms[2]);
    check_same(s.arms[0], s.arms[1]);
  }
}

TEST_CASE("A patient with invalid parameters gets status 2 and the run goes on", "[trial][engine]") {
  // tests/data/engine/population-bad.csv: patient 3 has ETA_V1 = 800 (V1 overflows to +inf).
  const trial::StudyConfig config = load("failed-patient.yaml");
  trial::RunStatistics stats;
  const io::EndpointData d = run_to_file(config, "failed", &stats);
  REQUIRE(d.n_patients == 6);
  CHECK(stats.failed_patients == 1);
  for (int p = 0; p < 6; ++p) {
    INFO("patient " << p);
    CHECK(int(d.status[p]) == (p == 3 ? trial::status_invalid_parameters : trial::status_ok));
    if (p != 3) CHECK(std::isfinite(d.change[p]));
  }
  const trial::Study study = trial::load_study(config.path, config.overrides);
  CHECK(trial::simulate_endpoints(config, *study.response_model, study.population.get()).arms[0].n == 5);
}

TEST_CASE("No drug effect and background none: MADRS change has mean 0, the OU noise has its stated SD",
          "[trial][engine]") {
  // ou-noise.yaml: 20,000 patients, kin = 0, background none, rater SD 0, OU SD 4, half-life 7 d,
  // baselines in [20, 40] (clipping at 0 and 60 is > 5 OU SDs away).
  const trial::StudyConfig config = load("ou-noise.yaml");
  const auto rm = response::load_response_model(config.response_model_path);
  REQUIRE(*rm.parameters.find("rater_sd_points") == 0.0);
  const double ou_sd = *rm.parameters.find("ou_sd_points");
  const double theta = std::log(2.0) / *rm.parameters.find("ou_half_life");
  const trial::TrialSummary s = trial::simulate_endpoints(config, rm);
  const auto& arm = s.arms.at(0);
  const double n = static_cast<double>(arm.n);
  REQUIRE(arm.n == config.cohort.patients);
  CHECK(arm.visits[0].sum_change == 0.0);      // day 0 is the baseline itself
  CHECK(arm.visits[0].sum_change_sq == 0.0);
  for (std::size_t v = 1; v < s.visits_d.size(); ++v) {
    const double t_h = s.visits_d[v] * 24.0;
    const double mean = arm.visits[v].sum_change / n;
    const double sd = std::sqrt((arm.visits[v].sum_change_sq - n * mean * mean) / (n - 1));
    const double expected_sd = std::sqrt(ou_sd * ou_sd * (1.0 - std::exp(-2.0 * theta * t_h)) + 1.0 / 12.0);
    const double se_mean = expected_sd / std::sqrt(n), se_sd = expected_sd / std::sqrt(2.0 * (n - 1));
    INFO("visit day " << s.visits_d[v] << ": mean change " << mean << " (SE " << se_mean << "), SD " << sd
                      << " vs expected " << expected_sd << " (SE " << se_sd << ")");
    CHECK(std::fabs(mean) < 5 * se_mean);
    CHECK(std::fabs(sd - expected_sd) < 5 * se_sd);
  }
}

TEST_CASE("check_response_model names a moiety without Ki", "[trial][engine]") {
  const trial::StudyConfig config = load("two-arms.yaml");
  auto rm = response::load_response_model(config.response_model_path);
  rm.potency.erase(std::remove_if(rm.potency.begin(), rm.potency.end(),
                                  [](const response::MoietyPotency& p) { return p.moiety == "esketamine"; }),
                   rm.potency.end());
  Diagnostics problems;
  trial::check_response_model(config, rm, problems);
  REQUIRE_THROWS_WITH(problems.throw_if_any(),
                      Catch::Contains("esketamine") && Catch::Contains("intranasal_esketamine"));
}

TEST_CASE("Dropout: the configured hazard, the same patients in every arm, observed scores unchanged, imputation",
          "[trial][engine][dropout]") {
  // 2000 patients, 28 days: with 0.1 per week, the expected fraction still in the study at the last
  // visit is exp(-0.4) = 0.670; 5 binomial SE at n = 2000 is 0.053.
  const std::vector<trial::Override> base{{"cohort.patients", "2000"}};
  std::vector<trial::Override> with_dropout = base;
  with_dropout.push_back({"endpoints.dropout.rate_per_week", "0.1"});
  const trial::StudyConfig config = load("two-arms.yaml", with_dropout);
  const response::ResponseModel rm = response::load_response_model(config.response_model_path);
  const trial::TrialSummary full = trial::simulate_endpoints(load("two-arms.yaml", base), rm);
  const trial::TrialSummary dropped = trial::simulate_endpoints(config, rm);
  const double weeks = config.endpoints.visits_d.back() / 7.0;
  const double expected_in_study = std::exp(-0.1 * weeks);
  const double se = std::sqrt(expected_in_study * (1 - expected_in_study) / 2000.0);
  for (std::size_t a = 0; a < dropped.arms.size(); ++a) {
    const auto& last = dropped.arms[a].visits.back();
    CHECK(std::fabs(double(last.observed) / dropped.arms[a].n - expected_in_study) <= 5 * se);
    // Nobody is missing without dropout; with it, fewer are observed at every later visit.
    CHECK(full.arms[a].visits.back().observed == full.arms[a].n);
    for (std::size_t v = 1; v < dropped.arms[a].visits.size(); ++v) {
      CHECK(dropped.arms[a].visits[v].observed <= dropped.arms[a].visits[v - 1].observed);
    }
  }
  // Common random numbers: the same patients leave at the same visits in both arms.
  for (std::size_t v = 0; v < dropped.visits_d.size(); ++v) {
    CHECK(dropped.arms[0].visits[v].observed == dropped.arms[1].visits[v].observed);
  }

  // Per patient, through the results file: observed scores equal the no-dropout run's; the primary
  // flags of dropouts are 0 under non-responder imputation and follow the last score under LOCF.
  const std::string dir = "/tmp/ketasim_dropout_" + std::to_string(::getpid());
  auto write = [&](const std::vector<trial::Override>& overrides, const std::string& name) {
    const trial::Study study = trial::load_study(kData + "two-arms.yaml", overrides);
    io::ResultsFile file(dir + name);
    trial::run_trial(study, file, {});
    file.commit();
    return io::read_endpoints(dir + name);
  };
  std::vector<trial::Override> locf = with_dropout;
  locf.push_back({"endpoints.dropout.imputation", "locf"});
  const io::EndpointData complete = write(base, "-complete.h5");
  const io::EndpointData nri = write(with_dropout, "-nri.h5");
  const io::EndpointData lo = write(locf, "-locf.h5");
  long dropouts = 0, locf_responders_among_dropouts = 0;
  for (std::size_t i = 0; i < complete.response.size(); ++i) {
    const bool left = nri.response[i] != complete.response[i] || nri.remission[i] != complete.remission[i] ||
                      nri.change[i] != complete.change[i];
    if (!left) continue;
    ++dropouts;
    CHECK(nri.response[i] == 0);
    CHECK(nri.remission[i] == 0);
    CHECK(lo.change[i] == nri.change[i]);  // both use the last observed score for the change
    locf_responders_among_dropouts += lo.response[i];
  }
  CHECK(dropouts > 100);
  CHECK(locf_responders_among_dropouts > 0);  // LOCF keeps early responders' flags; NRI zeroes them
  for (const char* name : {"-complete.h5", "-nri.h5", "-locf.h5"}) std::remove((dir + name).c_str());
}

TEST_CASE("work_split gives ranks the batches or, with too few batches, disjoint runs of sweep points with the idle ranks last",
          "[trial][engine][ranks]") {
  for (int ranks = 1; ranks <= 5; ++ranks) {
    for (int points = 1; points <= 7; ++points) {
      for (long long batches = 1; batches <= 6; ++batches) {
        INFO("ranks " << ranks << ", points " << points << ", batches " << batches);
        const bool expect_points = ranks > 1 && batches < ranks && points > 1;
        int covered = 0, busy = 0;
        for (int r = 0; r < ranks; ++r) {
          const trial::WorkSplit s = trial::work_split(batches, points, r, ranks);
          CHECK(s.by_points == expect_points);
          if (!expect_points) {
            CHECK(s.point_begin == 0);
            CHECK(s.point_end == points);
            CHECK(s.busy_ranks == std::min<long long>(ranks, batches));
            continue;
          }
          // Contiguous, in rank order, each rank within one point of an even share.
          CHECK(s.point_begin == covered);
          CHECK(s.point_end >= s.point_begin);
          CHECK(s.point_end - s.point_begin >= points / ranks);
          CHECK(s.point_end - s.point_begin <= points / ranks + 1);
          covered = s.point_end;
          busy += s.point_end > s.point_begin;
          // The idle ranks are the last ones, so that the warning can name them as a range and
          // rank 0, the writer, always computes.
          CHECK((s.point_end > s.point_begin) == (r < std::min(ranks, points)));
          CHECK(s.busy_ranks == std::min(ranks, points));
        }
        if (expect_points) {
          CHECK(covered == points);
          CHECK(busy == std::min(ranks, points));
        }
      }
    }
  }
}
