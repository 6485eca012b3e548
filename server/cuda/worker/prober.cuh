// The prober: a second look at the scout's prefetch target, from a kernel
// of its own (one warp), for a one-block kernel's lone callers.
//
// A caller whose request lands just after the scout's look passed its ring
// waits for the scout's next round: 1.9-2.5 µs more, 1-5 % of the calls of
// a lone caller on an H100 (docs/cuda-status.md). The scout cannot look
// again sooner: a second PCIe read of a line waits for the first, and a
// load of other lines held in the scout's own registers made every call
// wait for it. So the client copies each small awaited request, with its
// tail, digest and reply head, into the request ring's mailbox (two lines
// of their own, shm/ring_layout.h), and this warp reads the mailbox
// `stagger` ns after each of the scout's looks and leaves what it read in
// device memory (ProberBox, gpu_layout.h). Only when its own look found
// nothing does the scout wait for that sample (L2, bounded), and it serves
// the record from it when the digest says it is the next one: a miss then
// costs the stagger instead of a round.
//
// The prober reads a ring only under the channel table it has
// acknowledged (BlockStats[grid], which the worker waits for like any
// block's), so the worker never drops a segment it may still read.
#pragma once
#include <cstdint>

#include "server/cuda/gpu_layout.h"
#include "server/cuda/worker/device_atomics.cuh"
#include "server/cuda/worker/kernel_args.h"
#include "server/cuda/worker/tail_prefetch.cuh"
#include "shm/ring_layout.h"

namespace rk::server::gpu {

static_assert(shm::kMailboxWords == 32, "one word a lane");
// How long the scout waits for a sample past the prober's stagger: the
// mailbox's PCIe round trip (1.2-1.5 µs on an H100) and the way through L2.
inline constexpr uint64_t kProberAnswerNs = 2000;

// The scout's lane 0, right after its round's loads are issued: relaxed
// stores, so that they wait for none of those loads.
__device__ inline void post_prober_look(ProberBox& box, uint64_t issued_ns, uint64_t ring, uint64_t epoch) {
  store_relaxed_gpu(&box.look.target, prober_target(ring, epoch));
  store_relaxed_gpu(&box.look.issued_ns, issued_ns);
}

// Every lane of the scout's warp, after a look at the target `p` found no
// move: waits until `deadline_ns` for the prober's answer to the look
// issued at `issued_ns`. True when the mailbox held the target's next
// record: `p` then holds it as if the scout's own prefetch had read it
// (check_prefetch passed), and `tail` its tail.
__device__ inline bool take_prober_sample(const ProberBox& box, uint64_t issued_ns, uint64_t deadline_ns,
                                          Prefetch& p, uint64_t& tail, uint32_t lane, bool& late) {
  uint64_t got = 0;
  if (lane == 0)
    do got = load_acquire_gpu(&box.sample.look);
    while (got != issued_ns && globaltimer() < deadline_ns);
  __syncwarp();  // lane 0's acquire orders every lane's reads below
  late = __shfl_sync(0xffffffffu, got, 0) != issued_ns;
  if (late) return false;
  const uint64_t w = load_relaxed_gpu(&box.sample.words[lane]);
  tail = __shfl_sync(0xffffffffu, w, shm::kMailboxTail);
  const uint64_t digest = __shfl_sync(0xffffffffu, w, shm::kMailboxDigest);
  const uint64_t reply_head = __shfl_sync(0xffffffffu, w, shm::kMailboxReplyHead);
  if (tail == p.from || tail - p.from > shm::kMailboxRecordWords * 8) return false;
  // The shape issue_prefetch gives: the slot's lane the tail, the next the
  // digest, the one after the reply head.
  const uint32_t k = (lane - p.slot) % 32;
  p.header = k == 0 ? tail : k == 1 ? digest : reply_head;
  p.word = w;
  return check_prefetch(p, tail, lane);
}

// The prober kernel's warp, until the scout says quit.
__device__ inline void prober_loop(const KernelArgs& a, uint32_t lane) {
  ProberBox& box = a.shared->prober;
  BlockStats* st = &a.control->blocks[a.grid];
  uint64_t acked = ~0ull, answered = 0, samples = 0, took_sum = 0, took_max = 0;
  uint32_t idle = 0;
  for (;;) {
    uint64_t quit = 0, epoch = 0, look = 0, target = 0;
    if (lane == 0) {
      quit = load_relaxed_gpu(&a.shared->quit);
      epoch = load_acquire_gpu(&a.shared->table_epoch);
      look = load_relaxed_gpu(&box.look.issued_ns);
      target = load_relaxed_gpu(&box.look.target);
    }
    if (__shfl_sync(0xffffffffu, quit, 0)) break;
    epoch = __shfl_sync(0xffffffffu, epoch, 0);
    look = __shfl_sync(0xffffffffu, look, 0);
    target = __shfl_sync(0xffffffffu, target, 0);
    // Every load this warp issued before is in: it reads no older table's ring.
    if (epoch != acked) {
      acked = epoch;
      if (lane == 0) store_release(&st->seen_table_epoch, epoch);
    }
    const uint64_t ring = target & kProberRingMask;
    if (look == answered || ring == 0 || target >> 48 != (acked & 0xffff)) {
      // Between a caller's calls the next look comes within ~2 µs; long
      // idle sleeps longer (an idle kernel's scout sleeps 1 µs a round).
      __nanosleep(++idle < 100000 ? 64 : 1000);
      continue;
    }
    idle = 0;
    answered = look;
    while (globaltimer() < look + a.prober_stagger_ns) {
    }
    // Racing the client's stores is the point: the digest judges the words.
    const auto* mailbox = reinterpret_cast<const unsigned long long*>(reinterpret_cast<const shm::RingHeader*>(ring)->mailbox);
    store_relaxed_gpu(&box.sample.words[lane], uint64_t(__ldcv(mailbox + lane)));
    __syncwarp();
    if (lane == 0) {
      store_release_gpu(&box.sample.look, look);
      // Telemetry (RK_WORKER_TRACE): samples, and look to sample in ns.
      const uint64_t took = globaltimer() - look;
      ++samples;
      took_sum += took;
      took_max = took > took_max ? took : took_max;
      if ((samples & 255) == 0) {
        store_relaxed(&st->processed, samples);
        store_relaxed(&st->latency_sum_ns, took_sum);
        store_relaxed(&st->latency_max_ns, took_max);
      }
    }
  }
}

}  // namespace rk::server::gpu
