// The lone server: in a one-block kernel, block 0's warp 1 serves the lone
// caller's record that the scout's prefetch brought in, so that the scout's
// own bookkeeping (noting the move, posting it, its counters) and the
// server's (the span's telemetry) run side by side instead of one after
// the other around the reply, and the server keeps its channel's cursor
// words in shared memory between calls instead of reading them from L2 on
// the way to each reply.
//
// The hand-off is shared memory and two named barriers of the two warps:
// the scout stores the record's words and the channel's few facts and
// arrives at kHandBarrier, where warp 1 waits; warp 1 serves through the
// same lone path as the scout would (lone_record.cuh) and arrives at
// kDoneBarrier, where the scout waits before it ends its round. So at most
// one record is ever handed over, and nothing else (the scout's other
// serving, block 0's loop) touches a cursor while warp 1 serves. A record
// warp 1 declines is untouched; the scout serves it as before. A barrier,
// not a flag both warps poll: waiting there costs no issue slots, and the
// wake-up is the barrier's, not a polling loop's.
#pragma once
#include <cstdint>

#include "server/cuda/gpu_layout.h"
#include "server/cuda/worker/cursor_words.cuh"
#include "server/cuda/worker/tail_prefetch.cuh"

namespace rk::server::gpu {

// Named barriers of the scout's warp and warp 1 (0 is __syncthreads').
inline constexpr uint32_t kHandBarrier = 14;
inline constexpr uint32_t kDoneBarrier = 15;
inline constexpr uint32_t kHandThreads = 64;

__device__ inline void barrier_arrive(uint32_t id, uint32_t threads) {
  asm volatile("bar.arrive %0, %1;" ::"r"(id), "r"(threads) : "memory");
}
__device__ inline void barrier_sync(uint32_t id, uint32_t threads) {
  asm volatile("bar.sync %0, %1;" ::"r"(id), "r"(threads) : "memory");
}

// Block 0's shared memory (no initialisers: init_lone_handoff sets it).
struct LoneHandoff {
  uint64_t words[32];    // the prefetched record, word i from lane i
  uint64_t tail;         // where the record ends (the slot's new tail)
  uint64_t from;         // where it starts
  uint64_t reply_head;   // the client's reply head, read beside the tail
  uint32_t slot;
  uint32_t stop;         // 1: no record; warp 1 leaves for block 0's loop
  uint32_t served;       // 1: warp 1 served the record; 0: it declined it (untouched)
  uint32_t cursor_gen;   // the scout bumps it when it serves a channel itself
  uint16_t key16;
  // Warp 1's copy of the cursor words of the channel it served last, valid
  // while cached_gen is cursor_gen (shared memory, not registers: kept
  // across the loop in registers, they spilled in the scout's code).
  CursorWords cached;
  uint32_t cached_slot;  // kMaxChannels: none
  uint32_t cached_gen;
};

__device__ inline void init_lone_handoff(LoneHandoff& h) {
  h.stop = 0;
  h.served = 0;
  h.cursor_gen = 0;
  h.cached_slot = kMaxChannels;
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
    h.stop = 0;
  }
  barrier_arrive(kHandBarrier, kHandThreads);  // orders the stores above before warp 1's reads
}

// Warp 1's lanes: the record handed over, as the scout's lanes held it
// once its digest matched.
__device__ inline Prefetch handed_prefetch(const LoneHandoff& h, uint32_t lane) {
  Prefetch p;
  p.word = h.words[lane];
  p.from = h.from;
  p.reply_head = h.reply_head;
  p.slot = h.slot;
  p.valid = true;
  return p;
}

// The scout's lanes: waits until warp 1 is done with the record handed over;
// true when warp 1 served it.
__device__ inline bool wait_handed(const LoneHandoff& h) {
  barrier_sync(kDoneBarrier, kHandThreads);
  return h.served != 0;
}

// The scout's lanes, before they serve any channel themselves: warp 1's
// copy of a cursor may be stale after that.
__device__ inline void lone_cursors_moved(LoneHandoff& h, uint32_t lane) {
  if (lane == 0) ++h.cursor_gen;
}

// The scout's lanes, when they leave for block 0's loop: warp 1 leaves too.
__device__ inline void stop_lone_server(LoneHandoff& h, uint32_t lane) {
  if (lane == 0) h.stop = 1;
  barrier_arrive(kHandBarrier, kHandThreads);
}

// Warp 1's 32 lanes, from the start of a trip round block 0's loop until
// the scout stops it: serves each record handed over with
// `serve(h)`, which returns whether it served it, and tells the scout;
// then, while the scout goes on (and may hand the next record over),
// `after(h, slot)` (taking a copy of that slot's cursor).
// The copy is dropped each trip: block 0's loop may move cursors.
template <class Serve, class After>
__device__ void lone_server_loop(LoneHandoff& h, Serve& serve, After& after) {
  for (;;) {
    barrier_sync(kHandBarrier, kHandThreads);
    if (h.stop) {
      if (threadIdx.x % 32 == 0) h.cached_slot = kMaxChannels;
      return;
    }
    const uint32_t slot = h.slot;
    const bool served = serve(h);
    if (threadIdx.x % 32 == 0) h.served = served;
    barrier_arrive(kDoneBarrier, kHandThreads);
    if (served) after(h, slot);
  }
}

}  // namespace rk::server::gpu
