#pragma once
// The one results schema (docs/results-format.md): every variable a results file can hold, with
// its dimensions, element type, units, long name and when it is written. The trial writer creates
// variables from it, the sweep keeps its dimension names clear of it, the reader checks files
// against it, `ketasim schema` prints it for tools, and a test keeps the docs in step with it.
#include <string>
#include <vector>

#include "ketasim/io/results_file.hpp"

namespace ketasim::io {

struct VariableSchema {
  std::string name;       // may hold {output} (moiety or total, e.g. esketamine) or {parameter} (e.g. CL)
  std::vector<std::string> dims;  // "arm" stands for the sweep dimensions (if any) followed by arm
  ElementType type;
  std::string units;      // {parameter_unit}: the canonical unit of the PK parameter
  std::string long_name;  // may hold {output} / {parameter}
  std::string when;       // the condition under which it is written ("always" or a config key)
  std::vector<int> flag_values = {};
  std::string flag_meanings = {};
};

const std::vector<VariableSchema>& results_schema();
// The entry for `name` (a template name such as "conc_{output}"); throws std::logic_error when absent.
const VariableSchema& schema_entry(const std::string& name);
// Fills {output}/{parameter}/{parameter_unit} into an entry's spec (dims given by the caller).
VariableSpec variable_spec(const VariableSchema& entry, std::vector<std::string> dims, const std::string& placeholder = {},
                           const std::string& parameter_unit = {});
// Names a sweep dimension must not take: every fixed name and every template's prefix.
bool reserved_name(const std::string& name);
// The schema as JSON (for `ketasim schema` and tools).
std::string schema_json();

}  // namespace ketasim::io
