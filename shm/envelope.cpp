#include "shm/envelope.h"

#include <cstring>

namespace rk::shm {

namespace {

capnp::word* as_words(std::byte* p) { return reinterpret_cast<capnp::word*>(p); }
const capnp::word* as_words(const std::byte* p) { return reinterpret_cast<const capnp::word*>(p); }

void put32(std::byte* p, uint32_t v) { std::memcpy(p, &v, 4); }
void put64(std::byte* p, uint64_t v) { std::memcpy(p, &v, 8); }

// Cap'n Proto pointer words (little-endian wire format).
constexpr uint64_t struct_pointer(int32_t offset_words, uint16_t data_words, uint16_t ptr_count) {
  return (uint64_t(uint32_t(offset_words) << 2)) | (uint64_t(data_words) << 32) |
         (uint64_t(ptr_count) << 48);
}
constexpr uint64_t byte_list_pointer(int32_t offset_words, uint32_t count) {
  return 1u | (uint64_t(uint32_t(offset_words) << 2)) | (uint64_t(2) << 32) | (uint64_t(count) << 35);
}

}  // namespace

Result<size_t> write_data_envelope_around(std::span<std::byte> record, const EnvelopeFields& f,
                                          size_t payload_bytes) {
  const size_t total = envelope_bytes_for_data(payload_bytes);
  if (total > record.size() || payload_bytes >= (size_t{1} << 29)) return Errc::too_large;
  std::byte* p = record.data();
  const uint32_t segment_words = uint32_t((total - kFramingBytes) / 8);
  put32(p + 0, 0);  // one segment
  put32(p + 4, segment_words);
  std::byte* seg = p + kFramingBytes;
  put64(seg + 0, struct_pointer(0, 4, 1));  // root: Envelope right after it
  std::byte* data = seg + 8;                // Envelope data section, 4 words
  put32(data + 0, f.kernel);
  put32(data + 4, f.type);
  put64(data + 8, f.correlation);
  put64(data + 16, f.hlc_physical);
  put32(data + 24, f.hlc_logical);
  put32(data + 28, uint32_t(f.status) | (uint32_t(f.flags) << 16));
  put64(data + 32, byte_list_pointer(0, uint32_t(payload_bytes)));  // payload: Data right after
  // Zero the word padding so the message is canonical and leaks no stale bytes.
  std::byte* body = data + 40;
  const size_t padded = (payload_bytes + 7) & ~size_t{7};
  if (padded != payload_bytes) std::memset(body + payload_bytes, 0, padded - payload_bytes);
  return total;
}

Result<size_t> write_data_envelope(std::span<std::byte> record, const EnvelopeFields& f,
                                   std::span<const std::byte> payload) {
  if (envelope_bytes_for_data(payload.size()) > record.size()) return Errc::too_large;
  if (!payload.empty()) std::memcpy(record.data() + kEnvelopeHeaderBytes, payload.data(), payload.size());
  return write_data_envelope_around(record, f, payload.size());
}

namespace {
uint32_t get32(const std::byte* p) { uint32_t v; std::memcpy(&v, p, 4); return v; }
uint64_t get64(const std::byte* p) { uint64_t v; std::memcpy(&v, p, 8); return v; }
}  // namespace

Result<EnvelopeView> read_envelope(std::span<const std::byte> record) {
  const size_t size = record.size();
  if (size < kFramingBytes + 8 || size % 8 != 0) return Errc::malformed;
  const std::byte* p = record.data();
  if (get32(p) != 0) return Errc::malformed;  // single segment only
  const uint64_t words = get32(p + 4);
  if (kFramingBytes + words * 8 != size) return Errc::malformed;
  const std::byte* seg = p + kFramingBytes;
  auto word_at = [&](int64_t i) { return get64(seg + i * 8); };

  const uint64_t root = word_at(0);
  if ((root & 3) != 0) return Errc::malformed;  // must be a struct pointer
  const int64_t start = 1 + int64_t(int32_t(uint32_t(root)) >> 2);
  const uint64_t dw = (root >> 32) & 0xffff, pc = root >> 48;
  if (start < 1 || uint64_t(start) + dw + pc > words) return Errc::malformed;

  // Fields beyond a (shorter, older) data section read as 0, as in capnp.
  EnvelopeView v{};
  const std::byte* d = seg + start * 8;
  if (dw >= 1) { v.fields.kernel = get32(d); v.fields.type = get32(d + 4); }
  if (dw >= 2) v.fields.correlation = get64(d + 8);
  if (dw >= 3) v.fields.hlc_physical = get64(d + 16);
  if (dw >= 4) {
    v.fields.hlc_logical = get32(d + 24);
    uint32_t sf = get32(d + 28);
    v.fields.status = uint16_t(sf);
    v.fields.flags = uint16_t(sf >> 16);
  }
  if (pc == 0) return v;
  const int64_t ptr_index = start + int64_t(dw);
  const uint64_t ptr = word_at(ptr_index);
  if (ptr == 0) return v;
  const int64_t target = ptr_index + 1 + int64_t(int32_t(uint32_t(ptr)) >> 2);
  switch (ptr & 3) {
    case 0: {  // struct payload
      const uint64_t sdw = (ptr >> 32) & 0xffff, spc = ptr >> 48;
      if (target < 1 || uint64_t(target) + sdw + spc > words) return Errc::malformed;
      v.kind = EnvelopeView::Payload::structure;
      return v;
    }
    case 1: {  // list payload; Data is a list of bytes
      const uint64_t elem = (ptr >> 32) & 7, count = ptr >> 35;
      if (target < 1 || uint64_t(target) > words) return Errc::malformed;
      const uint64_t room = (words - uint64_t(target)) * 8;
      if (elem == 2) {
        if (count > room) return Errc::malformed;
        v.kind = EnvelopeView::Payload::data;
        v.payload = std::span<const std::byte>(seg + target * 8, count);
        return v;
      }
      v.kind = EnvelopeView::Payload::list;
      return v;
    }
    default:
      return Errc::malformed;  // far or capability pointer
  }
}

EnvelopeBuilder::EnvelopeBuilder(std::span<std::byte> record) : record_(record) {
  if (record.size() < kFramingBytes + 8) throw kj::Exception(kj::Exception::Type::FAILED, __FILE__, __LINE__, kj::heapString("record too small"));
  std::memset(record.data(), 0, record.size());
  const size_t words = (record.size() - kFramingBytes) / 8;
  message_.emplace(kj::arrayPtr(as_words(record.data() + kFramingBytes), words));
  root_ = message_->initRoot<rk::schema::Envelope>();
}

Result<size_t> EnvelopeBuilder::finish() {
  auto segments = message_->getSegmentsForOutput();
  // FlatMessageBuilder throws rather than allocate a second segment, so one
  // segment is all there can be.
  if (segments.size() != 1) return Errc::too_large;
  const size_t words = segments[0].size();
  put32(record_.data() + 0, 0);
  put32(record_.data() + 4, uint32_t(words));
  return kFramingBytes + words * 8;
}

ReaderLimits limits_for(size_t bytes) {
  // Visiting each word up to 4 times covers honest readers that look at a
  // field more than once; 16 levels is deeper than any schema here.
  return ReaderLimits{uint64_t(bytes / 8 + 1) * 4, 16};
}

Errc EnvelopeReader::check(std::span<const std::byte> record, bool deep_check) {
  if (record.size() < kFramingBytes + 8 || record.size() % 8 != 0 ||
      reinterpret_cast<uintptr_t>(record.data()) % 8 != 0)
    return Errc::malformed;
  uint32_t seg_count_minus_one, seg_words;
  std::memcpy(&seg_count_minus_one, record.data(), 4);
  std::memcpy(&seg_words, record.data() + 4, 4);
  if (seg_count_minus_one != 0) return Errc::malformed;  // single segment only
  if (kFramingBytes + uint64_t(seg_words) * 8 != record.size()) return Errc::malformed;
  if (!deep_check) return Errc::ok;
  try {
    EnvelopeReader r(record);
    auto root = r.root();
    (void)root.totalSize();  // walks every pointer under the reader limits
    return Errc::ok;
  } catch (const kj::Exception&) {
    return Errc::malformed;
  }
}

namespace {
capnp::ReaderOptions options_for(size_t bytes) {
  ReaderLimits l = limits_for(bytes);
  capnp::ReaderOptions o;
  o.traversalLimitInWords = l.traversal_words;
  o.nestingLimit = l.nesting;
  return o;
}
}  // namespace

EnvelopeReader::EnvelopeReader(std::span<const std::byte> record)
    : reader_(kj::arrayPtr(as_words(record.data()), record.size() / 8), options_for(record.size())) {}

std::span<const std::byte> EnvelopeReader::data() {
  try {
    auto payload = root().getPayload();
    if (payload.isNull()) return {};
    auto d = payload.getAs<capnp::Data>();
    return {reinterpret_cast<const std::byte*>(d.begin()), d.size()};
  } catch (const kj::Exception&) {
    return {};  // payload is a struct or otherwise not Data
  }
}

}  // namespace rk::shm
