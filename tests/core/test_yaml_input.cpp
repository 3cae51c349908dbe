// InputNode: every problem is reported with file, dotted key path and 1-based line, all at once.
#include <catch2/catch.hpp>

#include <memory>

#include "ketasim/core/yaml_input.hpp"

using namespace ketasim;
using Catch::Contains;

namespace {
struct Doc {
  YamlDocument doc;
  Diagnostics diagnostics;
  InputNode root;
  explicit Doc(const std::string& text)
      : doc(parse_yaml_text(text, "cfg.yaml")),
        root(doc.root, std::make_shared<const std::string>("cfg.yaml"), "", &diagnostics) {}
  std::string all() const {
    std::string s;
    for (const auto& m : diagnostics.messages()) s += m + "\n";
    return s;
  }
};
}  // namespace

TEST_CASE("Quantities convert to canonical units, bare numbers only where a unit is implied", "[core][yaml]") {
  Doc d("a: 14d\nb: 40 min\nc: 2\nd: 0.5 mg/kg\ne: 3 mg\n");
  CHECK(d.root.child("a").quantity(Dimension::time) == Approx(336.0).epsilon(1e-15));
  CHECK(d.root.child("b").quantity(Dimension::time) == Approx(40.0 / 60.0).epsilon(1e-15));
  CHECK(d.root.child("c").quantity(Dimension::time, "h") == 2.0);
  const auto dose = d.root.child("d").quantity_of({Dimension::amount, Dimension::amount_per_weight});
  CHECK(dose.first == 0.5);
  CHECK(dose.second == Dimension::amount_per_weight);
  CHECK(d.diagnostics.empty());
  d.root.child("c").quantity(Dimension::time);  // bare number without an implied unit
  d.root.child("e").quantity(Dimension::time);  // wrong dimension
  REQUIRE(d.diagnostics.messages().size() == 2);
  CHECK_THAT(d.diagnostics.messages()[0], Contains("cfg.yaml:3:") && Contains("key 'c'"));
  CHECK_THAT(d.diagnostics.messages()[1], Contains("cfg.yaml:5:") && Contains("key 'e'") && Contains("'mg'"));
}

TEST_CASE("Missing keys, unknown keys and wrong types name key path and line", "[core][yaml]") {
  Doc d("study:\n  name: x\n  duraton: 3d\narms:\n  - {name: a, dose: abc}\n");
  const InputNode study = d.root.required("study");
  study.check_keys({"name", "duration"});
  study.required("duration");
  d.root.required("arms").sequence()[0].child("dose").number();
  d.root.required("cohort");
  const std::string all = d.all();
  INFO(all);
  CHECK_THAT(all, Contains("cfg.yaml:3:") && Contains("key 'study.duraton': unknown key"));
  CHECK_THAT(all, Contains("key 'study.duration': required key is missing"));
  CHECK_THAT(all, Contains("cfg.yaml:5:") && Contains("key 'arms[0].dose'") && Contains("'abc'"));
  CHECK_THAT(all, Contains("key 'cohort': required key is missing"));
  INFO(d.all());
  CHECK(d.diagnostics.messages().size() == 4);
  CHECK_THAT(d.all(), !Contains("key 'study.seed': required key is missing"));
  CHECK_THROWS_AS(d.diagnostics.throw_if_any(), InputError);
}

TEST_CASE("Malformed, empty and non-mapping YAML text throws InputError with the name", "[core][yaml]") {
  REQUIRE_THROWS_WITH(parse_yaml_text("a: [1, 2\nb: 3\n", "bad.yaml"), Contains("bad.yaml:") && Contains("malformed"));
  REQUIRE_THROWS_WITH(parse_yaml_text("", "empty.yaml"), Contains("empty.yaml") && Contains("empty"));
  REQUIRE_THROWS_WITH(parse_yaml_text("# only a comment\n", "c.yaml"), Contains("c.yaml"));
  REQUIRE_THROWS_WITH(parse_yaml_text("- 1\n- 2\n", "list.yaml"), Contains("list.yaml:1:1") && Contains("mapping"));
  REQUIRE_THROWS_WITH(load_yaml_file("/nonexistent/x.yaml"), Contains("/nonexistent/x.yaml") && Contains("not found"));
}

TEST_CASE("choice and integer report what was found", "[core][yaml]") {
  Doc d("route: intranasl\nn: 2.5\nok: oral\n");
  CHECK(d.root.child("ok").choice({"oral", "iv_bolus"}) == "oral");
  d.root.child("route").choice({"oral", "intranasal"});
  d.root.child("n").integer();
  const std::string all = d.all();
  CHECK_THAT(all, Contains("cfg.yaml:1:") && Contains("found 'intranasl'"));
  CHECK_THAT(all, Contains("cfg.yaml:2:") && Contains("expected an integer"));
}

