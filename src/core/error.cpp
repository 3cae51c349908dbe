#include "ketasim/core/error.hpp"

#include <algorithm>
#include <sstream>

namespace ketasim {

namespace {
std::string join_lines(const std::vector<std::string>& lines) {
  std::string out;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (i) out += '\n';
    out += lines[i];
  }
  return out;
}
}  // namespace

std::string format_location(const SourceLocation& where) {
  std::ostringstream os;
  os << (where.file.empty() ? "<input>" : where.file);
  if (where.line > 0) {
    os << ':' << where.line;
    if (where.column > 0) os << ':' << where.column;
  }
  if (!where.key_path.empty()) os << ": key '" << where.key_path << "'";
  return os.str();
}

InputError::InputError(const std::vector<std::string>& messages)
    : std::runtime_error(join_lines(messages)), messages_(messages) {}

InputError::InputError(const SourceLocation& where, const std::string& message)
    : InputError(std::vector<std::string>{format_location(where) + ": " + message}) {}

void Diagnostics::add(const SourceLocation& where, const std::string& message) {
  // The same problem reached twice (an empty mapping asked for several keys) is said once.
  std::string line = format_location(where) + ": " + message;
  if (std::find(messages_.begin(), messages_.end(), line) == messages_.end()) messages_.push_back(std::move(line));
}

void Diagnostics::throw_if_any() const {
  if (!messages_.empty()) throw InputError(messages_);
}

}  // namespace ketasim
