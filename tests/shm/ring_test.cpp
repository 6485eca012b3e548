// The ring as one producer and one consumer see it, in one thread: record
// framing, padding, full/empty, batching, and a hostile peer.
#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <vector>

#include "shm/ring.h"
#include "tests/shm/ring_memory.h"

namespace rk::shm {
namespace {

using test::fill_pattern;
using test::first_pattern_mismatch;
using test::push_record;
using test::RingMemory;

constexpr RingConfig kSmall{4096, 1024};

uint64_t load_tail(RingMemory& m) { return std::atomic_ref<uint64_t>(m.header()->tail).load(); }
uint64_t load_head(RingMemory& m) { return std::atomic_ref<uint64_t>(m.header()->head).load(); }
void store_tail(RingMemory& m, uint64_t v) { std::atomic_ref<uint64_t>(m.header()->tail).store(v); }
void store_head(RingMemory& m, uint64_t v) { std::atomic_ref<uint64_t>(m.header()->head).store(v); }

// Pops every published record, checking each against the pattern for the
// tags given, in order.
void drain_expecting(RingConsumer& c, const std::vector<std::pair<size_t, uint64_t>>& expected) {
  for (auto [size, tag] : expected) {
    auto r = c.peek();
    ASSERT_TRUE(r.ok()) << errc_string(r.error());
    ASSERT_EQ(r->body.size(), size);
    ASSERT_EQ(first_pattern_mismatch(r->body, tag), -1) << "record " << tag;
    c.pop(*r);
  }
  EXPECT_EQ(c.peek().error(), Errc::empty);
}

// Moves both sides of an empty ring to position `pos` (a multiple of 8) by
// pushing and popping filler records.
void advance_empty_ring_to(RingProducer& p, RingConsumer& c, uint64_t pos) {
  while (c.read_position() < pos) {
    uint64_t gap = pos - c.read_position();
    size_t body = gap >= 1024 + 8 ? 1000 : size_t(gap - kRecordHeaderBytes);
    push_record(p, body, 0);
    auto r = c.peek();
    ASSERT_TRUE(r.ok());
    c.pop(*r);
  }
  ASSERT_EQ(c.read_position(), pos);
}

// ---- configuration -----------------------------------------------------------

TEST(ShmRingConfig, RejectsNonPowerOfTwoTinyOrOversizedRecords) {
  EXPECT_EQ(validate_ring_config({4096, 1024}), Errc::ok);
  EXPECT_EQ(validate_ring_config({1u << 20, 65792}), Errc::ok);
  EXPECT_EQ(validate_ring_config({6144, 1024}), Errc::invalid_argument);  // not a power of two
  EXPECT_EQ(validate_ring_config({2048, 512}), Errc::invalid_argument);   // under 4 KiB
  EXPECT_EQ(validate_ring_config({4096, 0}), Errc::invalid_argument);
  // Two max records must fit, so a producer can always get past a padding record.
  EXPECT_EQ(validate_ring_config({4096, 2040}), Errc::ok);
  EXPECT_EQ(validate_ring_config({4096, 2041}), Errc::invalid_argument);
}

TEST(ShmRingConfig, AttachRefusesHeaderThatDoesNotMatchMapping) {
  RingMemory m(kSmall);
  auto attach_err = [&](uint64_t mapped) { return RingConsumer::attach(m.memory(), mapped).error(); };
  EXPECT_EQ(attach_err(m.bytes()), Errc::ok);
  EXPECT_EQ(attach_err(m.bytes() - 8), Errc::corrupt);  // buffer runs past the mapping
  EXPECT_EQ(attach_err(sizeof(RingHeader) - 1), Errc::corrupt);

  RingHeader saved = *m.header();
  m.header()->magic ^= 1;
  EXPECT_EQ(attach_err(m.bytes()), Errc::corrupt);
  *m.header() = saved;
  m.header()->version = kRingLayoutVersion + 1;
  EXPECT_EQ(attach_err(m.bytes()), Errc::corrupt);
  *m.header() = saved;
  m.header()->capacity = 4096 + 8;
  EXPECT_EQ(attach_err(m.bytes() + 8), Errc::corrupt);
  *m.header() = saved;
  m.header()->max_record = 4096;
  EXPECT_EQ(attach_err(m.bytes()), Errc::corrupt);
  *m.header() = saved;
  EXPECT_EQ(RingProducer::attach(static_cast<std::byte*>(m.memory()) + 8, m.bytes() - 8).error(),
            Errc::invalid_argument);  // not on a ring line
}

TEST(ShmRingConfig, BoundsAreCopiedAtAttachNotReread) {
  RingMemory m(kSmall);
  auto p = m.producer();
  auto c = m.consumer();
  m.header()->capacity = uint64_t{1} << 30;  // a hostile peer widens the ring afterwards
  m.header()->max_record = 1u << 29;
  EXPECT_EQ(p.config().capacity, 4096u);
  EXPECT_EQ(c.config().max_record, 1024u);
  EXPECT_EQ(p.try_reserve(1025).error(), Errc::too_large);
  push_record(p, 1024, 7);
  drain_expecting(c, {{1024, 7}});
}

// ---- empty, full, sizes --------------------------------------------------------

TEST(ShmRing, EmptyRing_PeekReturnsEmpty) {
  RingMemory m(kSmall);
  auto p = m.producer();
  auto c = m.consumer();
  EXPECT_EQ(c.peek().error(), Errc::empty);
  EXPECT_FALSE(c.has_data());
  EXPECT_EQ(c.unread_bytes(), 0u);
  EXPECT_EQ(p.free_bytes(), 4096u);
}

TEST(ShmRing, FullRing_RefusesUntilConsumerReleases) {
  RingMemory m(kSmall);
  auto p = m.producer();
  auto c = m.consumer();
  constexpr size_t kBody = 56;  // 64 bytes with its header: exactly 64 fit
  std::vector<std::pair<size_t, uint64_t>> expected;
  for (uint64_t i = 0; i < 4096 / record_bytes(kBody); ++i) {
    push_record(p, kBody, i);
    expected.emplace_back(kBody, i);
  }
  EXPECT_EQ(p.try_reserve(0).error(), Errc::queue_full);
  EXPECT_EQ(p.free_bytes(), 0u);
  EXPECT_EQ(c.unread_bytes(), 4096u);

  auto first = c.peek();
  ASSERT_TRUE(first.ok());
  c.pop(*first);
  EXPECT_EQ(p.free_bytes(), 64u);
  push_record(p, kBody, 64);
  EXPECT_EQ(p.try_reserve(0).error(), Errc::queue_full);

  expected.erase(expected.begin());
  expected.emplace_back(kBody, 64);
  drain_expecting(c, expected);
}

TEST(ShmRing, RecordThatDoesNotFitBeforeEnd_WritesPaddingAndStartsAtZero) {
  RingMemory m(kSmall);
  auto p = m.producer();
  auto c = m.consumer();
  advance_empty_ring_to(p, c, 4032);  // 64 bytes left before the end

  push_record(p, 100, 42);  // needs 112 bytes

  const RecordHeader* pad = m.record_at(4032);
  EXPECT_EQ(pad->flags, kRecordPadding);
  EXPECT_EQ(pad->length, 64u - kRecordHeaderBytes);
  EXPECT_EQ(load_tail(m), 4096u + record_bytes(100));
  auto r = c.peek();
  ASSERT_TRUE(r.ok()) << errc_string(r.error());
  EXPECT_EQ(r->pos, 4096u);  // the padding was skipped
  EXPECT_EQ(r->body.data(), m.buffer() + kRecordHeaderBytes);
  EXPECT_EQ(first_pattern_mismatch(r->body, 42), -1);
  c.pop(*r);
  EXPECT_EQ(load_head(m), load_tail(m));
}

TEST(ShmRing, PaddingOfOnlyAHeader_IsSkipped) {
  RingMemory m(kSmall);
  auto p = m.producer();
  auto c = m.consumer();
  advance_empty_ring_to(p, c, 4088);  // room for a bare header only
  push_record(p, 1, 5);
  EXPECT_EQ(m.record_at(4088)->flags, kRecordPadding);
  EXPECT_EQ(m.record_at(4088)->length, 0u);
  drain_expecting(c, {{1, 5}});
}

// Every body size from 0 to max_record, starting from several shifted
// positions, so records land at many offsets and wrap with every padding size.
TEST(ShmRing, EveryRecordSizeAtShiftedOffsets_RoundTripsBytes) {
  constexpr RingConfig kConfig{64 * 1024, 4096};
  for (size_t shift : {size_t{0}, size_t{1}, size_t{9}, size_t{24}, size_t{100}, size_t{4000}}) {
    SCOPED_TRACE(shift);
    RingMemory m(kConfig);
    auto p = m.producer();
    auto c = m.consumer();
    push_record(p, shift, 0);
    drain_expecting(c, {{shift, 0}});

    uint64_t paddings = 0, prev_end = c.read_position();
    for (size_t n = 0; n <= kConfig.max_record; ++n) {
      const uint64_t tag = n + 1;
      push_record(p, n, tag, uint32_t(n) << 16);
      auto r = c.peek();
      ASSERT_TRUE(r.ok()) << "size " << n << ": " << errc_string(r.error());
      ASSERT_EQ(r->body.size(), n);
      ASSERT_EQ(r->flags, uint32_t(n) << 16);
      ASSERT_EQ(reinterpret_cast<uintptr_t>(r->body.data()) % kRecordAlign, 0u);
      ASSERT_GE(r->body.data(), m.buffer());
      ASSERT_LE(r->body.data() + n, m.buffer() + kConfig.capacity);
      ASSERT_EQ(r->end - r->pos, record_bytes(n));
      ASSERT_EQ(first_pattern_mismatch(r->body, tag), -1) << "size " << n;
      if (r->pos != prev_end) ++paddings;
      prev_end = r->end;
      c.pop(*r);
    }
    EXPECT_GT(paddings, 100u);  // ~8 MiB through a 64 KiB ring
  }
}

// Same sizes, but the ring is filled to the brim before it is drained, so
// full-ring decisions are made at every offset too.
TEST(ShmRing, EveryRecordSizeFillThenDrain_KeepsOrderAndBytes) {
  constexpr RingConfig kConfig{64 * 1024, 4096};
  RingMemory m(kConfig);
  auto p = m.producer();
  auto c = m.consumer();
  push_record(p, 3, 0);
  drain_expecting(c, {{3, 0}});
  size_t n = 0;
  uint64_t rounds = 0;
  while (n <= kConfig.max_record) {
    std::vector<std::pair<size_t, uint64_t>> batch;
    for (; n <= kConfig.max_record; ++n) {
      auto r = p.try_reserve(n);
      if (r.error() == Errc::queue_full) break;
      ASSERT_TRUE(r.ok());
      fill_pattern(*r, n + 7);
      p.commit(n);
      batch.emplace_back(n, n + 7);
    }
    ASSERT_FALSE(batch.empty());
    drain_expecting(c, batch);
    ++rounds;
  }
  EXPECT_GT(rounds, 100u);
}

TEST(ShmRing, MaxRecordPlusOne_IsTooLarge) {
  RingMemory m(kSmall);
  auto p = m.producer();
  auto c = m.consumer();
  EXPECT_EQ(p.try_reserve(1025).error(), Errc::too_large);
  EXPECT_EQ(p.reserve(1025, Deadline::after_ms(1000)).error(), Errc::too_large);
  EXPECT_EQ(p.try_reserve(size_t{1} << 40).error(), Errc::too_large);
  EXPECT_EQ(c.peek().error(), Errc::empty);  // nothing half-written
  push_record(p, 1024, 3);
  drain_expecting(c, {{1024, 3}});
}

TEST(ShmRing, CommitShorterThanReservation_PublishesOnlyThatLength) {
  RingMemory m(kSmall);
  auto p = m.producer();
  auto c = m.consumer();
  auto r = p.try_reserve(1000);
  ASSERT_TRUE(r.ok());
  fill_pattern(*r, 9);
  p.commit(13);
  push_record(p, 20, 10);
  auto first = c.peek();
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->body.size(), 13u);
  EXPECT_EQ(first->end, record_bytes(13));
  EXPECT_EQ(first_pattern_mismatch(first->body, 9), -1);
  c.pop(*first);
  drain_expecting(c, {{20, 10}});
}

TEST(ShmRing, CallerFlags_KeepUpperBitsAndCannotForgePadding) {
  RingMemory m(kSmall);
  auto p = m.producer();
  auto c = m.consumer();
  push_record(p, 8, 1, 0xabcd0000u | kRecordPadding);
  auto r = c.peek();
  ASSERT_TRUE(r.ok()) << errc_string(r.error());
  EXPECT_EQ(r->flags, 0xabcd0000u);
  EXPECT_EQ(r->body.size(), 8u);
}

// Fillers (written by producers that reserved before knowing a size, the
// GPU among them) may stand anywhere and are skipped like padding.
TEST(ShmRing, FillerRecords_AreSkippedWherever) {
  RingMemory m(kSmall);
  auto p = m.producer();
  auto c = m.consumer();
  push_record(p, 10, 1);
  push_record(p, 100, 2);
  push_record(p, 0, 3);
  push_record(p, 20, 4);
  push_record(p, 1024, 5);
  m.record_at(record_bytes(10))->flags = kRecordFiller;  // record 2
  m.record_at(record_bytes(10) + record_bytes(100))->flags = kRecordFiller;  // record 3
  drain_expecting(c, {{10, 1}, {20, 4}, {1024, 5}});
}

TEST(ShmRing, RingEndingInFillers_IsEmptyPastThem) {
  RingMemory m(kSmall);
  auto p = m.producer();
  auto c = m.consumer();
  for (uint64_t i = 0; i < 100; ++i) push_record(p, 16, i);
  for (uint64_t i = 0; i < 100; ++i) m.record_at(i * record_bytes(16))->flags = kRecordFiller;
  EXPECT_EQ(c.peek().error(), Errc::empty);
  EXPECT_EQ(c.read_position(), 100 * record_bytes(16));
  c.release();
  EXPECT_EQ(p.free_bytes(), 4096u);
}

// ---- batching --------------------------------------------------------------------

TEST(ShmRing, StagedRecords_InvisibleUntilPublish) {
  RingMemory m(kSmall);
  auto p = m.producer();
  auto c = m.consumer();
  std::vector<std::pair<size_t, uint64_t>> expected;
  for (uint64_t i = 0; i < 10; ++i) {
    auto r = p.try_reserve(i * 10);
    ASSERT_TRUE(r.ok());
    fill_pattern(*r, i);
    p.stage(i * 10);
    expected.emplace_back(i * 10, i);
  }
  EXPECT_EQ(c.peek().error(), Errc::empty);
  EXPECT_EQ(load_tail(m), 0u);
  p.publish();
  drain_expecting(c, expected);
}

TEST(ShmRing, AdvanceThenReleaseTo_ReturnsExactlyTheReleasedSpace) {
  RingMemory m(kSmall);
  auto p = m.producer();
  auto c = m.consumer();
  for (uint64_t i = 0; i < 10; ++i) push_record(p, 100, i);  // 112 bytes each
  const uint64_t free_before = p.free_bytes();
  EXPECT_EQ(free_before, 4096u - 10 * 112);

  std::vector<Record> seen;
  for (uint64_t i = 0; i < 10; ++i) {
    auto r = c.peek();
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(first_pattern_mismatch(r->body, i), -1);
    seen.push_back(*r);
    c.advance(*r);
  }
  EXPECT_EQ(c.peek().error(), Errc::empty);
  EXPECT_EQ(p.free_bytes(), free_before);  // read, but not released
  EXPECT_EQ(load_head(m), 0u);

  c.release_to(seen[4].end);  // one store for five records
  EXPECT_EQ(load_head(m), 5 * 112u);
  EXPECT_EQ(p.free_bytes(), free_before + 5 * 112);
  // Records 5..9 are still intact in the ring: the producer cannot reach them.
  for (uint64_t i = 5; i < 10; ++i) EXPECT_EQ(first_pattern_mismatch(seen[i].body, i), -1);

  c.release();
  EXPECT_EQ(p.free_bytes(), 4096u);
}

TEST(ShmRing, PublishNoWake_ThenRing_PublishesAll) {
  RingMemory m(kSmall);
  auto p = m.producer();
  auto c = m.consumer();
  auto r = p.try_reserve(16);
  ASSERT_TRUE(r.ok());
  fill_pattern(*r, 1);
  p.stage(16);
  p.publish_no_wake();
  p.data_bell().ring();
  drain_expecting(c, {{16, 1}});
}

// The write-prefetch hints (capi's prefetch_next_request) must name the
// lines the next record and its publish really write.
TEST(ShmRing, NextRecordAndTailLine_AreWhereTheNextReserveAndPublishWrite) {
  RingMemory m(kSmall);
  auto p = m.producer();
  EXPECT_EQ(p.tail_line(), static_cast<void*>(&m.header()->tail));
  EXPECT_EQ(p.buffer_end() - p.next_record(), std::ptrdiff_t(kSmall.capacity));
  for (size_t body : {16u, 100u, 8u}) {
    std::byte* next = p.next_record();
    auto r = p.try_reserve(body);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->data(), next + kRecordHeaderBytes) << "body " << body;
    p.commit(body);
  }
}