// Regression: getters on a missing required key once threw YAML::InvalidNode (exit status 2 from
// the CLI) instead of returning a neutral value after required() reported it.
TEST_CASE("Getters on a missing required key do not throw", "[core][yaml]") {
  Doc d("study: {duration: 3d}\n");
  REQUIRE_NOTHROW(d.root.required("study").required("name").text());
  REQUIRE_NOTHROW(d.root.required("study").required("seed").integer());
  REQUIRE_NOTHROW(d.root.required("study").required("x").number());
  CHECK_THAT(d.all(), Contains("key 'study.name': required key is missing"));
}

TEST_CASE("A missing required key is one message, an empty value is still reported", "[core][yaml]") {
  // The getter after required() used to add "expected a text value, found nothing" to "required key
  // is missing", and an empty value got both as well: two messages for one problem.
  Doc d("study: {duration: 3d, seed: }\n");
  const InputNode study = d.root.required("study");
  CHECK(study.required("name").text().empty());
  CHECK(study.required("patients").integer() == 0);
  CHECK(study.required("scale").quantity(Dimension::time) == 0.0);
  study.required("seed").integer();  // present but empty: a real problem of its own
  INFO(d.all());
  CHECK(d.diagnostics.messages().size() == 4);
  CHECK_THAT(d.all(), !Contains("key 'study.seed': required key is missing"));
  CHECK_THAT(d.all(), Contains("key 'study.seed': expected an integer, found nothing"));
}

TEST_CASE("An empty mapping or list is reported once, not skipped", "[core][yaml]") {
  Doc d("cohort:\narms:\n");
  const InputNode cohort = d.root.required("cohort");
  cohort.required("patients").integer();
  cohort.required("weight_kg");
  CHECK(d.root.required("arms").sequence().empty());
  INFO(d.all());
  CHECK(d.diagnostics.messages().size() == 2);
  CHECK_THAT(d.all(), Contains("key 'cohort': expected a mapping, found nothing"));
  CHECK_THAT(d.all(), Contains("key 'arms': expected a list, found nothing"));
}

// Issue 14: hostile YAML. yaml-cpp resolves an alias to the anchored node itself, so cycles and
// alias bombs are cheap to parse and endless to walk; they must be refused before anything walks them.
TEST_CASE("A duplicate key is an error naming both lines", "[core][yaml][robust]") {
  try {
    parse_yaml_text("study:\n  name: a\n  duration: 1d\n  name: b\nc: 1\nc: 2\n", "cfg.yaml");
    FAIL("duplicate keys were accepted");
  } catch (const InputError& e) {
    const std::string all = e.what();
    INFO(all);
    REQUIRE(e.messages().size() == 2);
    CHECK_THAT(all, Contains("cfg.yaml:4:3: key 'study.name': duplicate key (first on line 2)"));
    CHECK_THAT(all, Contains("cfg.yaml:6:1: key 'c': duplicate key (first on line 5)"));
  }
}

TEST_CASE("Duplicate keys in a large mapping are found without a pairwise scan", "[core][yaml][robust]") {
  std::string text;
  for (int i = 0; i < 20000; ++i) text += "k" + std::to_string(i) + ": " + std::to_string(i) + "\n";
  text += "k123: again\n";
  CHECK_THROWS_WITH(parse_yaml_text(text, "big.yaml"),
                    Contains("big.yaml:20001:1: key 'k123': duplicate key (first on line 124)"));
}

TEST_CASE("A self-referencing alias is refused, not followed forever", "[core][yaml][robust]") {
  CHECK_THROWS_WITH(parse_yaml_text("visits: &a [0d, *a]\n", "cycle.yaml"),
                    Contains("cycle.yaml:") && Contains("nested more than 64 levels deep"));
  CHECK_THROWS_WITH(parse_yaml_text("m: &m {a: 1, b: *m}\n", "cycle.yaml"), Contains("nested more than 64"));
}

TEST_CASE("An alias bomb is refused after a bounded walk", "[core][yaml][robust]") {
  // 10^9 values once expanded ("billion laughs").
  std::string text = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i <= 9; ++i) {
    const std::string prev = "*a" + std::to_string(i - 1);
    text += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [" + prev;
    for (int k = 1; k < 10; ++k) text += ", " + prev;
    text += "]\n";
  }
  CHECK_THROWS_WITH(parse_yaml_text(text, "bomb.yaml"),
                    Contains("bomb.yaml:") && Contains("expands to more than 200000 values"));
}

TEST_CASE("Deep nesting without aliases is refused with the limit", "[core][yaml][robust]") {
  std::string text = "a: " + std::string(100, '[') + "1" + std::string(100, ']') + "\n";
  CHECK_THROWS_WITH(parse_yaml_text(text, "deep.yaml"), Contains("nested more than 64 levels deep"));
  // Ordinary anchors and aliases stay legal.
  CHECK_NOTHROW(parse_yaml_text("a: &x {every: 7d, count: 2}\nb: [*x, *x]\n", "ok.yaml"));
}
