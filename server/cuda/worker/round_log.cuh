// The round log: a diagnostic build's record of every scout round (cmake
// -DRINGKERNEL_ROUND_LOG=ON), to see where a lone caller's slow round trips
// come from: a round that missed the request (the caller's next round trip
// waits a whole round), block 0's trips, slow loads or slow serving. The
// worker writes the newest kRoundLogEntries rounds of the kernel that
// exits to $RK_ROUND_LOG.<kernel id> (persistent_kernel.cu), and
// bench/round_log.py reads them. Built without it, log_round() is no code:
// the log costs a global atomic per round.
#pragma once
#include <cstdint>

#include "server/cuda/worker/device_atomics.cuh"

namespace rk::server::gpu {

inline constexpr uint32_t kRoundLogEntries = 1u << 20;

// Steps of a round that served first, stamped by lane 0 of the warp that
// passes them (the scout, or warp 1 serving for it: lone_server.cuh): where
// the time between the loads' landing and the next round goes
// (bench/round_log.py prints each step's share).
enum RoundMark : uint32_t {
  kMarkVerdict,      // the round's verdict taken (serve first or not)
  kMarkServeEntry,   // serve_inline entered
  kMarkCursor,       // the channel's cursor words in and checked
  kMarkLoneStart,    // the lone path's first stamp
  kMarkStaged,       // the record in shared memory
  kMarkPlanned,      // reply room and plan settled
  kMarkHandled,      // the handler done, the reply sealed
  kMarkPublished,    // the reply and the indices stored
  kMarkAccounted,    // the span's telemetry taken
  kMarkServed,       // serve_inline returned
  kMarkInlineDone,   // serve_moved_inline returned
  kMarkPosted,       // the tail posted; the round's own counters next
  kRoundMarks
};
inline constexpr uint16_t kMarkAbsent = 0xffff;

// One round. Times are %globaltimer ns; `start` is its low 32 bits.
struct RoundLogEntry {
  uint32_t start;
  uint32_t loads_ns;  // until the round's loads were in
  uint32_t total_ns;  // until the round ended (serving included)
  uint32_t flags;     // RoundFlag bits; bits 8..31: the fence's ns, or in a round
                      // that served first, ns from its loads to its reply's publication
  uint16_t marks[kRoundMarks];  // ns after the loads were in, or kMarkAbsent (not passed this round)
  uint32_t cycles;              // SM clock cycles from the log's previous entry to this one
  uint32_t looks;               // RoundLook bits: what the lone caller's looks saw (scout.cuh)
};

// What a round's looks at the lone caller's record saw (RoundLogEntry::looks).
enum RoundLook : uint32_t {
  kLookRelooksMask = 3u,        // bits 0-1: looks repeated after a miss
  kLookFirstMoved = 1u << 2,    // the first look saw the caller's tail moved
  kLookValid = 1u << 3,         // the words finally taken were the record (digest matched)
  kLookFirstNsShift = 8,        // bits 8-19: the first look's round trip, in 16 ns units
  kLookLastNsShift = 20,        // bits 20-31: the last repeated look's round trip, in 16 ns units
};

enum RoundFlag : uint32_t {
  kRoundNotQuiet = 1u << 0,  // it saw a move, a bell, a command or a sweep was due
  kRoundMoved = 1u << 1,     // it posted or served something
  kRoundCommands = 1u << 2,  // it read the command words and the bell
  kRoundPrefetch = 1u << 3,  // it prefetched its target's next record
  kRoundSweep = 1u << 4,     // it read every cold channel's tail
  kRoundServeFirst = 1u << 5,  // it served before posting (no fence)
  kRoundPrefetchHit = 1u << 6,  // the prefetched words were the record
};

#if RK_ROUND_LOG
__device__ RoundLogEntry g_round_log[kRoundLogEntries];
__device__ uint32_t g_round_count;
__device__ uint64_t g_round_marks[kRoundMarks];
__device__ uint64_t g_round_clock;  // clock64() at the last entry: cycles against ns give the SM's clock
__device__ uint32_t g_round_looks;  // RoundLook bits of the round in progress

// Lane 0 of the scout: a look at the lone caller that left at `left`
// (log_clock()) is in; `first`: the round's first; `moved`: it saw the tail move.
__device__ inline void log_look(uint64_t left, bool first, bool moved) {
  const uint32_t units = uint32_t((globaltimer() - left) / 16);
  const uint32_t ns = units < 0xfffu ? units : 0xfffu;
  uint32_t v = g_round_looks;
  if (first) {
    v = (moved ? kLookFirstMoved : 0u) | ns << kLookFirstNsShift;
  } else {
    v = (v & ~(0xfffu << kLookLastNsShift)) | ns << kLookLastNsShift;
    if ((v & kLookRelooksMask) != kLookRelooksMask) ++v;
  }
  g_round_looks = v;
}
__device__ inline void log_look_valid(bool valid) {
  if (valid) g_round_looks |= kLookValid;
}
__device__ inline uint64_t log_clock() { return globaltimer(); }

// Lane 0 of the scout, or of warp 1 while it serves for the scout.
__device__ inline void mark_round_at(RoundMark m, uint64_t t) { g_round_marks[m] = t; }
__device__ inline void mark_round(RoundMark m) { mark_round_at(m, globaltimer()); }

// Lane 0, at the end of a round.
__device__ inline void log_round(uint64_t start, uint64_t loaded_at, uint64_t fenced_at, uint32_t flags) {
  const uint32_t i = atomicAdd(&g_round_count, 1u) % kRoundLogEntries;
  const uint64_t fence = fenced_at > loaded_at ? fenced_at - loaded_at : 0;
  RoundLogEntry e{uint32_t(start), uint32_t(loaded_at - start), uint32_t(globaltimer() - start),
                  flags | uint32_t(fence < (1u << 24) ? fence : (1u << 24) - 1) << 8, {}, 0, g_round_looks};
  g_round_looks = 0;
  const uint64_t clock = clock64();
  e.cycles = uint32_t(clock - g_round_clock);
  g_round_clock = clock;
  // A mark older than this round's loads was passed in an earlier round.
  for (uint32_t m = 0; m < kRoundMarks; ++m) {
    const uint64_t t = g_round_marks[m];
    e.marks[m] = t >= loaded_at && t - loaded_at < kMarkAbsent ? uint16_t(t - loaded_at) : kMarkAbsent;
  }
  g_round_log[i] = e;
}
#else
__device__ inline void log_round(uint64_t, uint64_t, uint64_t, uint32_t) {}
__device__ inline void mark_round_at(RoundMark, uint64_t) {}
__device__ inline void mark_round(RoundMark) {}
__device__ inline void log_look(uint64_t, bool, bool) {}
__device__ inline void log_look_valid(bool) {}
__device__ inline uint64_t log_clock() { return 0; }
#endif

}  // namespace rk::server::gpu
