#pragma once
// The `config_json` attribute of a results file: every setting the run used, defaults filled in,
// quantities as "value unit" text in the units the engine uses (so the JSON, turned into YAML, is
// a config that runs the same study), plus the sweep block and the response model's values.
#include <string>

#include "ketasim/trial/study.hpp"

namespace ketasim::trial {

std::string effective_config_json(const Study& study);

}  // namespace ketasim::trial
