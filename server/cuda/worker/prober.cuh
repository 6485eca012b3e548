// The prober: a second look at the scout's prefetch target, by block 0's
// warp 1 of a one-block kernel, for lone callers.
//
// A caller whose request lands just after the scout's look passed its ring
// waits for the scout's next round: 1.9-2.5 µs more, 1-5 % of a lone
// caller's calls on an H100 (docs/cuda-status.md). The scout cannot look
// again sooner: a second PCIe read of a line waits for the first, and a
// load of other lines held in the scout's own registers made every call
// wait for it. So the client copies each small awaited request, with its
// tail, digest and reply head, into the request ring's mailbox (two lines
// of their own, shm/ring_layout.h); while the scout loops, warp 1 reads the
// mailbox `stagger` ns after each of the scout's looks and leaves the words
// in shared memory. Only when its own look found nothing does the scout
// wait for that sample (bounded), and it serves the record from it when the
// digest says it is the next one: a miss then costs the stagger instead of
// a round.
//
// In shared memory, not L2: from another SM, a look took 0.66 µs to be
// noticed and its sample came 2.3 µs after the look, later than the
// scout's own next look (twelfth session, docs/benchmarks.md).
//
// Warp 1 reads rings only while the scout loops; the block acknowledges a
// new channel table only after both are back at the block's barrier, so
// the worker never drops a segment warp 1 may still read.
#pragma once
#include <cstdint>

#include "server/cuda/worker/device_atomics.cuh"
#include "server/cuda/worker/tail_prefetch.cuh"
#include "shm/ring_layout.h"

namespace rk::server::gpu {

static_assert(shm::kMailboxWords == 32, "one word a lane");
// How long after its stagger the scout waits for a sample: the mailbox's
// PCIe round trip (1.2-1.35 µs on an H100) and a little.
inline constexpr uint64_t kProberReadNs = 1500;

// Block 0's shared memory. One writer per field: the scout's lane 0 writes
// run (off), look_ns and look_ring; warp 1 writes words and sample_look;
// thread 0 sets run before the block's barrier.
struct ProberState {
  uint32_t run;          // 1 while the scout loops (warp 1 probes until it is 0)
  uint64_t look_ns;      // %globaltimer when the scout issued its latest look at the target
  uint64_t look_ring;    // the target's request RingHeader (device address)
  uint64_t sample_look;  // the look whose mailbox is in `words`
  uint64_t words[32];
};

template <class T>
__device__ T read_shared(const T& v) {
  return *const_cast<const volatile T*>(&v);
}
template <class T>
__device__ void write_shared(T& v, T x) {
  *const_cast<volatile T*>(&v) = x;
}

// The scout's lane 0, at the start of a round that looks at `ring`.
__device__ inline void post_prober_look(ProberState& p, uint64_t issued_ns, uint64_t ring) {
  write_shared(p.look_ring, ring);
  write_shared(p.look_ns, issued_ns);
}

// Every lane of the scout's warp, after a look at the target `pf` found no
// move: waits until `deadline_ns` for warp 1's sample of the look issued at
// `issued_ns`. True when the mailbox held the target's next record: `pf`
// then holds it as if the scout's own prefetch had read it (check_prefetch
// passed), and `tail` its tail.
__device__ inline bool take_prober_sample(const ProberState& p, uint64_t issued_ns, uint64_t deadline_ns,
                                          Prefetch& pf, uint64_t& tail, uint32_t lane) {
  bool in = false;
  if (lane == 0)
    while (!(in = read_shared(p.sample_look) == issued_ns) && globaltimer() < deadline_ns) {
    }
  if (!__shfl_sync(0xffffffffu, in, 0)) return false;
  __syncwarp();  // warp 1's words, fenced before its sample_look, are in for every lane
  const uint64_t w = read_shared(p.words[lane]);
  tail = __shfl_sync(0xffffffffu, w, shm::kMailboxTail);
  const uint64_t digest = __shfl_sync(0xffffffffu, w, shm::kMailboxDigest);
  const uint64_t reply_head = __shfl_sync(0xffffffffu, w, shm::kMailboxReplyHead);
  if (tail == pf.from || tail - pf.from > shm::kMailboxRecordWords * 8) return false;
  // The shape issue_prefetch gives: the slot's lane the tail, the next the
  // digest, the one after the reply head.
  const uint32_t k = (lane - pf.slot) % 32;
  pf.header = k == 0 ? tail : k == 1 ? digest : reply_head;
  pf.word = w;
  return check_prefetch(pf, tail, lane);
}

// Warp 1 of block 0, while the scout loops.
__device__ inline void probe_while_scouting(ProberState& p, uint32_t stagger_ns, uint32_t lane) {
  uint64_t answered = read_shared(p.sample_look);
  uint32_t idle = 0;
  while (read_shared(p.run)) {
    const uint64_t look = read_shared(p.look_ns), ring = read_shared(p.look_ring);
    if (look == answered || ring == 0) {
      if (++idle > 4096) __nanosleep(256);  // no look for a while: the target went cold
      continue;
    }
    idle = 0;
    answered = look;
    while (globaltimer() < look + stagger_ns) {
    }
    // Racing the client's stores is the point: the digest judges the words.
    const auto* mailbox =
        reinterpret_cast<const unsigned long long*>(reinterpret_cast<const shm::RingHeader*>(ring)->mailbox);
    write_shared(p.words[lane], uint64_t(__ldcv(mailbox + lane)));
    __syncwarp();
    if (lane == 0) {
      __threadfence_block();
      write_shared(p.sample_look, look);
    }
  }
}

}  // namespace rk::server::gpu
