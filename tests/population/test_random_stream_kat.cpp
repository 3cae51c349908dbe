// Random123's published known-answer vectors for Philox4x64-10, instead of values computed with
// the code under test (issue 16, item 3). Source: Random123 tests/kat_vectors
// (github.com/DEShawResearch/random123, commit 9545ff6), lines
//   philox4x64 10 <ctr 4 words> <key 2 words>   <expected 4 words>
// Two layers are checked:
//  1. the Philox4x64 of the Debian package is the published generator (all three vectors);
//  2. RandomStream maps (seed, stream, patient, draw) onto it as documented (key {seed, stream},
//     counter {patient, block, 0, 0}, words in order, uniform = (top 53 bits + 0.5) / 2^53):
//     with seed 0, stream 0 and patient 0 the first block is the all-zero vector, so its first four
//     uniforms follow from the published words by that formula alone.
#include <Random123/philox.h>

#include <catch2/catch.hpp>

#include <array>
#include <cmath>
#include <cstdint>

#include "ketasim/population/random_stream.hpp"

namespace {

struct Kat {
  std::array<std::uint64_t, 4> ctr;
  std::array<std::uint64_t, 2> key;
  std::array<std::uint64_t, 4> expected;
};

constexpr std::uint64_t kOnes = 0xffffffffffffffffULL;
const Kat kVectors[] = {
    {{0, 0, 0, 0}, {0, 0}, {0x16554d9eca36314cULL, 0xdb20fe9d672d0fdcULL, 0xd7e772cee186176bULL, 0x7e68b68aec7ba23bULL}},
    {{kOnes, kOnes, kOnes, kOnes}, {kOnes, kOnes},
     {0x87b092c3013fe90bULL, 0x438c3c67be8d0224ULL, 0x9cc7d7c69cd777b6ULL, 0xa09caebf594f0ba0ULL}},
    {{0x243f6a8885a308d3ULL, 0x13198a2e03707344ULL, 0xa4093822299f31d0ULL, 0x082efa98ec4e6c89ULL},
     {0x452821e638d01377ULL, 0xbe5466cf34e90c6cULL},
     {0xa528f45403e61d95ULL, 0x38c72dbd566e9788ULL, 0xa5a1610e72fd18b5ULL, 0x57bd43b5e52b7fe6ULL}},
};

}  // namespace

TEST_CASE("Philox4x64-10 reproduces Random123's published known-answer vectors", "[rng][kat]") {
  r123::Philox4x64 philox;
  for (const Kat& v : kVectors) {
    const r123::Philox4x64::ctr_type ctr = {{v.ctr[0], v.ctr[1], v.ctr[2], v.ctr[3]}};
    const r123::Philox4x64::key_type key = {{v.key[0], v.key[1]}};
    const auto out = philox(ctr, key);
    for (int i = 0; i < 4; ++i) {
      INFO("vector with ctr[0] = " << std::hex << v.ctr[0] << ", word " << i);
      CHECK(out.v[i] == v.expected[i]);
    }
  }
}

TEST_CASE("RandomStream's first block for key {0, 0}, patient 0 is the published all-zero vector", "[rng][kat]") {
  ketasim::RandomStream rng(0, static_cast<ketasim::Stream>(0), 0);
  for (int i = 0; i < 4; ++i) {
    const std::uint64_t word = kVectors[0].expected[i];
    // (k + 0.5) / 2^53 with k the top 53 bits: exact in double, so equality is exact.
    const double expected = (static_cast<double>(word >> 11) + 0.5) * std::ldexp(1.0, -53);
    INFO("draw " << i);
    CHECK(rng.uniform() == expected);
  }
}
