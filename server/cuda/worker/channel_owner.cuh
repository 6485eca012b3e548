// Which block serves which channel slot. A one-block kernel serves every
// slot in block 0. With more blocks, block 0 belongs to the scout alone and
// slot i goes to block 1 + i % (grid - 1): the scout is block 0's warp 0,
// and while a block serves a span its whole team is busy, so a scout that
// served its block's spans posted nothing to anyone meanwhile (at grid 16
// with 64 KiB requests the blocks waited 20% of the time for a post).
#pragma once
#include <cstdint>

namespace rk::server::gpu {

__device__ inline uint32_t owner_block(uint32_t slot) {
  return gridDim.x == 1 ? 0u : 1u + slot % (gridDim.x - 1);
}

// The slots block `blockIdx.x` owns are first, first + step, ...; a block
// that owns none gets first == UINT32_MAX.
__device__ inline uint32_t first_owned_slot() {
  if (gridDim.x == 1) return 0;
  return blockIdx.x == 0 ? UINT32_MAX : blockIdx.x - 1;
}
__device__ inline uint32_t owned_slot_step() { return gridDim.x == 1 ? 1u : gridDim.x - 1; }

}  // namespace rk::server::gpu
