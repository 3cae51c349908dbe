#include "ketasim/io/hdf5_heap_check.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "ketasim/io/results_file.hpp"
#include "../support/scratch.hpp"

namespace {

using Bytes = std::vector<std::uint8_t>;

void put(Bytes& b, std::uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) b.push_back(static_cast<std::uint8_t>(value >> (8 * i)));
}

// One collection written by hand from the file format specification (III.E), independently of
// the checker: header, then objects (index, refcount, reserved, size, data padded to 8), then the
// free-space object 0 whose size covers the rest including its own header.
struct Object {
  std::uint16_t index;
  std::uint64_t stored_size;  // what the header claims
  std::size_t data_bytes;     // what is actually laid out (padded to 8)
};

Bytes collection(const std::vector<Object>& objects, std::uint64_t collection_bytes, bool free_space = true,
                 std::uint64_t free_size_override = UINT64_MAX) {
  Bytes b = {'G', 'C', 'O', 'L', 1, 0, 0, 0};
  put(b, collection_bytes, 8);
  for (const auto& o : objects) {
    put(b, o.index, 2);
    put(b, 0, 2);
    put(b, 0, 4);
    put(b, o.stored_size, 8);
    b.resize(b.size() + (o.data_bytes + 7) / 8 * 8, 'x');
  }
  if (free_space) {
    const std::uint64_t rest = collection_bytes - b.size();
    put(b, 0, 2);
    put(b, 0, 2);
    put(b, 0, 4);
    put(b, free_size_override == UINT64_MAX ? rest : free_size_override, 8);
  }
  b.resize(collection_bytes, 0);
  return b;
}

Bytes in_file(const Bytes& c) {
  // Something before (100 bytes of 0xAB) and after (57 of 0xCD), as in a real file. Laid out in
  // one allocation: inserting at the end of the 100 bytes made GCC 12 warn (-Warray-bounds, a
  // false positive in its reallocation path).
  Bytes file(100 + c.size() + 57, 0xCD);
  std::fill(file.begin(), file.begin() + 100, 0xAB);
  std::copy(c.begin(), c.end(), file.begin() + 100);
  return file;
}

std::optional<std::string> check(const Bytes& b) { return ketasim::io::find_damaged_global_heap(b.data(), b.size()); }

}  // namespace

TEST_CASE("A well-formed global heap collection passes", "[io][heap]") {
  CHECK_FALSE(check(in_file(collection({{1, 7, 7}, {2, 5, 5}, {3, 141, 141}}, 4096))));
  // A tail shorter than an object header is free space without a header (libhdf5 accepts it).
  CHECK_FALSE(check(in_file(collection({{1, 7, 7}}, 16 + 24 + 8, false))));
  // No collection at all, and a signature without version 1 and zero reserved bytes, are not checked.
  CHECK_FALSE(check(Bytes(300, 0)));
  Bytes lookalike = {'G', 'C', 'O', 'L', 7, 1, 2, 3};
  lookalike.resize(64, 0);
  CHECK_FALSE(check(lookalike));
}

TEST_CASE("Damaged global heap collections are found before libhdf5 loops on them", "[io][heap]") {
  SECTION("a free-space object of size 0 before the end (the fuzzer's hang)") {
    const auto problem = check(in_file(collection({{1, 7, 7}, {2, 5, 5}}, 4096, true, 0)));
    REQUIRE(problem);
    CHECK(problem->find("global heap collection at byte 100") != std::string::npos);
    CHECK(problem->find("object 0 at byte 164 has size 0") != std::string::npos);
  }
  SECTION("an object size that wraps the walk around") {
    CHECK(check(in_file(collection({{1, UINT64_MAX - 3, 8}}, 4096))));
  }
  SECTION("an object running past the end of its collection") {
    CHECK(check(in_file(collection({{1, 5000, 8}}, 4096))));
  }
  SECTION("a collection longer than the file") {
    Bytes c = collection({{1, 7, 7}}, 4096);
    c.resize(2000);
    CHECK(check(c));
  }
  SECTION("a damaged collection right after near-misses of its signature") {
    // The scan looks for the signature's first byte, then compares the rest: a 'G' that starts
    // no signature, or starts "GCOL" with another version, must not make it skip the real one.
    Bytes file = {'G', 'G', 'C', 'O', 'L', 2, 0, 0, 0, 'G', 'C'};
    const Bytes damaged = collection({{1, 7, 7}, {2, 5, 5}}, 4096, true, 0);
    file.insert(file.end(), damaged.begin(), damaged.end());
    const auto problem = check(file);
    REQUIRE(problem);
    CHECK(problem->find("global heap collection at byte 11") != std::string::npos);
  }
  SECTION("a collection size smaller than its header") {
    Bytes c = {'G', 'C', 'O', 'L', 1, 0, 0, 0};
    put(c, 3, 8);
    c.resize(64, 0);
    CHECK(check(c));
  }
}

TEST_CASE("Results files that ketasim writes pass the global heap check", "[io][heap]") {
  ketasim::testing::ScratchFolder scratch("ketasim", "heap_check");
  const std::string path = (scratch.path / "labels.h5").string();
  {
    ketasim::io::ResultsFile file(path);
    file.add_label_dimension("arm", {"ketamine 0.5 mg/kg", "esketamine 84 mg", "placebo"}, "trial arm");
    file.set_attribute("software", "ketasim");
    file.set_attribute("note", std::string(5000, 'n'));  // larger than one 4 KiB collection
    file.commit();
  }
  CHECK_FALSE(ketasim::io::find_damaged_global_heap(path));
}

TEST_CASE("The fuzzer's global-heap reproducer is refused", "[io][heap]") {
  const std::string path = std::string(KETASIM_TEST_DATA_DIR) + "/../fuzz/crashes/results/hdf5-global-heap-hang.h5";
  const auto problem = ketasim::io::find_damaged_global_heap(path);
  REQUIRE(problem);
  CHECK(problem->find("at byte 2048") != std::string::npos);
}
