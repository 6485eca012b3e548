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
// mix of old and new (a torn read fails the check with probability
// 1 - 2^-64), and it serves them with no second read. Otherwise it reads
// the record after the tail as before, so a missing or stale digest costs
// only that round trip. The digest guards against torn reads of an honest
// producer, not against a hostile one: records are validated as always.
//
// The sum of per-word mixes is order-independent to compute (32 GPU lanes
// each mix one word, then add) but position-dependent in value (each word
// is keyed by its index), and the tail is mixed in last, so a digest left
// from an earlier record never matches a later tail.
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

// A 64-bit finaliser: every input bit affects every output bit.
RK_DIGEST_FN uint64_t digest_mix(uint64_t k) {
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdull;
  k ^= k >> 33;
  k *= 0xc4ceb9fe1a85ec53ull;
  k ^= k >> 33;
  return k;
}

// Word `index` of the record (its header is word 0), keyed by position.
RK_DIGEST_FN uint64_t digest_word(uint64_t word, uint32_t index) {
  return digest_mix(word ^ (0x9e3779b97f4a7c15ull * (uint64_t(index) + 1)));
}

// The digest of a record whose words' digest_word() values sum to `sum`,
// published by the tail `tail`. Never 0, so a zeroed line is no digest.
RK_DIGEST_FN uint64_t digest_finish(uint64_t sum, uint64_t tail) {
  return digest_mix(sum ^ digest_mix(tail + 0x2545f4914f6cdd1dull)) | 1;
}

// The whole digest on the host: `words` 8-byte words from `record`
// (8-byte aligned), published by `tail`.
inline uint64_t tail_digest(const void* record, uint32_t words, uint64_t tail) {
  const auto* w = static_cast<const uint64_t*>(record);
  uint64_t sum = 0;
  for (uint32_t i = 0; i < words; ++i) sum += digest_word(w[i], i);
  return digest_finish(sum, tail);
}

}  // namespace rk::shm

#undef RK_DIGEST_FN
