// Memory the GPU worker shares with its persistent kernels: plain data in
// mapped pinned host memory (or device memory where noted), no pointers
// except device addresses stored as integers. Included by host code, device
// code and the daemon (which reads the control page but never touches CUDA).
#pragma once
#include <cstdint>

#include "server/control_block.h"

namespace rk::server::gpu {

inline constexpr uint32_t kMaxBlocks = 128;
// Threads per block of a persistent kernel: the kernel is compiled for
// this bound (it caps its registers at 128, so two blocks of 256 fit an SM).
inline constexpr uint32_t kMaxBlockThreads = 512;
inline constexpr uint32_t kMaxChannels = 256;
// A reply may be at most this much larger than its request unless the
// kernel declares otherwise: the GPU reserves reply space before it runs
// the handlers, many at once (docs/architecture.md, "GPU replies").
inline constexpr uint32_t kReplySlack = 256;

// Per block, written by that block only.
struct alignas(128) BlockStats {
  uint64_t heartbeat_ns;      // %globaltimer at the block's last loop iteration
  uint64_t processed;
  uint64_t errors;
  uint64_t latency_sum_ns;
  uint64_t latency_max_ns;
  uint64_t backpressure;
  uint64_t seen_table_epoch;  // the channel table version this block uses
  uint32_t parked;            // 1: idle, backing off
  uint16_t last_error;
  uint16_t exited;            // 1: left the loop
  uint64_t batches;           // spans served (processed / batches = messages per span)
  uint64_t rounds;            // loop iterations, written with the heartbeat
  uint64_t phase_ns[4];       // time spent: copy in, plan, handlers, copy out + publish
  uint64_t posted_to_serve_ns;   // sum: scout saw the tail -> this block starts the span
  uint64_t publish_to_posted_ns; // sum: this block published -> the scout saw the channel's next tail
};
static_assert(sizeof(BlockStats) == 128);

// The scout's counters (block 0, warp 0, lane 0 writes them every 256
// rounds): how its time splits between quiet polling and the rounds that
// found work. Sums in ns of %globaltimer.
struct alignas(128) ScoutStats {
  uint64_t rounds;          // all rounds
  uint64_t moved_rounds;    // rounds that saw a tail move
  uint64_t sweeps;          // rounds that read every channel's tail
  uint64_t quiet_load_ns;   // quiet rounds: the loads' round trip
  uint64_t moved_load_ns;   // rounds that saw a move: the loads' round trip
  uint64_t fence_ns;        // ... their acquire fence
  uint64_t post_ns;         // ... posting, the sweep and serving inline, to the round's end
  uint64_t inline_spans;    // spans the scout served itself
  uint64_t command_rounds;  // quiet rounds that also read the command words and the bell
  uint64_t command_load_ns; // ... their loads' round trip (also in quiet_load_ns)
  uint64_t lone_records;    // inline spans that took the lone-record path (lone_record.cuh)
  uint64_t prefetched_records;  // ... of them, read with their tail (tail_prefetch.cuh)
  uint64_t unordered_replies;   // lone records whose reply went out unordered (shm/tail_digest.h)
  uint64_t server_records;      // lone records served by block 0's warp 1 (lone_server.cuh)
  uint64_t relooks;             // looks again at a lone caller's record after a look missed it (scout.cuh)
  uint64_t relook_hits;         // ... that found its tail moved
};
static_assert(sizeof(ScoutStats) == 128);

// The control page: created by the daemon (it reads telemetry and writes
// commands straight into it), mapped and registered by the worker.
struct ControlPage {
  ControlBlock cb;
  BlockStats blocks[kMaxBlocks];
  ScoutStats scout;
};
inline constexpr uint64_t kControlPageBytes = 32768;
static_assert(sizeof(ControlPage) + 128 <= kControlPageBytes);  // + the segment header

// One channel as the kernel sees it. Written by the worker only, read by
// the GPU after it observes a new table_epoch.
struct DeviceChannel {
  uint64_t request_ring;  // device address of the RingHeader (mapped host memory)
  uint64_t request_data;  // where the kernel reads records: the ring's buffer (mapped) or its mirror (staged)
  uint64_t reply_ring;
  uint64_t capacity;
  uint64_t key;           // (session << 32) | slot: new key = fresh cursors
  uint32_t max_record;
  uint32_t live;          // 0: a hole in the table
  uint32_t unordered_replies;  // the reply ring takes kTailUnordered (shm/tail_digest.h)
  uint32_t reserved;
};

struct ChannelTable {
  uint32_t count;         // entries in use (including holes)
  uint32_t pad;
  DeviceChannel channels[kMaxChannels];
};

// Device-memory cursors of one channel: where the kernel has read the
// requests up to and written the replies up to, with a copy of its table
// entry (device memory is cached; the mapped table costs a PCIe read per
// access).
// Written by the block that owns the channel (channel_owner.cuh); the scout
// reads `read` and `stalled` to tell when a terminating kernel has drained.
struct DeviceCursor {
  DeviceChannel ch;
  uint64_t key;
  uint64_t read;          // request position consumed (published as head)
  uint64_t reply_tail;    // reply position produced (published as tail)
  uint64_t reply_head;    // last reply head seen from the client
  uint64_t stalled;       // read + 1 when the last try at `read` made no progress
  uint64_t busy;          // 1 while served: a block other than 0 and the scout may both try (claim_channel)
};

// A request tail as the scout posts it to the owning block: the low 16 bits
// of the channel's key (a slot reused for another channel never takes an
// older channel's tail) and the low 48 bits of the tail (the owner rebuilds
// the rest from its own read position; a channel holds far less than 2^48).
inline constexpr uint64_t kPendingTailBits = 48;
inline constexpr uint64_t kPendingTailMask = (uint64_t(1) << kPendingTailBits) - 1;
inline constexpr uint64_t pending_word(uint64_t key, uint64_t tail) {
  return (key << kPendingTailBits) | (tail & kPendingTailMask);
}

// Device memory shared by the blocks of one kernel. Only the scout (block
// 0, warp 0, the one warp that polls host memory) writes it; the others
// poll it in L2 and never touch PCIe to find work. The posted tails
// themselves live apart (KernelArgs::pending, see post_words.h).
struct KernelShared {
  uint64_t table_epoch;                // the channel table version the scout uses
  uint32_t quit;                       // 1: leave the loop (terminated and drained)
  uint32_t pad;
  uint64_t posted_at[kMaxChannels];    // %globaltimer when it was posted (telemetry)
};

}  // namespace rk::server::gpu
