#include "ketasim/population/population_file.hpp"

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <sstream>
#include <sys/stat.h>
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
std::vector<std::string> split_csv_line(const std::string& line, bool& unbalanced) {
  std::vector<std::string> cells;
  std::string cell;
  bool quoted = false, was_quoted = false;
  auto finish = [&] {
    if (!was_quoted) {
      while (!cell.empty() && (cell.back() == '\r' || cell.back() == ' ')) cell.pop_back();
      while (!cell.empty() && cell.front() == ' ') cell.erase(cell.begin());
    }
    cells.push_back(cell);
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
  return cells;
}
}  // namespace

PopulationTable load_population_csv(const std::string& path) {
  struct stat info {};
  if (stat(path.c_str(), &info) != 0) throw InputError(SourceLocation{path, "cohort.population_file", 0, 0}, "file not found");
  std::ifstream in(path);
  if (!in) throw InputError(SourceLocation{path, "cohort.population_file", 0, 0}, "cannot open file");
  PopulationTable table;
  table.path = path;
  Diagnostics diagnostics;
  std::string line;
  int line_number = 0;
  while (std::getline(in, line)) {
    ++line_number;
    // Spreadsheets save "UTF-8 CSV" with a byte-order mark, which would become part of the first name.
    if (line_number == 1 && line.compare(0, 3, "\xEF\xBB\xBF") == 0) line.erase(0, 3);
    if (line.find('\0') != std::string::npos) {
      throw InputError(SourceLocation{path, "", line_number, 0}, "not a CSV text file (binary NUL bytes)");
    }
    if (line.empty() || line == "\r") continue;
    bool unbalanced = false;
    const auto cells = split_csv_line(line, unbalanced);
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
      if (table.columns[i] == "SEX" && (c == "M" || c == "F")) {
        row[i] = c == "F" ? 1.0 : 0.0;
        continue;
      }
      // NONMEM's "." (and an empty cell) is a missing value: the patient's drawn value is used.
      if (c == "." || c.empty()) {
        row[i] = std::numeric_limits<double>::quiet_NaN();
        if (table.columns[i] == "WT") diagnostics.add({path, "WT", line_number, static_cast<int>(i + 1)},
                                                      "body weight (WT) is required for every patient, found '" + c + "'");
        continue;
      }
      char* end = nullptr;
      row[i] = std::strtod(c.c_str(), &end);
      if (end != c.c_str() + c.size() || !std::isfinite(row[i])) {
        row[i] = std::numeric_limits<double>::quiet_NaN();  // the range checks below skip it
        // Text in a column ketasim does not use is kept as is (e.g. a site name); in a column it
        // uses, the study loader reports it (it knows which columns the arms' models read).
        const std::string& name = table.columns[i];
        if (name == "WT" || name == "AGE" || name == "SEX") {  // always read: an error right away
          diagnostics.add({path, name, line_number, static_cast<int>(i + 1)},
                          name == "SEX" ? "expected 0 (male), 1 (female), M or F, found '" + c + "'"
                                        : "expected a finite number or '.' (missing), found '" + c + "'");
        } else if (!table.bad_cell.count(i)) {
          table.bad_cell[i] = {line_number, c};
        }
      }
    }
    const int wt = table.column("WT");
    const int age = table.column("AGE");
    if (wt >= 0 && std::isfinite(row[wt]) && !(row[wt] > 0.0)) {
      diagnostics.add({path, "WT", line_number, wt + 1}, "body weight must be positive");
    } else if (wt >= 0 && std::isfinite(row[wt]) &&
               !(row[wt] >= limits::kWeightKg.min && row[wt] <= limits::kWeightKg.max)) {
      diagnostics.add({path, "WT", line_number, wt + 1}, "body weight must be in " + limits::kWeightKg.text() + " kg");
    }
    if (age >= 0 && std::isfinite(row[age]) && !(row[age] >= limits::kAgeY.min && row[age] <= limits::kAgeY.max)) {
      diagnostics.add({path, "AGE", line_number, age + 1}, "age must be in " + limits::kAgeY.text() + " years");
    }
    const int sex = table.column("SEX");
    if (sex >= 0 && row[sex] != 0.0 && row[sex] != 1.0 && std::isfinite(row[sex])) {
      diagnostics.add({path, "SEX", line_number, sex + 1}, "expected 0 (male), 1 (female), M or F");
    }
    table.values.push_back(std::move(row));
    if (diagnostics.messages().size() > 20) break;  // the first twenty problems say enough
  }
  if (table.columns.empty() || table.values.empty()) {
    diagnostics.add({path, "", line_number, 0}, "expected a header row and at least one patient row");
  }
  diagnostics.throw_if_any();
  return table;
}

}  // namespace ketasim::population
