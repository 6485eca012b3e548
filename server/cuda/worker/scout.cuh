// The scout: the one warp per kernel (block 0, warp 0) that polls host
// memory. Per round it issues, together, the loads of the request tails of
// its "hot" channels (those with traffic in the last kHotNs) and now and
// then of the command words and the instance's bell: one PCIe round trip
// however many channels are attached, and a fence only where an acquire
// load did not cover a move. Idle channels cost nothing
// until their client rings the bell (a CPU atomic on the bell's line, which
// the GPU only reads; clients skip it while their channel is hot, see
// kick() in capi/kernel.cpp); then, or every kSweepEvery rounds (in a round
// that found nothing else, kSweepForce at the latest), the scout sweeps
// every channel's tail, 32 lanes with up to 8 loads each in flight. A
// round whose look finds a lone caller's tail unmoved looks again at once
// (a few times) before it ends.
//
// A tail that moved is posted to the owning block through device memory
// (KernelShared::pending); blocks other than 0 never read host memory to
// find work. Block 0 owns channels only in a one-block kernel (with more,
// it is the scout's alone: channel_owner.cuh). Small spans of block 0's
// own channels the scout serves itself (`serve_inline`), so a lone message
// on them never waits for the rest of block 0; of another block's, one per
// round. See docs/cuda-status.md, "Design".
#pragma once
#include <cstddef>
#include <cstdint>

#include "server/cuda/gpu_layout.h"
#include "server/cuda/worker/channel_owner.cuh"
#include "server/cuda/worker/device_atomics.cuh"
#include "server/cuda/worker/kernel_args.h"
#include "server/cuda/worker/lone_server.cuh"
#include "server/cuda/worker/round_log.cuh"
#include "server/cuda/worker/tail_prefetch.cuh"
#include "shm/ring_layout.h"
#include "shm/segment_layout.h"

