// The persistent kernel: launched once per instance, it loops on the GPU,
// reading request records straight from the clients' rings in mapped host
// memory and writing replies straight into their reply rings, until the
// control page says terminate.
//
// One warp polls host memory (the scout, block 0's warp 0: scout.cuh) and
// posts moved request tails to the blocks through device memory. Each
// channel slot belongs to one block (channel_owner.cuh: with a grid over
// 1, block 0 is the scout's alone), which serves it (channel_batch.cuh);
// the scout may serve a lone small span itself, after claiming the channel
// (one-block kernel: no claim, the scout is its only block's warp 0). So
// PCIe carries one poll per round per kernel, not one per block or per
// channel, and a lone message costs two round trips to find and read.
// Nothing does a read-modify-write on host memory.
#include <cstdio>

#include "kernels/builtin/builtins.h"
#include "server/cuda/worker/channel_batch.cuh"
#include "server/cuda/worker/channel_owner.cuh"
#include "server/cuda/worker/lone_record.cuh"
#include "server/cuda/worker/persistent_kernel.h"
#include "server/cuda/worker/scout.cuh"

namespace rk::server::gpu {

namespace {

constexpr uint32_t kSpinRounds = 20000;   // block 0: ~20-40 ms of polling before backing off
constexpr uint32_t kIdleSleepNs = 1000;   // bounded: new work is still seen within a few µs
constexpr uint32_t kWorkerSpinRounds = 2000;
constexpr uint32_t kWorkerSleepNs = 256;  // other blocks poll L2 only
constexpr uint32_t kStalledRetryRounds = 4;  // each retry may cost a PCIe read of the reply head
constexpr uint64_t kHeartbeatNs = 1'000'000;  // %globaltimer stamp in BlockStats at most this often
// Scout rounds per trip round block 0's loop (heartbeat, idle telemetry):
// a trip holds the caller whose request lands meanwhile ~2 µs back, so
// with 64 it was 1.5 % of a lone caller's round trips (an H100's round log).
constexpr uint32_t kScoutBudget = 1024;

// Block-wide state in shared memory, besides the scout's.
struct BlockState {
  uint16_t mine[kMaxChannels];   // slots this block owns
  uint64_t avail[kMaxChannels];  // request bytes posted and not yet read, per owned slot
  uint64_t polled_read[kMaxChannels];  // the read position avail[] was counted from
  uint32_t mine_count;
  uint32_t work;                 // some avail[] != 0
  uint32_t refresh;              // the channel table moved on
  uint32_t quit;
  uint32_t posted;               // block 0: the scout posted something this round
  uint32_t stalled;              // some owned channel waits for reply room (or is broken)
  uint64_t seen_table_epoch;
};

// Thread 0: re-reads this block's slots from the mapped table (rare). A
// slot with a new key starts where its rings stand. Acknowledges the host's
// epoch read before the table, so the worker knows when no block reads a
// dropped channel any more.
__device__ void refresh_own_channels(BlockState& b, const KernelArgs& a, BlockStats* st) {
  const uint64_t epoch = load_acquire(&a.control->cb.table_epoch);
  const uint32_t count = load_acquire(&a.table->count);
  uint32_t mine = 0;
  for (uint32_t i = first_owned_slot(); i < count && i < kMaxChannels; i += owned_slot_step()) {
    const DeviceChannel& entry = a.table->channels[i];
    if (!load_acquire(&entry.live)) continue;
    DeviceCursor& cur = a.cursors[i];
    cur.ch.request_ring = load_relaxed(&entry.request_ring);
    cur.ch.request_data = load_relaxed(&entry.request_data);
    cur.ch.reply_ring = load_relaxed(&entry.reply_ring);
    cur.ch.capacity = load_relaxed(&entry.capacity);
    cur.ch.max_record = load_relaxed(&entry.max_record);
    cur.ch.unordered_replies = load_relaxed(&entry.unordered_replies);
    const uint64_t key = load_relaxed(&entry.key);
    cur.ch.key = key;
    cur.ch.live = 1;
    if (cur.key != key) {
      auto* req = reinterpret_cast<shm::RingHeader*>(cur.ch.request_ring);
      auto* rep = reinterpret_cast<shm::RingHeader*>(cur.ch.reply_ring);
      cur.read = load_acquire(&req->head);
      cur.reply_tail = load_acquire(&rep->tail) & ~shm::kTailUnordered;
      cur.reply_head = load_acquire(&rep->head);
      cur.stalled = 0;
      store_release_gpu(&cur.key, key);
    }
    b.mine[mine++] = uint16_t(i);
  }
  b.mine_count = mine;
  b.seen_table_epoch = epoch;
  store_release(&st->seen_table_epoch, epoch);
}

// What a pending word says is left to serve past `read`: 0 when the word
// is another channel's, or behind `read`. The scout serves a lone caller
// before it posts the tail (scout.cuh, "serve first"), so an owner may see
// the new read position beside the old word. A tail far ahead (a broken
// one) still reads as more than the ring holds, for serve_channel to judge.
__device__ inline uint64_t posted_span(uint64_t word, uint64_t key, uint64_t read, uint64_t capacity) {
  if ((word >> kPendingTailBits) != (key & 0xffffu)) return 0;
  const uint64_t tail = word & kPendingTailMask, behind = (read - tail) & kPendingTailMask;
  if (behind != 0 && behind <= capacity) return 0;
  return (tail - read) & kPendingTailMask;
}

// Warp 0: which owned channels have posted work; also the scout's table
// epoch and quit word (device memory, L2).
__device__ void poll_owned(BlockState& b, const KernelArgs& a, uint32_t lane, uint32_t round) {
  bool work = false, stalled = false;
  for (uint32_t k = lane; k < b.mine_count; k += 32) {
    const DeviceCursor& cur = a.cursors[b.mine[k]];
    const uint64_t p = load_acquire_gpu(&a.pending[b.mine[k]]);
    const uint64_t read = cur.read;
    uint64_t avail = posted_span(p, cur.key, read, cur.ch.capacity);
    b.polled_read[k] = read;
    // A stalled channel (no reply room, or broken) is retried now and then:
    // its client frees reply room without telling the GPU.
    const bool stuck = avail && cur.stalled == cur.read + 1;
    if (stuck && round % kStalledRetryRounds != 0) avail = 0;
    b.avail[k] = avail;
    work |= avail != 0;
    stalled |= stuck;
  }
  work = __any_sync(0xffffffffu, work);
  stalled = __any_sync(0xffffffffu, stalled);
  if (lane == 0) {
    b.work = work;
    b.stalled = stalled;
    if (blockIdx.x != 0) {
      b.quit = load_acquire_gpu(&a.shared->quit);
      b.refresh = load_acquire_gpu(&a.shared->table_epoch) != b.seen_table_epoch;
    }
  }
}

// Thread 0 of a block other than 0: claims an owned channel with posted
// work (`avail` bytes from `polled_read` when polled) and returns what is
// left of it now, or 0 (and no claim held) when the scout holds it or has
// served it. The scout serves up to a tail it posted or is about to post,
// so what it left is the polled span less how far the read position moved
// meanwhile. An `avail` beyond the capacity is either a broken tail or a
// poll that read the pending word just before the scout posted and served
// past it: the word, read again, tells which.
__device__ uint64_t claim_owned(const KernelArgs& a, uint32_t slot, DeviceCursor& cur, uint64_t polled_read,
                                uint64_t avail) {
  if (!claim_channel(cur)) return 0;
  const uint64_t read = load_relaxed_gpu(&cur.read);
  const uint64_t moved = (read - polled_read) & kPendingTailMask;
  uint64_t left = moved < avail ? avail - moved : 0;
  if (left > cur.ch.capacity) {
    left = posted_span(load_acquire_gpu(&a.pending[slot]), cur.key, read, cur.ch.capacity);
  }
  if (left == 0) release_channel(cur);
  return left;
}

}  // namespace

// One kernel per built-in: the handler and the serving mode are
// compile-time choices, so each kernel holds one handler's code on the
// paths it uses (echo's kernel is 165 KB of code, the kernel that switched
// at run time was 358 KB) and no branch on the kind of kernel per message.
// kMultiBlock (a grid over 1): blocks other than 0 own channels, which the
// scout may serve too (claim_channel). A one-block kernel has none of that
// code: with it, a lone message took 1.8 µs longer (10.8 vs 9.0 µs).
template <rk::builtin::Builtin kWhich, bool kMultiBlock>
// `a` is __grid_constant__: the lambdas below take it by reference, and a
// plain by-value parameter whose address is taken is copied to local memory
// (each use then a load that the scout's acquires send to L2).
__global__ void __launch_bounds__(kMaxBlockThreads, 1) persistent_kernel(const __grid_constant__ KernelArgs a) {
  constexpr bool kBlockPerMessage = rk::builtin::block_per_message(kWhich);
  extern __shared__ __align__(16) double reduce_scratch[];  // 16: the stages after it take 16-byte stores
  __shared__ Batch batch;
  __shared__ BlockState b;
  __shared__ ScoutState scout;
  // In shared memory: the scout's warp and the lone server (warp 1) both
  // account their spans in it, never at once (lone_server.cuh).
  __shared__ BlockTelemetry tel;
  // Warp 1 serves the scout's lone records: one-block kernels of warp-sized messages.
  constexpr bool kLoneServer = !kMultiBlock && !kBlockPerMessage;

  const uint32_t tid = threadIdx.x, lane = tid % 32;
  const bool scout_block = blockIdx.x == 0;
  BlockStats* st = &a.control->blocks[blockIdx.x];
  Stages stages;
  stages.in = a.scratch + size_t(blockIdx.x) * (a.stage_in + a.stage_out);
  stages.out = stages.in + a.stage_in;
  stages.in_bytes = a.stage_in;
  stages.out_bytes = a.stage_out;
  // The inline path uses these, not `stages`: serve_channel takes
  // `stages` by reference and is not inlined, so `stages` lives in local
  // memory, one load each after the scout's acquire emptied L1.
  uint8_t* const smem_in = reinterpret_cast<uint8_t*>(reduce_scratch + blockDim.x);
  uint8_t* const smem_out = smem_in + kSmemStageIn;
  stages.smem_in = smem_in;
  stages.smem_out = smem_out;
  auto handler = [](Context& c, MessageView in, Reply& out) { rk::builtin::run_builtin(kWhich, c, in, out); };

  if (tid == 0) {
    b.mine_count = 0;
    b.work = b.refresh = b.quit = b.posted = b.stalled = 0;
    b.seen_table_epoch = ~0ull;
    scout.table_epoch = 0;
    scout.count = 0;
    scout.last_bell = 0;
    scout.round = 0;
    scout.last_sweep = 0u - kSweepEvery;  // the first round sweeps
    scout.active = scout.terminate = scout.bell = 0;
    scout.epoch = 0;
    scout.drained_rounds = 0;
    scout.quiet_rounds = 0;
    scout.stats = ScoutStats{};
    scout.prefetch.slot = kMaxChannels;
    scout.look_not_before = 0;
    scout.lone_server = kLoneServer && a.lone_server && !a.staged && blockDim.x >= 64;
    init_lone_handoff(scout.handoff);
    tel = BlockTelemetry{};
  }
  for (uint32_t k = tid; k < kMaxChannels; k += blockDim.x) {
    scout.request_ring[k] = 0;
    scout.seen_tail[k] = kUnknownTail;
    scout.hot_until[k] = 0;
    scout.key16[k] = 0;
  }
  __syncthreads();

  // Lane 0 of the warp that served a span inline (the scout, or warp 1 for
  // it): the scout's counters of it.
  auto count_inline = [&](LoneServed served, bool prefetched) {
#if RK_ROUND_LOG
    scout.published_at = tel.last_publish;
#endif
    ++scout.stats.inline_spans;
    scout.stats.lone_records += served != LoneServed::declined;
    scout.stats.prefetched_records += served != LoneServed::declined && prefetched;
    scout.stats.unordered_replies += served == LoneServed::unordered;
  };
  // The scout (this block's warp 0) serves small spans of this block's
  // channels itself, and now and then one of another block's (claimed
  // first: its owner may be at it). True when nothing of `tail` is left.
  // `shared`: another block's channel, whose cursor moves on other SMs too
  // (read from L2). `prefetch`: the scout's words of this slot's next
  // record, if it has them. A channel of small records served here becomes
  // the scout's prefetch target: its caller's next request is likely the
  // next record.
  auto serve_claimed_inline = [&](uint32_t slot, DeviceCursor& cur, uint64_t tail, uint16_t key16, bool shared,
                                  Prefetch prefetch) -> bool {
    // A cursor not yet refreshed for this channel, or a stalled channel:
    // the owner's loop deals with it.
    if (lane == 0) mark_round(kMarkServeEntry);
    const CursorWords w = load_cursor_words(cur, shared);
    if (uint16_t(w.key) != key16 || w.stalled == w.read + 1) return false;
    if (lane == 0) mark_round(kMarkCursor);
    const uint64_t avail = (tail - w.read) & kPendingTailMask;
    if (avail == 0) return true;
    // Prefetched words are the span when they start at the read position
    // and cover it; records read from host memory after a prefetch (not an
    // acquire) need the fence first.
    bool use_prefetch = false;
    if constexpr (!kMultiBlock) {  // the only kernel whose scout prefetches
      use_prefetch = prefetch.valid && prefetch.from == w.read && avail <= shm::kTailDigestMaxBytes;
      if (prefetch.valid && !use_prefetch) acquire_fence_system();
      if (!use_prefetch) prefetch = Prefetch{};
    }
    // A lone record up to kLoneRecordBytes, else a span up to
    // kInlineSpanBytes through serve_channel.
    uint64_t staged = 0;
    const LoneServed served =
        serve_lone_record<!kMultiBlock>(a, cur, w, avail, prefetch, smem_in, smem_out, handler, tel, st, staged);
    const bool lone = served != LoneServed::declined;
    if (!lone && use_prefetch && staged == 0) acquire_fence_system();
    if (!lone && (avail > kInlineSpanBytes || !serve_channel<false, kMultiBlock>(WarpTeam{}, a, cur, avail, batch,
                                                                                  stages, handler, reduce_scratch,
                                                                                  tel, st, staged)))
      return false;
    if (lane == 0) {
      count_inline(served, use_prefetch);
      // Only a channel of small records: a prefetch that cannot match costs
      // the round its acquire loads (a fence instead: 256 B calls 7.5 ->
      // 8.7 µs on an H100). And only in a one-block kernel, the latency
      // configuration: with more blocks, streaming channels move in most
      // rounds, and a round that prefetches fences for each of them (64 B
      // echo from 8 processes at grid 17: 41 -> 36 M msg/s).
      scout.prefetch.slot = !kMultiBlock && avail <= shm::kTailDigestMaxBytes ? slot : kMaxChannels;
      scout.prefetch.data = w.request_data;
      scout.prefetch.mask = w.capacity - 1;
      mark_round(kMarkServed);
    }
    // The lone path serves exactly up to `tail`.
    return lone || ((tail - (shared ? load_relaxed_gpu(&cur.read) : cur.read)) & kPendingTailMask) == 0;
  };
  auto serve_inline = [&](uint32_t slot, uint64_t tail, uint16_t key16, Prefetch prefetch) -> bool {
    if constexpr (kBlockPerMessage) {
      return false;  // such messages need the whole block
    } else {
      DeviceCursor& cur = a.cursors[slot];
      if (prefetch.slot != slot) prefetch = Prefetch{};
      if (!kMultiBlock) return serve_claimed_inline(slot, cur, tail, key16, false, prefetch);
      if (!__shfl_sync(0xffffffffu, lane == 0 && claim_channel(cur), 0)) return false;
      __syncwarp();  // the claim's acquire before any lane's reads
      const bool done = serve_claimed_inline(slot, cur, tail, key16, true, prefetch);
      if (lane == 0) release_channel(cur);
      return done;
    }
  };
  // Warp 1 (lone_server.cuh): serves the record the scout handed over as
  // the scout's serve_claimed_inline would, prefetched words and all. True
  // when served; a record it declines is left as it was.
  // The cursor words come from warp 1's copy when no one else served since
  // it took them, and are taken again after each reply, while no one waits.
  auto serve_handed = [&](LoneHandoff& h) -> bool {
    if constexpr (!kLoneServer) {
      return false;
    } else {
      if (lane == 0) mark_round(kMarkServeEntry);
      const uint32_t slot = h.slot;
      DeviceCursor& cur = a.cursors[slot];
      const uint32_t gen = h.cursor_gen;  // the scout waits: it cannot move meanwhile
      const CursorWords w = h.cached_slot == slot && h.cached_gen == gen ? h.cached : load_cursor_words(cur, false);
      __syncwarp();
      if (lane == 0) {
        h.cached_slot = kMaxChannels;
        h.cached_gen = gen;
      }
      const uint64_t avail = (h.tail - w.read) & kPendingTailMask;
      if (uint16_t(w.key) != h.key16 || w.stalled == w.read + 1 || h.from != w.read || avail == 0 ||
          avail > shm::kTailDigestMaxBytes)
        return false;
      if (lane == 0) mark_round(kMarkCursor);
      Prefetch p = handed_prefetch(h, lane);
      uint64_t staged = 0;
      const LoneServed served = serve_lone_record<true>(a, cur, w, avail, p, smem_in, smem_out, handler, tel, st, staged);
      if (served == LoneServed::declined) return false;
      if (lane == 0) {
        count_inline(served, true);
        ++scout.stats.server_records;
        mark_round(kMarkServed);
      }
      return true;
    }
  };
  // Warp 1, after it served `h`'s record: the cursor as published, for the
  // next call (stamped with the generation it served under: should the
  // scout serve a channel meanwhile, the copy is not used).
  auto keep_cursor = [&](LoneHandoff& h, uint32_t slot) {
    const CursorWords next = load_cursor_words(a.cursors[slot], false);
    if (lane == 0) {
      h.cached = next;
      h.cached_slot = slot;
    }
    __syncwarp();
  };
  // Telemetry reaches the control page at the first quiet moment after a
  // span (or every kMirrorEvery spans), never between a request and its reply.
  auto on_quiet = [&] {
    if (tid == 0 && tel.dirty) mirror_telemetry(tel, st);
  };
  uint32_t idle_rounds = 0, round = 0;
  uint64_t last_heartbeat = 0;
  bool worked = false;
  for (;; ++round) {
    if (tid < 32) {
      if (scout_block) {
        // Few rounds per trip round the block loop while some owned channel
        // is stalled (it is retried from there), one right after the block
        // served (a span bigger than the stage has more to serve), many
        // otherwise.
        // A staged kernel's scout has no tails to poll: one round each time.
        const uint32_t budget = a.staged ? 1 : b.stalled ? kStalledRetryRounds : worked ? 1 : kScoutBudget;
        const ScoutResult r =
            scout_until_work<!kMultiBlock>(scout, a, lane, budget, kSpinRounds, kIdleSleepNs, serve_inline, on_quiet);
        if (scout.lone_server) stop_lone_server(scout.handoff, lane);
        if (lane == 0) {
          b.quit = r.quit;
          b.posted = r.posted;
          b.refresh = r.table_changed || b.seen_table_epoch == ~0ull;
        }
        __syncwarp();
      }
      poll_owned(b, a, lane, round);
    } else if (kLoneServer && tid < 64 && scout.lone_server) {
      lone_server_loop(scout.handoff, serve_handed, keep_cursor);
    }
    __syncthreads();
    if (b.quit) break;
    if (b.refresh) {
      // avail[] was computed for the old list of owned slots: serve from
      // the new list next round.
      if (tid == 0) {
        refresh_own_channels(b, a, st);
        b.work = 0;
      }
      __syncthreads();
    }

    worked = false;
    if (b.work) {
      for (uint32_t k = 0; k < b.mine_count; ++k) {
        if (b.avail[k] == 0) continue;  // same answer in every thread
        DeviceCursor& cur = a.cursors[b.mine[k]];
        uint64_t avail = b.avail[k];
        if (kMultiBlock && !scout_block) {
          // The scout may have served it meanwhile, or be at it now. The
          // answer travels in the barrier, not in shared memory (a warp
          // still reading b.avail[k] above must not see it change).
          // serve_channel reads `avail` in thread 0 only.
          if (tid == 0) avail = claim_owned(a, b.mine[k], cur, b.polled_read[k], avail);
          if (!__syncthreads_or(tid == 0 && avail != 0)) continue;
        }
        const bool progress = serve_channel<kBlockPerMessage, kMultiBlock>(BlockTeam{}, a, cur, avail, batch, stages,
                                                                           handler, reduce_scratch, tel, st);
        if (!progress && tid == 0) {
          cur.stalled = cur.read + 1;
          store_relaxed(&st->backpressure, tel.backpressure);
        }
        if (kMultiBlock && !scout_block && tid == 0) release_channel(cur);
        worked |= progress;
      }
    }

    if (!worked) on_quiet();
    if (tid == 0) {
      const uint64_t now = globaltimer();
      if (now - last_heartbeat > kHeartbeatNs) {
        last_heartbeat = now;
        store_relaxed(&st->heartbeat_ns, now);
        store_relaxed(&st->rounds, uint64_t(round));
      }
    }
    // Long idle: back off so an idle GPU does not burn power, bounded so new
    // work is still seen within a few microseconds. Block 0's scout sleeps
    // in its own loop (unless staged: one scout round per trip); the others
    // sleep here.
    const bool scout_sleeps = scout_block && !a.staged;
    const uint32_t spin = scout_sleeps ? kSpinRounds / kScoutBudget : kWorkerSpinRounds;
    if (worked || b.posted) {
      if (idle_rounds > spin && tid == 0) store_relaxed(&st->parked, 0u);
      idle_rounds = 0;
    } else if (++idle_rounds > spin) {
      if (tid == 0 && idle_rounds == spin + 1) {
        store_relaxed(&st->backpressure, tel.backpressure);
        store_relaxed(&st->parked, 1u);
      }
      if (!scout_sleeps) __nanosleep(kWorkerSleepNs);
    }
    __syncthreads();  // b.* is rewritten by warp 0 next round
  }
  on_quiet();
  if (tid == 0) store_release(&st->exited, uint16_t(1));
}

// Faults at once: an illegal address (a sticky error for the context), and
// a trap should the write somehow land.
__global__ void trap_kernel() {
  *reinterpret_cast<volatile int*>(uintptr_t(8)) = 1;
  __trap();
}

// Spins until told to stop, stamping no heartbeat: the hang watchdog's test.
__global__ void hang_kernel(const ControlBlock* cb) {
  while (load_relaxed(&cb->terminate_requested) == 0) __nanosleep(100000);
}

cudaError_t launch_hang_kernel(const ControlBlock* cb, cudaStream_t stream) {
  hang_kernel<<<1, 32, 0, stream>>>(cb);
  return cudaGetLastError();
}

namespace {

using PersistentKernel = void (*)(KernelArgs);
using rk::builtin::Builtin;
// [one block, several blocks][built-in]
constexpr PersistentKernel kPersistentKernels[2][size_t(Builtin::count)] = {
    {persistent_kernel<Builtin::echo, false>, persistent_kernel<Builtin::counter, false>,
     persistent_kernel<Builtin::saxpy, false>, persistent_kernel<Builtin::reduce_sum, false>},
    {persistent_kernel<Builtin::echo, true>, persistent_kernel<Builtin::counter, true>,
     persistent_kernel<Builtin::saxpy, true>, persistent_kernel<Builtin::reduce_sum, true>},
};

PersistentKernel kernel_for(uint32_t builtin, uint32_t grid) {
  return builtin < size_t(Builtin::count) ? kPersistentKernels[grid > 1][builtin] : nullptr;
}

}  // namespace

size_t persistent_kernel_smem(uint32_t block) {
  return size_t(block) * sizeof(double) + kSmemStageIn + kSmemStageOut;
}

cudaError_t configure_persistent_kernel(int carveout_percent) {
  for (const auto& kernels : kPersistentKernels)
  for (PersistentKernel k : kernels) {
    cudaError_t e = cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                         int(persistent_kernel_smem(kMaxBlockThreads)));
    if (e == cudaSuccess && carveout_percent >= 0)
      e = cudaFuncSetAttribute(k, cudaFuncAttributePreferredSharedMemoryCarveout, carveout_percent);
    if (e != cudaSuccess) return e;
  }
  return cudaSuccess;
}

