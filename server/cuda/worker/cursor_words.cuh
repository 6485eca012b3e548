// The words of a channel's device cursor that the lone paths read
// (lone_record.cuh, lone_server.cuh), loaded together.
#pragma once
#include <cstdint>

#include "server/cuda/gpu_layout.h"
#include "server/cuda/worker/device_atomics.cuh"

namespace rk::server::gpu {

// The cursor words the inline path reads, all loaded in one round trip
// (the scout's acquire of the tails has just emptied L1, so each batch of
// loads is an L2 round trip). Strong loads: plain ones the compiler sinks
// past the first test that needs them, which made it two round trips.
// `shared_slot`: the cursor may move on other SMs (a multi-block kernel):
// the key is acquired first, since its owner publishes a refreshed cursor
// with a release of the key, and every lane takes lane 0's words, so that
// the tests made on them agree across the warp.
struct CursorWords {
  uint64_t key, read, stalled, reply_tail, reply_head;
  uint64_t request_ring, request_data, reply_ring, capacity, max_record, unordered_replies;
};
__device__ inline CursorWords load_cursor_words(const DeviceCursor& c, bool shared_slot) {
  CursorWords w;
  w.key = shared_slot ? load_acquire_gpu(&c.key) : load_relaxed_gpu(&c.key);
  w.read = load_relaxed_gpu(&c.read);
  w.stalled = load_relaxed_gpu(&c.stalled);
  w.reply_tail = load_relaxed_gpu(&c.reply_tail);
  w.reply_head = load_relaxed_gpu(&c.reply_head);
  w.request_ring = load_relaxed_gpu(&c.ch.request_ring);
  w.request_data = load_relaxed_gpu(&c.ch.request_data);
  w.reply_ring = load_relaxed_gpu(&c.ch.reply_ring);
  w.capacity = load_relaxed_gpu(&c.ch.capacity);
  w.max_record = load_relaxed_gpu(&c.ch.max_record);
  w.unordered_replies = shared_slot ? 0 : load_relaxed_gpu(&c.ch.unordered_replies);  // one-block kernels only
  if (shared_slot) {
    uint64_t* words = reinterpret_cast<uint64_t*>(&w);
#pragma unroll
    for (uint32_t i = 0; i < sizeof(CursorWords) / 8; ++i) words[i] = __shfl_sync(0xffffffffu, words[i], 0);
  }
  return w;
}

}  // namespace rk::server::gpu
