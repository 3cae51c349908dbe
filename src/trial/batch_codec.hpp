#pragma once
// Internal to the trial engine: a finished batch as bytes, so that a rank can hand it to the
// writer rank (core/ranks.hpp). The bytes are this build's own in-memory representation (every
// rank runs the same binary on the same kind of machine), with lengths checked on the way in.
#include <vector>

#include "batch.hpp"

namespace ketasim::trial {

// Replaces `bytes` with the batch's first patient, count, result arrays and compressed
// concentration chunks.
void encode_batch(const Batch& b, std::vector<unsigned char>& bytes);
// The inverse: fills every array listed by Batch::for_each_array, `first`, `count` and
// `encoded`. Throws RuntimeFailure naming `sender` when the bytes are not a whole batch.
void decode_batch(const std::vector<unsigned char>& bytes, int sender, Batch& b);

}  // namespace ketasim::trial
