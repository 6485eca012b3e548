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
// A loop nvcc must not unroll (its unrolled remainders are chains of taken
// branches, dearer on a GPU than the iterations they save).
#define RK_NO_UNROLL _Pragma("unroll 1")
#else
#define RK_HOST_DEVICE
#define RK_NO_UNROLL
#endif

// Cap'n Proto's wire format is little-endian; so are x86-64, AArch64 and
// every CUDA GPU. The views read fields with plain loads.
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "RingKernel's Cap'n Proto view assumes a little-endian machine"
#endif

namespace rk {

// Loads and stores of naturally aligned values in message memory, free of
// strict-aliasing trouble (the same bytes are written as words and read as
// floats). On the host memcpy does it, and g++ emits one plain load or
// store. nvcc lowers that memcpy byte by byte whenever it cannot prove the
// alignment itself (16 st.shared.u8 for one u64 field of a reply, whatever
// __builtin_assume_aligned says), so device code goes through a may_alias
// type that states the alignment.
#if defined(__CUDA_ARCH__)
template <class T>
using MessageAccess = T __attribute__((may_alias, aligned(sizeof(T))));

template <class T>
__device__ inline T load(const void* p) {
  return *static_cast<const MessageAccess<T>*>(p);
}

template <class T>
__device__ inline void store(void* p, T v) {
  *static_cast<MessageAccess<T>*>(p) = v;
}
#else
template <class T>
inline T load(const void* p) {
  T v;
  __builtin_memcpy(&v, __builtin_assume_aligned(p, sizeof(T)), sizeof(T));
  return v;
}

template <class T>
inline void store(void* p, T v) {
  __builtin_memcpy(__builtin_assume_aligned(p, sizeof(T)), &v, sizeof(T));
}
#endif

}  // namespace rk
