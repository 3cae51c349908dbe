// Unit tests of src/trial/batch_codec.cpp: a batch survives the trip to the writer rank whole.
//   * every result array, filled with values unique to it, decodes equal (the list of arrays here is
//     written out independently of Batch::for_each_array, so an array forgotten there fails here);
//   * `conc` (raw floats) does not travel: only its compressed chunks are written;
//   * a truncated or altered message is refused with the sender's rank, never read past its end.
//   * split by sweep points (a run with fewer batches than ranks), the blocks of each rank's points
//     join into the whole batch, each in its own plans, and a message for other points is refused.
#include "../../src/trial/batch_codec.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

using namespace ketasim;
using namespace ketasim::trial;

namespace {

// Every option on, so that every array has a length.
Layout full_layout() {
  Layout l;
  l.n_patients = 100;
  l.n_arms = 2;
  l.n_points = 2;
  l.n_plans = 4;
  l.cohort_swept = true;
  l.output_times_h = {0, 1, 2};
  l.visits_d = {0, 7, 14, 28};
  l.n_doses = 3;
  l.outputs = {"ketamine", "norketamine"};
  l.parameters = {"CL", "V1", "Q"};
  l.store_conc = true;
  l.summarize_conc = true;
  l.store_response_state = true;
  l.has_patient_id = true;
  l.sampling_times_h = {1, 5};
  l.store_dose_duration = true;
  l.chunk_patients = 8;
  return l;
}

template <class T>
void fill(std::vector<T>& v, int tag) {
  REQUIRE(!v.empty());
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<T>((tag * 37 + static_cast<int>(i)) % 120);
}

// (name, array) for every result array of Batch, listed by hand.
template <class B, class F>
void each_named(B& b, F&& f) {
  f("weight_kg", b.weight_kg), f("age_y", b.age_y), f("patient_id", b.patient_id), f("sex", b.sex);
  f("status", b.status), f("parameters", b.parameters), f("conc_sum", b.conc_sum), f("conc_sumsq", b.conc_sumsq);
  f("conc_n", b.conc_n), f("cmax", b.cmax), f("tmax", b.tmax), f("auc", b.auc), f("ipred", b.ipred), f("dv", b.dv);
  f("dose_time", b.dose_time), f("dose_amount", b.dose_amount), f("dose_duration", b.dose_duration);
  f("dose_taken", b.dose_taken), f("madrs", b.madrs), f("response_by_visit", b.response_by_visit);
  f("remission_by_visit", b.remission_by_visit), f("occupancy", b.occupancy), f("state", b.state);
  f("expected", b.expected), f("dropout_time", b.dropout_time), f("event_time", b.event_time);
  f("event_observed", b.event_observed), f("baseline", b.baseline), f("change", b.change);
  f("response", b.response), f("remission", b.remission), f("relapse", b.relapse);
}

Batch filled_batch() {
  Batch b;
  b.first = 40;
  b.count = 8;
  b.resize(full_layout(), b.count);
  int tag = 1;
  each_named(b, [&](const char*, auto& v) { fill(v, tag++); });
  b.encoded = {{1, 2, 3}, {}, {9, 8}};
  return b;
}

}  // namespace

TEST_CASE("A batch decodes to exactly what was encoded", "[trial][batch_codec]") {
  const Batch sent = filled_batch();
  std::vector<unsigned char> bytes;
  encode_batch(sent, bytes);
  Batch received;
  received.conc.assign(5, 7.0f);
  decode_batch(bytes, 1, received);
  CHECK(received.first == 40);
  CHECK(received.count == 8);
  int arrays = 0;
  each_named(received, [&](const char* name, const auto& got) {
    ++arrays;
    bool same = false;
    each_named(sent, [&](const char* other, const auto& want) {
      if (std::strcmp(name, other) != 0) return;
      using Want = std::decay_t<decltype(want)>;
      using Got = std::decay_t<decltype(got)>;
      if constexpr (std::is_same_v<Want, Got>) same = got == want;
    });
    INFO(name);
    CHECK(same);
  });
  CHECK(arrays == 32);
  CHECK(received.encoded == sent.encoded);
  // Raw concentrations stay behind: the receiver's own buffer is untouched.
  CHECK(received.conc == std::vector<float>(5, 7.0f));
}

TEST_CASE("A damaged batch message is refused, naming the sender", "[trial][batch_codec]") {
  std::vector<unsigned char> bytes;
  encode_batch(filled_batch(), bytes);
  Batch received;
  SECTION("truncated") {
    for (std::size_t keep : {std::size_t{0}, std::size_t{7}, bytes.size() / 2, bytes.size() - 1}) {
      std::vector<unsigned char> part(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(keep));
      CHECK_THROWS_WITH(decode_batch(part, 2, received), Catch::Contains("from rank 2 is incomplete or damaged"));
    }
  }
  SECTION("one byte too many") {
    bytes.push_back(0);
    CHECK_THROWS_WITH(decode_batch(bytes, 2, received), Catch::Contains("from rank 2"));
  }
  SECTION("a length that runs past the end") {
    // The first array's length follows the magic, first and count (3 x 8 bytes).
    const std::uint64_t huge = std::uint64_t{1} << 60;
    std::memcpy(bytes.data() + 24, &huge, sizeof huge);
    CHECK_THROWS_WITH(decode_batch(bytes, 2, received), Catch::Contains("from rank 2"));
  }
  SECTION("not a batch") {
    bytes[0] ^= 0xff;
    CHECK_THROWS_WITH(decode_batch(bytes, 2, received), Catch::Contains("from rank 2"));
  }
}

