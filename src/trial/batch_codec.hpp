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

// The sweep points [point_begin, point_end) of a batch, for a run split by sweep points
// (engine.cpp, work_split): the batch's first patient and count, then each array of
// Batch::for_each_plan_array, only those points' blocks (an array with one block for every
// point, the covariates without a cohort sweep, is the writer's own and is not sent).
void encode_plans(const Layout& l, const Batch& b, int point_begin, int point_end, std::vector<unsigned char>& bytes);
// Copies those blocks into `b`, which holds the same patients (sized by Batch::resize). Throws
// RuntimeFailure naming `sender` when the bytes are not those points of that batch.
void decode_plans(const Layout& l, const std::vector<unsigned char>& bytes, int sender, int point_begin, int point_end,
                  Batch& b);

}  // namespace ketasim::trial