TEST(ShmRing, ReserveOnFullRing_PublishesStagedRecordsBeforeWaiting) {
  RingMemory m(kSmall);
  auto p = m.producer();
  auto c = m.consumer();
  std::vector<std::pair<size_t, uint64_t>> expected;
  for (uint64_t i = 0;; ++i) {
    auto r = p.try_reserve(500);
    if (!r) {
      ASSERT_EQ(r.error(), Errc::queue_full);
      break;
    }
    fill_pattern(*r, i);
    p.stage(500);
    expected.emplace_back(500, i);
  }
  EXPECT_EQ(c.peek().error(), Errc::empty);
  const Deadline deadline = Deadline::after_ms(20);
  EXPECT_EQ(p.reserve(500, deadline).error(), Errc::queue_full);
  EXPECT_GE(monotonic_ns(), deadline.at_ns());  // it waited out its deadline
  drain_expecting(c, expected);                 // a waiting producer must not hide records
}

TEST(ShmRing, ProducerReattach_ResumesAtPublishedTail) {
  RingMemory m(kSmall);
  auto c = m.consumer();
  {
    auto p = m.producer();
    push_record(p, 30, 1);
  }
  auto p2 = m.producer();
  push_record(p2, 40, 2);
  drain_expecting(c, {{30, 1}, {40, 2}});
}

