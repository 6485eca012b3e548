// rk::Context: what a handler knows besides its message. The kernel
// instance, its persistent state, and the lanes that run the handler
// together, so that one source serves both backends:
//
//   host (CPU backend): one lane; sync() does nothing, reduce_add() returns
//     its argument.
//   device, one block per message: every thread of the block is a lane and
//     runs the handler on the same request and reply records. The builder is
//     deterministic, so all lanes lay out the reply identically; a handler
//     builds the reply's shape, calls sync(), then lets each lane fill its
//     share (`for (i = lane(); i < n; i += lanes())`). Control flow that
//     reaches sync() or reduce_add() must be the same for every lane, which
//     holds when it depends only on the message.
//   device, one warp per message: the same with the 32 lanes of a warp;
//     sync() is a warp barrier, so several warps of a block serve several
//     messages at once. The lanes share the copies (coalesced) and run the
//     parsing side by side on the same addresses (broadcast loads).
//   device, one thread per message: construct as on the host (one lane).
#pragma once
#include <cstdint>

#include "kernels/sdk/config.h"

namespace rk {

class Context {
 public:
  // One lane: the host, or a device thread that handles a message alone.
  RK_HOST_DEVICE Context(uint32_t instance, void* state, uint32_t state_bytes)
      : instance_(instance), state_bytes_(state_bytes), state_(state) {}

#if defined(__CUDACC__)
  // Every thread of the calling block is a lane. `scratch` is shared memory
  // of at least reduce_scratch_bytes(blockDim.x), for reduce_add().
  __device__ static Context for_block(uint32_t instance, void* state, uint32_t state_bytes, double* scratch) {
    Context c(instance, state, state_bytes);
    c.lane_ = threadIdx.x;
    c.lanes_ = blockDim.x;
    c.scratch_ = scratch;
    return c;
  }
  // The 32 lanes of the calling warp (every lane must call it, with the
  // same message). reduce_add() needs no scratch: it shuffles.
  __device__ static Context for_warp(uint32_t instance, void* state, uint32_t state_bytes) {
    Context c(instance, state, state_bytes);
    c.lane_ = threadIdx.x % 32;
    c.lanes_ = 32;
    c.warp_ = true;
    return c;
  }
#endif
  RK_HOST_DEVICE static constexpr uint32_t reduce_scratch_bytes(uint32_t lanes) {
    return lanes * uint32_t(sizeof(double));
  }

  RK_HOST_DEVICE uint32_t instance() const { return instance_; }
  // The kernel's persistent state: bytes allocated and zeroed at launch,
  // kept across messages, shared by every lane.
  RK_HOST_DEVICE void* state() const { return state_; }
  RK_HOST_DEVICE uint32_t state_bytes() const { return state_bytes_; }
  // The state as a T, or nullptr if it is too small or misaligned for one.
  template <class T>
  RK_HOST_DEVICE T* state_as() const {
    if (state_ == nullptr || state_bytes_ < sizeof(T) || reinterpret_cast<uintptr_t>(state_) % alignof(T) != 0)
      return nullptr;
    return static_cast<T*>(state_);
  }

  RK_HOST_DEVICE uint32_t lane() const { return lane_; }
  RK_HOST_DEVICE uint32_t lanes() const { return lanes_; }

  // Every lane waits for every other (a block or warp barrier).
  RK_HOST_DEVICE void sync() const {
#if defined(__CUDA_ARCH__)
    if (warp_) __syncwarp();
    else if (lanes_ > 1) __syncthreads();
#endif
  }

  // The sum of `v` over all lanes, returned to every lane. On the device a
  // tree (through shared scratch, or shuffles in a warp): deterministic for
  // a given number of lanes.
  RK_HOST_DEVICE double reduce_add(double v) const {
#if defined(__CUDA_ARCH__)
    if (warp_) {
      for (uint32_t offset = 16; offset > 0; offset /= 2) v += __shfl_xor_sync(0xffffffffu, v, offset);
      return v;
    }
    if (lanes_ > 1) {
      scratch_[lane_] = v;
      __syncthreads();
      uint32_t half = 1;
      while (half * 2 < lanes_) half *= 2;  // largest power of two below lanes_
      for (; half > 0; half /= 2) {
        if (lane_ < half && lane_ + half < lanes_) scratch_[lane_] += scratch_[lane_ + half];
        __syncthreads();
      }
      const double total = scratch_[0];
      __syncthreads();  // everyone has read it before scratch is reused
      return total;
    }
#endif
    return v;
  }

  // Copies `n` bytes, the lanes sharing the work word by word. Both
  // pointers must be 8-byte aligned (message memory always is). Each lane
  // keeps kInFlight loads in flight: a GPU thread issues in order, so a
  // load-store loop would wait out one memory latency per word.
  RK_HOST_DEVICE void copy(void* to, const void* from, uint32_t n) const {
    constexpr uint32_t kInFlight = 8;
    auto* dst = static_cast<uint8_t*>(to);
    const auto* src = static_cast<const uint8_t*>(from);
    const uint32_t words = n / 8;
    uint32_t i = lane_;
    // Not unrolled further: nvcc's unrolled remainders cost a small copy (a
    // 64 B echo) several taken branches, each dearer than a word's copy.
    RK_NO_UNROLL
    for (; i + (kInFlight - 1) * lanes_ < words; i += kInFlight * lanes_) {
      uint64_t w[kInFlight];
      for (uint32_t j = 0; j < kInFlight; ++j) w[j] = load<uint64_t>(src + 8ull * (i + j * lanes_));
      for (uint32_t j = 0; j < kInFlight; ++j) store<uint64_t>(dst + 8ull * (i + j * lanes_), w[j]);
    }
    RK_NO_UNROLL
    for (; i < words; i += lanes_) store<uint64_t>(dst + 8ull * i, load<uint64_t>(src + 8ull * i));
    if (n % 8 != 0 && lane_ == 0)
      for (uint32_t b = words * 8; b < n; ++b) dst[b] = src[b];
  }

 private:
  uint32_t instance_ = 0;
  uint32_t state_bytes_ = 0;
  void* state_ = nullptr;
  uint32_t lane_ = 0;
  uint32_t lanes_ = 1;
  double* scratch_ = nullptr;
  bool warp_ = false;
};

}  // namespace rk
