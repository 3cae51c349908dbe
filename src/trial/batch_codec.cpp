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

}  // namespace

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