// ---- a hostile or broken producer, seen by the consumer -------------------------------

TEST(ShmRingCorrupt, LengthAboveMaxRecord) {
  RingMemory m(kSmall);
  auto p = m.producer();
  auto c = m.consumer();
  push_record(p, 100, 1);
  m.record_at(0)->length = 1025;
  EXPECT_EQ(c.peek().error(), Errc::corrupt);
}

TEST(ShmRingCorrupt, LengthBeyondPublishedTail) {
  RingMemory m(kSmall);
  auto p = m.producer();
  auto c = m.consumer();
  push_record(p, 100, 1);
  m.record_at(0)->length = 200;  // within max_record, but only 112 bytes are published
  EXPECT_EQ(c.peek().error(), Errc::corrupt);
}

TEST(ShmRingCorrupt, RecordRunningPastEndOfBuffer) {
  RingMemory m(kSmall);
  auto p = m.producer();
  auto c = m.consumer();
  advance_empty_ring_to(p, c, 4032);
  push_record(p, 56, 1);    // exactly to the end
  push_record(p, 1000, 2);  // at offset 0
  m.record_at(4032)->length = 100;  // 112 bytes: published, but would wrap
  EXPECT_EQ(c.peek().error(), Errc::corrupt);
}

TEST(ShmRingCorrupt, ReservedFlagBits) {
  for (uint32_t bit = 1; bit < 16; ++bit) {
    if ((kRecordReservedMask & (1u << bit)) == 0) continue;
    RingMemory m(kSmall);
    auto p = m.producer();
    auto c = m.consumer();
    push_record(p, 8, 1);
    m.record_at(0)->flags = 1u << bit;
    EXPECT_EQ(c.peek().error(), Errc::corrupt) << "bit " << bit;
  }
}

