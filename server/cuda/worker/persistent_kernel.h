// Host side of the persistent kernel: launch and occupancy queries.
#pragma once
#include <cuda_runtime.h>

#include "server/cuda/worker/kernel_args.h"

namespace rk::server::gpu {

// There is one persistent kernel per built-in (KernelArgs::builtin picks),
// and per one block or several (the grid picks).
// Allows the kernels their dynamic shared memory (the small-span stages) and
// prefers this share of each SM's L1 as shared memory (0..100; -1: the
// driver's choice). One fixed split for every persistent kernel, so a later
// launch never needs a different split on an SM that already runs one (an
// SM changes its split only when idle). Call once, before any launch.
cudaError_t configure_persistent_kernel(int carveout_percent);
// Dynamic shared memory the kernel needs for `block` threads.
size_t persistent_kernel_smem(uint32_t block);
// How many blocks of `block` threads of built-in `builtin`'s kernel fit on
// one SM at once.
cudaError_t persistent_kernel_blocks_per_sm(uint32_t builtin, uint32_t grid, uint32_t block, int* out);
cudaError_t launch_persistent_kernel(const KernelArgs& args, uint32_t grid, uint32_t block, cudaStream_t stream);
// A kernel that traps at once: the fault path's test.
cudaError_t launch_trap_kernel(cudaStream_t stream);
// A kernel that spins without a heartbeat until `cb` says terminate: the
// hang watchdog's test.
cudaError_t launch_hang_kernel(const ControlBlock* cb, cudaStream_t stream);
// A RINGKERNEL_ROUND_LOG build: writes the scout rounds' log
// (round_log.cuh) to `path`. Otherwise does nothing.
cudaError_t write_round_log(const char* path);

}  // namespace rk::server::gpu
