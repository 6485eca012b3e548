// What the worker hands a persistent kernel at launch. Host and device code.
#pragma once
#include <cstdint>

#include "server/cuda/gpu_layout.h"
#include "shm/segment_layout.h"

namespace rk::server::gpu {

// After warp 1 of a one-block kernel served a lone caller, the scout's next
// look waits this long past the hand-off's end. Looking sooner, it often
// left before the caller's next request had landed and the request waited
// a whole round more (~2 µs); how often changed from run to run (5-40 % of
// calls over 6 µs). 600 ns cost the median 0.05 µs and took p90 from
// 6.5 to 4.4 µs and p99 from 10-11 to 6.6-7.0 µs (H100, same lease;
// docs/benchmarks.md, fourteenth session). RK_LOOK_EXTRA_NS overrides it.
inline constexpr uint32_t kLookExtraNs = 600;
// A round whose look missed a lone caller's next record looks again at
// once, up to this many times (scout.cuh). RK_RELOOKS overrides it.
inline constexpr uint32_t kRelooks = 2;

struct KernelArgs {
  ControlPage* control;       // mapped: commands in, telemetry out
  shm::KernelBell* bell;      // mapped: clients bump its seq after publishing
  const ChannelTable* table;  // mapped: written by the worker
  DeviceCursor* cursors;      // device memory, one per table entry
  KernelShared* shared;       // device memory: scout -> blocks
  uint64_t* pending;          // device memory, one pending_word() per slot: scout or bridge -> owner
  uint8_t* scratch;           // device memory, per block: stage_in + stage_out bytes
  uint32_t stage_in, stage_out;
  void* state;                // device memory, the kernel's persistent state
  uint32_t state_bytes;
  uint32_t instance;
  uint32_t builtin;           // rk::builtin::Builtin
  uint32_t staged;            // 1: a bridge copies the requests to device memory and posts their tails
  uint32_t lone_server;       // 1: a one-block kernel's warp 1 serves the scout's lone records (lone_server.cuh)
  uint32_t look_extra_ns;     // after warp 1 served, the scout's next look waits this long (kLookExtraNs)
  uint32_t relooks;           // a look that missed the lone caller is repeated up to this many times (kRelooks)
};

}  // namespace rk::server::gpu