TEST(ShmRingCorrupt, FillerBeyondPublishedTailOrPastEnd) {
  {
    RingMemory m(kSmall);
    auto p = m.producer();
    auto c = m.consumer();
    push_record(p, 100, 1);
    *m.record_at(0) = RecordHeader{200, kRecordFiller};
    EXPECT_EQ(c.peek().error(), Errc::corrupt);
  }
  {
    RingMemory m(kSmall);
    auto p = m.producer();
    auto c = m.consumer();
    advance_empty_ring_to(p, c, 4032);
    push_record(p, 56, 1);
    push_record(p, 1000, 2);
    *m.record_at(4032) = RecordHeader{100, kRecordFiller};  // would wrap
    EXPECT_EQ(c.peek().error(), Errc::corrupt);
  }
}

TEST(ShmRingCorrupt, PaddingAtOffsetZero) {
  RingMemory m(kSmall);
  auto p = m.producer();
  auto c = m.consumer();
  push_record(p, 1000, 1);
  *m.record_at(0) = RecordHeader{4096 - 8, kRecordPadding};
  EXPECT_EQ(c.peek().error(), Errc::corrupt);
}

TEST(ShmRingCorrupt, PaddingWithWrongLengthOrExtraFlags) {
  for (int variant = 0; variant < 3; ++variant) {
    SCOPED_TRACE(variant);
    RingMemory m(kSmall);
    auto p = m.producer();
    auto c = m.consumer();
    advance_empty_ring_to(p, c, 4032);
    push_record(p, 100, 1);  // padding of 64 at 4032, record at 4096
    RecordHeader* pad = m.record_at(4032);
    ASSERT_EQ(pad->flags, kRecordPadding);
    if (variant == 0) pad->length = 48;  // ends before the buffer does
    if (variant == 1) pad->length = 64;  // runs past it
    if (variant == 2) pad->flags |= 1u << 16;
    EXPECT_EQ(c.peek().error(), Errc::corrupt);
  }
}

