#include "ketasim/population/population_file.hpp"

#include <charconv>
#include <system_error>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <sstream>
#include <sys/stat.h>
#include <algorithm>
#include <unordered_map>

#include "ketasim/core/error.hpp"
#include "ketasim/core/limits.hpp"

namespace ketasim::population {

int PopulationTable::column(const std::string& name) const {
  for (std::size_t i = 0; i < columns.size(); ++i) {
    if (columns[i] == name) return static_cast<int>(i);
  }
  return -1;
}

namespace {
// RFC 4180 cells: a quoted cell may hold commas and doubled quotes ("a, b" and "say ""hi"""), so
// a site or comment column exported by a spreadsheet does not shift the other cells.
// `unbalanced` is set when a quote is never closed (a cell spanning lines is not supported).
// Into `cells`, whose strings are reused from line to line (a 17-digit value is longer than a
// string's inline buffer: no allocation per cell).
void split_csv_line(const std::string& line, std::vector<std::string>& cells, bool& unbalanced) {
  std::size_t n_cells = 0;
  if (line.find('"') == std::string::npos) {
    // No quotes (every line of a numeric file): the cells between commas, trimmed as finish()
    // below trims them, copied whole; the character loop below was most of the parsing time.
    unbalanced = false;
    std::size_t start = 0;
    for (;;) {
      const std::size_t comma = line.find(',', start);
      std::size_t begin = start, end = comma == std::string::npos ? line.size() : comma;
      while (end > begin && (line[end - 1] == '\r' || line[end - 1] == ' ')) --end;
      while (begin < end && line[begin] == ' ') ++begin;
      if (n_cells == cells.size()) cells.emplace_back();
      cells[n_cells++].assign(line, begin, end - begin);
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    cells.resize(n_cells);
    return;
  }
  std::string cell;
  bool quoted = false, was_quoted = false;
  auto finish = [&] {
    if (!was_quoted) {
      while (!cell.empty() && (cell.back() == '\r' || cell.back() == ' ')) cell.pop_back();
      while (!cell.empty() && cell.front() == ' ') cell.erase(cell.begin());
    }
    if (n_cells == cells.size()) cells.emplace_back();
    cells[n_cells++].swap(cell);
    cell.clear();
    was_quoted = false;
  };
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        cell += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        cell += c;
      }
    } else if (c == '"' && cell.find_first_not_of(' ') == std::string::npos) {
      quoted = was_quoted = true;
      cell.clear();
    } else if (c == ',') {
      finish();
    } else if (!(was_quoted && (c == ' ' || c == '\r'))) {
      cell += c;
    }
  }
  unbalanced = quoted;
  finish();
  cells.resize(n_cells);
}
}  // namespace

