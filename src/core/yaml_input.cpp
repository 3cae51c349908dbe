#include "ketasim/core/yaml_input.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>
#include <sys/stat.h>

namespace ketasim {

InputNode::InputNode(YAML::Node node, std::shared_ptr<const std::string> file, std::string key_path,
                     Diagnostics* diagnostics, YAML::Mark fallback_mark)
    // Never keep an invalid (zombie) yaml-cpp node: its getters throw YAML::InvalidNode.
    : node_(node.IsDefined() ? std::move(node) : YAML::Node(YAML::NodeType::Undefined)),
      file_(std::move(file)), key_path_(std::move(key_path)),
      diagnostics_(diagnostics), mark_(fallback_mark) {
  if (node_.IsDefined() && !node_.Mark().is_null()) mark_ = node_.Mark();
}

SourceLocation InputNode::location() const {
  SourceLocation where{*file_, key_path_, 0, 0};
  if (!mark_.is_null()) {
    where.line = mark_.line + 1;
    where.column = mark_.column + 1;
  }
  return where;
}

void InputNode::fail(const std::string& message) const { diagnostics_->add(location(), message); }

std::string InputNode::found() const {
  if (!node_.IsDefined() || node_.IsNull()) return "nothing";
  if (node_.IsMap()) return "a mapping";
  if (node_.IsSequence()) return "a list";
  return "'" + node_.Scalar() + "'";
}

bool InputNode::has(const std::string& key) const {
  if (!node_.IsMap()) return false;
  const YAML::Node& map = node_;
  const YAML::Node value = map[key];
  return value.IsDefined() && !value.IsNull();
}

InputNode InputNode::child(const std::string& key) const {
  const std::string path = key_path_.empty() ? key : key_path_ + "." + key;
  // A const lookup of a missing key yields an *invalid* yaml-cpp node whose type getters throw
  // YAML::InvalidNode; it is replaced by a plain undefined node so that getters report "missing"
  // through the diagnostics and return neutral values instead of aborting the whole parse
  // (InputNode's constructor does that).
  YAML::Node value = node_.IsMap() ? node_[key] : YAML::Node(YAML::NodeType::Undefined);
  return InputNode(value, file_, path, diagnostics_, mark_);
}

InputNode InputNode::required(const std::string& key) const {
  InputNode value = child(key);
  // An absent parent was reported where it was required; an empty or scalar one is reported here.
  if (!node_.IsMap()) {
    if (!absent()) fail("expected a mapping, found " + found());
    return value;
  }
  // Only an absent key is "missing"; an empty value (`key:`) is reported by the getter that reads it.
  if (value.absent()) diagnostics_->add(value.location(), "required key is missing");
  return value;
}

std::optional<InputNode> InputNode::optional(const std::string& key) const {
  if (!has(key)) return std::nullopt;
  return child(key);
}

std::vector<InputNode> InputNode::sequence() const {
  std::vector<InputNode> out;
  if (!node_.IsSequence()) {
    if (!absent()) fail("expected a list, found " + found());
    return out;
  }
  for (std::size_t i = 0; i < node_.size(); ++i) {
    out.emplace_back(node_[i], file_, key_path_ + "[" + std::to_string(i) + "]", diagnostics_, mark_);
  }
  return out;
}

std::vector<std::pair<std::string, InputNode>> InputNode::entries() const {
  std::vector<std::pair<std::string, InputNode>> out;
  if (!node_.IsMap()) {
    if (!absent()) fail("expected a mapping, found " + found());
    return out;
  }
  for (const auto& kv : node_) {
    const std::string key = kv.first.Scalar();
    const std::string path = key_path_.empty() ? key : key_path_ + "." + key;
    out.emplace_back(key, InputNode(kv.second, file_, path, diagnostics_, kv.first.Mark()));
  }
  return out;
}

void InputNode::check_keys(const std::vector<std::string>& allowed) const {
  if (!node_.IsMap()) return;
  for (const auto& kv : node_) {
    const std::string key = kv.first.Scalar();
    if (std::find(allowed.begin(), allowed.end(), key) != allowed.end()) continue;
    std::string list;
    for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
    const std::string path = key_path_.empty() ? key : key_path_ + "." + key;
    InputNode bad(kv.second, file_, path, diagnostics_, kv.first.Mark());
    SourceLocation where = bad.location();
    where.line = kv.first.Mark().line + 1;
    where.column = kv.first.Mark().column + 1;
    diagnostics_->add(where, "unknown key; expected one of: " + list);
  }
}

void InputNode::check_keys(std::initializer_list<std::string_view> allowed) const {
  std::vector<std::string> keys;
  for (auto k : allowed) keys.emplace_back(k);
  check_keys(keys);
}

double InputNode::number() const {
  if (absent()) return 0.0;
  if (!node_.IsScalar()) {
    fail("expected a number, found " + found());
    return 0.0;
  }
  const std::string& s = node_.Scalar();
  std::istringstream is(s);
  double value = 0.0;
  is >> value;
  if (is.fail() || !is.eof() || !std::isfinite(value)) {
    // istringstream leaves eof unset on trailing spaces; yaml-cpp already trimmed them.
    fail("expected a finite number, found '" + s + "'");
    return 0.0;
  }
  return value;
}

double InputNode::positive_number() const {
  const std::size_t before = diagnostics_->messages().size();
  const double value = number();
  if (diagnostics_->messages().size() != before) return 0.0;
  if (!(value > 0.0)) {
    fail("expected a positive number, found " + node_.Scalar());
    return 0.0;
  }
  return value;
}

double InputNode::nonnegative_number() const {
  const std::size_t before = diagnostics_->messages().size();
  const double value = number();
  if (diagnostics_->messages().size() != before) return 0.0;
  if (value < 0.0) {
    fail("expected a number >= 0, found " + node_.Scalar());
    return 0.0;
  }
  return value;
}

long long InputNode::integer() const {
  if (absent()) return 0;
  if (!node_.IsScalar()) {
    fail("expected an integer, found " + found());
    return 0;
  }
  const std::string& s = node_.Scalar();
  std::istringstream is(s);
  long long value = 0;
  is >> value;
  if (is.fail() || !is.eof()) {
    fail("expected an integer, found '" + s + "'");
    return 0;
  }
  return value;
}

bool InputNode::boolean() const {
  if (absent()) return false;
  if (node_.IsScalar()) {
    const std::string& s = node_.Scalar();
    if (s == "true" || s == "yes" || s == "on") return true;
    if (s == "false" || s == "no" || s == "off") return false;
  }
  fail("expected true or false, found " + found());
  return false;
}

std::string InputNode::text() const {
  if (absent()) return {};
  if (!node_.IsScalar()) {
    fail("expected a text value, found " + found());
    return {};
  }
  return node_.Scalar();
}

std::string InputNode::choice(std::initializer_list<std::string_view> choices) const {
  const std::string value = text();
  if (!node_.IsScalar()) return value;
  for (auto c : choices) {
    if (c == value) return value;
  }
  std::string list;
  for (auto c : choices) list += (list.empty() ? "" : ", ") + std::string(c);
  fail("expected one of: " + list + "; found '" + value + "'");
  return {};
}

std::pair<double, Dimension> InputNode::quantity_of(std::initializer_list<Dimension> dimensions) const {
  const Dimension first = *dimensions.begin();
  if (absent()) return {0.0, first};
  if (!node_.IsScalar()) {
    fail(std::string("expected a ") + dimension_name(first) + " with a unit (e.g. '1 " +
         canonical_unit(first) + "'), found " + found());
    return {0.0, first};
  }
  const auto q = parse_quantity(node_.Scalar());
  std::string expected;
  for (auto d : dimensions) {
    if (!expected.empty()) expected += " or ";
    expected += std::string(dimension_name(d)) + " (" + accepted_units(d) + ")";
  }
  if (!q) {
    fail("expected a number with a unit, a " + expected + "; found '" + node_.Scalar() + "'");
    return {0.0, first};
  }
  if (q->unit.empty()) {
    fail("missing unit: expected a " + expected + "; found '" + node_.Scalar() + "'");
    return {0.0, first};
  }
  const auto unit = parse_unit(q->unit);
  if (unit) {
    for (auto d : dimensions) {
      if (unit->dimension == d) return {q->value * unit->to_canonical, d};
    }
  }
  fail("unit '" + q->unit + "' is not a " + expected + "; found '" + node_.Scalar() + "'");
  return {0.0, first};
}

double InputNode::quantity(Dimension dimension, const char* bare_unit) const {
  if (bare_unit && node_.IsScalar()) {
    const auto q = parse_quantity(node_.Scalar());
    if (q && q->unit.empty()) {
      const auto unit = parse_unit(bare_unit);
      return q->value * (unit ? unit->to_canonical : 1.0);
    }
  }
  return quantity_of({dimension}).first;
}

namespace {

void reject_unusable_text(const std::string& text, const std::string& name) {
  if (text.find('\0') != std::string::npos) {
    throw InputError(SourceLocation{name, "", 0, 0},
                     "not a YAML text file (found binary NUL bytes)");
  }
  const bool blank = std::all_of(text.begin(), text.end(),
                                 [](unsigned char c) { return std::isspace(c); });
  if (blank) throw InputError(SourceLocation{name, "", 0, 0}, "file is empty; expected a YAML mapping");
}

class StructureCheck {
 public:
  explicit StructureCheck(const std::string& name) : name_(name) {}

