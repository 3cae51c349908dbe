#include "ketasim/trial/parameter_uncertainty.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "ketasim/core/units.hpp"
#include "ketasim/io/results_schema.hpp"
#include "ketasim/response/parameter_draws.hpp"
#include "ketasim/trial/engine.hpp"

namespace ketasim::trial {

namespace {

const char* internal_unit(Dimension d) {
  switch (d) {
    case Dimension::time: return "h";
    case Dimension::rate_constant: return "1/h";
    default: return "1";
  }
}

}  // namespace

ParameterDrawResults simulate_parameter_draws(const Study& study) {
  const StudyConfig& config = study.config;
  const response::ResponseModel& model = *study.response_model;
  const response::ParameterDistribution& dist = *model.uncertainty;
  ParameterDrawResults r;
  r.draws = config.endpoints.parameter_draws;
  r.arms = static_cast<int>(config.arms.size());
  for (const auto& name : dist.names) {
    const int i = model.parameters.index(name);
    r.parameters.push_back(name + " (" + internal_unit(model.parameters.dimensions[static_cast<std::size_t>(i)]) + ")");
  }
  const auto& visits = config.endpoints.visits_d;
  const std::size_t primary =
      static_cast<std::size_t>(std::find(visits.begin(), visits.end(), config.endpoints.primary_visit_d) - visits.begin());
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (int k = 0; k < r.draws; ++k) {
    const std::vector<double> values = response::draw_parameters(dist, config.seed, static_cast<std::uint64_t>(k));
    r.values.insert(r.values.end(), values.begin(), values.end());
    const response::ResponseModel drawn = response::model_with_draw(model, values);
    // Each draw through the one engine path `run` uses for endpoints (same patients, same rules).
    const TrialSummary s = simulate_endpoints(config, drawn, study.population.get());
    for (const ArmSummary& arm : s.arms) {
      const VisitSummary& v = arm.visits[primary];
      r.response.push_back(arm.n ? static_cast<double>(v.responders) / arm.n : nan);
      r.remission.push_back(arm.n ? static_cast<double>(v.remitters) / arm.n : nan);
      r.change.push_back(v.observed ? v.sum_change / v.observed : nan);
    }
  }
  return r;
}

void write_parameter_draws(const ParameterDrawResults& r, io::ResultsFile& file) {
  std::vector<std::int64_t> draws(static_cast<std::size_t>(r.draws));
  for (int k = 0; k < r.draws; ++k) draws[static_cast<std::size_t>(k)] = k;
  file.add_dimension("parameter_draw", draws, "1", "draw of the response model's calibrated parameters");
  file.add_label_dimension("response_parameter", r.parameters, "calibrated response-model parameter (internal unit)");
  auto write = [&](const char* name, const std::vector<double>& data, hsize_t columns) {
    const io::VariableSchema& e = io::schema_entry(name);
    const int v = file.create_variable(io::variable_spec(e, e.dims));
    file.write(v, {0, 0}, {static_cast<hsize_t>(r.draws), columns}, data.data());
  };
  write("parameter_draw_values", r.values, r.parameters.size());
  write("parameter_draw_response", r.response, static_cast<hsize_t>(r.arms));
  write("parameter_draw_remission", r.remission, static_cast<hsize_t>(r.arms));
  write("parameter_draw_change", r.change, static_cast<hsize_t>(r.arms));
}

}  // namespace ketasim::trial
