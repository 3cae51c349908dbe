// Unusable config files give a clear error (exit 1, the file named, what is wrong) fast: a
// malformed, an empty, a binary and a 50 MB file. The 50 MB file is made in a temporary folder at
// test time (not committed). The < 1 s bound is a generous guard, not a benchmark: the checks
// happen before any parsing (size by stat(), NUL bytes, blank text), so the real time is a few ms
// plus process start; a regression that parses or reads a 50 MB file into yaml-cpp takes many
// seconds and is caught even on a loaded 2-core machine.
#include <catch2/catch.hpp>

#include "../support/command.hpp"

#include <sys/wait.h>
#include <unistd.h>

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

void expect_clear_error(const std::string& path, const std::string& fragment) {
  const Timed t = check(path);
  INFO(path << "\nstderr:\n" << t.err << "\ntime " << t.seconds << " s");
  CHECK(t.status == 1);
  CHECK(t.err.find(path) != std::string::npos);
  CHECK(t.err.find(fragment) != std::string::npos);
  CHECK(t.err.find('\n') == t.err.size() - 1);  // one line, no stack of follow-on errors
  CHECK(t.seconds < 1.0);
}

}  // namespace

TEST_CASE("Malformed, empty, binary and 50 MB config files: a clear error in under a second", "[cli][large]") {
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
