// libFuzzer harness: the results reader behind `ketasim summary`, on arbitrary bytes written to a
// file (HDF5 opens files by name). Anything but a table or ketasim::InputError is a finding.
// libhdf5 itself is not instrumented: memory errors inside it show only when they crash.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

#include "ketasim/core/error.hpp"
#include "ketasim/io/results_reader.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace ketasim;
  static const std::string path = "/tmp/ketasim_fuzz_results_" + std::to_string(::getpid()) + ".h5";
  if (std::FILE* f = std::fopen(path.c_str(), "wb")) {
    std::fwrite(data, 1, size, f);
    std::fclose(f);
  } else {
    return 0;
  }
  try {
    io::read_endpoints(path, io::Provenance::required);
  } catch (const InputError&) {
  }
  std::remove(path.c_str());
  return 0;
}
