#pragma once
// Error types that map onto the CLI's exit statuses (spec 1): InputError -> 1, RuntimeFailure -> 2.
#include <stdexcept>
#include <string>
#include <vector>

namespace ketasim {

// Where a bad value sits: file, dotted key path and (when the parser knows it) 1-based line/column.
struct SourceLocation {
  std::string file;
  std::string key_path;
  int line = 0;
  int column = 0;
};

std::string format_location(const SourceLocation& where);

// Bad input from a user file or option. what() is one line per problem, each naming the file,
// key, line/column, what was expected and what was found.
class InputError : public std::runtime_error {
 public:
  explicit InputError(const std::vector<std::string>& messages);
  InputError(const SourceLocation& where, const std::string& message);
  const std::vector<std::string>& messages() const { return messages_; }

 private:
  std::vector<std::string> messages_;
};

// Something failed while running on valid input (I/O error, solver failure of the whole run).
class RuntimeFailure : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Collects every input problem found in one pass so that the user sees them all at once.
class Diagnostics {
 public:
  void add(const SourceLocation& where, const std::string& message);
  bool empty() const { return messages_.empty(); }
  const std::vector<std::string>& messages() const { return messages_; }
  void throw_if_any() const;

 private:
  std::vector<std::string> messages_;
};

}  // namespace ketasim
