#include "batch_codec.hpp"

#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>

#include "ketasim/core/error.hpp"

namespace ketasim::trial {
namespace {

constexpr std::uint64_t kMagic = 0x6b65746162617463ULL;  // "ketabatc"

void put_bytes(std::vector<unsigned char>& out, const void* data, std::size_t n) {
  const auto* p = static_cast<const unsigned char*>(data);
  out.insert(out.end(), p, p + n);
}

template <class T>
void put_array(std::vector<unsigned char>& out, const std::vector<T>& v) {
  static_assert(std::is_trivially_copyable_v<T>, "only plain values travel");
  const std::uint64_t n = v.size();
  put_bytes(out, &n, sizeof n);
  if (n) put_bytes(out, v.data(), n * sizeof(T));
}

class Reader {
 public:
  Reader(const std::vector<unsigned char>& bytes, int sender) : bytes_(bytes), sender_(sender) {}

  void take(void* to, std::size_t n) {
    if (n > bytes_.size() - offset_) fail();
    if (n) std::memcpy(to, bytes_.data() + offset_, n);
    offset_ += n;
  }
  template <class T>
  void take_array(std::vector<T>& v) {
    std::uint64_t n = 0;
    take(&n, sizeof n);
    if (n > (bytes_.size() - offset_) / sizeof(T)) fail();
    v.resize(n);
    take(v.data(), n * sizeof(T));
  }
  void finish() const {
    if (offset_ != bytes_.size()) fail();
  }
  [[noreturn]] void fail() const {
    throw RuntimeFailure("the batch received from rank " + std::to_string(sender_) +
                         " is incomplete or damaged (" + std::to_string(bytes_.size()) + " bytes)");
  }

 private:
  const std::vector<unsigned char>& bytes_;
  int sender_;
  std::size_t offset_ = 0;
};

constexpr std::uint64_t kPlansMagic = 0x6b657461706c616eULL;  // "ketaplan"

// The blocks of points [point_begin, point_end) in an array of `blocks` blocks per slot.
struct BlockRange {
  std::size_t begin = 0, end = 0;
};
BlockRange point_blocks(const Layout& l, std::size_t blocks, bool by_point, int point_begin, int point_end) {
  if (by_point && blocks == 1) return {};  // the same for every point: not sent
  const std::size_t per_point = by_point ? 1 : static_cast<std::size_t>(l.n_arms);
  return {static_cast<std::size_t>(point_begin) * per_point, static_cast<std::size_t>(point_end) * per_point};
}

}  // namespace

void encode_plans(const Layout& l, const Batch& b, int point_begin, int point_end, std::vector<unsigned char>& bytes) {
  bytes.clear();
  const std::int64_t header[] = {b.first, b.count, point_begin, point_end};
  put_bytes(bytes, &kPlansMagic, sizeof kPlansMagic);
  put_bytes(bytes, header, sizeof header);
  Batch::for_each_plan_array(l, b, [&](const auto& v, std::size_t slots, std::size_t blocks, std::size_t elements,
                                       bool by_point) {
    using T = typename std::decay_t<decltype(v)>::value_type;
    const BlockRange r = point_blocks(l, blocks, by_point, point_begin, point_end);
    for (std::size_t s = 0; s < slots && r.end > r.begin; ++s) {
      put_bytes(bytes, v.data() + (s * blocks + r.begin) * elements, (r.end - r.begin) * elements * sizeof(T));
    }
  });
}

void decode_plans(const Layout& l, const std::vector<unsigned char>& bytes, int sender, int point_begin, int point_end,
                  Batch& b) {
  Reader in(bytes, sender);
  std::uint64_t magic = 0;
  std::int64_t header[4] = {};
  in.take(&magic, sizeof magic);
  in.take(header, sizeof header);
  if (magic != kPlansMagic || header[0] != b.first || header[1] != b.count || header[2] != point_begin ||
      header[3] != point_end) {
    in.fail();
  }
  Batch::for_each_plan_array(l, b, [&](auto& v, std::size_t slots, std::size_t blocks, std::size_t elements,
                                       bool by_point) {
    using T = typename std::decay_t<decltype(v)>::value_type;
    const BlockRange r = point_blocks(l, blocks, by_point, point_begin, point_end);
    if (v.size() != slots * blocks * elements) in.fail();
    for (std::size_t s = 0; s < slots && r.end > r.begin; ++s) {
      in.take(v.data() + (s * blocks + r.begin) * elements, (r.end - r.begin) * elements * sizeof(T));
    }
  });
  in.finish();
}

void encode_batch(const Batch& b, std::vector<unsigned char>& bytes) {
  bytes.clear();
  const std::int64_t first = b.first, count = b.count;
  put_bytes(bytes, &kMagic, sizeof kMagic);
  put_bytes(bytes, &first, sizeof first);
  put_bytes(bytes, &count, sizeof count);
  Batch::for_each_array(b, [&](const auto& v) { put_array(bytes, v); });
  const std::uint64_t chunks = b.encoded.size();
  put_bytes(bytes, &chunks, sizeof chunks);
  for (const auto& chunk : b.encoded) put_array(bytes, chunk);
}

void decode_batch(const std::vector<unsigned char>& bytes, int sender, Batch& b) {
  Reader in(bytes, sender);
  std::uint64_t magic = 0;
  std::int64_t first = 0, count = 0;
  in.take(&magic, sizeof magic);
  if (magic != kMagic) in.fail();
  in.take(&first, sizeof first);
  in.take(&count, sizeof count);
  if (first < 0 || count < 0 || count > (std::int64_t{1} << 31)) in.fail();
  b.first = first;
  b.count = static_cast<int>(count);
  Batch::for_each_array(b, [&](auto& v) { in.take_array(v); });
  std::uint64_t chunks = 0;
  in.take(&chunks, sizeof chunks);
  if (chunks > bytes.size()) in.fail();
  b.encoded.resize(chunks);
  for (auto& chunk : b.encoded) in.take_array(chunk);
  in.finish();
}

}  // namespace ketasim::trial
