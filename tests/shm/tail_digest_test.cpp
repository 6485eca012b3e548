// The tail digest (shm/tail_digest.h): when a producer stores it, that it
// covers exactly the record the tail publishes, and that a reader mixing
// old and new bytes, or an old digest with a new tail, does not match.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <vector>

#include "shm/ring.h"
#include "shm/tail_digest.h"
#include "tests/shm/ring_memory.h"

namespace rk::shm {
namespace {

using test::push_record;
using test::RingMemory;

constexpr RingConfig kDigestRing{4096, 1024, kRingTailDigest};

uint64_t tail(RingMemory& m) { return std::atomic_ref<uint64_t>(m.header()->tail).load(); }
uint64_t digest(RingMemory& m) { return std::atomic_ref<uint64_t>(m.header()->tail_digest).load(); }

// What a GPU consumer computes from the bytes at `from` up to the tail.
uint64_t expected_digest(RingMemory& m, uint64_t from, uint64_t to) {
  return tail_digest(m.buffer() + (from & (m.config().capacity - 1)), uint32_t((to - from) / 8), to);
}

TEST(ShmTailDigest, FeatureSurvivesFormatAndAttach) {
  RingMemory m(kDigestRing);
  EXPECT_EQ(m.header()->features, kRingTailDigest);
  EXPECT_EQ(m.producer().config().features, kRingTailDigest);
  RingMemory plain(RingConfig{4096, 1024});
  EXPECT_EQ(plain.header()->features, 0u);
}

TEST(ShmTailDigest, UnknownFeatureBitsAreIgnored) {
  RingMemory m(kDigestRing);
  m.header()->features |= 1u << 17;
  EXPECT_EQ(m.producer().config().features, kRingTailDigest);
}

TEST(ShmTailDigest, EverySmallRecordPublishedAloneCarriesItsDigest) {
  RingMemory m(RingConfig{1u << 16, 1024, kRingTailDigest});  // no wrap on the way
  auto p = m.producer();
  auto c = m.consumer();
  uint64_t before = 0;
  for (size_t body = 0; body + kRecordHeaderBytes <= kTailDigestMaxBytes; body += 5) {
    push_record(p, body, body);
    const uint64_t after = tail(m);
    ASSERT_EQ(after - before, record_bytes(body));
    EXPECT_EQ(digest(m), expected_digest(m, before, after)) << "body " << body;
    EXPECT_NE(digest(m), 0u);
    before = after;
    auto r = c.peek();
    ASSERT_TRUE(r.ok());
    c.pop(*r);
  }
}

TEST(ShmTailDigest, BigBatchedOrPaddedPublishesLeaveTheOldDigest) {
  RingMemory m(kDigestRing);
  auto p = m.producer();
  push_record(p, 16, 1);
  const uint64_t first = digest(m);
  ASSERT_NE(first, 0u);
  push_record(p, kTailDigestMaxBytes, 2);  // one word too many with its header
  EXPECT_EQ(digest(m), first);
  for (int i = 0; i < 2; ++i) {  // two records, one publish
    auto r = p.try_reserve(8);
    ASSERT_TRUE(r.ok());
    p.stage(8);
  }
  p.publish();
  EXPECT_EQ(digest(m), first);
}

TEST(ShmTailDigest, APublishAfterPaddingLeavesTheOldDigest) {
  RingMemory m(kDigestRing);
  auto p = m.producer();
  auto c = m.consumer();
  // 3 x 1024 + 944 + 24 bytes: 56 left before the end, the last record small.
  for (size_t body : {1016, 1016, 1016, 936, 16}) {
    push_record(p, body, body);
    auto r = c.peek();
    ASSERT_TRUE(r.ok());
    c.pop(*r);
  }
  const uint64_t before = digest(m);
  ASSERT_NE(before, 0u);
  ASSERT_EQ(tail(m), 4040u);
  push_record(p, 100, 9);  // padding, then the record at offset 0
  EXPECT_EQ(tail(m), 4096u + record_bytes(100));
  EXPECT_EQ(digest(m), before);
}

TEST(ShmTailDigest, OffWithoutTheFeature) {
  RingMemory m(RingConfig{4096, 1024});
  auto p = m.producer();
  push_record(p, 32, 1);
  EXPECT_EQ(digest(m), 0u);
}

TEST(ShmTailDigest, TornReadsAndOldDigestsDoNotMatch) {
  std::vector<uint64_t> old_words(16), new_words(16);
  for (uint32_t i = 0; i < 16; ++i) {
    old_words[i] = 0x1111111111111111ull * (i % 7) + i;
    new_words[i] = old_words[i] ^ (1ull << (i * 4 % 64));
  }
  const uint64_t t = 4096 + 128;
  const uint64_t good = tail_digest(new_words.data(), 16, t);
  EXPECT_EQ(tail_digest(new_words.data(), 16, t), good);
  // Any one word still old: a torn read.
  for (uint32_t i = 0; i < 16; ++i) {
    std::vector<uint64_t> torn = new_words;
    torn[i] = old_words[i];
    EXPECT_NE(tail_digest(torn.data(), 16, t), good) << "word " << i;
  }
  // One bit flipped anywhere (each word, each half).
  for (uint32_t i = 0; i < 16; ++i)
    for (uint32_t bit : {0u, 31u, 32u, 63u}) {
      std::vector<uint64_t> flipped = new_words;
      flipped[i] ^= 1ull << bit;
      EXPECT_NE(tail_digest(flipped.data(), 16, t), good) << "word " << i << " bit " << bit;
    }
  // The same bytes published by another tail, and two words swapped.
  EXPECT_NE(tail_digest(new_words.data(), 16, t + 128), good);
  std::vector<uint64_t> swapped = new_words;
  std::swap(swapped[3], swapped[4]);
  EXPECT_NE(tail_digest(swapped.data(), 16, t), good);
  // Order-independent to sum: lanes may add their words in any order.
  uint32_t sum_a = 0, sum_b = 0;
  for (uint32_t i = 16; i-- > 0;) {
    sum_a += digest_word(new_words[i], i).a;
    sum_b += digest_word(new_words[i], i).b;
  }
  EXPECT_EQ(digest_finish(sum_a, sum_b, t), good);
}

}  // namespace
}  // namespace rk::shm