namespace {

// Three sweep points of two arms, with or without per-point covariates.
Layout points_layout(bool cohort_swept) {
  Layout l = full_layout();
  l.n_points = 3;
  l.n_plans = 6;
  l.cohort_swept = cohort_swept;
  return l;
}

Batch filled_points_batch(const Layout& l) {
  Batch b;
  b.first = 40;
  b.count = 8;
  b.resize(l, b.count);
  int tag = 1;
  each_named(b, [&](const char*, auto& v) { fill(v, tag++); });
  fill(b.conc, tag);
  return b;
}

template <class F>
void each_named_with_conc(Batch& b, F&& f) {
  each_named(b, f);
  f("conc", b.conc);
}

}  // namespace

TEST_CASE("The sweep points of a batch sent by several ranks join to the whole batch", "[trial][batch_codec]") {
  for (bool cohort_swept : {false, true}) {
    INFO("cohort swept: " << cohort_swept);
    const Layout l = points_layout(cohort_swept);
    Batch sent = filled_points_batch(l);
    // The writer computes points [0, 1) and holds what is the same for every point (the ID and,
    // without a cohort sweep, the covariates); the rest arrives from two ranks.
    Batch joined;
    joined.first = sent.first;
    joined.count = sent.count;
    joined.resize(l, joined.count);
    joined.patient_id = sent.patient_id;
    if (!cohort_swept) joined.weight_kg = sent.weight_kg, joined.age_y = sent.age_y, joined.sex = sent.sex;
    std::vector<unsigned char> bytes;
    for (auto [begin, end] : {std::pair{0, 1}, std::pair{1, 3}}) {
      encode_plans(l, sent, begin, end, bytes);
      decode_plans(l, bytes, 1, begin, end, joined);
    }
    each_named_with_conc(joined, [&](const char* name, const auto& got) {
      bool same = false;
      each_named_with_conc(sent, [&](const char* other, const auto& want) {
        if (std::strcmp(name, other) != 0) return;
        if constexpr (std::is_same_v<std::decay_t<decltype(want)>, std::decay_t<decltype(got)>>) {
          same = std::memcmp(got.data(), want.data(), got.size() * sizeof(got[0])) == 0 && got.size() == want.size();
        }
      });
      INFO(name);
      CHECK(same);
    });
  }
}

TEST_CASE("A rank's sweep points land in their own plans only", "[trial][batch_codec]") {
  const Layout l = points_layout(true);
  const Batch sent = filled_points_batch(l);
  Batch joined;
  joined.first = sent.first;
  joined.count = sent.count;
  joined.resize(l, joined.count);
  std::vector<unsigned char> bytes;
  encode_plans(l, sent, 1, 2, bytes);  // point 1: plans 2 and 3 (two arms)
  decode_plans(l, bytes, 1, 1, 2, joined);
  const std::size_t n = 8, visits = l.visits_d.size(), times = l.output_times_h.size();
  for (std::size_t plan = 0; plan < 6; ++plan) {
    const bool mine = plan == 2 || plan == 3;
    INFO("plan " << plan);
    for (std::size_t i = plan * n * visits; i < (plan + 1) * n * visits; ++i) {
      CHECK((mine ? joined.madrs[i] == sent.madrs[i] : std::isnan(joined.madrs[i])));
    }
    // [slot][plan][patient][time]: the second output's block of this plan
    const std::size_t c0 = ((1 * 6) + plan) * n * times;
    CHECK((mine ? joined.conc[c0] == sent.conc[c0] : std::isnan(joined.conc[c0])));
    CHECK((mine ? joined.conc_n[6 + plan] == sent.conc_n[6 + plan] : joined.conc_n[6 + plan] == 0));
  }
  for (std::size_t point = 0; point < 3; ++point) {  // covariates: [point][patient]
    CHECK((point == 1 ? joined.weight_kg[point * n] == sent.weight_kg[point * n] : std::isnan(joined.weight_kg[point * n])));
  }
}

TEST_CASE("Every array a batch sends travels with the sweep points but the file's ID", "[trial][batch_codec]") {
  const Layout l = points_layout(true);
  Batch b = filled_points_batch(l);
  std::vector<const void*> listed, expected;
  Batch::for_each_plan_array(l, b, [&](const auto& v, std::size_t, std::size_t, std::size_t, bool) {
    listed.push_back(v.data());
  });
  each_named_with_conc(b, [&](const char* name, const auto& v) {
    if (std::strcmp(name, "patient_id") != 0) expected.push_back(v.data());
  });
  std::sort(listed.begin(), listed.end());
  std::sort(expected.begin(), expected.end());
  CHECK(listed == expected);
}

TEST_CASE("Sweep points from another batch or range are refused, naming the sender", "[trial][batch_codec]") {
  const Layout l = points_layout(false);
  const Batch sent = filled_points_batch(l);
  std::vector<unsigned char> bytes;
  encode_plans(l, sent, 1, 3, bytes);
  Batch other;
  other.first = sent.first;
  other.count = sent.count;
  other.resize(l, other.count);
  CHECK_THROWS_WITH(decode_plans(l, bytes, 2, 1, 2, other), Catch::Contains("from rank 2"));
  other.first += 8;
  CHECK_THROWS_WITH(decode_plans(l, bytes, 2, 1, 3, other), Catch::Contains("from rank 2"));
  other.first -= 8;
  std::vector<unsigned char> part(bytes.begin(), bytes.end() - 1);
  CHECK_THROWS_WITH(decode_plans(l, part, 2, 1, 3, other), Catch::Contains("from rank 2"));
  CHECK_NOTHROW(decode_plans(l, bytes, 2, 1, 3, other));
}
