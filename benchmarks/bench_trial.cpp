// Cost of the trial engine without file writing: trial::simulate_endpoints on a small cohort
// (configs/default.yaml: IV racemic ketamine vs intranasal esketamine, 12 weeks, 11 visits),
// per patient (both arms). The thread count is whatever oneTBB allows (all cores); the second
// variant pins it to 1 thread for a per-core figure. Config and response model are loaded once,
// outside the timing.
#include <benchmark/benchmark.h>
#include <tbb/global_control.h>

#include <string>

#include "ketasim/response/response_model.hpp"
#include "ketasim/trial/config.hpp"
#include "ketasim/trial/engine.hpp"

using namespace ketasim;

namespace {

void endpoints(benchmark::State& state, const char* config_name, int threads) {
  const long long patients = state.range(0);
  const trial::StudyConfig config = trial::load_study_config(std::string(KETASIM_SOURCE_DIR) + "/configs/" + config_name,
                                                             {{"cohort.patients", std::to_string(patients)}});
  const response::ResponseModel rm = response::load_response_model(config.response_model_path);
  std::unique_ptr<tbb::global_control> limit;
  if (threads > 0) limit = std::make_unique<tbb::global_control>(tbb::global_control::max_allowed_parallelism, threads);
  for (auto _ : state) {
    const trial::TrialSummary s = trial::simulate_endpoints(config, rm);
    benchmark::DoNotOptimize(s.arms.front().visits.back().sum_change);
  }
  state.SetItemsProcessed(state.iterations() * patients);  // items = patients (each through every arm)
  state.counters["arms"] = static_cast<double>(config.arms.size());
}

}  // namespace

BENCHMARK_CAPTURE(endpoints, default_all_threads, "default.yaml", 0)->Arg(512)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(endpoints, default_1_thread, "default.yaml", 1)->Arg(512)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(endpoints, p1_1_thread, "p1-benchmark.yaml", 1)->Arg(512)->Unit(benchmark::kMillisecond)->UseRealTime();

BENCHMARK_MAIN();
