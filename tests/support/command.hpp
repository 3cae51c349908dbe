#pragma once
// Runs a shell command for end-to-end tests and captures what it printed, its exit status and how
// long it took. One helper for every test that drives the real `ketasim` binary.
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace ketasim::testing {

struct CommandResult {
  int status = -1;  // exit status; -1 when the process did not exit normally (killed by a signal)
  std::string out;  // standard output
  std::string err;  // standard error
  double seconds = 0.0;
  std::string all() const { return out + err; }
};

inline std::string read_and_remove(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  std::remove(path.c_str());
  return text.str();
}

inline CommandResult run_command(const std::string& command) {
  static int counter = 0;  // distinct capture files for calls within one test process
  const std::string base = "/tmp/ketasim_test_" + std::to_string(::getpid()) + "_" + std::to_string(++counter);
  const auto start = std::chrono::steady_clock::now();
  const int raw = std::system((command + " >" + base + ".out 2>" + base + ".err").c_str());
  CommandResult r;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  r.out = read_and_remove(base + ".out");
  r.err = read_and_remove(base + ".err");
  return r;
}

// `ketasim <arguments>` with the binary under test (KETASIM_EXE is set by tests/CMakeLists.txt).
inline CommandResult run_ketasim(const std::string& arguments) {
  return run_command(std::string("\"") + KETASIM_EXE + "\" " + arguments);
}

}  // namespace ketasim::testing