namespace rk::server::gpu {

inline constexpr uint64_t kHotNs = 50'000'000;  // polled directly for 50 ms after its last message
// A stuck or skipped bell costs at most kSweepEvery rounds, or kSweepForce
// while every round finds a move: a due sweep waits for a round that found
// none, since a sweep costs the round another PCIe round trip and a fence,
// and a lone caller's request found in it took 2 µs longer (twelfth
// session: 0.44 % of all calls, a fifth of those over 6.5 µs).
inline constexpr uint32_t kSweepEvery = 256;
inline constexpr uint32_t kSweepForce = 16 * kSweepEvery;
// The command words and the bell are read every few rounds, not every
// round: a round that reads them takes 2.5 µs instead of 1.4 (H100; the
// extra pages cost a round trip, however the loads are spread). While the
// scout is busy (a move in the last kBusyRounds rounds) only every 16th:
// hot channels need no bell, and a command or a cold channel's bell can
// wait some tens of µs; 1 in 4 rounds held 25 % of a lone caller's round
// trips 2 µs back (p90 9.1 µs against 7.5 with 1 in 64).
inline constexpr uint32_t kCommandEvery = 4;
inline constexpr uint32_t kCommandEveryBusy = 16;
inline constexpr uint32_t kBusyRounds = 64;
inline constexpr uint32_t kLoadsPerLane = kMaxChannels / 32;
inline constexpr uint64_t kUnknownTail = ~uint64_t(0);

// Block 0's shared memory: the scout's view of the channel table.
struct ScoutState {
  uint64_t request_ring[kMaxChannels];  // device address of the request RingHeader; 0: no channel
  uint64_t seen_tail[kMaxChannels];     // last tail posted (kUnknownTail: none yet)
  uint64_t hot_until[kMaxChannels];     // %globaltimer ns
  uint16_t key16[kMaxChannels];
  uint64_t table_epoch;
  uint32_t count;
  uint32_t last_bell;
  uint32_t round;
  uint32_t last_sweep;                  // the round of the last sweep
  // The command words and the bell as last read (every few rounds: kCommandEvery).
  uint32_t active, terminate, bell;
  uint64_t epoch;
  uint32_t drained_rounds;              // consecutive rounds found drained while terminating
  uint32_t quiet_rounds;                // consecutive rounds that found nothing
  uint64_t now;                         // %globaltimer at the start of the round
  // ... when its loads were in, and after its fence. In shared memory, not
  // registers: they live across the serving code, whose register pressure
  // spilled them, and reloading a spill after an acquire load (which
  // empties L1) is an L2 round trip before the caller's reply.
  uint64_t loaded_at, fenced_at;
  uint64_t published_at;                // a round log build: when the lone path published its reply
  uint64_t look_not_before;             // %globaltimer: the next round's loads wait for it (kLookExtraNs)
  PrefetchTarget prefetch;              // the channel last served inline (tail_prefetch.cuh)
  bool lone_server;                     // warp 1 serves the prefetched lone records (lone_server.cuh)
  LoneHandoff handoff;
  ScoutStats stats;                     // lane 0's running counters, mirrored to the control page
};

// Lane 0: mirrors the scout's counters into the control page (mapped host
// memory), now and then so that the stores cost no PCIe per round.
__device__ inline void publish_scout_stats(const ScoutState& s, ScoutStats* out) {
  const uint64_t* from = reinterpret_cast<const uint64_t*>(&s.stats);
  uint64_t* to = reinterpret_cast<uint64_t*>(out);
  for (uint32_t i = 0; i < sizeof(ScoutStats) / 8; ++i) store_relaxed(&to[i], from[i]);
}

// What a scout round tells block 0 (warp-uniform).
struct ScoutResult {
  bool table_changed;  // the scout moved to a new table: block 0 refreshes its channels
  bool posted;         // some tail moved and was posted
  bool quit;           // terminate requested and drained (or inactive)
  bool left_for_block; // block 0 owns posted work the scout did not serve itself
};

// Spans of several records up to this size the scout serves itself
// (block 0's, and one of another block's per round) through serve_channel:
// a few small records, where one warp is as fast as eight and the
// hand-over to a block would cost more than the work. A lone record it
// serves up to kLoneRecordBytes (lone_record.cuh).
inline constexpr uint64_t kInlineSpanBytes = 512;  // 2048 tried (before the lone path): a 1 KiB echo 11.4 -> 15.0 µs

__device__ inline uint32_t lane_id() { return threadIdx.x % 32; }

// Issues the loads of the tails of the slots `pick` selects, all in flight
// at once. With `acquire_first`, each lane's first load is an acquire load,
// which costs far less than a fence after it, so a move seen there needs
// no fence to read that channel's records (a lane's later loads are
// relaxed: acquires would queue behind one another); otherwise the caller
// fences once after them. `acquired` is the slot whose tail this lane
// acquired (kMaxChannels: none). Its first load, not its first slot: a
// lone caller on slot 64 behind 64 idle channels is acquired all the same.
// `seen`: the slots' seen_tail, to compare with once the loads land (read
// after them, 8 shared-memory reads one after another were 0.15 µs of a
// lone caller's round trip).
template <class Pick>
__device__ void load_tails(const ScoutState& s, uint32_t lane, uint64_t (&tail)[kLoadsPerLane],
                           uint64_t (&seen)[kLoadsPerLane], bool (&want)[kLoadsPerLane], bool acquire_first,
                           uint32_t& acquired, Pick pick) {
  acquired = kMaxChannels;
  // Every shared-memory word first, then the loads back to back: read
  // between them, each word waited for the load before it (an acquire
  // holds back every later load, and the loads' memory clobbers made the
  // compiler read `count` and `now` again each time), and the round's
  // code took as long as its PCIe round trip.
  const uint32_t count = s.count;
  uint64_t ring[kLoadsPerLane];
#pragma unroll
  for (uint32_t j = 0; j < kLoadsPerLane; ++j) {
    const uint32_t k = lane + 32 * j;
    ring[j] = s.request_ring[k];
    seen[j] = s.seen_tail[k];
    want[j] = (k < count) & (ring[j] != 0) & pick(k);
  }
#pragma unroll
  for (uint32_t j = 0; j < kLoadsPerLane; ++j) {
    const uint64_t* at = &reinterpret_cast<const shm::RingHeader*>(ring[j])->tail;
    const bool acquire = want[j] && acquire_first && acquired == kMaxChannels;
    if (acquire) acquired = lane + 32 * j;
    tail[j] = !want[j] ? 0 : acquire ? load_acquire(at) : load_relaxed(at);
  }
}

// Slot k's tail moved to `tail`: the scout's record of it (the post to the
// owner, in `pending`, is the caller's). A new channel's first tail does
// not make it hot: only traffic does (64 idle clients attaching made each
// round load 65 tails for 50 ms).
__device__ inline void note_move(ScoutState& s, KernelShared* shared, uint32_t k, uint64_t tail) {
  if (s.seen_tail[k] != kUnknownTail) s.hot_until[k] = s.now + kHotNs;
  s.seen_tail[k] = tail;
  shared->posted_at[k] = s.now;
}

// Posts the tails that moved to their owners. Returns (warp-wide) whether
// any did; sets bit j of `own_moved` (or of `other_moved`) for slot
// lane + 32 j when that slot moved and belongs to block 0 (or to another).
// `tail`, `seen`, `want`: as load_tails left them.
__device__ inline bool post_tails(ScoutState& s, KernelShared* shared, uint64_t* pending, uint32_t lane,
                                  const uint64_t (&tail)[kLoadsPerLane], const uint64_t (&seen)[kLoadsPerLane],
                                  const bool (&want)[kLoadsPerLane], uint32_t& own_moved, uint32_t& other_moved) {
  bool moved = false;
#pragma unroll
  for (uint32_t j = 0; j < kLoadsPerLane; ++j) {
    const uint32_t k = lane + 32 * j;
    if (!want[j] || tail[j] == seen[j]) continue;
    if (owner_block(k) == 0) own_moved |= 1u << j;
    else other_moved |= 1u << j;
    note_move(s, shared, k, tail[j]);
    // The system fence before this store (acq_rel) makes it a release: the
    // owner that sees this word also sees the request bytes the client
    // published, with no second fence.
    store_relaxed_gpu(&pending[k], pending_word(s.key16[k], tail[j]));
    moved = true;
  }
  return __any_sync(0xffffffffu, moved);
}

// Copies the channel table (rare: attach, detach) into the scout's view.
__device__ inline void scout_read_table(ScoutState& s, const ChannelTable* table, uint32_t lane) {
  const uint32_t count = __shfl_sync(0xffffffffu, lane == 0 ? load_acquire(&table->count) : 0u, 0);
  const uint32_t n = count < kMaxChannels ? count : kMaxChannels;
  for (uint32_t k = lane; k < kMaxChannels; k += 32) {
    uint64_t ring = 0, key = 0;
    if (k < n && load_acquire(&table->channels[k].live)) {
      ring = load_relaxed(&table->channels[k].request_ring);
      key = load_relaxed(&table->channels[k].key);
    }
    if (ring != s.request_ring[k] || uint16_t(key) != s.key16[k]) {
      s.request_ring[k] = ring;
      s.key16[k] = uint16_t(key);
      s.seen_tail[k] = kUnknownTail;  // post whatever the new channel's tail is (the sweep of this round)
      s.hot_until[k] = 0;
      if (k == s.prefetch.slot) s.prefetch.slot = kMaxChannels;  // its rings are another channel's
    }
  }
  if (lane == 0) s.count = n;
  __syncwarp();
}

// True (warp-wide) when every channel's owner has consumed what the scout
// saw, or is stalled there (no reply room, or a broken ring).
__device__ inline bool scout_drained(const ScoutState& s, const DeviceCursor* cursors, uint32_t lane) {
  bool drained = true;
  for (uint32_t k = lane; k < s.count; k += 32) {
    if (s.request_ring[k] == 0 || s.seen_tail[k] == kUnknownTail) continue;
    const DeviceCursor& c = cursors[k];
    const uint64_t read = load_acquire_gpu(&c.read), stalled = load_acquire_gpu(&c.stalled);
    const bool current = uint16_t(load_acquire_gpu(&c.key)) == s.key16[k];
    if (!current || (((s.seen_tail[k] - read) & kPendingTailMask) != 0 && stalled != read + 1)) drained = false;
  }
  return __all_sync(0xffffffffu, drained);
}

// The same for a staged kernel, whose tails the bridge posts: what clients
// published (their tails, read now) against what the owners consumed.
__device__ inline bool staged_drained(const ScoutState& s, const DeviceCursor* cursors, uint32_t lane) {
  bool drained = true;
  for (uint32_t k = lane; k < s.count; k += 32) {
    if (s.request_ring[k] == 0) continue;
    const uint64_t tail = load_relaxed(&reinterpret_cast<const shm::RingHeader*>(s.request_ring[k])->tail);
    const DeviceCursor& c = cursors[k];
    const uint64_t read = load_acquire_gpu(&c.read), stalled = load_acquire_gpu(&c.stalled);
    const bool current = uint16_t(load_acquire_gpu(&c.key)) == s.key16[k];
    if (!current || (((tail - read) & kPendingTailMask) != 0 && stalled != read + 1)) drained = false;
  }
  return __all_sync(0xffffffffu, drained);
}

// Offers the moved slots of block 0 (bit j of each lane's `own_moved` is
// slot lane + 32 j), and one moved slot of another block (the lowest in
// `other_moved`), to `serve_inline(slot, tail, key16, prefetch)`, which
// serves them with this warp and says whether nothing is left of them. Returns
// (warp-wide) whether something is left for block 0.
//
// Another block's slot: a lone small request then skips the hand-over to
// its owner, which costs several µs. One per round, so that channels
// moving together are still served by their owners side by side; the
// owner may get there first (serve_inline claims the channel). One call
// site for serve_inline: the scout's serving code is big, and a second
// copy of it slowed a lone message by 2 µs (instruction cache).
template <class ServeInline>
__device__ bool serve_moved_inline(const ScoutState& s, uint32_t own_moved, uint32_t other_moved,
                                   const Prefetch& prefetch, ServeInline& serve_inline) {
  const uint32_t others = __ballot_sync(0xffffffffu, other_moved != 0);
  const uint32_t first_other = others ? __ffs(others) - 1 : 32;
  if (lane_id() == first_other) own_moved |= other_moved & (0u - other_moved);  // its lowest bit
  bool left = false;
  for (uint32_t lanes = __ballot_sync(0xffffffffu, own_moved != 0); lanes != 0; lanes &= lanes - 1) {
    const uint32_t src = __ffs(lanes) - 1;
    for (uint32_t bits = __shfl_sync(0xffffffffu, own_moved, src); bits != 0; bits &= bits - 1) {
      const uint32_t k = src + 32 * (__ffs(bits) - 1);
      const bool done = serve_inline(k, s.seen_tail[k], s.key16[k], prefetch);
      if (owner_block(k) == 0) left |= !done;
    }
  }
  return left;
}

// One round of the scout. Called by the 32 lanes of block 0's warp 0. A
// quiet round (nothing moved, nothing asked) is the loads alone. A move is
// read with acquire order: each lane's first hot slot by an acquire load,
// others by relaxed loads and then one acquire fence (acq_rel, so it also
// makes the posts to other blocks releases). A round whose moves are all
// on acquired slots owned by block 0 (a one-block kernel with up to 32 hot
// channels), or that is one lone caller's move, thus needs no fence at all:
// the scout serves them itself, and the warp barrier before it orders
// every lane's reads after the acquiring lane's. A staged
// kernel's scout reads the command words alone: its bridge posts the tails.
// kPrefetch: the one-block kernel's scout prefetches (tail_prefetch.cuh);
// a multi-block kernel's carries none of that code.
template <bool kPrefetch, class ServeInline>
__device__ ScoutResult scout_round(ScoutState& s, const KernelArgs& a, uint32_t lane, ServeInline& serve_inline) {
  ScoutResult r{false, false, false, false};
  uint32_t own_moved = 0, other_moved = 0;
  ControlBlock* cb = &a.control->cb;
  uint64_t tail[kLoadsPerLane], seen[kLoadsPerLane];
  bool want[kLoadsPerLane];
  if (a.look_extra_ns)
    while (globaltimer() < s.look_not_before) {
    }
  // Hot tails, and now and then the command words and bell: one round trip.
  // Every load is issued before any value is used: storing each command
  // word to shared memory right after its load made lane 0 wait out one
  // PCIe round trip per word.
  if (lane == 0) s.now = globaltimer();
  __syncwarp();
  // The command words in one load instruction of three lanes: lane 0 reads
  // active and terminate (one 8-byte word), lane 1 the table epoch, lane 2
  // the bell. (Four loads by lane 0 made such a round 4.7 µs instead of
  // 2.5.)
  const bool command_round = s.round % (s.quiet_rounds > kBusyRounds ? kCommandEvery : kCommandEveryBusy) == 0;
  // Settled before the loads: after them, every word read is on the path
  // from the caller's tail landing to its reply.
  const uint32_t since_sweep = s.round - s.last_sweep;
  const bool sweep_wanted = since_sweep >= kSweepEvery, sweep_forced = since_sweep >= kSweepForce;
  const bool read_commands = lane == 0 && command_round;
  uint64_t command_word = 0;
  if (command_round && lane < (a.staged ? 2u : 3u)) {
    const uint64_t* at = lane == 0   ? reinterpret_cast<const uint64_t*>(&cb->active)
                         : lane == 1 ? &cb->table_epoch
                                     : reinterpret_cast<const uint64_t*>(&a.bell->bell.seq);
    command_word = load_relaxed(at);
  }
  // The next record of the channel last served inline, read with its tail
  // (tail_prefetch.cuh). A round that prefetches makes no acquire loads:
  // a load issued before an acquire may legally be moved after it, and
  // ptxas did so (the prefetch then cost a PCIe round trip of its own). The
  // prefetched slot's move counts as acquired once its digest matches;
  // anything else it saw is fenced as usual.
  const uint32_t target = s.prefetch.slot;
  Prefetch prefetch;
  uint64_t target_ring = 0, target_seen = 0;
  if constexpr (kPrefetch) {
    // Every word the test needs read at once, not one after another behind
    // `&&`: each shared-memory read the loads wait for delays the sample.
    const uint32_t t = target < kMaxChannels ? target : 0;
    target_seen = s.seen_tail[t];
    target_ring = s.request_ring[t];
    if (!a.staged & (target < s.count) & (s.hot_until[t] > s.now) & (target_seen != kUnknownTail))
      prefetch = issue_prefetch(s.prefetch, target_ring, target_seen, lane);
  }
  const bool prefetching = kPrefetch && prefetch.slot != kMaxChannels;
  bool handed = false;  // the prefetched record went to warp 1 (lone_server.cuh)
  uint32_t acquired;
  load_tails(s, lane, tail, seen, want, !prefetching, acquired,
             [&, now = s.now](uint32_t k) { return !a.staged & (s.hot_until[k] > now) & (k != prefetch.slot); });
  if (prefetching) {
    // The prefetch loaded that slot's tail (its lane's header word).
#pragma unroll
    for (uint32_t j = 0; j < kLoadsPerLane; ++j)
      if (lane + 32 * j == prefetch.slot) {
        tail[j] = prefetch.header;
        seen[j] = prefetch.from;
        want[j] = true;
      }
    const uint32_t target_lane = prefetch.slot % 32;
    uint64_t target_tail = __shfl_sync(0xffffffffu, prefetch.header, target_lane);
    if (lane == 0) log_look(s.now, true, target_tail != prefetch.from);
    // A lone caller's record goes to warp 1 as soon as its digest matches,
    // ahead of the round's verdict, when nothing else can need the scout:
    // no other slot moved, the command words (as just read in a command
    // round, else as held) say active, not terminating, same table, no
    // sweep forced, no bell unanswered. The verdict below then serves first,
    // as it would have. (Not on words older than the round's: a table
    // change acknowledged while warp 1 serves could unmap its channel.)
    bool alone = false;  // a lone caller's round: nothing but its slot can have moved
    if (s.lone_server && !sweep_forced) {
      bool benign = s.active && !s.terminate && s.epoch == s.table_epoch && s.bell == s.last_bell;
      if (command_round) {
        // Each of the three lanes judges the word it loaded (see above).
        const bool fine = lane == 0   ? uint32_t(command_word) != 0 && uint32_t(command_word >> 32) == 0
                          : lane == 1 ? command_word == s.table_epoch
                          : lane == 2 ? uint32_t(command_word) == s.last_bell  // prefetching: not staged
                                      : true;
        benign = __all_sync(0xffffffffu, fine);
      }
      bool other = !benign;
#pragma unroll
      for (uint32_t j = 0; j < kLoadsPerLane; ++j)
        other |= want[j] & (tail[j] != seen[j]) & (lane + 32 * j != prefetch.slot);
      alone = !__any_sync(0xffffffffu, other);
      // The look missed the caller (its request landed while the look was
      // in flight, or the caller is late): look again at once, up to
      // `relooks` times, rather than after the round's end and the next
      // round's set-up (~2.5 µs where a look is ~1.4). Not sooner: a
      // second look 250-500 ns behind the first made every call 1.1 µs
      // slower (docs/benchmarks.md, fifteenth session).
      for (uint32_t again = 0; alone && target_tail == prefetch.from && again < a.relooks; ++again) {
        const uint64_t left = log_clock();
        prefetch = issue_prefetch(s.prefetch, target_ring, target_seen, lane);
        target_tail = __shfl_sync(0xffffffffu, prefetch.header, target_lane);
        if (lane == 0) {
          log_look(left, false, target_tail != prefetch.from);
          ++s.stats.relooks;
          s.stats.relook_hits += target_tail != prefetch.from;
        }
      }
#pragma unroll
      for (uint32_t j = 0; j < kLoadsPerLane; ++j)
        if (lane + 32 * j == prefetch.slot) tail[j] = prefetch.header;
    }
    if (target_tail != prefetch.from && check_prefetch(prefetch, target_tail, lane) && lane == target_lane)
      acquired = prefetch.slot;
    if (lane == 0) log_look_valid(prefetch.valid);
    handed = alone && prefetch.valid;
    if (handed) hand_off(s.handoff, prefetch, prefetch.slot, target_tail, s.key16[prefetch.slot], lane);
  }
  // Without branches: this runs between the loads landing and serving.
  bool seen_move = false, unacquired = false, acquired_moved = false;
  uint64_t acquired_tail = 0;
#pragma unroll
  for (uint32_t j = 0; j < kLoadsPerLane; ++j) {
    const uint32_t k = lane + 32 * j;
    const bool moved = want[j] & (tail[j] != seen[j]);
    const bool is_acquired = moved & (k == acquired);
    seen_move |= moved;
    unacquired |= moved & (k != acquired);  // needs the fence: see above
    acquired_moved |= is_acquired;
    acquired_tail = is_acquired ? tail[j] : acquired_tail;
  }
  const uint64_t control_line = __shfl_sync(0xffffffffu, command_word, 0);
  const uint64_t table_epoch = __shfl_sync(0xffffffffu, command_word, 1);
  const uint64_t bell_word = __shfl_sync(0xffffffffu, command_word, 2);
  if (read_commands) {
    static_assert(offsetof(ControlBlock, active) % 8 == 0 &&
                  offsetof(ControlBlock, terminate_requested) == offsetof(ControlBlock, active) + 4);
    static_assert(offsetof(shm::DoorbellWord, seq) == 0);
    s.active = uint32_t(control_line);
    s.terminate = uint32_t(control_line >> 32);
    s.epoch = table_epoch;
    if (!a.staged) s.bell = uint32_t(bell_word);  // seq is the word's low half
  }
  seen_move = __any_sync(0xffffffffu, seen_move);
  unacquired = __any_sync(0xffffffffu, unacquired);
  const bool acquired_elsewhere = acquired_moved && owner_block(acquired) != 0;
  const uint32_t movers = __ballot_sync(0xffffffffu, acquired_moved);
  const bool elsewhere = __any_sync(0xffffffffu, acquired_elsewhere);
  if (lane == 0) s.loaded_at = globaltimer();  // the tails are in
  __syncwarp();  // lane 0's command words are in ScoutState for every lane
  const uint32_t active = s.active, terminate = s.terminate, bell = s.bell;
  const uint64_t epoch = s.epoch;
  const bool bell_rang = bell != s.last_bell;
  const bool sweep_due = sweep_wanted & (!seen_move | sweep_forced);
  if (!(seen_move && active) && !bell_rang && !sweep_due && !terminate && epoch == s.table_epoch) {
    if (lane == 0) {
      ++s.round;
      ++s.stats.rounds;
      s.stats.quiet_load_ns += s.loaded_at - s.now;
      if (read_commands) {
        ++s.stats.command_rounds;
        s.stats.command_load_ns += s.loaded_at - s.now;
      }
      log_round(s.now, s.loaded_at, s.loaded_at,
                (read_commands ? kRoundCommands : 0u) | (prefetching ? kRoundPrefetch : 0u));
    }
    __syncwarp();
    return r;  // quiet
  }

  // The latency case: every move is on an acquired slot, and nothing else
  // is due: a one-block kernel's callers, or one lone caller of another
  // block's channel. The scout serves them before it posts their tails,
  // with no system fence (its own acquire loads order its reads): the
  // fence and the bookkeeping of posting (every lane looks at 8 slots) then
  // run while the caller reads its reply. The tails are still posted before
  // the round ends, another block's with a release at device scope (the
  // client's writes the scout acquired are thereby visible to the owner
  // that acquires the post). Several moves on other blocks' channels take
  // the other path, so their owners start at once. (One call site of
  // serve_moved_inline for both paths: with a second copy of the serving
  // code a lone message took 0.4-0.8 µs longer, and 1.4 µs at grid 17,
  // where it never ran: instruction cache.)
  const bool serve_first = !unacquired && (!elsewhere || __popc(movers) == 1) && active &&
                           epoch == s.table_epoch && !terminate && !sweep_due && !bell_rang;
  // A prefetched slot was not acquired: whoever reads it from host memory
  // later needs the fence.
  if (!serve_first && (unacquired || elsewhere || prefetch.valid)) acquire_fence_system();
  if (lane == 0) {
    s.fenced_at = globaltimer();
    mark_round_at(kMarkVerdict, s.fenced_at);
  }
  acquired_moved = acquired_moved && serve_first;
  bool moved = serve_first;
  bool sweep = false;
  if (serve_first) {
    if constexpr (kPrefetch) {
      // The prefetch target's record, the round's only move (a prefetching
      // round acquires no other slot), not handed over above (a command
      // round): to warp 1 now, before this round's bookkeeping.
      const uint32_t target_lane = prefetch.slot % 32;
      if (!handed && s.lone_server && prefetch.valid &&
          __shfl_sync(0xffffffffu, acquired_moved && acquired == prefetch.slot, target_lane)) {
        hand_off(s.handoff, prefetch, prefetch.slot, __shfl_sync(0xffffffffu, acquired_tail, target_lane),
                 s.key16[prefetch.slot], lane);
        handed = true;
      }
    }
    if (acquired_moved) {
      (acquired_elsewhere ? other_moved : own_moved) = 1u << (acquired / 32);
      note_move(s, a.shared, acquired, acquired_tail);
    }
    __syncwarp();
  } else {
    // An inactive kernel posts nothing: what arrives meanwhile is posted
    // once it is activated.
    moved = active && post_tails(s, a.shared, a.pending, lane, tail, seen, want, own_moved, other_moved);
    if (epoch != s.table_epoch) {
      scout_read_table(s, a.table, lane);
      if (lane == 0) s.table_epoch = epoch;
      __syncwarp();
      if (lane == 0) store_release_gpu(&a.shared->table_epoch, epoch);
      r.table_changed = true;
    }
    sweep = !a.staged && (r.table_changed || terminate || sweep_due || (bell_rang && (!moved || s.round % 8 == 0)));
    if (active && sweep) {
      uint32_t none;
      load_tails(s, lane, tail, seen, want, false, none, [&, now = s.now](uint32_t k) { return s.hot_until[k] <= now; });
      acquire_fence_system();
      moved |= post_tails(s, a.shared, a.pending, lane, tail, seen, want, own_moved, other_moved);
    }
  }
  r.posted = moved;
  // What warp 1 declined the scout serves as if it had not handed it over.
  const bool served_by_server = handed && wait_handed(s.handoff);
  if (served_by_server && lane == 0 && a.look_extra_ns) s.look_not_before = globaltimer() + a.look_extra_ns;
  // After a table change block 0's cursors are refreshed first.
  if (moved && !served_by_server && s.lone_server) lone_cursors_moved(s.handoff, lane);
  if (moved && !served_by_server)
    r.left_for_block = r.table_changed ? __any_sync(0xffffffffu, own_moved != 0)
                                       : serve_moved_inline(s, own_moved, other_moved, prefetch, serve_inline);
  if (lane == 0) mark_round(kMarkInlineDone);
  // Served first from prefetched words: the fence before anyone else may
  // read that channel's records (after the reply is out).
  if (acquired_moved && prefetch.valid && (acquired_elsewhere || r.left_for_block)) acquire_fence_system();
  // From here on values come from ScoutState rather than registers held
  // across the serving code (see loaded_at): note_move recorded the tail.
  if (acquired_moved) {
    const uint64_t word = pending_word(s.key16[acquired], s.seen_tail[acquired]);
    if (acquired_elsewhere) store_release_gpu(&a.pending[acquired], word);
    else store_relaxed_gpu(&a.pending[acquired], word);
  }
  if (lane == 0) mark_round(kMarkPosted);

  if (s.terminate) {
    // Leave once everything seen is consumed, twice in a row (an owner may
    // be between reading its pending word and publishing); at once when
    // inactive, since nothing is served then.
    const bool drained =
        !s.active || (a.staged ? staged_drained(s, a.cursors, lane) : scout_drained(s, a.cursors, lane));
    if (lane == 0) s.drained_rounds = drained && !moved ? s.drained_rounds + 1 : 0;
    __syncwarp();
    r.quit = s.drained_rounds >= 2;
    if (r.quit && lane == 0) store_release_gpu(&a.shared->quit, 1u);
  }
  if (lane == 0) {
    if (sweep) {
      s.last_bell = s.bell;  // a ring not yet answered by a sweep stays pending
      s.last_sweep = s.round;
    }
    ++s.round;
    ++s.stats.rounds;
    s.stats.sweeps += sweep;
    if (moved) {
      ++s.stats.moved_rounds;
      s.stats.moved_load_ns += s.loaded_at - s.now;
      s.stats.fence_ns += s.fenced_at - s.loaded_at;
      s.stats.post_ns += globaltimer() - s.fenced_at;
    }
    if (sweep_due) publish_scout_stats(s, &a.control->scout);  // off the lone caller's rounds, like the sweep
    // A round that served first logs when its reply went out instead of its
    // (absent) fence.
    log_round(s.now, s.loaded_at, serve_first ? s.published_at : s.fenced_at,
              kRoundNotQuiet | (moved ? kRoundMoved : 0u) | (read_commands ? kRoundCommands : 0u) |
                  (prefetching ? kRoundPrefetch : 0u) | (sweep ? kRoundSweep : 0u) |
                  (serve_first ? kRoundServeFirst : 0u) | (prefetch.valid ? kRoundPrefetchHit : 0u));
  }
  __syncwarp();
  return r;
}

// Scout rounds until block 0 has something to do: work on its channels
// that the scout did not serve itself, the table moved, the kernel to
// leave, or `budget` rounds passed (block 0's own housekeeping: heartbeat,
// retrying stalled channels). The rest of block 0 waits at its barrier
// meanwhile, so a quiet round is one PCIe round trip and nothing else.
// After `spin_rounds` quiet rounds in a row each round also sleeps
// `sleep_ns` (bounded: new work is still seen within a few µs). The result's
// `posted` says whether any round posted. `on_quiet()` runs after each
// quiet round (the scout's chores that should not delay a reply).
template <bool kPrefetch, class ServeInline, class OnQuiet>
__device__ ScoutResult scout_until_work(ScoutState& s, const KernelArgs& a, uint32_t lane, uint32_t budget,
                                        uint32_t spin_rounds, uint32_t sleep_ns, ServeInline& serve_inline,
                                        OnQuiet& on_quiet) {
  bool posted = false;
  for (uint32_t i = 0;; ++i) {
    ScoutResult r = scout_round<kPrefetch>(s, a, lane, serve_inline);
    posted |= r.posted;
    const bool quiet = !(r.posted || r.table_changed || r.quit);
    if (lane == 0) s.quiet_rounds = quiet ? s.quiet_rounds + 1 : 0;
    if (quiet) on_quiet();
    __syncwarp();
    if (r.left_for_block || r.table_changed || r.quit || i + 1 >= budget) {
      r.posted = posted;
      return r;
    }
    if (s.quiet_rounds > spin_rounds) __nanosleep(sleep_ns);
  }
}

}  // namespace rk::server::gpu
