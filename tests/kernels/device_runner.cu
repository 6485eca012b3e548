#include "device_runner.h"

#include <cuda_runtime.h>

#include "kernels/builtin/builtins.h"
#include "kernels/sdk/dispatch.h"

namespace rk::test {
namespace {

struct RunBuiltin {
  builtin::Builtin which;
  __device__ void operator()(Context& ctx, MessageView in, Reply& out) const {
    if (!builtin::run_builtin(which, ctx, in, out)) out.fail(status::invalid_argument);
  }
};

struct Records {
  const uint64_t* words;
  const uint32_t* offsets;
  const uint32_t* lengths;
  uint32_t count;
};

__global__ void block_per_message(uint32_t which, Records in, uint64_t* replies, uint32_t capacity, bool zeroed,
                                  void* state, uint32_t state_bytes, uint32_t* reply_bytes, uint16_t* status) {
  extern __shared__ double scratch[];
  const uint32_t i = blockIdx.x;
  if (i >= in.count) return;  // uniform across the block
  Context ctx = Context::for_block(i, state, state_bytes, scratch);
  void* reply = replies + uint64_t(i) * (capacity / 8);
  const Handled h = handle_message(RunBuiltin{builtin::Builtin(which)}, ctx, in.words + in.offsets[i],
                                   in.lengths[i], reply, capacity, zeroed);
  ctx.sync();
  if (ctx.lane() == 0) {
    reply_bytes[i] = h.reply_bytes;
    status[i] = h.status;
  }
}

__global__ void thread_per_message(uint32_t which, Records in, uint64_t* replies, uint32_t capacity, bool zeroed,
                                   void* state, uint32_t state_bytes, uint32_t* reply_bytes, uint16_t* status) {
  const uint32_t i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= in.count) return;
  Context ctx(i, state, state_bytes);
  void* reply = replies + uint64_t(i) * (capacity / 8);
  const Handled h = handle_message(RunBuiltin{builtin::Builtin(which)}, ctx, in.words + in.offsets[i],
                                   in.lengths[i], reply, capacity, zeroed);
  reply_bytes[i] = h.reply_bytes;
  status[i] = h.status;
}

__global__ void warp_per_message(uint32_t which, Records in, uint64_t* replies, uint32_t capacity, bool zeroed,
                                 void* state, uint32_t state_bytes, uint32_t* reply_bytes, uint16_t* status) {
  const uint32_t i = (blockIdx.x * blockDim.x + threadIdx.x) / 32;
  if (i >= in.count) return;  // uniform across the warp
  Context ctx = Context::for_warp(i, state, state_bytes);
  void* reply = replies + uint64_t(i) * (capacity / 8);
  const Handled h = handle_message(RunBuiltin{builtin::Builtin(which)}, ctx, in.words + in.offsets[i],
                                   in.lengths[i], reply, capacity, zeroed);
  ctx.sync();
  if (ctx.lane() == 0) {
    reply_bytes[i] = h.reply_bytes;
    status[i] = h.status;
  }
}

// Device buffers freed on every path.
struct DeviceMemory {
  void* p = nullptr;
  ~DeviceMemory() {
    if (p) cudaFree(p);
  }
};

}  // namespace

bool device_available() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
}

std::string run_on_device(const DeviceRun& run, const DeviceBatch& batch, DeviceReplies* out) {
  const size_t n = batch.size();
  const size_t reply_words = run.reply_capacity / 8 * n;
  const size_t state_words = run.state_bytes / 8 + 1;
  DeviceMemory words, offsets, lengths, replies, bytes, status, state;
  auto check = [](cudaError_t e, const char* what) {
    return e == cudaSuccess ? std::string() : std::string(what) + ": " + cudaGetErrorString(e);
  };
  std::string err;
  if (!(err = check(cudaMalloc(&words.p, batch.words.size() * 8 + 8), "malloc")).empty()) return err;
  if (!(err = check(cudaMalloc(&offsets.p, n * 4 + 4), "malloc")).empty()) return err;
  if (!(err = check(cudaMalloc(&lengths.p, n * 4 + 4), "malloc")).empty()) return err;
  if (!(err = check(cudaMalloc(&replies.p, reply_words * 8 + 8), "malloc")).empty()) return err;
  if (!(err = check(cudaMalloc(&bytes.p, n * 4 + 4), "malloc")).empty()) return err;
  if (!(err = check(cudaMalloc(&status.p, n * 2 + 2), "malloc")).empty()) return err;
  if (!(err = check(cudaMalloc(&state.p, state_words * 8), "malloc")).empty()) return err;
  cudaMemcpy(words.p, batch.words.data(), batch.words.size() * 8, cudaMemcpyHostToDevice);
  cudaMemcpy(offsets.p, batch.offsets.data(), n * 4, cudaMemcpyHostToDevice);
  cudaMemcpy(lengths.p, batch.lengths.data(), n * 4, cudaMemcpyHostToDevice);
  cudaMemset(replies.p, run.zeroed ? 0 : 0xA5, reply_words * 8);
  cudaMemset(state.p, 0, state_words * 8);

  const Records records{static_cast<const uint64_t*>(words.p), static_cast<const uint32_t*>(offsets.p),
                        static_cast<const uint32_t*>(lengths.p), uint32_t(n)};
  auto* reply_words_p = static_cast<uint64_t*>(replies.p);
  auto* bytes_p = static_cast<uint32_t*>(bytes.p);
  auto* status_p = static_cast<uint16_t*>(status.p);
  if (run.mode == LaneMode::block_per_message) {
    block_per_message<<<uint32_t(n), run.threads, Context::reduce_scratch_bytes(run.threads)>>>(
        run.builtin, records, reply_words_p, run.reply_capacity, run.zeroed, state.p, run.state_bytes, bytes_p,
        status_p);
  } else if (run.mode == LaneMode::warp_per_message) {
    const uint32_t warps = run.threads / 32;
    warp_per_message<<<uint32_t((n + warps - 1) / warps), warps * 32>>>(
        run.builtin, records, reply_words_p, run.reply_capacity, run.zeroed, state.p, run.state_bytes, bytes_p,
        status_p);
  } else {
    thread_per_message<<<uint32_t((n + run.threads - 1) / run.threads), run.threads>>>(
        run.builtin, records, reply_words_p, run.reply_capacity, run.zeroed, state.p, run.state_bytes, bytes_p,
        status_p);
  }
  if (!(err = check(cudaGetLastError(), "launch")).empty()) return err;
  if (!(err = check(cudaDeviceSynchronize(), "kernel")).empty()) return err;

  out->words.resize(reply_words);
  out->bytes.resize(n);
  out->status.resize(n);
  out->state.resize(state_words);
  cudaMemcpy(out->words.data(), replies.p, reply_words * 8, cudaMemcpyDeviceToHost);
  cudaMemcpy(out->bytes.data(), bytes.p, n * 4, cudaMemcpyDeviceToHost);
  cudaMemcpy(out->status.data(), status.p, n * 2, cudaMemcpyDeviceToHost);
  return check(cudaMemcpy(out->state.data(), state.p, state_words * 8, cudaMemcpyDeviceToHost), "copy back");
}

}  // namespace rk::test
