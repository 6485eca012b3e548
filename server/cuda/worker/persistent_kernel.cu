// The persistent kernel: launched once per instance, it loops on the GPU,
// reading request records straight from the clients' rings in mapped host
// memory and writing replies straight into their reply rings, until the
// control page says terminate.
//
// One block serves the channels i with i % gridDim.x == blockIdx.x. Per
// round, thread 0 reads the command words and the instance's bell (three
// loads issued together: one PCIe round trip); only when the bell moved, or
// the last round found work, does the block sweep its channels. A sweep of
// a channel copies a span of request records into the block's stage with
// all threads (wide, many loads in flight), lets thread 0 walk the record
// headers on-chip, reserves reply room for each message, runs the handlers
// (one lane per message, or the whole block per message), and copies the
// replies out with all threads. Indices are published with system-scope
// release stores; nothing does a read-modify-write on host memory.
#include <cuda/atomic>

#include "kernels/builtin/builtins.h"
#include "kernels/sdk/dispatch.h"
#include "server/cuda/worker/persistent_kernel.h"
#include "shm/ring_layout.h"

namespace rk::server::gpu {

namespace {

constexpr uint32_t kMaxBatch = 1024;
constexpr uint32_t kSpinRounds = 20000;   // ~20-40 ms of polling before backing off
constexpr uint32_t kIdleSleepNs = 1000;

template <class T>
__device__ T load_acquire(const T* p) {
  return cuda::atomic_ref<T, cuda::thread_scope_system>(*const_cast<T*>(p)).load(cuda::std::memory_order_acquire);
}
template <class T>
__device__ T load_relaxed(const T* p) {
  return cuda::atomic_ref<T, cuda::thread_scope_system>(*const_cast<T*>(p)).load(cuda::std::memory_order_relaxed);
}
template <class T>
__device__ void store_release(T* p, T v) {
  cuda::atomic_ref<T, cuda::thread_scope_system>(*p).store(v, cuda::std::memory_order_release);
}
template <class T>
__device__ void store_relaxed(T* p, T v) {
  cuda::atomic_ref<T, cuda::thread_scope_system>(*p).store(v, cuda::std::memory_order_relaxed);
}

__device__ uint64_t globaltimer() {
  uint64_t t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
}

__device__ uint8_t* ring_buffer(shm::RingHeader* h) { return reinterpret_cast<uint8_t*>(h) + sizeof(shm::RingHeader); }

// Copies n bytes (8-aligned) with every thread of the block, 4 loads in
// flight per thread so PCIe reads overlap.
__device__ void block_copy(uint8_t* dst, const uint8_t* src, uint32_t n) {
  const uint64_t* s = reinterpret_cast<const uint64_t*>(src);
  uint64_t* d = reinterpret_cast<uint64_t*>(dst);
  const uint32_t words = n / 8, stride = blockDim.x;
  uint32_t i = threadIdx.x;
  for (; i + 3 * stride < words; i += 4 * stride) {
    uint64_t a = s[i], b = s[i + stride], c = s[i + 2 * stride], e = s[i + 3 * stride];
    d[i] = a;
    d[i + stride] = b;
    d[i + 2 * stride] = c;
    d[i + 3 * stride] = e;
  }
  for (; i < words; i += stride) d[i] = s[i];
}

struct Batch {
  uint32_t n;
  uint32_t consumed;   // request bytes used up (records, fillers, padding)
  uint32_t out_bytes;  // reply image bytes
  uint32_t span;       // request bytes staged
  uint32_t broken;
  uint32_t req_off[kMaxBatch], req_len[kMaxBatch], rep_off[kMaxBatch], rep_cap[kMaxBatch];
};

// Thread 0: walk the staged records, reserve reply room for each one.
__device__ void plan_batch(Batch& b, const uint8_t* in, DeviceCursor& cur, const DeviceChannel& ch,
                           shm::RingHeader* rep, uint8_t* out, uint32_t out_cap, uint32_t max_batch,
                           uint64_t& backpressure) {
  const uint64_t cap = ch.capacity, mask = cap - 1;
  const uint64_t off0 = cur.read & mask;
  uint32_t pos = 0, n = 0, out_used = 0;
  uint64_t rep_pos = cur.reply_tail;
  while (pos + shm::kRecordHeaderBytes <= b.span && n < max_batch) {
    const uint32_t len = load<uint32_t>(in + pos), flags = load<uint32_t>(in + pos + 4);
    if (flags & shm::kRecordPadding) {
      const uint64_t here = off0 + pos;
      if (here == 0 || flags != shm::kRecordPadding || len != cap - here - shm::kRecordHeaderBytes) b.broken = 1;
      else pos = b.span;  // the padding runs to the end of the buffer = end of the span
      break;
    }
    if (flags & shm::kRecordReservedMask) { b.broken = 1; break; }
    const uint64_t rb = shm::record_bytes(len);
    if (pos + rb > b.span) {
      // The stage holds any whole record that starts it, and a record never
      // crosses the buffer's end: one that starts the span and does not fit
      // runs past the published tail.
      if (pos == 0) b.broken = 1;
      break;  // else: staged next round
    }
    if (flags & shm::kRecordFiller) { pos += uint32_t(rb); continue; }
    if (len > ch.max_record) { b.broken = 1; break; }
    const uint32_t rcap = len + kReplySlack < ch.max_record ? len + kReplySlack : ch.max_record;
    const uint64_t need = shm::record_bytes(rcap);
    uint64_t pad = 0;
    if ((rep_pos & mask) + need > cap) pad = cap - (rep_pos & mask);
    if (rep_pos + pad + need - cur.reply_head > cap) {
      const uint64_t head = load_acquire(&rep->head);
      // The client owns head: it may release only what we published.
      if (cur.reply_tail - head > cap) { b.broken = 1; break; }
      cur.reply_head = head;
      if (rep_pos + pad + need - cur.reply_head > cap) { ++backpressure; break; }
    }
    if (out_used + pad + need > out_cap) break;
    if (pad) {
      store<uint32_t>(out + out_used, uint32_t(pad - shm::kRecordHeaderBytes));
      store<uint32_t>(out + out_used + 4, shm::kRecordPadding);
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
}

// Writes the reply record's header, and a filler over the room it did not use.
__device__ void seal_reply(uint8_t* at, uint32_t cap, uint32_t bytes) {
  store<uint32_t>(at, bytes);
  store<uint32_t>(at + 4, 0);
  const uint64_t used = shm::record_bytes(bytes), room = shm::record_bytes(cap);
  if (room > used) {
    store<uint32_t>(at + used, uint32_t(room - used - shm::kRecordHeaderBytes));
    store<uint32_t>(at + used + 4, shm::kRecordFiller);
  }
}

struct BlockTelemetry {
  uint64_t processed, errors, latency_sum, latency_max, backpressure;
  uint16_t last_error;
};

}  // namespace

__global__ void persistent_kernel(KernelArgs a) {
  extern __shared__ double reduce_scratch[];
  __shared__ Batch batch;
  __shared__ uint32_t s_active, s_terminate, s_sweep, s_table_changed, s_mine_count;
  __shared__ uint16_t s_mine[kMaxChannels];
  __shared__ uint64_t s_tail[kMaxChannels];  // request tails of my channels, read together
  __shared__ uint64_t s_table_epoch;
  __shared__ unsigned long long s_processed, s_errors, s_lat_sum, s_lat_max;
  __shared__ uint32_t s_last_error;

  const uint32_t tid = threadIdx.x;
  ControlBlock* cb = &a.control->cb;
  BlockStats* st = &a.control->blocks[blockIdx.x];
  uint8_t* in_stage = a.scratch + size_t(blockIdx.x) * (a.stage_in + a.stage_out);
  uint8_t* out_stage = in_stage + a.stage_in;
  const auto which = static_cast<rk::builtin::Builtin>(a.builtin);
  auto handler = [which](Context& c, MessageView in, Reply& out) { rk::builtin::run_builtin(which, c, in, out); };

  uint64_t seen_table = ~0ull, last_bell = ~0ull;
  uint32_t idle_rounds = 0, round_count = 0;
  bool busy = true;  // sweep on the first round
  BlockTelemetry tel{};

  if (tid == 0) s_mine_count = 0;
  for (;;) {
    if (tid == 0) {
      // Issued together, then one fence: a single PCIe round trip.
      const uint32_t active = load_relaxed(&cb->active);
      const uint32_t terminate = load_relaxed(&cb->terminate_requested);
      const uint64_t table_epoch = load_relaxed(&cb->table_epoch);
      const uint32_t bell = load_relaxed(&a.bell->bell.seq);
      cuda::atomic_thread_fence(cuda::std::memory_order_acquire, cuda::thread_scope_system);
      s_active = active;
      s_terminate = terminate;
      s_table_changed = table_epoch != seen_table;
      s_table_epoch = table_epoch;
      // Also every 256th round: a client could clear the bell's polled bit,
      // and a stuck bell must not stall the other clients of the kernel.
      s_sweep = busy || bell != last_bell || terminate || s_table_changed || (++round_count & 255) == 0;
      last_bell = bell;
      store_relaxed(&st->heartbeat_ns, globaltimer());
    }
    __syncthreads();

    if (s_table_changed) {
      if (tid == 0) {
        const uint32_t count = load_relaxed(&a.table->count);
        uint32_t mine = 0;
        for (uint32_t i = blockIdx.x; i < count && i < kMaxChannels; i += gridDim.x) {
          const DeviceChannel& ch = a.table->channels[i];
          if (!ch.live) continue;
          DeviceCursor& cur = a.cursors[i];
          cur.ch = ch;              // one PCIe read of the entry, then device memory
          if (cur.key != ch.key) {  // a channel new to this slot: start where its rings stand
            auto* req = reinterpret_cast<shm::RingHeader*>(ch.request_ring);
            auto* rep = reinterpret_cast<shm::RingHeader*>(ch.reply_ring);
            cur.key = ch.key;
            cur.read = load_acquire(&req->head);
            cur.reply_tail = load_acquire(&rep->tail);
            cur.reply_head = load_acquire(&rep->head);
          }
          s_mine[mine++] = uint16_t(i);
        }
        s_mine_count = mine;
        seen_table = s_table_epoch;
        // Acknowledge: from now on this block reads only the new table.
        store_release(&st->seen_table_epoch, seen_table);
      }
      __syncthreads();
    }

    bool worked = false;
    if (s_active && s_sweep) {
      // Warp 0 reads every channel's request tail at once: one PCIe round
      // trip per 32 channels, however many of them are idle.
      if (tid < 32) {
        for (uint32_t k = tid; k < s_mine_count; k += 32) {
          const DeviceCursor& c = a.cursors[s_mine[k]];
          s_tail[k] = load_relaxed(&reinterpret_cast<shm::RingHeader*>(c.ch.request_ring)->tail);
        }
        cuda::atomic_thread_fence(cuda::std::memory_order_acquire, cuda::thread_scope_system);
      }
      __syncthreads();
      for (uint32_t k = 0; k < s_mine_count; ++k) {
        const uint32_t idx = s_mine[k];
        DeviceCursor& cur = a.cursors[idx];
        if (s_tail[k] == cur.read) continue;  // idle channel (same answer in every thread)
        const DeviceChannel& ch = cur.ch;
        auto* req = reinterpret_cast<shm::RingHeader*>(ch.request_ring);
        auto* rep = reinterpret_cast<shm::RingHeader*>(ch.reply_ring);
        __syncthreads();  // everyone has read cur.read before thread 0 moves on
        if (tid == 0) {
          batch.n = 0;
          batch.span = 0;
          batch.broken = 0;
          const uint64_t avail = s_tail[k] - cur.read;
          if (avail > ch.capacity || avail % 8 != 0) {
            batch.broken = 1;
          } else if (avail != 0) {
            const uint64_t off = cur.read & (ch.capacity - 1);
            uint64_t span = ch.capacity - off;
            if (span > avail) span = avail;
            if (span > a.stage_in) span = a.stage_in;
            batch.span = uint32_t(span);
          }
        }
        __syncthreads();
        if (batch.broken || batch.span == 0) {
          __syncthreads();
          continue;  // a broken channel is left alone; its session gets closed by the server
        }
        block_copy(in_stage, ring_buffer(req) + (cur.read & (ch.capacity - 1)), batch.span);
        __syncthreads();
        if (tid == 0) {
          plan_batch(batch, in_stage, cur, ch, rep, out_stage, a.stage_out,
                     a.block_per_message ? kMaxBatch : (blockDim.x < kMaxBatch ? blockDim.x : kMaxBatch),
                     tel.backpressure);
          s_processed = s_errors = s_lat_sum = s_lat_max = 0;
          s_last_error = 0;
        }
        __syncthreads();
        if (batch.n == 0 && batch.consumed == 0) {
          __syncthreads();
          continue;  // held back: no reply room
        }
        if (!a.block_per_message) {
          for (uint32_t i = tid; i < batch.n; i += blockDim.x) {
            const uint64_t t0 = globaltimer();
            Context ctx(a.instance, a.state, a.state_bytes);
            uint8_t* out = out_stage + batch.rep_off[i];
            Handled h = handle_message(handler, ctx, in_stage + batch.req_off[i], batch.req_len[i],
                                       out + shm::kRecordHeaderBytes, batch.rep_cap[i]);
            seal_reply(out, batch.rep_cap[i], h.reply_bytes);
            const uint64_t dt = globaltimer() - t0;
            atomicAdd(&s_processed, 1ull);
            atomicAdd(&s_lat_sum, (unsigned long long)dt);
            atomicMax(&s_lat_max, (unsigned long long)dt);
            if (h.status != 0) {
              atomicAdd(&s_errors, 1ull);
              s_last_error = h.status;
            }
          }
        } else {
          for (uint32_t i = 0; i < batch.n; ++i) {
            const uint64_t t0 = globaltimer();
            Context ctx = Context::for_block(a.instance, a.state, a.state_bytes, reduce_scratch);
            uint8_t* out = out_stage + batch.rep_off[i];
            Handled h = handle_message(handler, ctx, in_stage + batch.req_off[i], batch.req_len[i],
                                       out + shm::kRecordHeaderBytes, batch.rep_cap[i]);
            __syncthreads();
            if (tid == 0) {
              seal_reply(out, batch.rep_cap[i], h.reply_bytes);
              const uint64_t dt = globaltimer() - t0;
              s_processed += 1;
              s_lat_sum += dt;
              if (dt > s_lat_max) s_lat_max = dt;
              if (h.status != 0) {
                s_errors += 1;
                s_last_error = h.status;
              }
            }
            __syncthreads();
          }
        }
        __syncthreads();
        // Replies out: the image starts at the reply tail and may wrap once
        // (a padding record then fills the end of the buffer).
        {
          const uint64_t cap = ch.capacity, at = cur.reply_tail & (cap - 1);
          const uint32_t first = uint32_t(batch.out_bytes < cap - at ? batch.out_bytes : cap - at);
          block_copy(ring_buffer(rep) + at, out_stage, first);
          if (batch.out_bytes > first) block_copy(ring_buffer(rep), out_stage + first, batch.out_bytes - first);
          // Each writer orders its reply bytes before thread 0's tail store.
          cuda::atomic_thread_fence(cuda::std::memory_order_release, cuda::thread_scope_system);
        }
        __syncthreads();
        if (tid == 0) {
          cur.reply_tail += batch.out_bytes;
          cur.read += batch.consumed;
          // Release: the reply bytes (all threads' stores, ordered by the
          // barrier above) before the new tail; our reads before the new head.
          cuda::atomic_thread_fence(cuda::std::memory_order_release, cuda::thread_scope_system);
          store_release(&rep->tail, cur.reply_tail);
          store_release(&req->head, cur.read);
          tel.processed += s_processed;
          tel.errors += s_errors;
          tel.latency_sum += s_lat_sum;
          if (s_lat_max > tel.latency_max) tel.latency_max = s_lat_max;
          if (s_last_error) tel.last_error = uint16_t(s_last_error);
          store_relaxed(&st->processed, tel.processed);
          store_relaxed(&st->errors, tel.errors);
          store_relaxed(&st->latency_sum_ns, tel.latency_sum);
          store_relaxed(&st->latency_max_ns, tel.latency_max);
          store_relaxed(&st->last_error, tel.last_error);
        }
        worked = true;
        __syncthreads();
      }
    }

    if (s_terminate && !worked) break;  // drained (or inactive): leave
    busy = worked;
    if (worked) {
      idle_rounds = 0;
    } else if (++idle_rounds > kSpinRounds) {
      // Long idle: back off so an idle GPU does not burn power, bounded so
      // new work is still seen within a few microseconds. Recently busy
      // blocks only poll (each poll is a PCIe round trip anyway).
      if (tid == 0) {
        store_relaxed(&st->backpressure, tel.backpressure);
        store_relaxed(&st->parked, 1u);
      }
      __nanosleep(kIdleSleepNs);
    }
    if (worked && tid == 0) store_relaxed(&st->parked, 0u);
  }
  if (tid == 0) store_release(&st->exited, uint16_t(1));
}

// Faults at once: an illegal address (a sticky error for the context), and
// a trap should the write somehow land.
__global__ void trap_kernel() {
  *reinterpret_cast<volatile int*>(uintptr_t(8)) = 1;
  __trap();
}

size_t persistent_kernel_smem(uint32_t block) { return size_t(block) * sizeof(double); }

cudaError_t persistent_kernel_blocks_per_sm(uint32_t block, int* out) {
  return cudaOccupancyMaxActiveBlocksPerMultiprocessor(out, persistent_kernel, int(block),
                                                       persistent_kernel_smem(block));
}

cudaError_t launch_persistent_kernel(const KernelArgs& args, uint32_t grid, uint32_t block, cudaStream_t stream) {
  persistent_kernel<<<grid, block, persistent_kernel_smem(block), stream>>>(args);
  return cudaGetLastError();
}

cudaError_t launch_trap_kernel(cudaStream_t stream) {
  trap_kernel<<<1, 1, 0, stream>>>();
  return cudaGetLastError();
}

}  // namespace rk::server::gpu
