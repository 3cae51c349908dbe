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
std::vector<std::string> split_csv_line(const std::string& line) {
  std::vector<std::string> cells;
  std::string cell;
  std::istringstream is(line);
  while (std::getline(is, cell, ',')) {
    while (!cell.empty() && (cell.back() == '\r' || cell.back() == ' ')) cell.pop_back();
    while (!cell.empty() && cell.front() == ' ') cell.erase(cell.begin());
    if (cell.size() >= 2 && cell.front() == '"' && cell.back() == '"') cell = cell.substr(1, cell.size() - 2);
    cells.push_back(cell);
  }
  if (!line.empty() && line.back() == ',') cells.emplace_back();
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
    const auto cells = split_csv_line(line);
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
      char* end = nullptr;
      row[i] = std::strtod(c.c_str(), &end);
      if (c.empty() || end != c.c_str() + c.size() || !std::isfinite(row[i])) {
        diagnostics.add({path, table.columns[i], line_number, static_cast<int>(i + 1)},
                        table.columns[i] == "SEX" ? "expected 0 (male), 1 (female), M or F, found '" + c + "'"
                                                  : "expected a finite number, found '" + c + "'");
        row[i] = std::numeric_limits<double>::quiet_NaN();  // the range checks below skip it
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
