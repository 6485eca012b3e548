// Loads and stores the persistent kernel uses on memory it shares with the
// host (system scope: mapped pinned memory, across PCIe) and with its other
// blocks (device scope: L2). Plain PTX ld/st with the given order; nothing
// here is a read-modify-write on host memory (PCIe hosts have none).
#pragma once
#include <cuda/atomic>

#include <cstdint>

namespace rk::server::gpu {

template <class T>
__device__ T load_acquire(const T* p) {
  return cuda::atomic_ref<T, cuda::thread_scope_system>(*const_cast<T*>(p)).load(cuda::std::memory_order_acquire);
}
template <class T>
__device__ T load_relaxed(const T* p) {
  return cuda::atomic_ref<T, cuda::thread_scope_system>(*const_cast<T*>(p)).load(cuda::std::memory_order_relaxed);
}
template <class T>
__device__ void store_release(T* p, T v) {
  cuda::atomic_ref<T, cuda::thread_scope_system>(*p).store(v, cuda::std::memory_order_release);
}
template <class T>
__device__ void store_relaxed(T* p, T v) {
  cuda::atomic_ref<T, cuda::thread_scope_system>(*p).store(v, cuda::std::memory_order_relaxed);
}
// Two adjacent words (16-byte aligned) in one load instruction, each
// single-copy atomic on its own (not the pair).
__device__ inline void load_relaxed_pair(const uint64_t* p, uint64_t& first, uint64_t& second) {
  asm volatile("ld.relaxed.sys.global.v2.u64 {%0, %1}, [%2];" : "=l"(first), "=l"(second) : "l"(p) : "memory");
}
// Two adjacent words (16-byte aligned) in one store instruction.
__device__ inline void store_relaxed_pair(uint64_t* p, uint64_t first, uint64_t second) {
  asm volatile("st.relaxed.sys.global.v2.u64 [%0], {%1, %2};" ::"l"(p), "l"(first), "l"(second) : "memory");
}
// After a group of relaxed loads issued together: one fence, one round trip.
__device__ inline void acquire_fence_system() {
  cuda::atomic_thread_fence(cuda::std::memory_order_acquire, cuda::thread_scope_system);
}
__device__ inline void release_fence_system() {
  cuda::atomic_thread_fence(cuda::std::memory_order_release, cuda::thread_scope_system);
}

template <class T>
__device__ T load_acquire_gpu(const T* p) {
  return cuda::atomic_ref<T, cuda::thread_scope_device>(*const_cast<T*>(p)).load(cuda::std::memory_order_acquire);
}
template <class T>
__device__ T load_relaxed_gpu(const T* p) {
  return cuda::atomic_ref<T, cuda::thread_scope_device>(*const_cast<T*>(p)).load(cuda::std::memory_order_relaxed);
}
template <class T>
__device__ void store_relaxed_gpu(T* p, T v) {
  cuda::atomic_ref<T, cuda::thread_scope_device>(*p).store(v, cuda::std::memory_order_relaxed);
}
template <class T>
__device__ void store_release_gpu(T* p, T v) {
  cuda::atomic_ref<T, cuda::thread_scope_device>(*p).store(v, cuda::std::memory_order_release);
}

template <class T>
__device__ bool compare_exchange_acquire_gpu(T* p, T expected, T desired) {
  return cuda::atomic_ref<T, cuda::thread_scope_device>(*p).compare_exchange_strong(
      expected, desired, cuda::std::memory_order_acquire, cuda::std::memory_order_relaxed);
}

__device__ inline uint64_t globaltimer() {
  uint64_t t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
}

}  // namespace rk::server::gpu
