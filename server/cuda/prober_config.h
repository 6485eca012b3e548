// Whether a CUDA kernel gets the prober (server/cuda/worker/prober.cuh) and
// its stagger. Both the daemon (which then gives the kernel's request rings
// the mailbox, shm/ring_layout.h) and the worker (which the daemon starts,
// so it sees the same environment) decide with these. Host code only.
#pragma once
#include <cstdint>
#include <cstdlib>

namespace rk::server::gpu {

// RK_GPU_PROBER_NS: how long after the scout's look the prober reads the
// mailbox; 0 turns the prober (and the mailbox) off.
inline uint32_t prober_stagger_ns() {
  static const uint32_t ns = [] {
    const char* env = std::getenv("RK_GPU_PROBER_NS");
    return env && *env ? uint32_t(std::strtoul(env, nullptr, 10)) : 300u;
  }();
  return ns;
}

// A one-block kernel (grid 0 means 1) of at least two warps (block 0 means
// the default 256), whose scout serves lone records itself (warp-sized
// messages), on mapped memory: the latency configuration.
inline bool wants_prober(uint32_t grid, uint32_t block, bool block_per_message, bool staged) {
  return grid <= 1 && (block == 0 || block >= 64) && !block_per_message && !staged && prober_stagger_ns() != 0;
}

}  // namespace rk::server::gpu
