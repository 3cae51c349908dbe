// libFuzzer harness: the study loader every command uses (trial/study.hpp: config, --set
// overrides, sweep and optimize blocks with their expansion, models, response model).
// Input: YAML text; comment lines "#set key.path=value" inside it are also applied as --set
// overrides, so every shipped config is a valid seed and the fuzzer can grow overrides too.
// Bad input must end in ketasim::InputError; any other exception, crash, hang or sanitizer
// report is a finding. Model and response-model paths resolve as for configs/ (the config is
// named <source>/configs/fuzz.yaml), so the seeds load the real models.
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include "ketasim/core/error.hpp"
#include "ketasim/trial/config.hpp"
#include "ketasim/trial/study.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace ketasim;
  const std::string text(reinterpret_cast<const char*>(data), size);
  std::vector<trial::Override> overrides;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("#set ", 0) != 0) continue;
    try {
      overrides.push_back(trial::parse_override(line.substr(5)));
    } catch (const InputError&) {
    }
  }
  try {
    trial::load_study(std::string(KETASIM_SOURCE_DIR) + "/configs/fuzz.yaml", text, overrides);
  } catch (const InputError&) {
  }
  return 0;
}
