// What "auto" means for a built-in kernel, from the mapped vs staged sweep
// in docs/transfer.md (H200, same runs):
//  * small messages (echo, counter): mapped. Staged costs a host thread's
//    hop and a DMA per span: 17.4 vs 8.6 µs per 64 B call, 1.3 M vs 8.7 M
//    msg/s from 8 clients;
//  * big payloads served a block per message (saxpy, reduce_sum) on one or
//    two blocks: staged. One block reads host memory at 3-4 GB/s, the copy
//    engines feed it 5.4 (64 KiB requests; 1.1-1.4x at 4-16 KiB);
//  * the same on more blocks: mapped. Eight blocks read in parallel, 18.6
//    vs 7.2 GB/s from 8 clients.
#pragma once
#include <cstdint>

#include "kernels/builtin/builtins.h"
#include "server/transfer.h"

namespace rk::server::gpu {

// Measured when every block served channels; with a grid over 1 block 0
// is now the scout's, so grid 2 has one serving block (not re-measured).
inline constexpr uint32_t kStagedMaxGrid = 2;

inline Transfer choose_transfer(uint32_t builtin, uint32_t grid) {
  const bool bulk = rk::builtin::block_per_message(rk::builtin::Builtin(builtin));
  return bulk && grid <= kStagedMaxGrid ? Transfer::staged : Transfer::mapped;
}

}  // namespace rk::server::gpu