TEST(ShmRingCorrupt, PaddingBeyondPublishedTail) {
  RingMemory m(kSmall);
  auto p = m.producer();
  auto c = m.consumer();
  advance_empty_ring_to(p, c, 4032);
  push_record(p, 8, 1);  // 16 bytes published
  *m.record_at(4032) = RecordHeader{64 - 8, kRecordPadding};
  EXPECT_EQ(c.peek().error(), Errc::corrupt);
}

TEST(ShmRingCorrupt, TailMovedBackwards) {
  RingMemory m(kSmall);
  auto p = m.producer();
  auto c = m.consumer();
  push_record(p, 100, 1);
  push_record(p, 100, 2);
  drain_expecting(c, {{100, 1}, {100, 2}});
  store_tail(m, 112);  // behind the consumer's cursor
  EXPECT_EQ(c.peek().error(), Errc::corrupt);
  EXPECT_EQ(c.unread_bytes(), 0u);
}

TEST(ShmRingCorrupt, TailBeyondCapacityOrMisaligned) {
  for (uint64_t bad : {uint64_t{4096 + 8}, uint64_t{1} << 40, uint64_t{12}}) {
    SCOPED_TRACE(bad);
    RingMemory m(kSmall);
    auto c = m.consumer();
    store_tail(m, bad);
    EXPECT_EQ(c.peek().error(), Errc::corrupt);
    EXPECT_EQ(c.wait(Deadline::after_ms(1000)).error(), Errc::corrupt);  // not a wait
  }
}

