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

uint64_t echoed_head(RingMemory& m) { return std::atomic_ref<uint64_t>(m.header()->tail_reply_head).load(); }

// The reply head goes out beside the digest (a GPU reads the three in one
// load), with each digest and only with one.
TEST(ShmTailDigest, TheReplyHeadGoesOutBesideEachDigest) {
  RingMemory m(kDigestRing);
  auto p = m.producer();
  for (uint64_t head : {0u, 200u, 4096u}) {
    auto r = p.try_reserve(16);
    ASSERT_TRUE(r.ok());
    p.stage(16);
    p.publish_no_wake(/*awaited=*/true, head);
    EXPECT_EQ(echoed_head(m), head);
  }
  auto r = p.try_reserve(16);
  ASSERT_TRUE(r.ok());
  p.stage(16);
  p.publish_no_wake(/*awaited=*/false, 999);  // no digest, so no head either
  EXPECT_EQ(echoed_head(m), 4096u);

  RingMemory plain(RingConfig{4096, 1024});
  auto q = plain.producer();
  auto s = q.try_reserve(16);
  ASSERT_TRUE(s.ok());
  q.stage(16);
  q.publish_no_wake(/*awaited=*/true, 77);
  EXPECT_EQ(echoed_head(plain), 0u);
}

// What a client stores there: its reply ring's head, as it last released it.
TEST(ShmTailDigest, AConsumerReportsWhereItReleasedTo) {
  RingMemory m(kDigestRing);
  auto p = m.producer();
  auto c = m.consumer();
  EXPECT_EQ(c.released_position(), 0u);
  push_record(p, 24, 1);
  push_record(p, 40, 2);
  auto r = c.peek();
  ASSERT_TRUE(r.ok());
  c.advance(*r);
  EXPECT_EQ(c.released_position(), 0u);  // read, not yet released
  c.release();
  EXPECT_EQ(c.released_position(), record_bytes(24));
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

TEST(ShmTailDigest, AStreamedPublishLeavesTheOldDigest) {
  RingMemory m(kDigestRing);
  auto p = m.producer();
  push_record(p, 16, 1);
  const uint64_t first = digest(m);
  auto r = p.try_reserve(24);
  ASSERT_TRUE(r.ok());
  p.stage(24);
  p.publish_no_wake(/*awaited=*/false);
  EXPECT_EQ(tail(m), 2 * record_bytes(16) + 8);
  EXPECT_EQ(digest(m), first);
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
  EXPECT_EQ(digest_finish(sum_a, sum_b, t, 16), good);
  EXPECT_EQ(digest_words(good), 16u);
}

// ---- replies published unordered (kRingUnorderedTail) -------------------------

constexpr RingConfig kUnorderedRing{4096, 1024, kRingUnorderedTail};

// A record of `body` bytes at ring position `at`, as the GPU builds it.
std::vector<uint64_t> record_words(uint32_t body, uint64_t tag) {
  std::vector<uint64_t> w(record_bytes(body) / 8);
  w[0] = body;  // header: length, no flags
  for (size_t i = 1; i < w.size(); ++i) w[i] = tag * 1000 + i;
  return w;
}
void write_words(RingMemory& m, uint64_t at, const std::vector<uint64_t>& w) {
  std::memcpy(m.buffer() + (at & (m.config().capacity - 1)), w.data(), w.size() * 8);
}
// The GPU's unordered publish of the record `w` at `at`: tail and digest.
void publish_unordered(RingMemory& m, uint64_t at, const std::vector<uint64_t>& w) {
  const uint64_t end = at + w.size() * 8;
  std::atomic_ref<uint64_t>(m.header()->tail_digest).store(tail_digest(w.data(), uint32_t(w.size()), end));
  std::atomic_ref<uint64_t>(m.header()->tail).store(end | kTailUnordered);
}

// The next record is there, of `body` bytes; pops it.
void pop_expecting(RingConsumer& c, size_t body) {
  auto r = c.peek();
  ASSERT_TRUE(r.ok()) << errc_string(r.error());
  EXPECT_EQ(r->body.size(), body);
  c.pop(*r);
}

TEST(ShmUnorderedTail, ARecordWhoseDigestMatchesIsRead_ItsDigestServesNoLaterTail) {
  RingMemory m(kUnorderedRing);
  auto c = m.consumer();
  const auto w = record_words(40, 1);
  write_words(m, 0, w);
  publish_unordered(m, 0, w);
  pop_expecting(c, 40);
  EXPECT_EQ(c.read_position(), w.size() * 8);
  EXPECT_EQ(c.peek().error(), Errc::empty);
  // The same bytes again at the next position, the old digest still there.
  const uint64_t at = w.size() * 8;
  write_words(m, at, w);
  std::atomic_ref<uint64_t>(m.header()->tail).store((at + at) | kTailUnordered);
  EXPECT_EQ(c.peek().error(), Errc::empty);
}

TEST(ShmUnorderedTail, ATailAheadOfItsBytesIsNotReadUntilTheyLand) {
  RingMemory m(kUnorderedRing);
  auto c = m.consumer();
  const auto w = record_words(40, 1);
  publish_unordered(m, 0, w);  // the tail arrived, the bytes not yet
  EXPECT_EQ(c.peek().error(), Errc::empty);
  EXPECT_FALSE(c.has_data());
  EXPECT_EQ(c.unread_bytes(), 0u);
  auto partly = w;
  partly[3] = 0;  // all but one word
  write_words(m, 0, partly);
  EXPECT_EQ(c.peek().error(), Errc::empty);
  write_words(m, 0, w);
  EXPECT_TRUE(c.has_data());
  pop_expecting(c, 40);
}

TEST(ShmUnorderedTail, ANewTailBesideAnOlderDigestIsNotReadUntilItsOwnLands) {
  for (uint32_t second_body : {8u, 40u, 72u}) {  // shorter, as long as, longer than the first
    RingMemory m(kUnorderedRing);
    auto c = m.consumer();
    const auto first = record_words(40, 1), second = record_words(second_body, 2);
    write_words(m, 0, first);
    publish_unordered(m, 0, first);
    pop_expecting(c, 40);
    // The second's tail landed; its digest and bytes not yet.
    const uint64_t end = (first.size() + second.size()) * 8;
    std::atomic_ref<uint64_t>(m.header()->tail).store(end | kTailUnordered);
    EXPECT_EQ(c.peek().error(), Errc::empty) << second_body;
    write_words(m, first.size() * 8, second);
    EXPECT_EQ(c.peek().error(), Errc::empty) << second_body;
    publish_unordered(m, first.size() * 8, second);
    pop_expecting(c, second_body);
  }
  {  // the very first reply's tail beside a zeroed digest
    RingMemory m(kUnorderedRing);
    auto c = m.consumer();
    std::atomic_ref<uint64_t>(m.header()->tail).store(48 | kTailUnordered);
    EXPECT_EQ(c.peek().error(), Errc::empty);
  }
}

TEST(ShmUnorderedTail, AnOrderedTailAfterAnUntakenUnorderedOneIsTrusted) {
  RingMemory m(kUnorderedRing);
  auto c = m.consumer();
  const auto first = record_words(16, 1), second = record_words(24, 2);
  write_words(m, 0, first);
  publish_unordered(m, 0, first);
  // The producer's next publish was fenced, which put the first in place.
  write_words(m, first.size() * 8, second);
  std::atomic_ref<uint64_t>(m.header()->tail).store((first.size() + second.size()) * 8);
  pop_expecting(c, 16);
  pop_expecting(c, 24);
  EXPECT_EQ(c.peek().error(), Errc::empty);
}

TEST(ShmUnorderedTail, ARecordEndingAtTheBufferEndIsChecked) {
  RingMemory m(kUnorderedRing);
  auto p = m.producer();
  auto c = m.consumer();
  for (int i = 0; i < 3; ++i) {  // to 4096 - 128: 3 x 1024 + 896
    push_record(p, 1016, i);
    pop_expecting(c, 1016);
  }
  push_record(p, 888, 3);
  pop_expecting(c, 888);
  ASSERT_EQ(c.read_position(), 4096u - 128);
  const auto w = record_words(120, 4);  // 128 bytes, up to the end
  write_words(m, 4096 - 128, w);
  publish_unordered(m, 4096 - 128, w);
  pop_expecting(c, 120);
}

TEST(ShmUnorderedTail, MarkedTailsTheProducerCouldNotHaveWrittenAreCorrupt) {
  {  // the mark without the feature
    RingMemory m(RingConfig{4096, 1024});
    auto c = m.consumer();
    const auto w = record_words(40, 1);
    write_words(m, 0, w);
    publish_unordered(m, 0, w);
    EXPECT_EQ(c.peek().error(), Errc::corrupt);
  }
  for (uint64_t ahead : {kTailDigestMaxBytes + 8ull, 8192ull}) {  // more than a small record, more than the ring
    RingMemory m(kUnorderedRing);
    auto c = m.consumer();
    std::atomic_ref<uint64_t>(m.header()->tail_digest).store(0xabcdef00ull | (ahead / 8 % 256));
    std::atomic_ref<uint64_t>(m.header()->tail).store(ahead | kTailUnordered);
    EXPECT_EQ(c.peek().error(), Errc::corrupt) << ahead;
  }
}

}  // namespace
}  // namespace rk::shm
