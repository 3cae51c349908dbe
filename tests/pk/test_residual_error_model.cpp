// The `residual_error:` block of a model file (docs/model-format.md): values in canonical units,
// and each kind of mistake an input error naming the file, key and line. The DV it produces is
// tested through the binary (tests/python/test_residual_error.py).
#include <catch2/catch.hpp>

#include <string>

#include "ketasim/core/error.hpp"
#include "ketasim/trial/study.hpp"
#include "pk_test_models.hpp"

using namespace ketasim;
using namespace ketasim::pk;
using Catch::Contains;

namespace {
std::string with_residual(const std::string& block) {
  return testing::one_compartment_yaml(10.0, 50.0, 1.0, 0.5) + "residual_error:\n" + block;
}

std::string error_of(const std::string& yaml) {
  try {
    testing::model_from_text(yaml);
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST_CASE("Residual error: additive in ng/mL, proportional and log-additive as given", "[pk][model][residual_error]") {
  const PkModel m = testing::model_from_text(with_residual("  drug: {additive: 0.002 mg/L, proportional: 0.1, source: test}\n"));
  REQUIRE(m.residual_error.size() == 1);
  CHECK(m.residual_error[0].output == 0);
  CHECK(m.residual_error[0].additive_ng_per_ml == Approx(2.0).epsilon(1e-15));  // 0.002 mg/L = 2 ng/mL
  CHECK(m.residual_error[0].proportional == 0.1);
  CHECK(m.residual_error[0].log_additive == 0.0);
  const PkModel log = testing::model_from_text(with_residual("  drug: {log_additive: 0.276, source: test}\n"));
  CHECK(log.residual_error[0].log_additive == 0.276);
  CHECK(testing::model_from_text(testing::one_compartment_yaml(10.0, 50.0, 1.0, 0.5)).residual_error.empty());
}

TEST_CASE("Residual error mistakes are input errors with file, key and line", "[pk][model][residual_error]") {
  const int line = 20;  // one_compartment_yaml has 19 lines; the block's first entry is line 20
  const std::string at = "test-model.yaml:" + std::to_string(line);
  CHECK_THAT(error_of(with_residual("  metabolite: {additive: 1 ng/mL, source: test}\n")),
             Contains(at) && Contains("no reported output 'metabolite' (moieties and totals: drug)"));
  CHECK_THAT(error_of(with_residual("  drug: {additive: 1 ng/mL}\n")), Contains("residual_error.drug.source"));
  CHECK_THAT(error_of(with_residual("  drug: {additive: 1 mg, source: test}\n")), Contains("residual_error.drug.additive"));
  CHECK_THAT(error_of(with_residual("  drug: {proportional: -0.1, source: test}\n")), Contains("expected an SD as a fraction"));
  CHECK_THAT(error_of(with_residual("  drug: {log_additive: 0.3, proportional: 0.1, source: test}\n")),
             Contains("log_additive stands alone"));
  CHECK_THAT(error_of(with_residual("  drug: {source: test}\n")), Contains("expected additive, proportional"));
  CHECK_THAT(error_of(with_residual("  drug: {exponential: 0.3, source: test}\n")), Contains("exponential"));
}

TEST_CASE("outputs.sampling_times: within the study, and some arm's model needs a residual error", "[config][residual_error]") {
  const std::string bad = std::string(KETASIM_TEST_DATA_DIR) + "/bad/";
  auto message = [](const std::string& path) -> std::string {
    try {
      trial::load_study(path);
    } catch (const InputError& e) {
      return e.what();
    }
    return "";
  };
  CHECK_THAT(message(bad + "config-sampling-times-no-residual-error.yaml"),
             Contains("config-sampling-times-no-residual-error.yaml:11:") && Contains("outputs.sampling_times") &&
                 Contains("no arm's PK model has a residual_error block"));
  CHECK_THAT(message(bad + "config-sampling-time-after-end.yaml"),
             Contains("config-sampling-time-after-end.yaml:11:") && Contains("outputs.sampling_times[1]") &&
                 Contains("within the study"));
}