// Random record headers and a random tail: every peek ends with a record
// inside the published bytes, empty, or corrupt, and a walk always ends.
TEST(ShmRingCorrupt, RandomHeadersNeverEscapeTheBufferOrLoop) {
  std::mt19937_64 rng(1234);
  RingMemory m(kSmall);
  uint64_t records = 0, corrupt = 0;
  for (int trial = 0; trial < 3000; ++trial) {
    std::memset(m.buffer(), 0, kSmall.capacity);
    for (uint64_t off = 0; off < kSmall.capacity; off += 8) {
      const uint64_t kind = rng() % 8;
      RecordHeader h{uint32_t(rng() % 1100), 0};
      if (kind == 0) h.flags = kRecordPadding;
      if (kind == 1) h.flags = uint32_t(rng());
      if (kind == 2) h.length = uint32_t(rng());
      if (kind == 3) h = RecordHeader{uint32_t(kSmall.capacity - off - 8), kRecordPadding};
      std::memcpy(m.buffer() + off, &h, sizeof h);
    }
    const uint64_t head = (rng() % 4096) & ~uint64_t{7};
    const uint64_t tail_kind = rng() % 8;
    const uint64_t tail = tail_kind == 0   ? rng()                                    // anywhere
                          : tail_kind == 1 ? head + rng() % 4200                      // maybe unaligned
                                           : head + ((rng() % 4200) & ~uint64_t{7});  // plausible
    store_head(m, head);
    store_tail(m, tail);
    auto c = m.consumer();
    for (int step = 0;; ++step) {
      ASSERT_LT(step, 4096 / 8 + 2) << "consumer walk did not end";
      auto r = c.peek();
      if (!r) {
        ASSERT_TRUE(r.error() == Errc::empty || r.error() == Errc::corrupt) << errc_string(r.error());
        corrupt += r.error() == Errc::corrupt;
        break;
      }
      ASSERT_GE(r->body.data(), m.buffer() + kRecordHeaderBytes);
      ASSERT_LE(r->body.data() + r->body.size(), m.buffer() + kSmall.capacity);
      ASSERT_LE(r->body.size(), kSmall.max_record);
      ASSERT_LE(r->end - head, tail - head);
      ++records;
      c.pop(*r);
    }
  }
  EXPECT_GT(records, 1000u);  // the walk did get somewhere
  EXPECT_GT(corrupt, 1000u);
}

