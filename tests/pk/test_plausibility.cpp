// pk::implausible_parameter: individual parameters a body cannot have are named, with the range.
#include <catch2/catch.hpp>

#include <limits>

#include "ketasim/pk/model.hpp"
#include "ketasim/pk/plausibility.hpp"

using namespace ketasim;
using namespace ketasim::pk;
using Catch::Contains;

namespace {
PkModel model_with_v_cl() {
  return parse_model(parse_yaml_text("name: m\ndrug: t\nmoieties: {d: {molecular_weight_g_per_mol: 200}}\n"
                                     "compartments: [{name: c, moiety: d, volume: V, observed: true}]\n"
                                     "parameters:\n  CL: {value: 5, unit: L/h, source: t}\n"
                                     "  V: {value: 50, unit: L, source: t}\n  TLAG: {value: 0.1, unit: h, source: t}\n"
                                     "flows: [{from: c, to: elimination, clearance: CL}]\n"
                                     "routes: {iv_bolus: {inputs: [{compartment: c, lag: TLAG}]}}\n",
                                     "m.yaml"));
}
}  // namespace

TEST_CASE("Individual parameters outside what a body can have are named", "[pk][plausibility][robust]") {
  const PkModel model = model_with_v_cl();
  const int cl = model.find_parameter("CL"), v = model.find_parameter("V"), lag = model.find_parameter("TLAG");
  ParameterValues p{};
  p[cl] = 5.0;
  p[v] = 50.0;
  p[lag] = 0.0;  // a lag of 0 is ordinary
  CHECK(implausible_parameter(model, p).empty());
  p[v] = 1e-300;
  CHECK_THAT(implausible_parameter(model, p), Contains("V = 1e-300 L") && Contains("volume"));
  p[v] = 50.0;
  p[cl] = 0.0;
  CHECK_THAT(implausible_parameter(model, p), Contains("CL = 0 L/h") && Contains("> 0"));
  p[cl] = std::numeric_limits<double>::quiet_NaN();
  CHECK_THAT(implausible_parameter(model, p), Contains("CL = nan"));
  p[cl] = 5.0;
  p[lag] = -1.0;
  CHECK_THAT(implausible_parameter(model, p), Contains("TLAG = -1 h"));
}
