// The tail digest: a check word beside a ring's tail that lets a reader
// across PCIe trust a small record without the usual ordering, in either
// direction.
//
// A record of up to kTailDigestMaxBytes published alone may carry, in
// `tail_digest` (the tail's own line), a digest of its words and of the new
// tail, and its length in words (the low 8 bits). The reader computes the
// same over the bytes it has; a match means they are the record the tail
// published, not a mix of old and new (a torn read passes only by a 56-bit
// collision). A stale digest (from an earlier tail) does not match either,
// so a missing digest costs the reader only its fallback.
//
// * Requests (kRingTailDigest, host to GPU): the client stores the digest
//   before the tail. The GPU loads the tail, the digest and the bytes where
//   the next record must start all at once, unordered, and serves them when
//   the digest matches: one PCIe round trip per call instead of two (the
//   second would read the record after the tail, in acquire order).
// * Replies (kRingUnorderedTail, GPU to host): when the client has taken
//   every earlier reply (its head, read with the request, equals the tail;
//   the client stores that head beside the digest, tail_reply_head, and it
//   is never above its real head, so a stale value only withholds this),
//   the GPU stores a small reply, then the tail with bit 0 set
//   (kTailUnordered) and the digest in one 16-byte store, with no system
//   fence (which costs a call 0.85 µs on an H100, before or after the
//   publish). Any other publish is fenced as usual, which also puts an
//   earlier unordered record in place. So a marked tail ends the one record
//   that starts at the client's read position, which the client reads once
//   the digest beside the tail states its length and matches it.
//
// The digest guards against torn reads of an honest producer, not against a
// hostile one: records are validated as always. The sums of per-word terms
// are order-independent to compute (32 GPU lanes each take one word, then
// add) but position-dependent in value (each word is keyed by its index).
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

// The digest word of a record of `words` words whose terms sum to `sum_a`
// and `sum_b`, published by the tail `tail`: 56 bits of check, then the
// length. Never 0 (a record has at least its header), so a zeroed line is
// no digest.
RK_DIGEST_FN uint64_t digest_finish(uint32_t sum_a, uint32_t sum_b, uint64_t tail, uint32_t words) {
  uint32_t a = (sum_a ^ uint32_t(tail) ^ words) * 0xcc9e2d51u;
  uint32_t b = (sum_b ^ uint32_t(tail >> 32) ^ (a >> 16)) * 0x1b873593u;
  a ^= b >> 15;
  return ((uint64_t(b) << 32 | a) & ~uint64_t(0xff)) | words;
}

// The record length a digest word states, in 8-byte words.
RK_DIGEST_FN uint32_t digest_words(uint64_t digest) { return uint32_t(digest & 0xff); }

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
  return digest_finish(sum_a, sum_b, tail, words);
}

}  // namespace rk::shm

#undef RK_DIGEST_FN
