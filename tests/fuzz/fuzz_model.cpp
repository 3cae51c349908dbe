// libFuzzer harness: the PK model loader (units, flows, routes, covariates, variability, omega).
// Bad input must end in ketasim::InputError; anything else is a finding.
#include <cstddef>
#include <cstdint>
#include <string>

#include "ketasim/core/error.hpp"
#include "ketasim/pk/model.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace ketasim;
  try {
    pk::parse_model(parse_yaml_text(std::string(reinterpret_cast<const char*>(data), size), "fuzz-model.yaml"));
  } catch (const InputError&) {
  }
  return 0;
}
