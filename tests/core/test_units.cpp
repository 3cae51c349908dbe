// Unit table and quantity parsing: conversions to canonical units (h, mg, L, L/h, 1/h, ng/mL) are
// exact decimal factors, so they are compared to 1e-15 relative (a wrong factor is off by >= 1e-3).
#include <catch2/catch.hpp>

#include "ketasim/core/units.hpp"

using namespace ketasim;

namespace {
void check_unit(const char* text, Dimension dimension, double factor) {
  INFO("unit '" << text << "'");
  const auto u = parse_unit(text);
  REQUIRE(u.has_value());
  CHECK(u->dimension == dimension);
  CHECK(u->to_canonical == Approx(factor).epsilon(1e-15));
}
}  // namespace

TEST_CASE("Units convert to h, mg, L, L/h, 1/h and ng/mL", "[core][units]") {
  check_unit("min", Dimension::time, 1.0 / 60.0);
  check_unit("d", Dimension::time, 24.0);
  check_unit("w", Dimension::time, 168.0);
  check_unit("g", Dimension::amount, 1000.0);
  check_unit("ug", Dimension::amount, 1e-3);
  check_unit("mg/kg", Dimension::amount_per_weight, 1.0);
  check_unit("mL", Dimension::volume, 1e-3);
  check_unit("L/kg", Dimension::volume_per_weight, 1.0);
  check_unit("L/min", Dimension::clearance, 60.0);
  check_unit("mL/min", Dimension::clearance, 0.06);
  check_unit("mL/min/kg", Dimension::clearance_per_weight, 0.06);
  check_unit("1/min", Dimension::rate_constant, 60.0);
  check_unit("min-1", Dimension::rate_constant, 60.0);
  check_unit("1/d", Dimension::rate_constant, 1.0 / 24.0);
  check_unit("mg/L", Dimension::concentration, 1000.0);  // 1 mg/L = 1000 ng/mL
  check_unit("ug/L", Dimension::concentration, 1.0);
  check_unit("mg/min", Dimension::amount_rate, 60.0);
  check_unit("1", Dimension::dimensionless, 1.0);
}

TEST_CASE("Unit typos are rejected, not guessed", "[core][units]") {
  for (const char* typo : {"l", "ML", "mins", "hr", "mg/Kg", "L/hr", "", "1/s2", "ng/ml"}) {
    INFO("'" << typo << "'");
    CHECK_FALSE(parse_unit(typo).has_value());
  }
}

TEST_CASE("Quantities: number then optional unit", "[core][units]") {
  auto q = parse_quantity("3.5d");
  REQUIRE(q);
  CHECK(q->value == 3.5);
  CHECK(q->unit == "d");
  q = parse_quantity("40 min");
  REQUIRE(q);
  CHECK(q->value == 40.0);
  CHECK(q->unit == "min");
  q = parse_quantity("0.5 mg/kg");
  REQUIRE(q);
  CHECK(q->value == 0.5);
  CHECK(q->unit == "mg/kg");
  q = parse_quantity("12");
  REQUIRE(q);
  CHECK(q->value == 12.0);
  CHECK(q->unit.empty());
  CHECK_FALSE(parse_quantity("abc").has_value());
  CHECK(per_weight_base(Dimension::amount_per_weight) == Dimension::amount);
  CHECK(per_weight_base(Dimension::clearance_per_weight) == Dimension::clearance);
  CHECK_FALSE(per_weight_base(Dimension::volume).has_value());
}