namespace {
// The cell as a number, the whole cell or nothing: what strtod reads when it consumes the cell,
// with the same (correctly rounded) value. Plain decimals take std::from_chars, ~10x faster than
// glibc's strtod on 17-digit values (a 100,000-row file has 500,000 of them); anything it does not
// read entirely (a sign '+', hex, spaces, out-of-range exponents) goes to strtod as before.
bool parse_number(const std::string& cell, double& value) {
  const char* first = cell.data();
  const char* last = first + cell.size();
  const auto [ptr, ec] = std::from_chars(first, last, value);
  if (ec == std::errc() && ptr == last) return true;
  char* end = nullptr;
  value = std::strtod(cell.c_str(), &end);
  return end == last;
}

// Every row of the file with the population-file checks (WT on every row, AGE and SEX in range);
// `diagnostics` collects the problems so an event data set can add its own before throwing.
PopulationTable read_rows(const std::string& path, Diagnostics& diagnostics) {
  struct stat info {};
  if (stat(path.c_str(), &info) != 0) throw InputError(SourceLocation{path, "cohort.population_file", 0, 0}, "file not found");
  std::ifstream in(path);
  if (!in) throw InputError(SourceLocation{path, "cohort.population_file", 0, 0}, "cannot open file");
  PopulationTable table;
  table.path = path;
  std::string line;
  std::vector<std::string> cells;
  int line_number = 0;
  // Per column, what the row checks need of it (found once from the header).
  std::vector<char> is_sex, is_wt, is_checked;  // SEX; WT; WT, AGE or SEX (text there is an error)
  int wt = -1, age = -1, sex = -1;
  while (std::getline(in, line)) {
    ++line_number;
    // Spreadsheets save "UTF-8 CSV" with a byte-order mark, which would become part of the first name.
    if (line_number == 1 && line.compare(0, 3, "\xEF\xBB\xBF") == 0) line.erase(0, 3);
    if (line.find('\0') != std::string::npos) {
      throw InputError(SourceLocation{path, "", line_number, 0}, "not a CSV text file (binary NUL bytes)");
    }
    if (line.empty() || line == "\r") continue;
    bool unbalanced = false;
    split_csv_line(line, cells, unbalanced);
    if (unbalanced) {
      diagnostics.add({path, "", line_number, 0}, "a quoted cell is not closed (cells spanning lines are not supported)");
      continue;
    }
    if (table.columns.empty()) {
      table.columns = cells;
      std::unordered_map<std::string, std::size_t> first_column;  // linear, not pairwise: 100k columns happen
      for (std::size_t i = 0; i < cells.size(); ++i) {
        const auto [at, inserted] = first_column.emplace(cells[i], i);
        if (!inserted) {
          diagnostics.add({path, cells[i], line_number, static_cast<int>(i + 1)},
                          "duplicate column (first is column " + std::to_string(at->second + 1) + ")");
          if (diagnostics.messages().size() > 20) break;
        }
      }
      if (table.column("WT") < 0) diagnostics.add({path, "WT", line_number, 0}, "required column WT (body weight, kg) is missing");
      wt = table.column("WT");
      age = table.column("AGE");
      sex = table.column("SEX");
      for (const std::string& name : table.columns) {
        is_sex.push_back(name == "SEX");
        is_wt.push_back(name == "WT");
        is_checked.push_back(name == "WT" || name == "AGE" || name == "SEX");
      }
      continue;
    }
    if (cells.size() != table.columns.size()) {
      diagnostics.add({path, "", line_number, 0}, "expected " + std::to_string(table.columns.size()) + " cells, found " +
                                                      std::to_string(cells.size()));
      if (diagnostics.messages().size() > 20) break;
      continue;
    }
    std::vector<double> row(cells.size());
    for (std::size_t i = 0; i < cells.size(); ++i) {
      const std::string& c = cells[i];
      if (is_sex[i] && (c == "M" || c == "F")) {
        row[i] = c == "F" ? 1.0 : 0.0;
        continue;
      }
      // NONMEM's "." (and an empty cell) is a missing value: the patient's drawn value is used.
      if (c == "." || c.empty()) {
        row[i] = std::numeric_limits<double>::quiet_NaN();
        if (is_wt[i]) diagnostics.add({path, "WT", line_number, static_cast<int>(i + 1)},
                                                      "body weight (WT) is required for every patient, found '" + c + "'");
        continue;
      }
      if (!parse_number(c, row[i]) || !std::isfinite(row[i])) {
        row[i] = std::numeric_limits<double>::quiet_NaN();  // the range checks below skip it
        // Text in a column ketasim does not use is kept as is (e.g. a site name); in a column it
        // uses, the study loader reports it (it knows which columns the arms' models read).
        const std::string& name = table.columns[i];
        if (is_checked[i]) {  // always read: an error right away
          diagnostics.add({path, name, line_number, static_cast<int>(i + 1)},
                          name == "SEX" ? "expected 0 (male), 1 (female), M or F, found '" + c + "'"
                                        : "expected a finite number or '.' (missing), found '" + c + "'");
        } else if (!table.bad_cell.count(i)) {
          table.bad_cell[i] = {line_number, c};
        }
      }
    }
    if (wt >= 0 && std::isfinite(row[wt]) && !(row[wt] > 0.0)) {
      diagnostics.add({path, "WT", line_number, wt + 1}, "body weight must be positive");
    } else if (wt >= 0 && std::isfinite(row[wt]) &&
               !(row[wt] >= limits::kWeightKg.min && row[wt] <= limits::kWeightKg.max)) {
      diagnostics.add({path, "WT", line_number, wt + 1}, "body weight must be in " + limits::kWeightKg.text() + " kg");
    }
    if (age >= 0 && std::isfinite(row[age]) && !(row[age] >= limits::kAgeY.min && row[age] <= limits::kAgeY.max)) {
      diagnostics.add({path, "AGE", line_number, age + 1}, "age must be in " + limits::kAgeY.text() + " years");
    }
    if (sex >= 0 && row[sex] != 0.0 && row[sex] != 1.0 && std::isfinite(row[sex])) {
      diagnostics.add({path, "SEX", line_number, sex + 1}, "expected 0 (male), 1 (female), M or F");
    }
    table.values.push_back(std::move(row));
    table.row_line.push_back(line_number);
    if (diagnostics.messages().size() > 20) break;  // the first twenty problems say enough
  }
  if (table.columns.empty() || table.values.empty()) {
    diagnostics.add({path, "", line_number, 0}, "expected a header row and at least one patient row");
  }
  return table;
}
}  // namespace

