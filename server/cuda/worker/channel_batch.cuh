// One team serving one span of a channel: copy the span of request records
// from the client's ring (mapped host memory) into the block's stage with
// every thread of the team (wide, many loads in flight), plan it on-chip
// (reply room for each message: the whole team at once for a run of equal
// records, else its first thread walking the record headers), run the
// handlers (a lane, a warp or the whole block per message), copy the reply
// image out with every thread, then publish the new indices: one barrier,
// one system-scope fence, two stores.
//
// The team is the whole block, or the scout's warp alone: the scout serves
// small spans of its own block's channels itself (scout.cuh), which saves
// the hand-over to the rest of the block on the latency path.
#pragma once
#include <cstddef>
#include <cstdint>

#include "kernels/sdk/dispatch.h"
#include "server/cuda/gpu_layout.h"
#include "server/cuda/worker/device_atomics.cuh"
#include "server/cuda/worker/kernel_args.h"
#include "shm/ring_layout.h"

namespace rk::server::gpu {

inline constexpr uint32_t kMaxBatch = 1024;
// Spans are staged in shared memory, up to these sizes: the handlers' many
// small dependent loads then cost tens of cycles instead of an L2 round
// trip each. A record bigger than the shared stage is staged in the
// block's device-memory stage instead.
inline constexpr uint32_t kSmemStageIn = 16384;
inline constexpr uint32_t kSmemStageOut = 65536;  // replies of a full stage, with slack

__device__ inline uint8_t* ring_buffer(shm::RingHeader* h) {
  return reinterpret_cast<uint8_t*>(h) + sizeof(shm::RingHeader);
}

// The threads that serve a span together. Both have whole warps; the
// handlers of warp-per-message kernels take messages warp by warp.
struct BlockTeam {
  static constexpr bool kWholeBlock = true;
  __device__ uint32_t rank() const { return threadIdx.x; }
  __device__ uint32_t size() const { return blockDim.x; }
  __device__ uint32_t warp() const { return threadIdx.x / 32; }
  __device__ uint32_t warps() const { return blockDim.x / 32; }
  __device__ void sync() const { __syncthreads(); }
};
struct WarpTeam {
  static constexpr bool kWholeBlock = false;
  __device__ uint32_t rank() const { return threadIdx.x % 32; }
  __device__ uint32_t size() const { return 32; }
  __device__ uint32_t warp() const { return 0; }
  __device__ uint32_t warps() const { return 1; }
  __device__ void sync() const { __syncwarp(); }
};

// Copies n bytes (n and both addresses 8-aligned) with every thread of the team, kInFlight
// loads in flight per thread so PCIe reads overlap: a block of 256 keeps
// 16 KiB of reads outstanding (a block moves at most that per PCIe round
// trip, about 8 µs under load). Loads are 16 bytes wide from the source's
// first 16-byte boundary on, half the instructions of 8-byte ones. Stores
// are 16 bytes where both sides share their alignment, else 8 (then a warp
// stores every other word, then the rest: harmless on the device, but host
// memory takes such half-written lines as separate writes, 3x slower for
// replies, so callers writing to host memory align their sources).
// kFromMirror: the source is a staged ring's mirror in device memory, which
// the copy engines rewrite behind the SMs' backs, so its loads skip L1
// (which could hold the same offset from the last lap).
// kClearSource: every word copied is zeroed at the source (the block's
// device-memory reply stage is kept all-zero that way; see serve_channel).
template <bool kFromMirror = false, bool kClearSource = false, class Team>
__device__ void team_copy(const Team& team, uint8_t* dst, const uint8_t* src, uint32_t n) {
  // 4 x 16 bytes in flight per thread: 8 x 16 spilled registers and gave
  // 39.7 GB/s consumed from 16 clients against 43.8 (H100).
  constexpr uint32_t kInFlight = 4;
  auto load_word = [](const uint8_t* p) -> uint64_t {
    if constexpr (kFromMirror) return __ldcg(reinterpret_cast<const unsigned long long*>(p));
    else return *reinterpret_cast<const uint64_t*>(p);
  };
  auto store_word = [](uint8_t* to, uint8_t* from, uint64_t w) {
    *reinterpret_cast<uint64_t*>(to) = w;
    if constexpr (kClearSource) *reinterpret_cast<uint64_t*>(from) = 0;
  };
  if constexpr (!Team::kWholeBlock) {
    // The scout's warp copies small spans (requests up to 512 B, their
    // replies and slack): 8-byte words, two per lane in flight, the least
    // code between a request and its reply.
    const uint32_t words = n / 8;
    for (uint32_t i = team.rank(); i < words; i += 64) {
      const bool second = i + 32 < words;
      const uint64_t w0 = load_word(src + 8 * i), w1 = second ? load_word(src + 8 * (i + 32)) : 0;
      store_word(dst + 8 * i, const_cast<uint8_t*>(src + 8 * i), w0);
      if (second) store_word(dst + 8 * (i + 32), const_cast<uint8_t*>(src + 8 * (i + 32)), w1);
    }
    return;
  }
  // A word before the source's first 16-byte boundary and one after its
  // last are loaded first and stored last, so that their loads travel with
  // the others: a load waited on before the loop would cost a small span
  // one more PCIe round trip.
  const uint32_t head = uint32_t(reinterpret_cast<uintptr_t>(src) % 16 != 0 && n >= 8 ? 8 : 0);
  const uint32_t quads = (n - head) / 16, tail = n - head - quads * 16;  // tail: 0 or 8
  const bool head_here = head && team.rank() == 0, tail_here = tail && team.rank() == team.size() - 1;
  uint64_t head_word = 0, tail_word = 0;
  if (head_here) head_word = load_word(src);
  if (tail_here) tail_word = load_word(src + n - 8);
  const ulonglong2* s = reinterpret_cast<const ulonglong2*>(src + head);
  uint8_t* d = dst + head;
  auto load = [](const ulonglong2* p) {
    if constexpr (kFromMirror) return __ldcg(p);
    else return *p;
  };
  const bool aligned = reinterpret_cast<uintptr_t>(d) % 16 == 0;
  auto put = [&](uint32_t q, ulonglong2 w) {
    if (aligned) {
      reinterpret_cast<ulonglong2*>(d)[q] = w;
    } else {
      reinterpret_cast<uint64_t*>(d)[2 * q] = w.x;
      reinterpret_cast<uint64_t*>(d)[2 * q + 1] = w.y;
    }
    if constexpr (kClearSource) const_cast<ulonglong2*>(s)[q] = ulonglong2{0, 0};
  };
  const uint32_t stride = team.size();
  uint32_t i = team.rank();
  for (; i + (kInFlight - 1) * stride < quads; i += kInFlight * stride) {
    ulonglong2 w[kInFlight];
#pragma unroll
    for (uint32_t j = 0; j < kInFlight; ++j) w[j] = load(s + i + j * stride);
#pragma unroll
    for (uint32_t j = 0; j < kInFlight; ++j) put(i + j * stride, w[j]);
  }
  for (; i < quads; i += stride) put(i, load(s + i));
  if (head_here) store_word(dst, const_cast<uint8_t*>(src), head_word);
  if (tail_here) store_word(dst + n - 8, const_cast<uint8_t*>(src + n - 8), tail_word);
}

// The request span's copy into a stage: from the client's ring across PCIe
// (mapped) or from its mirror in device memory (staged).
template <class Team>
__device__ void copy_requests_in(const Team& team, const KernelArgs& a, uint8_t* dst, const uint8_t* src, uint32_t n) {
  if (a.staged) team_copy<true>(team, dst, src, n);
  else team_copy(team, dst, src, n);
}

// Zeroes the body of reply record `at` (room for `cap` bytes), lane `rank`
// of `lanes` sharing it. Lanes that run one handler together zero its
// reply this way first and tell its builder so: a builder zeroing its own
// allocations has every lane store all of them (a 64 KiB echo by a block
// spent 76 µs in that), and even a small reply's zeroing loops cost a
// warp more than one or two stores per lane (64 B echo handler on an
// H100: 1749 -> 1556 cycles).
__device__ inline void zero_reply(uint8_t* at, uint32_t cap, uint32_t rank, uint32_t lanes) {
  uint64_t* d = reinterpret_cast<uint64_t*>(at + shm::kRecordHeaderBytes);
  const uint32_t words = uint32_t((shm::record_bytes(cap) - shm::kRecordHeaderBytes) / 8);
  RK_NO_UNROLL
  for (uint32_t i = rank; i < words; i += lanes) d[i] = 0;
}

inline constexpr uint32_t kNoPad = ~0u;

// The reply room a request of `len` body bytes gets: its own size plus
// kReplySlack, at most the ring's largest record.
__device__ inline uint32_t reply_room(uint64_t len, uint64_t max_record) {
  return uint32_t(len + kReplySlack < max_record ? len + kReplySlack : max_record);
}

// The channel's cursor after a publish.
__device__ inline void move_cursor(DeviceCursor& home, uint64_t read, uint64_t reply_tail, uint64_t reply_head) {
  home.read = read;
  home.reply_tail = reply_tail;
  home.reply_head = reply_head;
  home.stalled = 0;
}

// Thread 0, after every reply byte is stored (and a barrier): publishes a
// span to the client (one system-scope fence, then the reply tail and the
// request head) and moves the channel's cursor to it.
__device__ inline void publish_span(DeviceCursor& home, shm::RingHeader* req, shm::RingHeader* rep, uint64_t read,
                                    uint64_t reply_tail, uint64_t reply_head) {
  release_fence_system();
  store_relaxed(&rep->tail, reply_tail);
  store_relaxed(&req->head, read);
  move_cursor(home, read, reply_tail, reply_head);
}

// Thread 0, after every byte of one small reply record is stored (and a
// barrier), the client having taken every reply before it: publishes it
// without waiting for those bytes to land. The tail, marked kTailUnordered,
// and the record's digest go out in one store, and the client checks the
// digest (shm/tail_digest.h). No fence: a later publish that finds this
// record not yet taken is ordered (publish_span), and its fence puts this
// record in place before the later tail.
__device__ inline void publish_unordered(DeviceCursor& home, shm::RingHeader* req, shm::RingHeader* rep,
                                         uint64_t read, uint64_t reply_tail, uint64_t reply_head, uint64_t digest) {
  static_assert(offsetof(shm::RingHeader, tail_digest) == offsetof(shm::RingHeader, tail) + 8);
  store_relaxed_pair(&rep->tail, reply_tail | shm::kTailUnordered, digest);
  store_relaxed(&req->head, read);
  move_cursor(home, read, reply_tail, reply_head);
}

// The block's plan for one span, in shared memory.
struct Batch {
  uint32_t n;
  uint32_t consumed;   // request bytes used up (records, fillers, padding)
  uint32_t out_bytes;  // reply image bytes
  uint32_t span;       // request bytes staged
  uint32_t contiguous; // request bytes published up to the buffer's end
  uint32_t in_global;  // 1: a record too big for shared memory, staged in device memory
  uint32_t broken;
  uint32_t pad_at;     // where the image's padding record starts, or kNoPad
  uint32_t last_error;
  unsigned long long processed, errors, latency_sum, latency_max;
  DeviceCursor cur;    // the channel's cursor, staged for the span (see serve_channel)
  // plan_uniform's working values, and whether each message gets one lane.
  uint32_t uniform_n, uniform_len, uniform_rcap, first_bad, per_lane;
  uint64_t uniform_rb, uniform_need;
  uint32_t req_off[kMaxBatch], req_len[kMaxBatch], rep_off[kMaxBatch], rep_cap[kMaxBatch];
};

// Running totals of one block, mirrored into its BlockStats after each batch.
struct BlockTelemetry {
  uint64_t processed, errors, latency_sum, latency_max, backpressure, batches;
  uint64_t phase_ns[4];
  uint64_t posted_to_serve, publish_to_posted;
  uint64_t last_publish;     // %globaltimer of this block's last publish
  uint16_t last_error;
  bool dirty;                // changed since the last mirror_telemetry()
};

// Under steady load the totals are mirrored every this many spans; else at
// the first quiet moment after a span (persistent_kernel.cu).
inline constexpr uint64_t kMirrorEvery = 64;

// Thread 0: copies the running totals into the block's BlockStats (mapped
// host memory). Not per span: a dozen PCIe writes there would sit in front
// of the next round's reads.
__device__ inline void mirror_telemetry(BlockTelemetry& tel, BlockStats* st) {
  store_relaxed(&st->batches, tel.batches);
  for (int p = 0; p < 4; ++p) store_relaxed(&st->phase_ns[p], tel.phase_ns[p]);
  store_relaxed(&st->posted_to_serve_ns, tel.posted_to_serve);
  store_relaxed(&st->publish_to_posted_ns, tel.publish_to_posted);
  store_relaxed(&st->processed, tel.processed);
  store_relaxed(&st->errors, tel.errors);
  store_relaxed(&st->latency_sum_ns, tel.latency_sum);
  store_relaxed(&st->latency_max_ns, tel.latency_max);
  store_relaxed(&st->last_error, tel.last_error);
  store_relaxed(&st->backpressure, tel.backpressure);
  tel.dirty = false;
}

// Thread 0: walk the staged records, reserve reply room for each one.
// Everything the walk reads besides the record headers is copied into
// registers first (and the results are written once at the end): in the
// loop, stores to the plan would otherwise force the compiler to re-read
// each field from shared memory, a dependent load per field per record.
__device__ inline void plan_batch(Batch& b, const uint8_t* in, DeviceCursor& cur, const DeviceChannel& ch,
                                  shm::RingHeader* rep, uint8_t* out, uint32_t out_cap, uint32_t max_batch,
                                  uint64_t& backpressure) {
  const uint64_t cap = ch.capacity, mask = cap - 1, max_record = ch.max_record;
  const uint64_t off0 = cur.read & mask, reply_tail = cur.reply_tail;
  const uint32_t span = b.span, contiguous = b.contiguous;
  uint64_t reply_head = cur.reply_head;
  uint32_t pos = 0, n = 0, out_used = 0, broken = 0, in_global = b.in_global, pad_at = kNoPad;
  uint64_t rep_pos = reply_tail;
  while (pos + shm::kRecordHeaderBytes <= span && n < max_batch) {
    const uint32_t len = load<uint32_t>(in + pos), flags = load<uint32_t>(in + pos + 4);
    if (flags & shm::kRecordPadding) {
      const uint64_t here = off0 + pos;
      if (here == 0 || flags != shm::kRecordPadding || len != cap - here - shm::kRecordHeaderBytes) broken = 1;
      else pos += shm::kRecordHeaderBytes + len;  // to the buffer's end; its bytes need no staging
      break;
    }
    if (flags & shm::kRecordReservedMask) { broken = 1; break; }
    const uint64_t rb = shm::record_bytes(len);
    if (pos + rb > span) {
      // A record never crosses the buffer's end. One that starts the span
      // and was published whole did not fit the stage: a filler is skipped
      // unread, a record is staged again in device memory. One that runs
      // past the published tail is broken.
      if (pos == 0) {
        if (rb > contiguous) broken = 1;
        else if (flags & shm::kRecordFiller) pos = uint32_t(rb);
        else if (!in_global) in_global = 1;
        else broken = 1;
      }
      break;  // else: staged next time
    }
    if (flags & shm::kRecordFiller) { pos += uint32_t(rb); continue; }
    if (len > max_record) { broken = 1; break; }
    const uint32_t rcap = reply_room(len, max_record);
    const uint64_t need = shm::record_bytes(rcap);
    uint64_t pad = 0;
    if ((rep_pos & mask) + need > cap) pad = cap - (rep_pos & mask);
    if (rep_pos + pad + need - reply_head > cap) {
      const uint64_t head = load_acquire(&rep->head);
      // The client owns head: it may release only what we published.
      if (reply_tail - head > cap) { broken = 1; break; }
      reply_head = head;
      if (rep_pos + pad + need - reply_head > cap) { ++backpressure; break; }
    }
    if (out_used + pad + need > out_cap) break;
    if (pad) {
      store<uint32_t>(out + out_used, uint32_t(pad - shm::kRecordHeaderBytes));
      store<uint32_t>(out + out_used + 4, shm::kRecordPadding);
      pad_at = out_used;
      out_used += uint32_t(pad);
      rep_pos += pad;
    }
    b.req_off[n] = pos + shm::kRecordHeaderBytes;
    b.req_len[n] = len;
    b.rep_off[n] = out_used;
    b.rep_cap[n] = rcap;
    out_used += uint32_t(need);
    rep_pos += need;
    pos += uint32_t(rb);
    ++n;
  }
  b.n = n;
  b.consumed = pos;
  b.out_bytes = out_used;
  b.pad_at = pad_at;
  if (broken) b.broken = 1;
  b.in_global = in_global;
  cur.reply_head = reply_head;
}

// Spans of equal records (a client streaming one kind of message) are
// planned by the whole team at once: thread 0 takes the first record's
// length, every thread checks its share of the headers against it, and the
// plan is arithmetic instead of a walk. The span is cut at the first record
// that differs (served next time), at the end of the reply buffer, or where
// reply room runs out. Anything unusual (a padding or filler record, one
// the stage cannot hold, too little reply room, a broken index) and short
// runs are left to plan_batch. Returns, in every thread, whether it planned.
inline constexpr uint32_t kUniformMin = 8;
// Runs at least this long, of records up to kLaneMaxBytes, give each
// message one lane instead of one warp: many small messages then run side
// by side instead of one after another in each warp.
inline constexpr uint32_t kLaneMin = 32;
inline constexpr uint32_t kLaneMaxBytes = 1024;

template <class Team>
__device__ bool plan_uniform(const Team& team, Batch& b, const uint8_t* in, DeviceCursor& cur, shm::RingHeader* rep,
                             uint32_t out_cap) {
  const uint32_t tid = team.rank();
  if (tid == 0) {
    b.uniform_n = 0;
    const uint64_t cap = cur.ch.capacity, mask = cap - 1, max_record = cur.ch.max_record;
    const uint32_t len = load<uint32_t>(in), flags = load<uint32_t>(in + 4);
    if (b.span >= shm::kRecordHeaderBytes && flags == 0 && len <= max_record) {
      const uint64_t rb = shm::record_bytes(len);
      const uint32_t rcap = reply_room(len, max_record);
      const uint64_t need = shm::record_bytes(rcap);
      uint64_t n = b.span / rb;
      n = n < kMaxBatch ? n : kMaxBatch;
      n = n < out_cap / need ? n : out_cap / need;
      const uint64_t to_end = (cap - (cur.reply_tail & mask)) / need;  // the image must not wrap
      n = n < to_end ? n : to_end;
      uint64_t room = cap - (cur.reply_tail - cur.reply_head);
      if (n * need > room) {
        const uint64_t head = load_acquire(&rep->head);
        // A head past what we published is broken: plan_batch says so.
        room = cur.reply_tail - head <= cap ? cap - (cur.reply_tail - head) : 0;
        if (room) cur.reply_head = head;
      }
      n = n < room / need ? n : room / need;
      if (n >= kUniformMin) {
        b.uniform_n = uint32_t(n);
        b.uniform_len = len;
        b.uniform_rcap = rcap;
        b.uniform_rb = rb;
        b.uniform_need = need;
        b.first_bad = uint32_t(n);
      }
    }
  }
  team.sync();
  const uint32_t n = b.uniform_n, len = b.uniform_len;
  if (n == 0) return false;
  const uint64_t rb = b.uniform_rb, need = b.uniform_need;
  for (uint32_t i = tid; i < n; i += team.size()) {
    const uint8_t* h = in + i * rb;
    if (load<uint32_t>(h) != len || load<uint32_t>(h + 4) != 0) atomicMin(&b.first_bad, i);
  }
  team.sync();
  const uint32_t good = b.first_bad;
  if (good < kUniformMin) return false;
  const uint32_t rcap = b.uniform_rcap;
  for (uint32_t i = tid; i < good; i += team.size()) {
    b.req_off[i] = uint32_t(i * rb + shm::kRecordHeaderBytes);
    b.req_len[i] = len;
    b.rep_off[i] = uint32_t(i * need);
    b.rep_cap[i] = rcap;
  }
  if (tid == 0) {
    b.n = good;
    b.consumed = uint32_t(good * rb);
    b.out_bytes = uint32_t(good * need);
    b.pad_at = kNoPad;  // the image does not wrap
    b.per_lane = good >= kLaneMin && len <= kLaneMaxBytes;
  }
  team.sync();
  return true;
}

// In a multi-block kernel a channel may be served by its owner or, for a
// lone small span, by the scout (scout.cuh, serve_moved_inline): whoever
// claims it serves, from the cursor as the other left it, and releases it
// after publishing. A one-block kernel needs no claim: the scout is its
// block's own warp, which the rest of the block waits for.
__device__ inline bool claim_channel(DeviceCursor& c) {
  return compare_exchange_acquire_gpu(&c.busy, uint64_t(0), uint64_t(1));
}
__device__ inline void release_channel(DeviceCursor& c) { store_release_gpu(&c.busy, uint64_t(0)); }

// Writes the reply record's header, and a filler over the room it did not use.
__device__ inline void seal_reply(uint8_t* at, uint32_t cap, uint32_t bytes) {
  store<uint32_t>(at, bytes);
  store<uint32_t>(at + 4, 0);
  const uint64_t used = shm::record_bytes(bytes), room = shm::record_bytes(cap);
  if (room > used) {
    store<uint32_t>(at + used, uint32_t(room - used - shm::kRecordHeaderBytes));
    store<uint32_t>(at + used + 4, shm::kRecordFiller);
  }
}

// Reply rooms bigger than this on average are copied out record by record,
// only what the client reads: each reply and its filler's header. A 64 KiB
// reduce_sum request gets a 64 KiB room for a 56-byte sum, and copying
// whole rooms sent as many bytes back across PCIe as the requests brought.
// Small rooms go out as one wide copy of the whole image.
inline constexpr uint32_t kTrimRoomBytes = 1024;

// Copies the reply image `image` of batch `b` into the reply ring from
// `tail` on. The image may wrap once: a padding record then fills the end
// of the buffer; records themselves never cross it. kClearSource: zero
// what was copied (see team_copy).
template <bool kClearSource, class Team>
__device__ void copy_replies_out(const Team& team, const Batch& b, uint8_t* ring, uint64_t cap, uint64_t tail,
                                 uint8_t* image) {
  const uint64_t at = tail & (cap - 1);
  if (b.n == 0 || b.out_bytes / b.n <= kTrimRoomBytes) {
    const uint32_t first = uint32_t(b.out_bytes < cap - at ? b.out_bytes : cap - at);
    team_copy<false, kClearSource>(team, ring + at, image, first);
    team_copy<false, kClearSource>(team, ring, image + first, b.out_bytes - first);
    return;
  }
  // Each record's header goes last and is cleared only after a barrier:
  // every thread reads it for the record's size.
  for (uint32_t i = 0; i < b.n; ++i) {
    const uint8_t* record = image + b.rep_off[i];
    uint8_t* to = ring + ((at + b.rep_off[i]) & (cap - 1));
    const uint64_t used = shm::record_bytes(load<uint32_t>(record)), room = shm::record_bytes(b.rep_cap[i]);
    const uint32_t bytes = uint32_t(room > used ? used + shm::kRecordHeaderBytes : used);
    team_copy<false, kClearSource>(team, to + shm::kRecordHeaderBytes, record + shm::kRecordHeaderBytes,
                                   bytes - shm::kRecordHeaderBytes);
    if (team.rank() == 0) store<uint64_t>(to, load<uint64_t>(record));
  }
  if (b.pad_at != kNoPad && team.rank() == 0) store<uint64_t>(ring + at + b.pad_at, load<uint64_t>(image + b.pad_at));
  if constexpr (kClearSource) {
    team.sync();
    for (uint32_t i = team.rank(); i < b.n; i += team.size()) store<uint64_t>(image + b.rep_off[i], 0);
    if (b.pad_at != kNoPad && team.rank() == 0) store<uint64_t>(image + b.pad_at, 0);
  }
}

// One lane's tally of the messages it sealed, folded into the batch once
// per warp (shared-memory 64-bit atomics per message cost more than the
// handler's arithmetic).
struct Tally {
  uint64_t processed = 0, errors = 0, latency_sum = 0, latency_max = 0;
  uint16_t last_error = 0;
  __device__ void count(const Handled& h, uint64_t dt) {
    processed += 1;
    latency_sum += dt;
    if (dt > latency_max) latency_max = dt;
    if (h.status != 0) {
      errors += 1;
      last_error = h.status;
    }
  }
  // Every lane of the warp: lane 0 ends with the warp's sums.
  __device__ void fold_warp() {
    for (uint32_t o = 16; o > 0; o /= 2) {
      processed += __shfl_xor_sync(0xffffffffu, processed, o);
      errors += __shfl_xor_sync(0xffffffffu, errors, o);
      latency_sum += __shfl_xor_sync(0xffffffffu, latency_sum, o);
      const uint64_t m = __shfl_xor_sync(0xffffffffu, latency_max, o);
      if (m > latency_max) latency_max = m;
      const uint16_t e = uint16_t(__shfl_xor_sync(0xffffffffu, uint32_t(last_error), o));
      if (e) last_error = e;
    }
  }
  // `alone`: no other thread adds to `b` meanwhile.
  __device__ void add_to(Batch& b, bool alone) const {
    if (processed == 0) return;
    if (alone) {
      b.processed += processed;
      b.errors += errors;
      b.latency_sum += latency_sum;
      if (latency_max > b.latency_max) b.latency_max = latency_max;
    } else {
      atomicAdd(&b.processed, (unsigned long long)processed);
      atomicAdd(&b.errors, (unsigned long long)errors);
      atomicAdd(&b.latency_sum, (unsigned long long)latency_sum);
      atomicMax(&b.latency_max, (unsigned long long)latency_max);
    }
    if (last_error) b.last_error = last_error;
  }
};

// What one span did, for account_span.
struct SpanCounts {
  uint64_t processed, errors, latency_sum, latency_max;
  uint16_t last_error;
};

// Thread 0, right after a publish: a span's counts and its phase stamps
// (copy in began, copied, planned, handled, published) into the block's
// running totals, mirrored to its BlockStats every kMirrorEvery spans.
__device__ inline void account_span(BlockTelemetry& tel, BlockStats* st, const KernelArgs& a, const DeviceCursor& home,
                                    const SpanCounts& done, const uint64_t (&t)[5]) {
  tel.processed += done.processed;
  tel.errors += done.errors;
  tel.latency_sum += done.latency_sum;
  if (done.latency_max > tel.latency_max) tel.latency_max = done.latency_max;
  if (done.last_error) tel.last_error = done.last_error;
  ++tel.batches;
  for (int p = 0; p < 4; ++p) tel.phase_ns[p] += t[p + 1] - t[p];
  // Where a round trip goes outside the span: the scout's post to this
  // span's start, and this block's last publish to the next post.
  const uint64_t posted = a.shared->posted_at[&home - a.cursors];
  if (posted && t[0] > posted) tel.posted_to_serve += t[0] - posted;
  if (tel.last_publish && posted > tel.last_publish) tel.publish_to_posted += posted - tel.last_publish;
  tel.last_publish = t[4];
  tel.dirty = true;
  if (tel.batches % kMirrorEvery == 0) mirror_telemetry(tel, st);
}

// The block's two stages: device memory (big) and shared memory (small).
struct Stages {
  uint8_t* in;
  uint8_t* out;
  uint8_t* smem_in;
  uint8_t* smem_out;
  uint32_t in_bytes, out_bytes;
};

// Serves [cur.read, cur.read + avail) as far as stage and reply room allow.
// Every thread of the team calls it; the result is the same in all of
// them: true when requests were consumed. A WarpTeam serves only
// warp-per-message kernels, and only spans that fit the shared stage.
// `staged`: bytes of the span already in the shared stage (the lone-record
// path loaded them and found more than one record), not read again.
// kBlockPerMessage: the kernel gives the whole block to each message.
// kMultiBlock: other blocks and the scout may serve channels (claim_channel).
template <bool kBlockPerMessage, bool kMultiBlock, class Team, class Handler>
__device__ bool serve_channel(const Team& team, const KernelArgs& a, DeviceCursor& home, uint64_t avail, Batch& batch,
                              const Stages& stages, Handler& handler, double* reduce_scratch,
                              BlockTelemetry& tel, BlockStats* st, uint64_t staged = 0) {
  const uint32_t tid = team.rank();
  // The cursor comes into shared memory once, all its words in one go: the
  // walk below reads its fields again and again, and after the scout's
  // acquire none of them is in L1. What moved goes back at the publish.
  // In a multi-block kernel any channel may have been served last by the
  // scout, from another SM (claim_channel): its cursor comes from L2, not
  // L1. A one-block kernel's cursors only ever move on its one SM.
  static_assert(sizeof(DeviceCursor) % 8 == 0 && sizeof(DeviceCursor) / 8 <= 32);
  const bool shared_slot = kMultiBlock;  // block 0, whose cursors stay on one SM, owns none
  if (tid < sizeof(DeviceCursor) / 8) {
    const uint64_t* from_home = reinterpret_cast<const uint64_t*>(&home) + tid;
    reinterpret_cast<uint64_t*>(&batch.cur)[tid] = shared_slot ? load_relaxed_gpu(from_home) : *from_home;
  }
  team.sync();
  DeviceCursor& cur = batch.cur;
  const DeviceChannel& ch = cur.ch;
  auto* req = reinterpret_cast<shm::RingHeader*>(ch.request_ring);
  auto* rep = reinterpret_cast<shm::RingHeader*>(ch.reply_ring);
  const uint8_t* from = reinterpret_cast<const uint8_t*>(ch.request_data) + (cur.read & (ch.capacity - 1));
  // The reply image starts at the same offset mod 16 as the reply tail, so
  // that its copy out stores whole 16-byte words (team_copy). (An unaligned
  // tail breaks the channel, below.)
  const uint32_t out_shift = uint32_t(cur.reply_tail & 8);
  uint8_t* const smem_out = stages.smem_out + out_shift;
  const uint32_t smem_out_bytes = kSmemStageOut - out_shift;
  if (tid == 0) {
    batch.n = 0;
    batch.span = 0;
    batch.broken = 0;
    batch.consumed = 0;
    batch.in_global = 0;
    // The indices came from the client's ring headers when the channel was
    // bound: one not 8-aligned would make the copies below fault the GPU.
    if (avail > ch.capacity || avail % 8 != 0 || cur.read % 8 != 0 || cur.reply_tail % 8 != 0) {
      batch.broken = 1;
    } else {
      const uint64_t room = ch.capacity - (cur.read & (ch.capacity - 1));
      batch.contiguous = uint32_t(room < avail ? room : avail);
      batch.span = batch.contiguous < kSmemStageIn ? batch.contiguous : kSmemStageIn;
    }
  }
  team.sync();
  if (batch.broken || batch.span == 0) {
    team.sync();
    return false;  // a broken channel is left alone until its session is closed
  }
  const uint64_t t0 = tid == 0 ? globaltimer() : 0;
  if (batch.span > staged) copy_requests_in(team, a, stages.smem_in, from, batch.span);
  team.sync();
  const uint64_t t1 = tid == 0 ? globaltimer() : 0;
  if (tid == 0) {
    batch.processed = batch.errors = batch.latency_sum = batch.latency_max = 0;
    batch.last_error = 0;
    batch.per_lane = 0;
  }
  // Only the whole block plans runs and serves a lane per message: the
  // scout's warp serves a few records, and with those paths compiled into
  // its copy a lone message took 2.7 µs longer (11.1 vs 8.4 µs on an H200).
  bool uniform = false;
  if constexpr (Team::kWholeBlock) uniform = plan_uniform(team, batch, stages.smem_in, cur, rep, smem_out_bytes);
  if (!uniform) {
    if (tid == 0) {
      plan_batch(batch, stages.smem_in, cur, ch, rep, smem_out, smem_out_bytes, kMaxBatch, tel.backpressure);
      if (batch.in_global) {
        batch.span = batch.contiguous < stages.in_bytes ? batch.contiguous : stages.in_bytes;
        batch.n = 0;
      }
    }
    team.sync();
  }
  uint8_t* in_stage = stages.smem_in;
  uint8_t* out_stage = smem_out;
  if (batch.in_global) {  // the same in every thread
    // Read in place across PCIe by the handlers instead (tried): 16.1 vs
    // 19.6 GB/s of 64 KiB requests consumed by 8 blocks; the copy keeps
    // more loads in flight than a handler's element loads. The part
    // already in shared memory is not read across PCIe again.
    in_stage = stages.in;
    out_stage = stages.out + out_shift;
    const uint32_t have = batch.contiguous < kSmemStageIn ? batch.contiguous : kSmemStageIn;
    team_copy(team, in_stage, stages.smem_in, have);
    copy_requests_in(team, a, in_stage + have, from + have, batch.span - have);
    team.sync();
    if (tid == 0)
      plan_batch(batch, in_stage, cur, ch, rep, out_stage, stages.out_bytes - out_shift, kMaxBatch, tel.backpressure);
    team.sync();
  }
  if (batch.n == 0 && batch.consumed == 0) {
    team.sync();
    return false;  // held back: no reply room (or broken)
  }
  const uint64_t t2 = tid == 0 ? globaltimer() : 0;
  Tally tally;
  // The whole block per message: the kernel's mode, or, for a warp-per-
  // message kernel, records too big for the shared stage (one warp would
  // take 8x as long over 64 KiB).
  auto block_per_message = [&] {
    for (uint32_t i = 0; i < batch.n; ++i) {
      const uint64_t began = globaltimer();
      Context ctx = Context::for_block(a.instance, a.state, a.state_bytes, reduce_scratch);
      uint8_t* out = out_stage + batch.rep_off[i];
      if (!batch.in_global) {  // the device-memory stage is kept all-zero
        zero_reply(out, batch.rep_cap[i], tid, team.size());
        team.sync();
      }
      Handled h = handle_message(handler, ctx, in_stage + batch.req_off[i], batch.req_len[i],
                                 out + shm::kRecordHeaderBytes, batch.rep_cap[i], true);
      team.sync();
      if (tid == 0) {
        seal_reply(out, batch.rep_cap[i], h.reply_bytes);
        tally.count(h, globaltimer() - began);
      }
      team.sync();
    }
    if (tid == 0) tally.add_to(batch, true);
  };
  if constexpr (kBlockPerMessage) {
    block_per_message();
  } else if (Team::kWholeBlock && batch.in_global) {
    if constexpr (Team::kWholeBlock) block_per_message();
  } else if (Team::kWholeBlock && batch.per_lane) {
    // One lane per message (a long run of small records).
    for (uint32_t i = tid; i < batch.n; i += team.size()) {
      const uint64_t began = globaltimer();
      Context ctx(a.instance, a.state, a.state_bytes);
      uint8_t* out = out_stage + batch.rep_off[i];
      Handled h = handle_message(handler, ctx, in_stage + batch.req_off[i], batch.req_len[i],
                                 out + shm::kRecordHeaderBytes, batch.rep_cap[i]);
      seal_reply(out, batch.rep_cap[i], h.reply_bytes);
      tally.count(h, globaltimer() - began);
    }
    tally.fold_warp();
    if (tid % 32 == 0) tally.add_to(batch, team.warps() == 1);
  } else {
    // One warp per message: the lanes share its copies (coalesced) and read
    // its headers together (one broadcast load each), and the block's
    // warps take messages in turn.
    for (uint32_t i = team.warp(); i < batch.n; i += team.warps()) {
      const uint64_t began = globaltimer();
      Context ctx = Context::for_warp(a.instance, a.state, a.state_bytes);
      uint8_t* out = out_stage + batch.rep_off[i];
      zero_reply(out, batch.rep_cap[i], ctx.lane(), 32);
      __syncwarp();
      Handled h = handle_message(handler, ctx, in_stage + batch.req_off[i], batch.req_len[i],
                                 out + shm::kRecordHeaderBytes, batch.rep_cap[i], true);
      __syncwarp();
      if (ctx.lane() == 0) {
        seal_reply(out, batch.rep_cap[i], h.reply_bytes);
        tally.count(h, globaltimer() - began);
      }
    }
    if (tid % 32 == 0) tally.add_to(batch, team.warps() == 1);
  }
  team.sync();
  const uint64_t t3 = tid == 0 ? globaltimer() : 0;
  // Replies out. The device-memory stage is left all-zero behind them, so
  // the next span's builders there need not zero their rooms first (a
  // 64 KiB room each for reduce_sum) and whatever a builder did not write
  // stays zero. Everything a handler, seal_reply or the plan writes lies in
  // what is copied: the reply, its filler's header, the padding header.
  // That holds because builders write only inside their allocations and
  // MessageBuilder::rewind (Reply::fail) zeroes what it drops.
  if (batch.in_global) copy_replies_out<true>(team, batch, ring_buffer(rep), ch.capacity, cur.reply_tail, out_stage);
  else copy_replies_out<false>(team, batch, ring_buffer(rep), ch.capacity, cur.reply_tail, out_stage);
  // The barrier orders every thread's reply stores before thread 0's fence
  // (fences are cumulative), and that one fence orders them, and our reads
  // of the requests, before the new tail and head.
  team.sync();
  if (tid == 0) {
    cur.reply_tail += batch.out_bytes;
    cur.read += batch.consumed;
    publish_span(home, req, rep, cur.read, cur.reply_tail, cur.reply_head);
    account_span(tel, st, a, home, SpanCounts{batch.processed, batch.errors, batch.latency_sum, batch.latency_max,
                                              uint16_t(batch.last_error)},
                 {t0, t1, t2, t3, globaltimer()});
  }
  team.sync();
  return true;
}

}  // namespace rk::server::gpu
