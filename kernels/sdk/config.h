// Compiler glue shared by every SDK header: the same source is compiled by
// g++ for the CPU backend and by nvcc for the CUDA backend.
//
// Rules for anything a handler touches: no STL, no heap, no exceptions, no
// kj; only <cstdint>/<cstddef> (and CUDA's own headers under __CUDACC__).
#pragma once
#include <cstddef>
#include <cstdint>

#if defined(__CUDACC__)
#define RK_HOST_DEVICE __host__ __device__
#else
#define RK_HOST_DEVICE
#endif

// Cap'n Proto's wire format is little-endian; so are x86-64, AArch64 and
// every CUDA GPU. The views read fields with plain loads.
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "RingKernel's Cap'n Proto view assumes a little-endian machine"
#endif

namespace rk {

// Loads and stores of naturally aligned values in message memory. memcpy
// keeps them free of strict-aliasing trouble (the same bytes are written as
// words and read as floats); with the alignment stated, g++ and nvcc both
// emit one plain load or store.
template <class T>
RK_HOST_DEVICE inline T load(const void* p) {
  T v;
  __builtin_memcpy(&v, __builtin_assume_aligned(p, sizeof(T)), sizeof(T));
  return v;
}

template <class T>
RK_HOST_DEVICE inline void store(void* p, T v) {
  __builtin_memcpy(__builtin_assume_aligned(p, sizeof(T)), &v, sizeof(T));
}

}  // namespace rk