cudaError_t persistent_kernel_blocks_per_sm(uint32_t builtin, uint32_t grid, uint32_t block, int* out) {
  PersistentKernel k = kernel_for(builtin, grid);
  if (!k) return cudaErrorInvalidDeviceFunction;
  return cudaOccupancyMaxActiveBlocksPerMultiprocessor(out, k, int(block), persistent_kernel_smem(block));
}

cudaError_t launch_persistent_kernel(const KernelArgs& args, uint32_t grid, uint32_t block, cudaStream_t stream) {
  PersistentKernel k = kernel_for(args.builtin, grid);
  if (!k) return cudaErrorInvalidDeviceFunction;
  k<<<grid, block, persistent_kernel_smem(block), stream>>>(args);
  return cudaGetLastError();
}

cudaError_t write_round_log(const char* path) {
#if RK_ROUND_LOG
  // The count, then the entries (the newest kRoundLogEntries; bench/round_log.py).
  static RoundLogEntry entries[kRoundLogEntries];
  uint32_t count = 0;
  cudaError_t e = cudaMemcpyFromSymbol(&count, g_round_count, sizeof count);
  if (e == cudaSuccess) e = cudaMemcpyFromSymbol(entries, g_round_log, sizeof entries);
  if (e != cudaSuccess) return e;
  if (FILE* f = std::fopen(path, "wb")) {
    std::fwrite(&count, sizeof count, 1, f);
    std::fwrite(entries, sizeof entries, 1, f);
    std::fclose(f);
  }
  return cudaSuccess;
#else
  (void)path;
  return cudaSuccess;
#endif
}

cudaError_t launch_trap_kernel(cudaStream_t stream) {
  trap_kernel<<<1, 1, 0, stream>>>();
  return cudaGetLastError();
}

}  // namespace rk::server::gpu
