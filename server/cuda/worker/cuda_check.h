// A CUDA error in the worker is fatal: a sticky device fault poisons the
// whole context, so the daemon restarts the worker rather than trust it.
#pragma once
#include <cuda.h>
#include <cuda_runtime.h>

#include <cstdio>
#include <cstdlib>

namespace rk::server::gpu {

inline void die_on(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return;
  std::fprintf(stderr, "ringkernel-cuda-worker: %s: %s\n", what, cudaGetErrorString(e));
  std::_Exit(3);
}

// A driver call's error (the worker links no libcuda, so no name for it).
inline void die_on(CUresult e, const char* what) {
  if (e == CUDA_SUCCESS) return;
  std::fprintf(stderr, "ringkernel-cuda-worker: %s: driver error %d\n", what, int(e));
  std::_Exit(3);
}

}  // namespace rk::server::gpu
