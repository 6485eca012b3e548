// Envelopes built and read in place: the hand-written Data layout matches
// Cap'n Proto's own, typed payloads build inside the record or fail, and
// the reader refuses malformed bytes and enforces its limits.
#include <capnp/any.h>
#include <capnp/message.h>
#include <capnp/serialize.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>
#include <random>
#include <vector>

#include "rk_schema/envelope.capnp.h"
#include "rk_schema/kernels.capnp.h"
#include "shm/envelope.h"

// Counts every operator new in this test binary, so a test can show that
// building a message into a record touches no heap.
namespace {
std::atomic<uint64_t> g_heap_allocations{0};
}
// GCC pairs malloc/free across the replaced operators when it inlines them; that pairing is intended.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void* operator new(size_t n) {
  g_heap_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }

namespace rk::shm {
namespace {

// Word-aligned record storage, as a ring record body is.
struct RecordBuffer {
  explicit RecordBuffer(size_t bytes) : words((bytes + 7) / 8, 0), size(bytes) {}
  std::span<std::byte> span() { return {reinterpret_cast<std::byte*>(words.data()), size}; }
  std::span<const std::byte> first(size_t n) const { return {reinterpret_cast<const std::byte*>(words.data()), n}; }
  std::vector<uint64_t> words;
  size_t size;
};

EnvelopeFields sample_fields() {
  EnvelopeFields f;
  f.kernel = 0x11223344;
  f.type = 0x55667788;
  f.correlation = 0x0102030405060708ull;
  f.hlc_physical = 0xa1a2a3a4a5a6a7a8ull;
  f.hlc_logical = 0xdeadbeef;
  f.status = 0x1234;
  f.flags = 0xfedc;
  return f;
}

std::vector<std::byte> sample_payload(size_t n) {
  std::vector<std::byte> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = std::byte(uint8_t(i * 37 + 11));
  return v;
}

void expect_fields(rk::schema::Envelope::Reader r, const EnvelopeFields& f) {
  EXPECT_EQ(r.getKernel(), f.kernel);
  EXPECT_EQ(r.getType(), f.type);
  EXPECT_EQ(r.getCorrelation(), f.correlation);
  EXPECT_EQ(r.getHlcPhysical(), f.hlc_physical);
  EXPECT_EQ(r.getHlcLogical(), f.hlc_logical);
  EXPECT_EQ(r.getStatus(), f.status);
  EXPECT_EQ(r.getFlags(), f.flags);
}

kj::ArrayPtr<const capnp::word> as_words(std::span<const std::byte> s) {
  return {reinterpret_cast<const capnp::word*>(s.data()), s.size() / 8};
}

// ---- Data envelopes ------------------------------------------------------------

TEST(ShmEnvelope, DataEnvelope_ReadsBackInPlace) {
  RecordBuffer rec(1024);
  const auto payload = sample_payload(37);
  auto len = write_data_envelope(rec.span(), sample_fields(), payload);
  ASSERT_TRUE(len.ok());
  EXPECT_EQ(*len, envelope_bytes_for_data(37));

  auto body = rec.first(*len);
  ASSERT_EQ(EnvelopeReader::check(body), Errc::ok);
  EnvelopeReader reader(body);
  expect_fields(reader.root(), sample_fields());
  auto data = reader.data();
  ASSERT_EQ(data.size(), 37u);
  EXPECT_EQ(std::memcmp(data.data(), payload.data(), 37), 0);
  // Zero copy: the payload is read where it lies in the record.
  EXPECT_EQ(data.data(), body.data() + kEnvelopeHeaderBytes);
}

TEST(ShmEnvelope, DataEnvelope_ReadableByPlainCapnpReader) {
  RecordBuffer rec(1024);
  const auto payload = sample_payload(100);
  auto len = write_data_envelope(rec.span(), sample_fields(), payload);
  ASSERT_TRUE(len.ok());
  capnp::FlatArrayMessageReader reader(as_words(rec.first(*len)));
  EXPECT_EQ(reader.getEnd(), as_words(rec.first(*len)).end());  // consumed exactly the record
  auto root = reader.getRoot<rk::schema::Envelope>();
  expect_fields(root, sample_fields());
  auto data = root.getPayload().getAs<capnp::Data>();
  ASSERT_EQ(data.size(), 100u);
  EXPECT_EQ(std::memcmp(data.begin(), payload.data(), 100), 0);
}

// The device-side view decodes the hand-written layout; it must be exactly
// what Cap'n Proto's builder writes for the same fields.
TEST(ShmEnvelope, DataEnvelopeLayout_ByteIdenticalToCapnpBuilder) {
  for (size_t n : {0, 1, 7, 8, 9, 15, 16, 100, 4095, 4096, 65536}) {
    SCOPED_TRACE(n);
    const auto payload = sample_payload(n);
    const EnvelopeFields f = sample_fields();

    capnp::MallocMessageBuilder builder(n / 8 + 64, capnp::AllocationStrategy::FIXED_SIZE);
    auto root = builder.initRoot<rk::schema::Envelope>();
    root.setKernel(f.kernel);
    root.setType(f.type);
    root.setCorrelation(f.correlation);
    root.setHlcPhysical(f.hlc_physical);
    root.setHlcLogical(f.hlc_logical);
    root.setStatus(f.status);
    root.setFlags(f.flags);
    root.getPayload().setAs<capnp::Data>(
        kj::arrayPtr(reinterpret_cast<const kj::byte*>(payload.data()), payload.size()));
    ASSERT_EQ(builder.getSegmentsForOutput().size(), 1u);
    kj::Array<capnp::word> flat = capnp::messageToFlatArray(builder);
    kj::ArrayPtr<const kj::byte> expected = flat.asBytes();

    RecordBuffer rec(envelope_bytes_for_data(n) + 64);
    std::memset(rec.span().data(), 0xab, rec.size);  // stale ring bytes must not leak in
    auto len = write_data_envelope(rec.span(), f, payload);
    ASSERT_TRUE(len.ok());
    ASSERT_EQ(*len, expected.size());
    EXPECT_EQ(std::memcmp(rec.span().data(), expected.begin(), expected.size()), 0);
  }
}

TEST(ShmEnvelope, DataEnvelope_TooSmallRecordIsTooLarge) {
  const auto payload = sample_payload(50);
  const size_t need = envelope_bytes_for_data(50);
  RecordBuffer exact(need);
  EXPECT_TRUE(write_data_envelope(exact.span(), sample_fields(), payload).ok());
  RecordBuffer small(need - 8);
  EXPECT_EQ(write_data_envelope(small.span(), sample_fields(), payload).error(), Errc::too_large);
}

// ---- typed payloads through Cap'n Proto's builder -----------------------------------

void fill_saxpy(rk::schema::Envelope::Builder root, size_t n) {
  root.setKernel(7);
  root.setType(42);
  root.setCorrelation(99);
  auto req = root.getPayload().initAs<rk::schema::SaxpyRequest>();
  req.setA(2.5f);
  auto x = req.initX(uint32_t(n));
  auto y = req.initY(uint32_t(n));
  for (uint32_t i = 0; i < n; ++i) {
    x.set(i, float(i));
    y.set(i, float(i) * 0.5f);
  }
}

TEST(ShmEnvelope, TypedPayload_BuiltInRecordWithoutHeap) {
  RecordBuffer rec(4096);
  std::memset(rec.span().data(), 0xcd, rec.size);  // builders must get zeroed memory anyway
  const uint64_t allocations_before = g_heap_allocations.load();
  auto len = EnvelopeBuilder::build(rec.span(), [](auto root) { fill_saxpy(root, 100); });
  const uint64_t allocations = g_heap_allocations.load() - allocations_before;
  ASSERT_TRUE(len.ok()) << errc_string(len.error());
  EXPECT_EQ(allocations, 0u);
  // Framing + root + Envelope (5 words) + SaxpyRequest (1 data + 2 ptrs) + two 100-float lists.
  EXPECT_EQ(*len, 8u + 8 * (1 + 5 + 3 + 2 * 50));

  auto body = rec.first(*len);
  ASSERT_EQ(EnvelopeReader::check(body), Errc::ok);
  EnvelopeReader reader(body);
  EXPECT_EQ(reader.root().getKernel(), 7u);
  EXPECT_EQ(reader.root().getCorrelation(), 99u);
  EXPECT_TRUE(reader.data().empty());  // the payload is a struct, not Data
  auto req = reader.root().getPayload().getAs<rk::schema::SaxpyRequest>();
  EXPECT_EQ(req.getA(), 2.5f);
  ASSERT_EQ(req.getX().size(), 100u);
  ASSERT_EQ(req.getY().size(), 100u);
  EXPECT_EQ(req.getX()[99], 99.0f);
  EXPECT_EQ(req.getY()[10], 5.0f);

  capnp::FlatArrayMessageReader plain(as_words(body));
  EXPECT_EQ(plain.getRoot<rk::schema::Envelope>().getPayload().getAs<rk::schema::SaxpyRequest>().getX()[50],
            50.0f);
}

TEST(ShmEnvelope, TypedPayload_TooSmallRecordIsTooLargeNotHeap) {
  RecordBuffer rec(512);
  auto len = EnvelopeBuilder::build(rec.span(), [](auto root) { fill_saxpy(root, 1000); });
  EXPECT_EQ(len.error(), Errc::too_large);
  RecordBuffer tiny(8);
  EXPECT_EQ(EnvelopeBuilder::build(tiny.span(), [](auto root) { root.setKernel(1); }).error(), Errc::too_large);
}

TEST(ShmEnvelope, TypedPayload_ExactlyFittingRecordSucceeds) {
  RecordBuffer big(8192);
  auto need = EnvelopeBuilder::build(big.span(), [](auto root) { fill_saxpy(root, 300); });
  ASSERT_TRUE(need.ok());
  RecordBuffer exact(*need);
  EXPECT_EQ(EnvelopeBuilder::build(exact.span(), [](auto root) { fill_saxpy(root, 300); }).value(), *need);
  RecordBuffer short_by_a_word(*need - 8);
  EXPECT_EQ(EnvelopeBuilder::build(short_by_a_word.span(), [](auto root) { fill_saxpy(root, 300); }).error(),
            Errc::too_large);
}

// ---- malformed bytes ---------------------------------------------------------------

TEST(ShmEnvelopeMalformed, RandomBytesAreRejected) {
  std::mt19937_64 rng(42);
  for (int trial = 0; trial < 2000; ++trial) {
    RecordBuffer rec(8 * (2 + rng() % 128));
    for (auto& w : rec.words) w = rng();
    ASSERT_EQ(EnvelopeReader::check(rec.first(rec.size)), Errc::malformed) << "trial " << trial;
  }
}

// Valid framing around random words: the deep check either refuses the
// message or guarantees that reading it afterwards cannot fail.
TEST(ShmEnvelopeMalformed, RandomSegmentWithValidFramingNeverEscapesCheck) {
  std::mt19937_64 rng(7);
  int refused = 0;
  for (int trial = 0; trial < 5000; ++trial) {
    const size_t words = 2 + rng() % 64;
    RecordBuffer rec(8 * (words + 1));
    rec.words[0] = uint64_t(words) << 32;  // one segment of `words` words
    for (size_t i = 1; i <= words; ++i) {
      uint64_t w = rng();
      if (rng() % 2) w &= 0x0003'0003'0000'00ffull;  // small, plausible pointers
      rec.words[i] = w;
    }
    auto body = rec.first(rec.size);
    Errc e = EnvelopeReader::check(body);
    ASSERT_TRUE(e == Errc::ok || e == Errc::malformed);
    if (e == Errc::malformed) {
      ++refused;
      continue;
    }
    EnvelopeReader reader(body);
    EXPECT_NO_THROW({
      auto root = reader.root();
      (void)root.getKernel();
      (void)root.getPayload().isNull();
      (void)reader.data();
    });
  }
  EXPECT_GT(refused, 100);
}

TEST(ShmEnvelopeMalformed, BadFramingIsRejected) {
  RecordBuffer rec(256);
  auto len = write_data_envelope(rec.span(), sample_fields(), sample_payload(20));
  ASSERT_TRUE(len.ok());
  ASSERT_EQ(EnvelopeReader::check(rec.first(*len)), Errc::ok);

  auto with_word0 = [&](uint64_t w0) {
    RecordBuffer copy = rec;
    copy.words[0] = w0;
    return EnvelopeReader::check(copy.first(*len));
  };
  const uint64_t seg_words = (*len - 8) / 8;
  EXPECT_EQ(with_word0(seg_words << 32 | 1), Errc::malformed);          // two segments
  EXPECT_EQ(with_word0((seg_words + 1) << 32), Errc::malformed);        // longer than the record
  EXPECT_EQ(with_word0((seg_words - 1) << 32), Errc::malformed);        // shorter than the record
  EXPECT_EQ(with_word0(uint64_t(0xffffffff) << 32), Errc::malformed);  // absurd
  EXPECT_EQ(EnvelopeReader::check(rec.first(*len - 4)), Errc::malformed);  // not whole words
  EXPECT_EQ(EnvelopeReader::check(rec.first(8)), Errc::malformed);         // framing only
  EXPECT_EQ(EnvelopeReader::check({}), Errc::malformed);
  EXPECT_EQ(EnvelopeReader::check(rec.first(*len + 8).subspan(4, *len)), Errc::malformed);  // misaligned
}

TEST(ShmEnvelopeMalformed, PointersOutOfBoundsAreRejected) {
  RecordBuffer rec(256);
  auto len = write_data_envelope(rec.span(), sample_fields(), sample_payload(20));
  ASSERT_TRUE(len.ok());
  // Words: [0] framing, [1] root pointer, [2..5] Envelope data, [6] payload pointer, [7..9] Data.
  auto check_with = [&](size_t index, uint64_t word) {
    RecordBuffer copy = rec;
    copy.words[index] = word;
    return EnvelopeReader::check(copy.first(*len));
  };
  const uint64_t root = rec.words[1], payload = rec.words[6];
  ASSERT_EQ(check_with(1, root), Errc::ok);
  EXPECT_EQ(check_with(1, root | (uint64_t(100) << 2)), Errc::malformed);      // struct past the end
  EXPECT_EQ(check_with(1, root | (uint64_t(8) << 48)), Errc::malformed);       // pointer section past the end
  EXPECT_EQ(check_with(1, (root & ~uint64_t{0xffff'fffc}) | (uint64_t(0x3ffffffe) << 2)),
            Errc::malformed);  // offset -2: before the segment
  EXPECT_EQ(check_with(6, payload + (uint64_t(100) << 35)), Errc::malformed);  // list longer than the segment
  EXPECT_EQ(check_with(6, payload | (uint64_t(50) << 2)), Errc::malformed);    // list starts past the end
  EXPECT_EQ(check_with(6, 2 | (uint64_t(1) << 32)), Errc::malformed);          // far pointer to segment 1
  // Framing-only check lets it through; the deep check is what catches it.
  RecordBuffer copy = rec;
  copy.words[6] = payload + (uint64_t(100) << 35);
  EXPECT_EQ(EnvelopeReader::check(copy.first(*len), /*deep_check=*/false), Errc::ok);
}

// ---- reader limits -----------------------------------------------------------------------

// A chain of structs, each holding the next in its only pointer.
Result<size_t> build_nested(std::span<std::byte> record, int depth) {
  return EnvelopeBuilder::build(record, [depth](rk::schema::Envelope::Builder root) {
    capnp::AnyPointer::Builder next = root.getPayload();
    for (int i = 0; i < depth; ++i) next = next.initAsAnyStruct(1, 1).getPointerSection()[0];
  });
}

TEST(ShmEnvelopeLimits, NestingDeeperThanLimitIsRejected) {
  RecordBuffer rec(8192);
  const int limit = limits_for(rec.size).nesting;
  ASSERT_GT(limit, 4);

  auto shallow = build_nested(rec.span(), limit - 4);
  ASSERT_TRUE(shallow.ok());
  EXPECT_EQ(EnvelopeReader::check(rec.first(*shallow)), Errc::ok);

  auto deep = build_nested(rec.span(), limit + 4);
  ASSERT_TRUE(deep.ok());
  EXPECT_EQ(EnvelopeReader::check(rec.first(*deep)), Errc::malformed);
  // The same bytes are fine for a reader without our limit: the limit is what refuses them.
  capnp::FlatArrayMessageReader lenient(as_words(rec.first(*deep)), capnp::ReaderOptions{1 << 20, 1000});
  EXPECT_NO_THROW((void)lenient.getRoot<rk::schema::Envelope>().totalSize());
}

// Hand-written amplification attack: `fanout` pointers in one struct all
// point at the same list, so walking the message visits that list `fanout`
// times although it is stored once.
std::vector<uint64_t> amplified_message(uint32_t fanout, uint32_t list_words) {
  std::vector<uint64_t> w;
  const uint32_t seg_words = 6 + fanout + list_words;
  w.push_back(uint64_t(seg_words) << 32);                 // framing: one segment
  w.push_back(uint64_t(4) << 32 | uint64_t(1) << 48);     // root: Envelope, 4 data words, 1 pointer
  for (int i = 0; i < 4; ++i) w.push_back(0);             // Envelope data
  w.push_back(uint64_t(fanout) << 48);                    // payload: struct of `fanout` pointers, offset 0
  for (uint32_t i = 0; i < fanout; ++i) {
    const uint32_t offset = fanout - i - 1;               // all land on the list after the pointers
    w.push_back(1 | uint64_t(offset) << 2 | uint64_t(5) << 32 | uint64_t(list_words) << 35);
  }
  for (uint32_t i = 0; i < list_words; ++i) w.push_back(i);
  return w;
}

std::span<const std::byte> bytes_of(const std::vector<uint64_t>& w) {
  return {reinterpret_cast<const std::byte*>(w.data()), w.size() * 8};
}

TEST(ShmEnvelopeLimits, AmplifiedTraversalIsRejected) {
  auto honest = amplified_message(1, 256);
  EXPECT_EQ(EnvelopeReader::check(bytes_of(honest)), Errc::ok);
  auto twice = amplified_message(2, 256);
  EXPECT_EQ(EnvelopeReader::check(bytes_of(twice)), Errc::ok);  // within "a few visits per word"

  auto attack = amplified_message(64, 256);
  EXPECT_EQ(EnvelopeReader::check(bytes_of(attack)), Errc::malformed);
  // Cap'n Proto's default limit (64 MiB) would have let it through.
  capnp::FlatArrayMessageReader lenient(as_words(bytes_of(attack)));
  EXPECT_NO_THROW((void)lenient.getRoot<rk::schema::Envelope>().totalSize());
}

TEST(ShmEnvelopeLimits, ReadingAListOverAndOverHitsTraversalLimit) {
  RecordBuffer rec(16384);
  auto len = EnvelopeBuilder::build(rec.span(), [](auto root) { fill_saxpy(root, 1000); });
  ASSERT_TRUE(len.ok());
  auto body = rec.first(*len);
  ASSERT_EQ(EnvelopeReader::check(body), Errc::ok);

  EnvelopeReader reader(body);
  auto req = reader.root().getPayload().getAs<rk::schema::SaxpyRequest>();
  int reads = 0;
  bool refused = false;
  try {
    for (; reads < 1000; ++reads) (void)req.getX();  // 500 words charged per read
  } catch (const kj::Exception&) {
    refused = true;
  }
  EXPECT_TRUE(refused);
  EXPECT_GE(reads, 2);   // an honest reader gets to look more than once
  EXPECT_LE(reads, 20);  // but not without bound
}

}  // namespace
}  // namespace rk::shm
