// Unusable config files give a clear error (exit 1, the file named, what is wrong) fast: a
// malformed, an empty, a binary and a 50 MB file. The 50 MB file is made in a temporary folder at
// test time (not committed). The time bound is a guard against parsing, not a benchmark: the
// checks happen before any parsing (size by stat(), NUL bytes, blank text), so the real time is
// process start plus a few ms. Process start is measured in the same test (`--version`, best of
// 3) because it is most of the time and varies 50-fold between a release build on an idle machine
// and a sanitizer build on a loaded one; the bound is 3x that start-up plus 1 s. A regression that
// reads a 50 MB file into yaml-cpp takes many seconds beyond start-up and is still caught.
#include <catch2/catch.hpp>

#include "../support/command.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace {

using Timed = ketasim::testing::CommandResult;

Timed check(const std::string& path) { return ketasim::testing::run_ketasim("check " + path); }

struct TempDir {
  std::string path;
  TempDir() {
    char name[] = "/tmp/ketasim_large_XXXXXX";
    path = mkdtemp(name);
  }
  ~TempDir() { std::system(("rm -rf \"" + path + "\"").c_str()); }
};

double startup_seconds() {
  static const double best = [] {
    double b = 1e9;
    for (int i = 0; i < 3; ++i) b = std::min(b, ketasim::testing::run_ketasim("--version").seconds);
    return b;
  }();
  return best;
}

void expect_clear_error(const std::string& path, const std::string& fragment) {
  const double bound_s = 3.0 * startup_seconds() + 1.0;
  const Timed t = check(path);
  INFO(path << "\nstderr:\n" << t.err << "\ntime " << t.seconds << " s, bound " << bound_s << " s");
  CHECK(t.status == 1);
  CHECK(t.err.find(path) != std::string::npos);
  CHECK(t.err.find(fragment) != std::string::npos);
  CHECK(t.err.find('\n') == t.err.size() - 1);  // one line, no stack of follow-on errors
  CHECK(t.seconds < bound_s);
}

}  // namespace

TEST_CASE("Malformed, empty, binary and 50 MB config files: a clear error before any parsing", "[cli][large]") {
  TempDir dir;
  SECTION("malformed YAML names the line") {
    const std::string p = dir.path + "/malformed.yaml";
    std::ofstream(p) << "study: {name: x, duration: 84d\ncohort: [patients: 10\n";
    expect_clear_error(p, "malformed YAML");
    CHECK(check(p).err.find(p + ":") != std::string::npos);
  }
  SECTION("empty") {
    const std::string p = dir.path + "/empty.yaml";
    std::ofstream(p).flush();
    expect_clear_error(p, "file is empty");
  }
  SECTION("binary") {
    const std::string p = dir.path + "/binary.yaml";
    std::ofstream out(p, std::ios::binary);
    for (int i = 0; i < 4096; ++i) out.put(static_cast<char>((i * 7919) & 0xff));
    out.close();
    expect_clear_error(p, "binary");
  }
  SECTION("50 MB") {
    const std::string p = dir.path + "/huge.yaml";
    {
      std::ofstream out(p);
      const std::string line = "# " + std::string(97, 'x') + "\n";  // 100 bytes
      for (int i = 0; i < 500000; ++i) out << line;
    }
    expect_clear_error(p, "may be at most");
  }
  SECTION("a directory") {
    expect_clear_error(dir.path, "not a regular file");
  }
}
