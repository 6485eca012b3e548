// The scout's prefetch: the next record of its last inline-served channel,
// read in the same round trip as that channel's tail (shm/tail_digest.h).
//
// A caller that waits for each reply sends its next request where the last
// one ended, so the scout loads, with the round's tails, the 256 bytes at
// that channel's last seen tail and the digest word beside the tail. When
// the tail then moved by one small record and the digest computed over what
// came in matches, the lone path serves those bytes without reading them
// again: one PCIe round trip per call instead of two. When anything differs
// (no digest, another size, a torn read) the bytes are not used and the
// record is read after the tail as before.
#pragma once
#include <cstddef>
#include <cstdint>

#include "server/cuda/gpu_layout.h"
#include "server/cuda/worker/device_atomics.cuh"
#include "shm/ring_layout.h"
#include "shm/tail_digest.h"

namespace rk::server::gpu {

// Which channel the scout prefetches for (block 0's shared memory, so no
// initialisers: the kernel sets slot to kMaxChannels).
struct PrefetchTarget {
  uint32_t slot;  // kMaxChannels: none
  uint64_t data;  // device address of its request ring's buffer
  uint64_t mask;  // capacity - 1
};

// One round's prefetch, in registers: lane i holds bytes 8i..8i+7 of the
// record in `word`; in `header`, the slot's lane (slot % 32, the lane that
// polls its tail) the tail, the next lane the digest beside it and the one
// after that the client's reply head stored beside them (one word a lane:
// the three came in one load instruction). check_prefetch gives every
// lane the reply head.
struct Prefetch {
  uint64_t word = 0;
  uint64_t header = 0;
  uint64_t reply_head = 0;
  uint64_t from = 0;             // ring position the words start at
  uint32_t slot = kMaxChannels;  // kMaxChannels: nothing loaded
  bool valid = false;            // set by check_prefetch: the words are the record
};

// Issues the loads (every lane of the scout's warp, same arguments) when
// the target's next record starts at least 256 bytes before the buffer's
// end. `seen_tail` is where the target's published records end.
__device__ inline Prefetch issue_prefetch(const PrefetchTarget& t, uint64_t request_ring, uint64_t seen_tail,
                                          uint32_t lane) {
  Prefetch p;
  const uint64_t at = seen_tail & t.mask;
  if (request_ring == 0 || at + shm::kTailDigestMaxBytes > t.mask + 1) return p;
  p.slot = t.slot;
  p.from = seen_tail;
  // A plain load that skips the caches (ld.global.cv): racing the
  // producer's stores is the point, and the digest judges the result.
  p.word = __ldcv(reinterpret_cast<const unsigned long long*>(t.data + at) + lane);
  // The tail, the digest and the client's reply head as of that publish,
  // three lanes a word each, in one load instruction: a second load of the
  // same line in flight waits for the first (+0.8 µs per call). Whether the
  // client has taken every reply so far decides whether the next may go
  // out unordered (lone_record.cuh); read from the reply ring's own header,
  // it was a third page in every round trip.
  static_assert(offsetof(shm::RingHeader, tail_digest) == offsetof(shm::RingHeader, tail) + 8 &&
                offsetof(shm::RingHeader, tail_reply_head) == offsetof(shm::RingHeader, tail) + 16);
  const uint32_t k = (lane - t.slot) % 32;  // 0: the slot's lane
  if (k < 3) p.header = load_relaxed(&reinterpret_cast<const shm::RingHeader*>(request_ring)->tail + k);
  return p;
}

// The digest word (shm/tail_digest.h) of a record of `words` words, lane i
// holding word i, published by `tail`; every lane of the warp calls it.
__device__ __forceinline__ uint64_t warp_digest(uint64_t word, uint32_t words, uint64_t tail, uint32_t lane) {
  const shm::DigestTerms t = lane < words ? shm::digest_word(word, lane) : shm::DigestTerms{0, 0};
  const uint32_t sum_a = __reduce_add_sync(0xffffffffu, t.a), sum_b = __reduce_add_sync(0xffffffffu, t.b);
  return shm::digest_finish(sum_a, sum_b, tail, words);
}

// With the slot's new tail in every lane: whether the words are the one
// record published between p.from and `tail`. Warp-wide result.
__device__ inline bool check_prefetch(Prefetch& p, uint64_t tail, uint32_t lane) {
  const uint64_t bytes = tail - p.from;
  if (p.slot == kMaxChannels || bytes == 0 || bytes > shm::kTailDigestMaxBytes || bytes % 8 != 0) return false;
  const uint64_t digest = warp_digest(p.word, uint32_t(bytes / 8), tail, lane);
  const uint32_t digest_lane = (p.slot + 1) % 32;
  p.valid = __shfl_sync(0xffffffffu, lane == digest_lane && digest == p.header, digest_lane);
  p.reply_head = __shfl_sync(0xffffffffu, p.header, (p.slot + 2) % 32);
  return p.valid;
}

}  // namespace rk::server::gpu
