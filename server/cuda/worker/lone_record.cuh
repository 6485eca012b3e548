// The latency path: a span that is exactly one small record (a client
// calling and waiting), served by the scout's warp straight from registers.
// serve_channel would stage the cursor in shared memory, walk a plan with
// one thread and copy the whole reply room (request size + 256 B) back
// across PCIe; here the cursor's few words come in together, the record
// comes in with one load per lane (one PCIe round trip), the plan is a few
// comparisons every lane makes, and only the reply and its filler's header
// go out. Anything else (several records, padding, a wrap, too little
// reply room, a broken index) is left untouched for serve_channel.
#pragma once
#include <cstdint>

#include "kernels/sdk/dispatch.h"
#include "server/cuda/gpu_layout.h"
#include "server/cuda/worker/channel_batch.cuh"
#include "server/cuda/worker/device_atomics.cuh"
#include "server/cuda/worker/kernel_args.h"
#include "shm/ring_layout.h"

namespace rk::server::gpu {

// Up to 8 words of 8 bytes per lane, all loads in flight at once: a record
// up to 2 KiB (a 1 KiB payload with its envelope) comes in with one PCIe
// round trip.
inline constexpr uint32_t kLoneWordsPerLane = 8;
inline constexpr uint64_t kLoneRecordBytes = 32 * 8 * kLoneWordsPerLane;

// The cursor words the inline path reads, all loaded in one round trip
// (the scout's acquire of the tails has just emptied L1, so each batch of
// loads is an L2 round trip). `shared_slot`: the cursor may move on other
// SMs (a multi-block kernel): the key is acquired first, since its owner
// publishes a refreshed cursor with a release of the key.
struct CursorWords {
  uint64_t key, read, stalled, reply_tail, reply_head;
  uint64_t request_ring, request_data, reply_ring, capacity, max_record;
};
__device__ inline CursorWords load_cursor_words(const DeviceCursor& c, bool shared_slot) {
  auto get = [shared_slot](const auto& v) { return shared_slot ? load_relaxed_gpu(&v) : v; };
  CursorWords w;
  w.key = shared_slot ? load_acquire_gpu(&c.key) : c.key;
  w.read = get(c.read);
  w.stalled = get(c.stalled);
  w.reply_tail = get(c.reply_tail);
  w.reply_head = get(c.reply_head);
  w.request_ring = get(c.ch.request_ring);
  w.request_data = get(c.ch.request_data);
  w.reply_ring = get(c.ch.reply_ring);
  w.capacity = get(c.ch.capacity);
  w.max_record = get(c.ch.max_record);
  return w;
}

// The scout's 32 lanes, all with the same arguments: `w` as loaded from
// `home`, `avail` bytes published past w.read. Returns (in every lane)
// whether the record was served and published; false leaves the channel
// as it was.
template <class Handler>
__device__ bool serve_lone_record(const KernelArgs& a, DeviceCursor& home, const CursorWords& w, uint64_t avail,
                                  uint8_t* smem_in, uint8_t* smem_out, Handler& handler, BlockTelemetry& tel,
                                  BlockStats* st) {
  if (a.staged || avail > kLoneRecordBytes || avail < shm::kRecordHeaderBytes || avail % 8 != 0) return false;
  const uint32_t lane = threadIdx.x % 32;
  const uint64_t t0 = globaltimer();
  const uint64_t read = w.read, reply_tail = w.reply_tail, reply_head = w.reply_head;
  const uint64_t request_data = w.request_data, reply_ring = w.reply_ring, request_ring = w.request_ring;
  const uint64_t cap = w.capacity, max_record = w.max_record;
  const uint64_t mask = cap - 1, at = read & mask;
  // Unaligned indices and wraps are serve_channel's to judge.
  if (read % 8 != 0 || reply_tail % 8 != 0 || at + avail > cap) return false;

  const uint8_t* from = reinterpret_cast<const uint8_t*>(request_data) + at;
  uint64_t word[kLoneWordsPerLane];
#pragma unroll
  for (uint32_t j = 0; j < kLoneWordsPerLane; ++j) {
    const uint32_t byte = 8 * (lane + 32 * j);
    word[j] = byte < avail ? load<uint64_t>(from + byte) : 0;
  }
#pragma unroll
  for (uint32_t j = 0; j < kLoneWordsPerLane; ++j) {
    const uint32_t byte = 8 * (lane + 32 * j);
    if (byte < avail) store<uint64_t>(smem_in + byte, word[j]);
  }
  const uint32_t len = __shfl_sync(0xffffffffu, uint32_t(word[0]), 0);
  const uint32_t flags = __shfl_sync(0xffffffffu, uint32_t(word[0] >> 32), 0);
  const uint64_t t1 = globaltimer();
  if ((flags & (shm::kRecordPadding | shm::kRecordFiller | shm::kRecordReservedMask)) != 0 || len > max_record ||
      shm::record_bytes(len) != avail)
    return false;
  const uint32_t rcap = uint32_t(len + kReplySlack < max_record ? len + kReplySlack : max_record);
  const uint64_t need = shm::record_bytes(rcap), rep_at = reply_tail & mask;
  if (rep_at + need > cap || reply_tail + need - reply_head > cap) return false;
  __syncwarp();  // the record is in shared memory for every lane

  const uint64_t t2 = globaltimer();
  // As in serve_channel's warp per message: a big reply's room is zeroed by
  // the lanes together first, else every lane would zero what it allocates.
  const bool zeroed = rcap > kZeroFirstBytes;
  if (zeroed) {
    zero_reply(smem_out, rcap, lane, 32);
    __syncwarp();
  }
  Context ctx = Context::for_warp(a.instance, a.state, a.state_bytes);
  const Handled h = handle_message(handler, ctx, smem_in + shm::kRecordHeaderBytes, len,
                                   smem_out + shm::kRecordHeaderBytes, rcap, zeroed);
  __syncwarp();
  if (lane == 0) seal_reply(smem_out, rcap, h.reply_bytes);
  __syncwarp();
  const uint64_t t3 = globaltimer();

  // The reply and, when it left room over, its filler's header: the client
  // skips the filler's body unread.
  const uint64_t used = shm::record_bytes(h.reply_bytes);
  const uint32_t out_bytes = uint32_t(used < need ? used + shm::kRecordHeaderBytes : used);
  auto* rep = reinterpret_cast<shm::RingHeader*>(reply_ring);
  uint8_t* to = ring_buffer(rep) + rep_at;
  for (uint32_t i = 8 * lane; i < out_bytes; i += 8 * 32) store<uint64_t>(to + i, load<uint64_t>(smem_out + i));
  // Every lane's stores before lane 0's fence (fences are cumulative over
  // the warp barrier), and the fence before the new indices.
  __syncwarp();
  if (lane == 0) {
    release_fence_system();
    store_relaxed(&rep->tail, reply_tail + need);
    store_relaxed(&reinterpret_cast<shm::RingHeader*>(request_ring)->head, read + avail);
    home.read = read + avail;
    home.reply_tail = reply_tail + need;
    home.stalled = 0;
    account_span(tel, st, a, home, SpanCounts{1, h.status != 0, t3 - t2, t3 - t2, h.status},
                 {t0, t1, t2, t3, globaltimer()});
  }
  __syncwarp();
  return true;
}

}  // namespace rk::server::gpu
