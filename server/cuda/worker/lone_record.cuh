// The latency path: a span that is exactly one small record (a client
// calling and waiting), served by the scout's warp straight from registers.
// serve_channel would stage the cursor in shared memory, walk a plan with
// one thread and copy the whole reply room (request size + 256 B) back
// across PCIe; here the cursor's few words come in together, the record
// comes in with up to 8 loads per lane (one PCIe round trip), the plan is
// a few comparisons every lane makes, and only the reply and its filler's
// header go out. Anything else (several records, padding, a wrap, too little
// reply room, a broken index) is left untouched for serve_channel.
#pragma once
#include <cstdint>

#include "kernels/sdk/dispatch.h"
#include "server/cuda/gpu_layout.h"
#include "server/cuda/worker/channel_batch.cuh"
#include "server/cuda/worker/cursor_words.cuh"
#include "server/cuda/worker/device_atomics.cuh"
#include "server/cuda/worker/kernel_args.h"
#include "server/cuda/worker/round_log.cuh"
#include "server/cuda/worker/tail_prefetch.cuh"
#include "shm/ring_layout.h"

namespace rk::server::gpu {

// Up to 8 words of 8 bytes per lane, all loads in flight at once: a record
// up to 2 KiB (a 1 KiB payload with its envelope) comes in with one PCIe
// round trip.
inline constexpr uint32_t kLoneWordsPerLane = 8;
inline constexpr uint64_t kLoneRecordBytes = 32 * 8 * kLoneWordsPerLane;

// What serve_lone_record did: declined leaves the channel as it was.
enum class LoneServed : uint32_t { declined, ordered, unordered };

// The scout's 32 lanes, all with the same arguments: `w` as loaded from
// `home`, `avail` bytes published past w.read. Returns (in every lane)
// whether the record was served and published, and how its reply went out.
// `staged`: set to the bytes left in smem_in when the span was read but is
// not one record (serve_channel then need not read it again).
// `prefetch`: when valid, the scout's words of exactly this span
// (tail_prefetch.cuh): nothing is read across PCIe.
// kPrefetch: the one-block kernel's (prefetched requests, unordered
// replies); a multi-block kernel carries none of that code (its 64 B echo
// from 8 processes fell from 41 to 36 M msg/s with it).
template <bool kPrefetch, class Handler>
__device__ LoneServed serve_lone_record(const KernelArgs& a, DeviceCursor& home, const CursorWords& w,
                                        uint64_t avail, Prefetch prefetch, uint8_t* smem_in, uint8_t* smem_out,
                                        Handler& handler, BlockTelemetry& tel, BlockStats* st, uint64_t& staged) {
  if (a.staged || avail > kLoneRecordBytes || avail < shm::kRecordHeaderBytes || avail % 8 != 0)
    return LoneServed::declined;
  const uint32_t lane = threadIdx.x % 32;
  const uint64_t t0 = globaltimer();
  const uint64_t read = w.read, reply_tail = w.reply_tail, reply_head = w.reply_head;
  const uint64_t request_data = w.request_data, reply_ring = w.reply_ring, request_ring = w.request_ring;
  const uint64_t cap = w.capacity, max_record = w.max_record;
  const uint64_t mask = cap - 1, at = read & mask;
  // Unaligned indices and wraps are serve_channel's to judge.
  if (read % 8 != 0 || reply_tail % 8 != 0 || at + avail > cap) return LoneServed::declined;

  const uint8_t* from = reinterpret_cast<const uint8_t*>(request_data) + at;
  uint64_t word[kLoneWordsPerLane];
  if (kPrefetch && prefetch.valid) {
    static_assert(shm::kTailDigestMaxBytes == 32 * 8, "a prefetch is word 0 of every lane");
    word[0] = prefetch.word;
#pragma unroll
    for (uint32_t j = 1; j < kLoneWordsPerLane; ++j) word[j] = 0;
  } else {
    // Its own loop: a select between the prefetch and a load in one made
    // every record read slower (0.25 µs on an H100).
#pragma unroll
    for (uint32_t j = 0; j < kLoneWordsPerLane; ++j) {
      const uint32_t byte = 8 * (lane + 32 * j);
      word[j] = byte < avail ? load<uint64_t>(from + byte) : 0;
    }
  }
#pragma unroll
  for (uint32_t j = 0; j < kLoneWordsPerLane; ++j) {
    const uint32_t byte = 8 * (lane + 32 * j);
    if (byte < avail) store<uint64_t>(smem_in + byte, word[j]);
  }
  staged = avail;
  const uint32_t len = __shfl_sync(0xffffffffu, uint32_t(word[0]), 0);
  const uint32_t flags = __shfl_sync(0xffffffffu, uint32_t(word[0] >> 32), 0);
  const uint64_t t1 = globaltimer();
  if ((flags & (shm::kRecordPadding | shm::kRecordFiller | shm::kRecordReservedMask)) != 0 || len > max_record ||
      shm::record_bytes(len) != avail)
    return LoneServed::declined;
  const uint32_t rcap = reply_room(len, max_record);
  const uint64_t need = shm::record_bytes(rcap), rep_at = reply_tail & mask;
  auto* rep = reinterpret_cast<shm::RingHeader*>(reply_ring);
  if (rep_at + need > cap) return LoneServed::declined;
  uint64_t head = reply_head;
  if (reply_tail + need - head > cap) {
    // The cached head leaves too little room: read the client's (one PCIe
    // round trip per ring's worth of replies), as plan_batch does. A head
    // past what we published, or a full ring, is serve_channel's to judge.
    head = __shfl_sync(0xffffffffu, lane == 0 ? load_acquire(&rep->head) : 0, 0);
    if (reply_tail - head > cap || reply_tail + need - head > cap) return LoneServed::declined;
  }
  __syncwarp();  // the record is in shared memory for every lane; the head's acquire before the reply's stores

  const uint64_t t2 = globaltimer();
  // As in serve_channel's warp per message: the lanes zero the reply's
  // room together first, so that its builder zeroes nothing.
  zero_reply(smem_out, rcap, lane, 32);
  __syncwarp();
  Context ctx = Context::for_warp(a.instance, a.state, a.state_bytes);
  const Handled h = handle_message(handler, ctx, smem_in + shm::kRecordHeaderBytes, len,
                                   smem_out + shm::kRecordHeaderBytes, rcap, true);
  __syncwarp();
  if (lane == 0) seal_reply(smem_out, rcap, h.reply_bytes);
  __syncwarp();
  const uint64_t t3 = globaltimer();

  // A small reply goes out alone and unordered, with its digest
  // (shm/tail_digest.h), when the client has taken every reply before it
  // (its head, read with the request, is our tail): that reply is then all
  // the client may read, and the digest tells it when the bytes are in.
  // Otherwise the reply and, when it left room over, its filler's header,
  // after a fence: the client skips the filler's body unread.
  const uint64_t used = shm::record_bytes(h.reply_bytes);
  const bool unordered = kPrefetch && w.unordered_replies && prefetch.valid && prefetch.reply_head == reply_tail &&
                         used <= shm::kTailDigestMaxBytes;
  const uint32_t out_bytes = uint32_t(unordered || used == need ? used : used + shm::kRecordHeaderBytes);
  uint8_t* to = ring_buffer(rep) + rep_at;
  uint64_t first_word = 0;  // this lane's word of the first 256 bytes
  for (uint32_t i = 8 * lane; i < out_bytes; i += 8 * 32) {
    const uint64_t v = load<uint64_t>(smem_out + i);
    // Unordered, the words go out as system-scope stores, like the tail:
    // plain stores may wait in L2 for the next fence.
    if (unordered) store_relaxed(reinterpret_cast<uint64_t*>(to + i), v);
    else store<uint64_t>(to + i, v);
    if (i < shm::kTailDigestMaxBytes) first_word = v;
  }
  const uint64_t digest = unordered ? warp_digest(first_word, uint32_t(used / 8), reply_tail + used, lane) : 0;
  // Every lane's stores before lane 0's fence (fences are cumulative over
  // the warp barrier), and the fence before the new indices.
  __syncwarp();
  if (lane == 0) {
    auto* req = reinterpret_cast<shm::RingHeader*>(request_ring);
    if (unordered) publish_unordered(home, req, rep, read + avail, reply_tail + used, head, digest);
    else publish_span(home, req, rep, read + avail, reply_tail + need, head);
    const uint64_t t4 = globaltimer();
    account_span(tel, st, a, home, SpanCounts{1, h.status != 0, t3 - t2, t3 - t2, h.status}, {t0, t1, t2, t3, t4});
    mark_round_at(kMarkLoneStart, t0);
    mark_round_at(kMarkStaged, t1);
    mark_round_at(kMarkPlanned, t2);
    mark_round_at(kMarkHandled, t3);
    mark_round_at(kMarkPublished, t4);
    mark_round(kMarkAccounted);
  }
  __syncwarp();
  return unordered ? LoneServed::unordered : LoneServed::ordered;
}

}  // namespace rk::server::gpu
