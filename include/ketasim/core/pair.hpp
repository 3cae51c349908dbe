#pragma once
// Two doubles per operation for the per-patient loops (SSE2 on x86-64), through GCC/Clang vector
// extensions rather than instruction-set intrinsics. Arithmetic on a Pair is the scalar operation
// in each lane, so a loop rewritten over Pairs keeps the scalar loop's bits, which each user's
// tests check. That needs no contraction into fused multiply-adds: x86-64's baseline (the build's
// target) has none; a build for a target with FMA would need -ffp-contract=off.
#include <cstring>

namespace ketasim {

using Pair = double __attribute__((vector_size(16)));

inline Pair splat(double x) { return Pair{x, x}; }

// Unaligned: grid arrays start anywhere.
inline Pair load_pair(const double* p) {
  Pair v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

inline void store_pair(double* p, Pair v) { std::memcpy(p, &v, sizeof v); }

}  // namespace ketasim
