// Cohort from a CSV population file (cohort.population_file, docs/config.md): a good file gives its
// rows as patients (with their covariates); each kind of bad file is an input error naming the
// file, the column and the line.
#include <catch2/catch.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "ketasim/population/population_file.hpp"
#include "ketasim/response/response_model.hpp"
#include "ketasim/trial/config.hpp"
#include "ketasim/trial/engine.hpp"
#include "ketasim/trial/study.hpp"

using namespace ketasim;
using Catch::Contains;

namespace {
const std::string kDir = std::string(KETASIM_TEST_DATA_DIR) + "/population/";

// Problems of a population file as every command reports them: through the study loader, which
// also knows which columns the arms' models read.
std::string error_of(const std::string& file) {
  try {
    trial::load_study(kDir + "study.yaml", {trial::parse_override("cohort.population_file=" + file)});
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

struct Result {
  int status = -1;
  std::string out, err;
};

Result run_ketasim(const std::string& args) {
  const std::string base = "/tmp/ketasim_population_" + std::to_string(::getpid());
  const int raw = std::system((std::string("\"") + KETASIM_EXE + "\" " + args + " >" + base + ".out 2>" + base + ".err").c_str());
  Result r;
  r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  for (auto [path, text] : {std::pair{base + ".out", &r.out}, std::pair{base + ".err", &r.err}}) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    *text = ss.str();
    std::remove(path.c_str());
  }
  return r;
}
}  // namespace

TEST_CASE("A good population file: columns, rows, M/F mapped to 0/1", "[population][population_file]") {
  const auto t = population::load_population_csv(kDir + "good.csv");
  CHECK(t.columns == std::vector<std::string>{"ID", "WT", "AGE", "SEX", "ETA_CL"});
  REQUIRE(t.rows() == 4);
  CHECK(t.values[1][t.column("WT")] == 85.5);
  CHECK(t.values[0][t.column("SEX")] == 0.0);
  CHECK(t.values[1][t.column("SEX")] == 1.0);
  CHECK(t.values[3][t.column("ETA_CL")] == 0.35);
  CHECK(t.column("NOPE") == -1);
}

TEST_CASE("Bad population files name file, column and line", "[population][population_file]") {
  CHECK_THAT(error_of("missing-wt.csv"), Contains("missing-wt.csv:1") && Contains("required column WT"));
  CHECK_THAT(error_of("not-a-number.csv"),
             Contains("not-a-number.csv:3:2") && Contains("key 'WT'") && Contains("found 'abc'"));
  CHECK_THAT(error_of("wrong-cell-count.csv"), Contains("wrong-cell-count.csv:3") && Contains("expected 3 cells, found 2"));
  CHECK_THAT(error_of("negative-weight.csv"), Contains("negative-weight.csv:2:2") && Contains("body weight must be positive"));
  CHECK_THAT(error_of("bad-sex.csv"), Contains("bad-sex.csv:2:3: key 'SEX'") && Contains("M or F") &&
                                          Contains("bad-sex.csv:3:3: key 'SEX'") && Contains("found 'X'"));
  CHECK_THAT(error_of("duplicate-column.csv"), Contains("duplicate-column.csv:1:3") && Contains("duplicate column"));
  CHECK_THAT(error_of("header-only.csv"), Contains("header-only.csv") && Contains("at least one patient row"));
  CHECK_THAT(error_of("no-such.csv"), Contains("no-such.csv") && Contains("not found"));
}

TEST_CASE("A study on a population file: every row is a patient", "[population][population_file]") {
  const trial::Study study = trial::load_study(kDir + "study.yaml");
  const trial::StudyConfig& c = study.config;
  CHECK(c.cohort.population_file == kDir + "good.csv");
  REQUIRE(study.population);
  const trial::TrialSummary s = trial::simulate_endpoints(c, *study.response_model, study.population.get());
  REQUIRE(s.arms.size() == 1);
  CHECK(s.arms[0].n == 4);
  // A missing file is reported at the config key, before anything runs.
  REQUIRE_THROWS_WITH(trial::load_study_config(kDir + "study.yaml", {trial::parse_override("cohort.population_file=gone.csv")}),
                      Contains("study.yaml:3:") && Contains("cohort.population_file") && Contains("not found"));
}

TEST_CASE("Population files through the binary: a run, and an unknown column", "[population][population_file][cli]") {
  const Result ok = run_ketasim("run --quiet -o /tmp/ketasim_population_" + std::to_string(::getpid()) + ".h5 " + kDir + "study.yaml");
  std::remove(("/tmp/ketasim_population_" + std::to_string(::getpid()) + ".h5").c_str());
  INFO(ok.err);
  CHECK(ok.status == 0);
  CHECK_THAT(ok.out, Contains("4 patients per arm"));
  // Columns no model uses are kept (they may be for other tools) and noted with -v, in check and run alike.
  for (const char* command : {"check -v", "run -v -o /tmp/ketasim_population_extra.h5"}) {
    const Result extra = run_ketasim(std::string(command) + " --set cohort.population_file=unknown-column.csv " + kDir + "study.yaml");
    INFO(command << ": " << extra.err);
    CHECK(extra.status == 0);
    CHECK_THAT(extra.err, Contains("unknown-column.csv") && Contains("BOGUS") && Contains("not used"));
  }
  std::remove("/tmp/ketasim_population_extra.h5");
  // Asking for more patients than the file has is refused by check exactly as by run.
  const Result more = run_ketasim("check --set cohort.patients=10 " + kDir + "study.yaml");
  CHECK(more.status == 1);
  CHECK_THAT(more.err, Contains("asks for 10 patients"));
}

namespace {
std::string write_temp_csv(const std::string& tag, const std::string& text) {
  const std::string path = "/tmp/ketasim_population_" + tag + "_" + std::to_string(::getpid()) + ".csv";
  std::ofstream(path, std::ios::binary) << text;
  return path;
}
std::string csv_error(const std::string& tag, const std::string& text) {
  const std::string path = write_temp_csv(tag, text);
  std::string message;
  try {
    population::load_population_csv(path);
  } catch (const InputError& e) {
    message = e.what();
  }
  std::remove(path.c_str());
  return message;
}
}  // namespace

TEST_CASE("A byte-order mark is not part of the first column name", "[population][population_file][robust]") {
  const std::string path = write_temp_csv("bom", "\xEF\xBB\xBFID,WT,AGE\n1,70,40\n");
  const auto t = population::load_population_csv(path);
  std::remove(path.c_str());
  CHECK(t.columns == std::vector<std::string>{"ID", "WT", "AGE"});
  CHECK(t.column("ID") == 0);
}

TEST_CASE("Covariates from a file must be what a person can be", "[population][population_file][robust]") {
  CHECK_THAT(csv_error("tiny", "WT,AGE\n1e-300,40\n"), Contains(":2:1: key 'WT'") && Contains("0.5 to 700 kg"));
  CHECK_THAT(csv_error("old", "WT,AGE\n70,500\n"), Contains(":2:2: key 'AGE'") && Contains("0 to 130 years"));
  CHECK(csv_error("fine", "WT,AGE\n0.5,0\n700,130\n").empty());
}

TEST_CASE("A header of 100,000 columns with a duplicate is reported, naming both columns", "[population][population_file][robust]") {
  std::string header;
  for (int i = 0; i < 100000; ++i) header += (i ? ",C" : "WT,C") + std::to_string(i);
  header += ",C77\n";
  const std::string message = csv_error("wide", header + "70\n");
  CHECK_THAT(message, Contains(":1:100002: key 'C77': duplicate column (first is column 79)"));
}

// Issue 9 (0900520 broke on each): a quoted cell with a comma, extra text columns, and NONMEM's
// "." for a missing value. Missing cells keep the patient's drawn value; text in a column no model
// reads is kept, not an error.
TEST_CASE("Quoted cells, extra text columns and '.' for missing", "[population][population_file]") {
  const population::PopulationTable t = population::load_population_csv(kDir + "quoted.csv");
  REQUIRE(t.columns == std::vector<std::string>{"ID", "SITE", "WT", "AGE", "SEX", "ETA_CL", "NOTE"});
  REQUIRE(t.rows() == 3);
  CHECK(t.values[0][2] == 70.0);
  CHECK(t.values[1][2] == 85.5);   // not shifted by the comma inside "Lyon, FR"
  CHECK(std::isnan(t.values[1][3]));  // AGE "."
  CHECK(std::isnan(t.values[1][5]));  // ETA_CL "."
  CHECK(t.values[2][5] == 0.05);
  CHECK(t.bad_cell.count(1) == 1);     // SITE is text: kept, reported only if something read it
  // Through the study loader and the engine: the run uses the file's values where given.
  const trial::Study study = trial::load_study(kDir + "study.yaml", {trial::parse_override("cohort.population_file=quoted.csv")});
  const auto s = trial::simulate_endpoints(study.config, *study.response_model, study.population.get());
  CHECK(s.arms[0].n == 3);
  // A text cell in a column the model reads is an error naming file, column and line.
  REQUIRE_THROWS_WITH(trial::load_study(kDir + "study.yaml", {trial::parse_override("cohort.population_file=not-a-number.csv")}),
                      Contains("not-a-number.csv:") && Contains("expected a finite number"));
}

TEST_CASE("Lines with and without quotes split and trim alike (CRLF, spaces around cells)", "[population][population_file]") {
  // Lines without a quote take a fast path; it must give the cells the quote-aware loop gives:
  // spaces before and after a cell and a CRLF's '\r' dropped, inner spaces and empty cells kept.
  const std::string path = write_temp_csv("crlf", " ID , WT ,AGE,NOTE\r\n1, 70.5 ,40 , a b \r\n\"2\", 71 ,\"41\", a b \r\n3,72,,x\r\n");
  const population::PopulationTable t = population::load_population_csv(path);
  CHECK(t.columns == std::vector<std::string>{"ID", "WT", "AGE", "NOTE"});
  REQUIRE(t.rows() == 3);
  CHECK(t.values[0][0] == 1.0);
  CHECK(t.values[0][1] == 70.5);
  CHECK(t.values[0][2] == 40.0);
  CHECK(t.values[1][1] == 71.0);
  CHECK(t.values[1][2] == 41.0);
  CHECK(std::isnan(t.values[2][2]));  // an empty cell is missing
  REQUIRE(t.bad_cell.count(3) == 1);
  CHECK(t.bad_cell.at(3).text == "a b");  // trimmed, inner space kept
}

TEST_CASE("Numbers in a population file read exactly as strtod reads them", "[population][population_file]") {
  // The loader reads plain decimals with std::from_chars and falls back to strtod for the rest;
  // every value must be strtod's, bit for bit, and a cell strtod does not read entirely must stay
  // text (NaN, recorded as the column's first bad cell). Random 17-digit values as numpy's repr
  // writes them, halfway and denormal cases, signs, exponents, hex, infinities, spaces.
  std::vector<std::string> texts{"0",      "-0",       "1",         "+1.5",       "1e-320",  "4.9e-324", "2.5e-324",
                                 "1e-400", "1e400",    "1.7976931348623157e308",   "0x1p3",   "0x",       ".5",
                                 "5.",     "-.5e-3",   "9007199254740993",          "0.1",     "1E5",      "inf",
                                 "nan",    " 70",      "70 ",       "7,0",        "1e",      "--1",      "80.00000000000000001"};
  std::mt19937_64 rng(7);
  for (int i = 0; i < 2000; ++i) {
    const double v = std::ldexp(static_cast<double>(rng() >> 11), static_cast<int>(rng() % 80) - 100);
    char buffer[64];
    std::snprintf(buffer, sizeof buffer, i % 2 ? "%.17g" : "%.15g", i % 3 ? v : -v);
    texts.push_back(buffer);
  }
  std::string csv = "WT,X\n";
  for (const auto& t : texts) csv += "70,\"" + t + "\"\n";  // quoted: spaces and commas stay in the cell
  const std::string path = write_temp_csv("numbers", csv);
  const auto table = population::load_population_csv(path);
  std::remove(path.c_str());
  REQUIRE(table.rows() == texts.size());
  const int x = table.column("X");
  int first_bad = -1;
  for (std::size_t r = 0; r < texts.size(); ++r) {
    const std::string& text = texts[r];
    char* end = nullptr;
    const double expected = std::strtod(text.c_str(), &end);
    const bool number = end == text.c_str() + text.size() && std::isfinite(expected);
    const double actual = table.values[r][x];
    INFO("cell '" << text << "'");
    if (number) {
      CHECK(std::memcmp(&actual, &expected, sizeof actual) == 0);
    } else {
      CHECK(std::isnan(actual));
      if (first_bad < 0) first_bad = static_cast<int>(r);
    }
  }
  REQUIRE(first_bad >= 0);
  REQUIRE(table.bad_cell.count(static_cast<std::size_t>(x)) == 1);
  CHECK(table.bad_cell.at(static_cast<std::size_t>(x)).text == texts[static_cast<std::size_t>(first_bad)]);
}
