// The tail digest: a check word that lets a GPU consumer read a small
// record in the same PCIe round trip as the tail that publishes it.
//
// A consumer on the far side of PCIe normally pays two round trips per
// record: one load finds the new tail, and only after it (acquire order)
// may it read the bytes the tail covers. When the ring's creator asks for it
// (kRingTailDigest in line 0), a producer that publishes exactly one record
// of up to kTailDigestMaxBytes stores, before the tail, a digest of the new
// tail and of the record's words in `tail_digest` (the tail's own line).
// The consumer then loads the tail, the digest and the bytes where the next
// record must start all at once, unordered; if the digest it computes over
// what it read matches, the bytes are the record the tail published, not a
// mix of old and new (a torn read passes the check only by a 64-bit
// collision), and it serves them with no second read. Otherwise it reads
// the record after the tail as before, so a missing or stale digest costs
// only that round trip. The digest guards against torn reads of an honest
// producer, not against a hostile one: records are validated as always.
//
// The sums of per-word terms are order-independent to compute (32 GPU
// lanes each take one word, then add) but position-dependent in value
// (each word is keyed by its index), and the tail is mixed in last, so a
// digest left from an earlier record does not match a later tail.
#pragma once
#include <cstdint>

#if defined(__CUDACC__)
#define RK_DIGEST_FN __host__ __device__ inline
#else
#define RK_DIGEST_FN inline
#endif

namespace rk::shm {

inline constexpr uint32_t kTailDigestMaxBytes = 256;  // one 8-byte word per GPU lane
inline constexpr uint32_t kTailDigestMaxWords = kTailDigestMaxBytes / 8;

// Word `index` of the record (its header is word 0) as two 32-bit terms,
// keyed by position. 32-bit multiplies by odd constants and two xor-shifts:
// an invertible map of the word for each index (any changed word changes
// its terms), cheap on a GPU lane (the scout's budget is a few dozen
// instructions: a 64-bit finaliser per word cost a lone call 1 µs on an
// H100), and the sums need only two warp reductions (redux.sync).
struct DigestTerms {
  uint32_t a, b;
};
RK_DIGEST_FN DigestTerms digest_word(uint64_t word, uint32_t index) {
  uint32_t a = (uint32_t(word) ^ (index * 0x27d4eb2fu)) * 0x9e3779b1u;
  uint32_t b = (uint32_t(word >> 32) ^ (index * 0x165667b1u)) * 0x85ebca77u;
  a ^= b >> 15;
  b ^= a >> 13;
  return {a, b};
}

// The digest of a record whose words' terms sum to `sum_a` and `sum_b`,
// published by the tail `tail`. Never 0, so a zeroed line is no digest.
RK_DIGEST_FN uint64_t digest_finish(uint32_t sum_a, uint32_t sum_b, uint64_t tail) {
  uint32_t a = (sum_a ^ uint32_t(tail)) * 0xcc9e2d51u;
  uint32_t b = (sum_b ^ uint32_t(tail >> 32) ^ (a >> 16)) * 0x1b873593u;
  a ^= b >> 15;
  return (uint64_t(b) << 32 | a) | 1;
}

// The whole digest on the host: `words` 8-byte words from `record`
// (8-byte aligned), published by `tail`.
inline uint64_t tail_digest(const void* record, uint32_t words, uint64_t tail) {
  const auto* w = static_cast<const uint64_t*>(record);
  uint32_t sum_a = 0, sum_b = 0;
  for (uint32_t i = 0; i < words; ++i) {
    const DigestTerms t = digest_word(w[i], i);
    sum_a += t.a;
    sum_b += t.b;
  }
  return digest_finish(sum_a, sum_b, tail);
}

}  // namespace rk::shm

#undef RK_DIGEST_FN