// ---- a hostile or broken consumer, seen by the producer ----------------------------

TEST(ShmRingCorrupt, HeadBeyondTailOnProducerSide) {
  RingMemory m(kSmall);
  auto p = m.producer();
  while (p.try_reserve(500).ok()) p.commit(500);
  store_head(m, load_tail(m) + 64);
  EXPECT_EQ(p.try_reserve(500).error(), Errc::corrupt);
  EXPECT_EQ(p.reserve(500, Deadline::after_ms(1000)).error(), Errc::corrupt);
  EXPECT_EQ(p.free_bytes(), 0u);
}

TEST(ShmRingCorrupt, HeadMoreThanOneBufferBehindTail) {
  RingMemory m(kSmall);
  auto p = m.producer();
  auto c = m.consumer();
  advance_empty_ring_to(p, c, 3 * 4096);
  while (p.try_reserve(500).ok()) p.commit(500);
  store_head(m, load_tail(m) - 4096 - 8);
  EXPECT_EQ(p.try_reserve(500).error(), Errc::corrupt);
}

TEST(ShmRingCorrupt, ProducerAttachRefusesImpossibleHead) {
  RingMemory m(kSmall);
  store_tail(m, 4096);
  store_head(m, 4096 + 8);
  EXPECT_EQ(RingProducer::attach(m.memory(), m.bytes()).error(), Errc::corrupt);
}

}  // namespace
}  // namespace rk::shm
