// Spec 1: "Nothing half-written is ever left at the output path." Starts a big run of the real
// binary (configs/default.yaml, 200,000 patients, full concentration output: minutes of work),
// interrupts it with SIGINT or SIGTERM once its temporary file exists (about 1 s in), and checks
// that it exits with a non-zero status of its own (2, runtime failure; not killed by the signal)
// and leaves nothing in the output folder: no output file and no `<output>.tmp.<pid>`.
#include <catch2/catch.hpp>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <dirent.h>
#include <fcntl.h>
#include <string>
#include <sys/resource.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace {

std::vector<std::string> folder_entries(const std::string& dir) {
  std::vector<std::string> names;
  if (DIR* d = opendir(dir.c_str())) {
    while (const dirent* e = readdir(d)) {
      const std::string name = e->d_name;
      if (name != "." && name != "..") names.push_back(name);
    }
    closedir(d);
  }
  return names;
}

// Returns the run's peak resident memory (kB).
long interrupt_run(int signal_number, const char* patients = "200000", const char* concentration = "full") {
  char templ[] = "/tmp/ketasim_test_interrupt_XXXXXX";
  REQUIRE(mkdtemp(templ) != nullptr);
  const std::string dir = templ;
  const std::string output = dir + "/big.h5";
  const std::string config = std::string(KETASIM_SOURCE_DIR) + "/configs/default.yaml";
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    const int null = open("/dev/null", O_WRONLY);
    dup2(null, STDOUT_FILENO);
    dup2(null, STDERR_FILENO);
    const std::string output_mode = std::string("outputs.concentration=") + concentration;
    execl(KETASIM_EXE, KETASIM_EXE, "run", config.c_str(), "--patients", patients, "--set", output_mode.c_str(), "-o", output.c_str(), "--quiet", "--threads", "2", static_cast<char*>(nullptr));
    _exit(127);
  }
  // Wait until the run is under way (its temporary file exists), then let it work ~1 s more.
  const auto start = std::chrono::steady_clock::now();
  bool started = false;
  while (!started && std::chrono::steady_clock::now() - start < std::chrono::seconds(20)) {
    started = !folder_entries(dir).empty();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  CHECK(started);
  std::this_thread::sleep_for(std::chrono::seconds(1));
  int status = 0;
  // Still running: the run must be interrupted, not already finished.
  REQUIRE(waitpid(pid, &status, WNOHANG) == 0);
  REQUIRE(kill(pid, signal_number) == 0);
  struct rusage usage {};
  REQUIRE(wait4(pid, &status, 0, &usage) == pid);
  INFO("signal " << signal_number);
  CHECK(WIFEXITED(status));  // handled: the process exits by itself, after cleaning up
  // README: "2 runtime failure". Any other code (1 = bad input, 130/143 = shell-style signal
  // codes) would mean the interrupt took a path the documentation does not promise.
  if (WIFEXITED(status)) CHECK(WEXITSTATUS(status) == 2);
  const auto left = folder_entries(dir);
  std::string listing;
  for (const auto& name : left) listing += " " + name;
  INFO("left behind:" << listing);
  CHECK(left.empty());
  std::system(("rm -rf " + dir).c_str());
  return usage.ru_maxrss;
}

}  // namespace

TEST_CASE("SIGINT during a run leaves no output and no temporary file", "[cli][interrupt]") { interrupt_run(SIGINT); }

TEST_CASE("SIGTERM during a run leaves no output and no temporary file", "[cli][interrupt]") { interrupt_run(SIGTERM); }

// Issue 14: a closed terminal (ssh dropped) must clean up like SIGTERM.
TEST_CASE("SIGHUP during a run leaves no output and no temporary file", "[cli][interrupt][robust]") { interrupt_run(SIGHUP); }

// Issue 14: memory must not grow with the number of patients beyond the batch buffers. The same
// run at 2*10^6 and 2*10^7 patients (both interrupted about 1 s in, without concentration output):
// any per-patient array of 8-byte values, such as the `patient` coordinate once was, costs 16 MB
// in the first and 160 MB in the second, so their peaks differ by ~144 MB; without one they differ
// by allocator noise. Comparing two runs, not one run with a fixed bound, keeps the test valid
// under sanitizers, whose shadow memory adds ~100 MB to both (measured: 48 MB release, 156 MB ASan).
TEST_CASE("Memory does not grow with the number of patients", "[cli][interrupt][memory]") {
  const long small_kb = interrupt_run(SIGTERM, "2000000", "none");
  const long large_kb = interrupt_run(SIGTERM, "20000000", "none");
  INFO("peak resident memory " << small_kb / 1024 << " MB at 2e6 patients, " << large_kb / 1024 << " MB at 2e7");
  CHECK(large_kb - small_kb < 60L * 1024);
}
