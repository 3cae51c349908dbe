#pragma once
// A cohort from a file instead of distributions: CSV with a header row, one patient per row.
// Recognised columns (case-sensitive, NONMEM-style): ID, WT (kg, required), AGE (y), SEX (0/1 or
// M/F; 1 = female), ETA_<PARAM> (between-subject random effect of a model parameter) and <PARAM>
// (an individual parameter value in the unit the model file gives it). Other columns are kept and
// ignored (noted with -v). Cells may be quoted (RFC 4180); "." or an empty cell is missing (NONMEM):
// the patient's drawn value is used, except for WT, which every row needs.
#include <map>
#include <string>
#include <vector>

#include "ketasim/pk/regimen.hpp"

namespace ketasim::population {

struct PopulationTable {
  struct Cell {
    int line = 0;
    std::string text;
  };
  std::string path;
  std::vector<std::string> columns;
  std::vector<std::vector<double>> values;  // [row][column]; NaN where the cell was missing (".")
  std::map<std::size_t, Cell> bad_cell;     // per column: its first cell that is not a number
  std::vector<int> row_line;                // file line of each row (an event data set: the ID's first record)
  // An event data set (load_event_csv): one row per ID, and that ID's doses in time order.
  bool events = false;
  std::vector<std::vector<pk::RecordedDose>> doses;  // [patient][dose]
  int column(const std::string& name) const;  // -1 when absent
  std::size_t rows() const { return values.size(); }
};

// Parses and checks the file: a UTF-8 byte-order mark is skipped; every cell a finite number (SEX
// may be M/F), WT and AGE within limits::kWeightKg and kAgeY (what a person can be, as for the config's
// distributions), no duplicate columns. Random effects and individual parameters are checked per
// patient (pk::check_individual_parameters): a bad one fails that patient, not the file. Errors name the file, line and column. Column names are checked against the arms'
// models by the engine.
PopulationTable load_population_csv(const std::string& path);

// A NONMEM-style event data set (`arms[i].regimen.data`): several records per patient, contiguous by
// ID, TIME (h) non-decreasing within an ID. Columns: ID, TIME, AMT (mg) required; EVID (0
// observation, 1 dose, 2 other; without it a record with AMT > 0 is a dose), RATE (mg/h) or DUR
// (h) for zero-order infusions, CMT, II (h) and ADDL (additional doses), SS (must be 0 or '.'), MDV
// optional; WT, AGE, SEX, ETA_<PARAM>, <PARAM> as in a population file, constant within an ID
// (taken from its first record). Other columns are kept and ignored. The table has one row per ID,
// so everything that reads a population file reads this one; `doses` holds each ID's doses with
// ADDL expanded. Errors name the file, line, column and what was expected. Checks that need the
// study (CMT against the arm's model, doses after the end of the study) are the study loader's.
PopulationTable load_event_csv(const std::string& path);

}  // namespace ketasim::population