  void walk(const YAML::Node& node, int depth, const std::string& path) {
    if (++nodes_ > kMaxYamlNodes) {
      throw InputError(where(node, path), "the document expands to more than " + std::to_string(kMaxYamlNodes) +
                                              " values (an alias '*name' repeated inside lists or mappings, or an " +
                                              "alias to its own anchor); write the values out instead");
    }
    if (depth > kMaxYamlDepth) {
      throw InputError(where(node, path), "values are nested more than " + std::to_string(kMaxYamlDepth) +
                                              " levels deep (or an alias refers to its own anchor)");
    }
    if (node.IsSequence()) {
      std::size_t i = 0;
      for (const auto& item : node) walk(item, depth + 1, path + "[" + std::to_string(i++) + "]");
    } else if (node.IsMap()) {
      check_keys_unique(node, path);
      for (const auto& kv : node) {
        const std::string child = path.empty() ? kv.first.Scalar() : path + "." + kv.first.Scalar();
        if (!kv.first.IsScalar()) walk(kv.first, depth + 1, child);
        walk(kv.second, depth + 1, child);
      }
    }
  }

  void finish() const {
    if (!duplicates_.empty()) throw InputError(duplicates_);
  }

 private:
  SourceLocation where(const YAML::Node& node, const std::string& path) const {
    // A cycle's path is "[1][1][1]..." 64 times: the start says where it is.
    SourceLocation at{name_, path.size() > 60 ? path.substr(0, 60) + "..." : path, 0, 0};
    if (!node.Mark().is_null()) {
      at.line = node.Mark().line + 1;
      at.column = node.Mark().column + 1;
    }
    return at;
  }