PopulationTable load_population_csv(const std::string& path) {
  Diagnostics diagnostics;
  PopulationTable table = read_rows(path, diagnostics);
  diagnostics.throw_if_any();
  return table;
}

PopulationTable load_event_csv(const std::string& path) {
  Diagnostics diagnostics;
  PopulationTable all = read_rows(path, diagnostics);
  if (all.columns.empty()) diagnostics.throw_if_any();
  const int header_line = 1;  // blank lines before the header are rare enough not to track
  for (const char* name : {"ID", "TIME", "AMT"}) {
    if (all.column(name) < 0) {
      diagnostics.add({path, name, header_line, 0}, std::string("required column ") + name + " of an event data set is missing");
    }
  }
  if (all.column("RATE") >= 0 && all.column("DUR") >= 0) {
    // NONMEM takes one or the other; two sources of the infusion length would have to agree.
    diagnostics.add({path, "DUR", header_line, all.column("DUR") + 1}, "give RATE (mg/h) or DUR (h), not both columns");
  }
  // Event columns are read for every record: text in them is an error (other columns keep it).
  static const char* const kEventColumns[] = {"ID", "TIME", "AMT", "EVID", "RATE", "DUR", "CMT", "II", "ADDL", "SS", "MDV"};
  for (const char* name : kEventColumns) {
    const int c = all.column(name);
    if (c < 0) continue;
    if (const auto bad = all.bad_cell.find(static_cast<std::size_t>(c)); bad != all.bad_cell.end()) {
      diagnostics.add({path, name, bad->second.line, c + 1}, "expected a number or '.' (missing), found '" + bad->second.text + "'");
    }
  }
  if (!diagnostics.empty()) diagnostics.throw_if_any();

  const int id_c = all.column("ID"), time_c = all.column("TIME"), amt_c = all.column("AMT"), evid_c = all.column("EVID"),
            rate_c = all.column("RATE"), dur_c = all.column("DUR"), cmt_c = all.column("CMT"), ii_c = all.column("II"),
            addl_c = all.column("ADDL"), ss_c = all.column("SS");
  // Covariates are per patient: a value that changes within an ID would be silently replaced by the
  // first record's, so it is an error (time-varying covariates are not supported).
  std::vector<int> constant_columns;
  for (std::size_t k = 0; k < all.columns.size(); ++k) {
    const std::string& name = all.columns[k];
    if (name == "WT" || name == "AGE" || name == "SEX" || name.rfind("ETA_", 0) == 0) constant_columns.push_back(static_cast<int>(k));
  }
  PopulationTable table;
  table.path = path;
  table.columns = all.columns;
  table.bad_cell = all.bad_cell;
  table.events = true;
  std::map<double, int> first_line_of_id;
  double previous_time_h = 0.0;
  int previous_line = 0;
  auto cell = [&](std::size_t r, int c) { return c >= 0 ? all.values[r][c] : std::numeric_limits<double>::quiet_NaN(); };
  auto is_integer = [](double v) { return std::isfinite(v) && v == std::floor(v); };
  for (std::size_t r = 0; r < all.rows() && diagnostics.messages().size() <= 20; ++r) {
    const int line = all.row_line[r];
    auto fail = [&](const char* column, int c, const std::string& message) {
      diagnostics.add({path, column, line, c + 1}, message);
    };
    const double id = cell(r, id_c);
    if (std::isnan(id)) {
      fail("ID", id_c, "every record needs an ID, found '.' (missing)");
      continue;
    }
    const bool new_patient = table.values.empty() || id != table.values.back()[id_c];
    if (new_patient) {
      const auto [at, inserted] = first_line_of_id.emplace(id, line);
      if (!inserted) {
        fail("ID", id_c, "the records of ID " + limits::format(id) + " are not contiguous (its first record is on line " +
                             std::to_string(at->second) + "); sort the data set by ID, then TIME");
        continue;
      }
      table.values.push_back(all.values[r]);
      table.row_line.push_back(line);
      table.doses.emplace_back();
    } else {
      for (int c : constant_columns) {
        const double first = table.values.back()[c], here = all.values[r][c];
        if (!(first == here || (std::isnan(first) && std::isnan(here)))) {
          fail(all.columns[c].c_str(), c, all.columns[c] + " changes within ID " + limits::format(id) + " (" +
                                              limits::format(first) + " on line " + std::to_string(table.row_line.back()) +
                                              ", " + limits::format(here) + " here); time-varying covariates are not supported");
        }
      }
    }
    const double time_h = cell(r, time_c);
    if (std::isnan(time_h)) {
      fail("TIME", time_c, "every record needs a TIME (h), found '.' (missing)");
      continue;
    }
    if (time_h < 0.0) {
      fail("TIME", time_c, "expected TIME >= 0 (h since day 0, the study start), found " + limits::format(time_h));
      continue;
    }
    if (!new_patient && time_h < previous_time_h) {
      fail("TIME", time_c, "TIME decreases within ID " + limits::format(id) + " (" + limits::format(time_h) +
                               " after " + limits::format(previous_time_h) + " on line " + std::to_string(previous_line) +
                               "); records of an ID must be in time order");
    }
    previous_time_h = time_h;
    previous_line = line;
    const double amt = cell(r, amt_c);
    double evid = cell(r, evid_c);
    if (evid_c < 0) evid = amt > 0.0 ? 1.0 : 0.0;  // NONMEM without EVID: a record with an amount is a dose
    if (std::isnan(evid)) {
      fail("EVID", evid_c, "every record needs an EVID (0 observation, 1 dose, 2 other), found '.' (missing)");
      continue;
    }
    if (evid == 3.0 || evid == 4.0) {
      fail("EVID", evid_c, "EVID " + limits::format(evid) + " (reset) is not supported: every patient starts the study without drug");
      continue;
    }
    if (evid != 0.0 && evid != 1.0 && evid != 2.0) {
      fail("EVID", evid_c, "expected EVID 0 (observation), 1 (dose) or 2 (other), found " + limits::format(evid));
      continue;
    }
    if (evid != 1.0) {
      if (amt_c >= 0 && !std::isnan(amt) && amt != 0.0) {
        fail("AMT", amt_c, "AMT " + limits::format(amt) + " on a record that is not a dose (EVID " + limits::format(evid) +
                               "); a dose needs EVID 1");
      }
      continue;
    }
    if (std::isnan(amt)) {
      fail("AMT", amt_c, "a dose record (EVID 1) needs AMT (mg), found '.' (missing)");
      continue;
    }
    if (amt < 0.0) {
      fail("AMT", amt_c, "expected AMT >= 0 (mg; 0 for a placebo session), found " + limits::format(amt));
      continue;
    }
    if (amt > limits::kMaxDoseMg) {
      fail("AMT", amt_c, "a dose of at most " + limits::format(limits::kMaxDoseMg) + " mg is accepted (AMT is in mg; a unit slip?), found " +
                             limits::format(amt));
      continue;
    }
    const double ss = cell(r, ss_c);
    if (!std::isnan(ss) && ss != 0.0) {
      fail("SS", ss_c, "steady-state doses (SS " + limits::format(ss) + ") are not supported; lay out the doses before the study with ADDL and II, or start at TIME 0 without drug");
      continue;
    }
    pk::RecordedDose dose;
    dose.time_h = time_h;
    dose.amount_mg = amt;
    dose.line = line;
    const double rate = cell(r, rate_c), dur = cell(r, dur_c);
    if (!std::isnan(rate) && rate != 0.0) {
      if (rate == -1.0 || rate == -2.0) {
        fail("RATE", rate_c, "RATE " + limits::format(rate) + " (rate or duration from the model) is not supported; give RATE in mg/h or DUR in h");
        continue;
      }
      if (!(rate > 0.0)) {
        fail("RATE", rate_c, "expected RATE > 0 (mg/h), 0 or '.' (bolus), found " + limits::format(rate));
        continue;
      }
      if (amt == 0.0) {
        fail("RATE", rate_c, "RATE " + limits::format(rate) + " with AMT 0: an infusion needs an amount (a placebo session has neither)");
        continue;
      }
      dose.duration_h = amt / rate;
    } else if (!std::isnan(dur) && dur != 0.0) {
      if (!(dur > 0.0)) {
        fail("DUR", dur_c, "expected DUR > 0 (h), 0 or '.' (bolus), found " + limits::format(dur));
        continue;
      }
      if (amt == 0.0) {
        fail("DUR", dur_c, "DUR " + limits::format(dur) + " with AMT 0: an infusion needs an amount (a placebo session has neither)");
        continue;
      }
      dose.duration_h = dur;
    }
    const double cmt = cell(r, cmt_c);
    if (!std::isnan(cmt)) {
      if (!is_integer(cmt) || cmt < 1.0 || cmt > 99.0) {
        fail("CMT", cmt_c, "expected CMT a compartment number >= 1 (or '.'), found " + limits::format(cmt));
        continue;
      }
      dose.cmt = static_cast<int>(cmt);
    }
    const double addl = cell(r, addl_c), ii = cell(r, ii_c);
    long long extra = 0;
    if (!std::isnan(addl) && addl != 0.0) {
      if (!is_integer(addl) || addl < 0.0) {
        fail("ADDL", addl_c, "expected ADDL a whole number >= 0 (additional doses), found " + limits::format(addl));
        continue;
      }
      if (addl > static_cast<double>(limits::kMaxSessions)) {
        fail("ADDL", addl_c, "at most " + std::to_string(limits::kMaxSessions) + " additional doses, found " + limits::format(addl));
        continue;
      }
      if (std::isnan(ii) || !(ii > 0.0)) {
        fail("II", ii_c, "ADDL " + limits::format(addl) + " needs an interval II > 0 (h)");
        continue;
      }
      if (dose.duration_h > ii) {
        fail("II", ii_c, "the infusion (" + limits::format(dose.duration_h) + " h) is longer than the dosing interval II");
        continue;
      }
      extra = static_cast<long long>(addl);
    } else if (!std::isnan(ii) && ii < 0.0) {
      fail("II", ii_c, "expected II >= 0 (h), found " + limits::format(ii));
      continue;
    }
    auto& doses = table.doses.back();
    for (long long k = 0; k <= extra; ++k) {
      pk::RecordedDose d = dose;
      // II only counts with ADDL (NONMEM ignores it otherwise; '.' is NaN and 0 x NaN would be NaN).
      d.time_h = k == 0 ? time_h : time_h + static_cast<double>(k) * ii;  // multiply, not accumulate: no drift
      d.additional = k > 0;
      doses.push_back(d);
    }
    if (static_cast<long long>(doses.size()) > limits::kMaxSessions) {
      fail("ADDL", addl_c, "ID " + limits::format(id) + " has more than " + std::to_string(limits::kMaxSessions) + " doses");
      continue;
    }
  }
  diagnostics.throw_if_any();
  // ADDL doses of an early record can fall after a later record's: the doses are given in time order.
  for (auto& doses : table.doses) {
    std::stable_sort(doses.begin(), doses.end(), [](const pk::RecordedDose& a, const pk::RecordedDose& b) { return a.time_h < b.time_h; });
  }
  return table;
}

}  // namespace ketasim::population
