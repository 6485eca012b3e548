// Atomic updates of a kernel's persistent state. Lanes of a block, several
// blocks, or several CPU worker threads may handle messages of one kernel
// instance at once; state they share changes only through these.
#pragma once
#include <cstdint>

#include "kernels/sdk/config.h"

namespace rk {

// *p += v, atomically; returns the new value. Relaxed: the value itself is
// all that is shared. Wraps around like two's complement.
RK_HOST_DEVICE inline int64_t atomic_add_fetch(int64_t* p, int64_t v) {
#if defined(__CUDA_ARCH__)
  const auto old = atomicAdd(reinterpret_cast<unsigned long long*>(p), static_cast<unsigned long long>(v));
  return static_cast<int64_t>(old + static_cast<unsigned long long>(v));
#else
  return __atomic_add_fetch(p, v, __ATOMIC_RELAXED);
#endif
}

}  // namespace rk
