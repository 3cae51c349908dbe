#pragma once
// Reading user YAML with errors that say where: every InputNode knows its file, dotted key path
// and line/column, records problems in a shared Diagnostics (so all are reported at once) and
// returns a neutral value so that parsing can go on to find the next problem.
#include <yaml-cpp/yaml.h>

#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ketasim/core/error.hpp"
#include "ketasim/core/units.hpp"

namespace ketasim {

class InputNode {
 public:
  InputNode(YAML::Node node, std::shared_ptr<const std::string> file, std::string key_path,
            Diagnostics* diagnostics, YAML::Mark fallback_mark = YAML::Mark::null_mark());

  bool defined() const { return node_.IsDefined() && !node_.IsNull(); }
  bool is_map() const { return node_.IsMap(); }
  bool is_sequence() const { return node_.IsSequence(); }
  bool is_scalar() const { return node_.IsScalar(); }
  bool has(const std::string& key) const;

  // A child that must exist; a missing one is reported and an undefined node comes back.
  InputNode required(const std::string& key) const;
  // A child that may be absent.
  std::optional<InputNode> optional(const std::string& key) const;
  InputNode child(const std::string& key) const;

  std::vector<InputNode> sequence() const;  // reports when not a sequence
  std::vector<std::pair<std::string, InputNode>> entries() const;  // reports when not a map
  // Reports every key of this map that is not in `allowed`.
  void check_keys(std::initializer_list<std::string_view> allowed) const;
  void check_keys(const std::vector<std::string>& allowed) const;

  double number() const;  // finite number
  double positive_number() const;
  double nonnegative_number() const;
  long long integer() const;
  bool boolean() const;
  std::string text() const;
  // One of `choices`; reports the choices otherwise.
  std::string choice(std::initializer_list<std::string_view> choices) const;
  // A quantity in a unit of `dimension` converted to canonical units ("14d" -> 336 h).
  // A bare number is accepted only when `bare_unit` names the unit it is taken in.
  double quantity(Dimension dimension, const char* bare_unit = nullptr) const;
  // A quantity in one of several dimensions (e.g. dose in mg or mg/kg); returns dimension too.
  std::pair<double, Dimension> quantity_of(std::initializer_list<Dimension> dimensions) const;

  void fail(const std::string& message) const;
  SourceLocation location() const;
  const std::string& key_path() const { return key_path_; }
  const std::string& file() const { return *file_; }
  const YAML::Node& yaml() const { return node_; }
  Diagnostics& diagnostics() const { return *diagnostics_; }

 private:
  std::string found() const;  // short description of what the node holds, for messages
  // The key does not exist. Getters then return a neutral value without a message: required()
  // has already reported the missing key, and optional keys are only read when present.
  bool absent() const { return !node_.IsDefined(); }
  YAML::Node node_;
  std::shared_ptr<const std::string> file_;
  std::string key_path_;
  Diagnostics* diagnostics_;
  YAML::Mark mark_;
};

// A parsed YAML file: the verbatim text (stored in results) and its root node.
struct YamlDocument {
  std::string path;
  std::string text;
  YAML::Node root;
};

// Limits on what one YAML document may expand to. yaml-cpp resolves an alias to the anchored node
// itself, so `&a [0d, *a]` is a cycle and nine nested lists of ten aliases ("billion laughs") are
// 10^9 nodes to anyone who walks them: the whole program walks configs recursively (validation,
// override copies, JSON for the results file). Real configs and models nest < 10 deep and have
// hundreds of nodes.
inline constexpr int kMaxYamlDepth = 64;
inline constexpr long kMaxYamlNodes = 200000;  // counted with every alias expanded

// Throws InputError naming `name` (and the line where the parser gives one) when `root` nests deeper
// than kMaxYamlDepth or expands to more than kMaxYamlNodes nodes (an alias cycle or an alias bomb),
// or when a mapping repeats a key (yaml-cpp keeps both and lookups silently use the first): every
// repeated key is reported with the lines of both occurrences. Called on every parsed file and
// every --set value, before anything else walks the document.
void check_yaml_structure(const YAML::Node& root, const std::string& name);

// Reads and parses a file. Missing, unreadable, empty, binary, oversized (> max_bytes) and
// malformed files throw InputError naming the file (and line/column for syntax errors), as do
// documents that check_yaml_structure refuses.
YamlDocument load_yaml_file(const std::string& path, std::size_t max_bytes = 4u << 20);
YamlDocument parse_yaml_text(const std::string& text, const std::string& name);

}  // namespace ketasim