  void duplicate(const std::string& path, const YAML::Mark& first, const YAML::Mark& again) {
    SourceLocation at{name_, path, 0, 0};
    std::string first_line;
    if (!again.is_null()) {
      at.line = again.line + 1;
      at.column = again.column + 1;
    }
    if (!first.is_null()) first_line = " (first on line " + std::to_string(first.line + 1) + ")";
    std::string message = format_location(at) + ": duplicate key" + first_line + "; a key may appear only once";
    if (std::find(duplicates_.begin(), duplicates_.end(), message) == duplicates_.end()) {
      duplicates_.push_back(std::move(message));
    }
  }

  // Sorted (stably, so the first occurrence comes first): no quadratic cost for a large mapping.
  void check_keys_unique(const YAML::Node& node, const std::string& path) {
    std::vector<std::pair<std::string, YAML::Mark>> keys;
    for (const auto& kv : node) {
      if (kv.first.IsScalar()) keys.emplace_back(kv.first.Scalar(), kv.first.Mark());
    }
    std::stable_sort(keys.begin(), keys.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    std::size_t first = 0;
    for (std::size_t i = 1; i < keys.size(); ++i) {
      if (keys[i].first != keys[first].first) {
        first = i;
        continue;
      }
      duplicate(path.empty() ? keys[i].first : path + "." + keys[i].first, keys[first].second, keys[i].second);
    }
  }

  const std::string& name_;
  long nodes_ = 0;
  std::vector<std::string> duplicates_;
};

}  // namespace

void check_yaml_structure(const YAML::Node& root, const std::string& name) {
  StructureCheck check(name);
  check.walk(root, 0, "");
  check.finish();
}

YamlDocument parse_yaml_text(const std::string& text, const std::string& name) {
  reject_unusable_text(text, name);
  YamlDocument doc{name, text, {}};
  try {
    doc.root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw InputError(SourceLocation{name, "", e.mark.line + 1, e.mark.column + 1},
                     "malformed YAML: " + e.msg);
  }
  check_yaml_structure(doc.root, name);
  if (!doc.root.IsMap()) {
    throw InputError(SourceLocation{name, "", 1, 1}, "expected a YAML mapping at the top level");
  }
  return doc;
}

YamlDocument load_yaml_file(const std::string& path, std::size_t max_bytes) {
  struct stat info {};
  if (stat(path.c_str(), &info) != 0) {
    throw InputError(SourceLocation{path, "", 0, 0}, "file not found");
  }
  if (!S_ISREG(info.st_mode)) throw InputError(SourceLocation{path, "", 0, 0}, "not a regular file");
  // Checked before reading, so a huge file is refused at once instead of parsed for minutes.
  if (static_cast<std::size_t>(info.st_size) > max_bytes) {
    throw InputError(SourceLocation{path, "", 0, 0},
                     "file is " + std::to_string(info.st_size) + " bytes; a config or model file " +
                         "may be at most " + std::to_string(max_bytes) + " bytes");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(SourceLocation{path, "", 0, 0}, "cannot open file for reading");
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return parse_yaml_text(buffer.str(), path);
}

}  // namespace ketasim
