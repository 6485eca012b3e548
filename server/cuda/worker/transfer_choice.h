// What "auto" means for a built-in kernel, from the mapped vs staged sweeps
// in docs/transfer.md (same runs):
//  * small messages (echo, counter): mapped. Staged costs a host thread's
//    hop and a DMA per span: 17.4 vs 8.6 µs per 64 B call, 1.3 M vs 8.7 M
//    msg/s from 8 clients (H200);
//  * big payloads served a block per message (saxpy, reduce_sum) on one or
//    two serving blocks (grid 1-3: with a grid over 1, block 0 is the
//    scout's): staged. The copy engines feed a block faster than it reads
//    host memory itself: 64 KiB requests from 8 clients, 7.9 vs 3.7 GB/s
//    at grid 1, 9.1 vs 7.5 at grid 3 (H100, sixth session);
//  * the same on more blocks: mapped. Eight blocks read in parallel, 18.6
//    vs 7.2 GB/s from 8 clients (H200), and the bridge stays near 9 GB/s.
#pragma once
#include <cstdint>

#include "kernels/builtin/builtins.h"
#include "server/transfer.h"

namespace rk::server::gpu {

// Grid 3: two serving blocks, the most measured where staged still wins.
inline constexpr uint32_t kStagedMaxGrid = 3;

inline Transfer choose_transfer(uint32_t builtin, uint32_t grid) {
  const bool bulk = rk::builtin::block_per_message(rk::builtin::Builtin(builtin));
  return bulk && grid <= kStagedMaxGrid ? Transfer::staged : Transfer::mapped;
}

}  // namespace rk::server::gpu
