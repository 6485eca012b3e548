// The lone server: in a one-block kernel, block 0's warp 1 serves the lone
// caller's record that the scout's prefetch brought in, so that the scout's
// own bookkeeping (noting the move, posting it, its counters) and the
// server's (its cursor words, the span's telemetry) run side by side
// instead of one after the other on the way to the reply. The two warps sit
// on different SM sub-partitions, so each keeps its own code in its own
// instruction cache: the scout's rounds and the serving path no longer
// evict each other between two calls.
//
// The hand-off is shared memory: the scout stores the record's words and
// the channel's few facts, then releases `seq`; warp 1, spinning on it,
// serves through the same lone path as the scout would (lone_record.cuh)
// and releases `done`. The scout waits for `done` before it ends its round,
// so at most one record is ever handed over, and nothing else (the scout's
// other serving, block 0's loop) touches a cursor while warp 1 serves. A
// record warp 1 declines is untouched; the scout serves it as before.
#pragma once
#include <cstdint>

#include "server/cuda/worker/device_atomics.cuh"
#include "server/cuda/worker/tail_prefetch.cuh"

namespace rk::server::gpu {

// Polls of `seq` before warp 1 naps between polls: some tens of µs of
// spinning after the last hand-off, then a wake-up at most kServerNapNs late.
inline constexpr uint32_t kServerSpinPolls = 20000;
inline constexpr uint32_t kServerNapNs = 500;

// Block 0's shared memory (no initialisers: init_lone_handoff sets it).
struct LoneHandoff {
  uint64_t words[32];    // the prefetched record, word i from lane i
  uint64_t tail;         // where the record ends (the slot's new tail)
  uint64_t from;         // where it starts
  uint64_t reply_head;   // the client's reply head, read beside the tail
  uint64_t published_at; // %globaltimer when warp 1 published the last reply
  uint32_t slot;
  uint32_t seq;          // the scout bumps it to hand a record over
  uint32_t done;         // warp 1 sets it to seq once served or declined
  uint32_t served;       // 1: warp 1 served that record; 0: it declined it (untouched)
  uint32_t stop_trip;    // the scout: warp 1 leaves its loop of this trip round block 0's loop
  uint16_t key16;
};

__device__ inline void init_lone_handoff(LoneHandoff& h) {
  h.seq = h.done = 0;
  h.served = 0;
  h.stop_trip = ~0u;
  h.published_at = 0;
}

// The scout's 32 lanes: hands the prefetched record of `slot` over.
__device__ inline void hand_off(LoneHandoff& h, const Prefetch& p, uint32_t slot, uint64_t tail, uint16_t key16,
                                uint32_t lane) {
  h.words[lane] = p.word;
  if (lane == 0) {
    h.slot = slot;
    h.tail = tail;
    h.from = p.from;
    h.reply_head = p.reply_head;
    h.key16 = key16;
  }
  __syncwarp();
  if (lane == 0) store_release_cta(&h.seq, h.seq + 1);
}

// The scout's lanes: waits until warp 1 is done with the record handed over
// last; true when warp 1 served it.
__device__ inline bool wait_handed(const LoneHandoff& h) {
  const uint32_t seq = h.seq;  // the scout's own word
  while (load_acquire_cta(&h.done) != seq) {
  }
  return h.served != 0;
}

// The scout's lane 0, when it leaves for block 0's loop: warp 1 leaves too.
__device__ inline void stop_lone_server(LoneHandoff& h, uint32_t trip) { store_release_cta(&h.stop_trip, trip); }

// Warp 1's 32 lanes, from the start of a trip round block 0's loop until
// the scout stops it: serves each record handed over with `serve(h)`, which
// returns whether it served it, and tells the scout.
template <class Serve>
__device__ void lone_server_loop(LoneHandoff& h, uint32_t trip, Serve& serve) {
  uint32_t seen = load_acquire_cta(&h.done);  // everything before this trip is done
  uint32_t idle = 0;
  for (;;) {
    const uint32_t seq = load_acquire_cta(&h.seq);
    if (seq != seen) {
      seen = seq;
      idle = 0;
      const bool served = serve(h);
      __syncwarp();  // every lane's reply stores before lane 0's release
      if (threadIdx.x % 32 == 0) {
        h.served = served;
        store_release_cta(&h.done, seq);
      }
      __syncwarp();
      continue;
    }
    if (load_acquire_cta(&h.stop_trip) == trip) return;
    if (++idle > kServerSpinPolls) __nanosleep(kServerNapNs);
  }
}

}  // namespace rk::server::gpu
