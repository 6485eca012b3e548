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

// What every lane shape runs: record `i` through the built-in, its lanes
// given by `ctx`; lane 0 reports.
struct Job {
  uint32_t which;
  Records in;
  uint64_t* replies;
  uint32_t capacity;
  bool zeroed;
  void* state;
  uint32_t state_bytes;
  uint32_t* reply_bytes;
  uint16_t* status;
};

__device__ void run_record(const Job& job, uint32_t i, Context& ctx) {
  void* reply = job.replies + uint64_t(i) * (job.capacity / 8);
  const Handled h = handle_message(RunBuiltin{builtin::Builtin(job.which)}, ctx, job.in.words + job.in.offsets[i],
                                   job.in.lengths[i], reply, job.capacity, job.zeroed);
  ctx.sync();
  if (ctx.lane() == 0) {
    job.reply_bytes[i] = h.reply_bytes;
    job.status[i] = h.status;
  }
}

__global__ void block_per_message(Job job) {
  extern __shared__ double scratch[];
  const uint32_t i = blockIdx.x;
  if (i >= job.in.count) return;  // uniform across the block
  Context ctx = Context::for_block(i, job.state, job.state_bytes, scratch);
  run_record(job, i, ctx);
}

__global__ void thread_per_message(Job job) {
  const uint32_t i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= job.in.count) return;
  Context ctx(i, job.state, job.state_bytes);
  run_record(job, i, ctx);
}

__global__ void warp_per_message(Job job) {
  const uint32_t i = (blockIdx.x * blockDim.x + threadIdx.x) / 32;
  if (i >= job.in.count) return;  // uniform across the warp
  Context ctx = Context::for_warp(i, job.state, job.state_bytes);
  run_record(job, i, ctx);
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
  const Job job{run.builtin, records, static_cast<uint64_t*>(replies.p), run.reply_capacity, run.zeroed, state.p,
                run.state_bytes, static_cast<uint32_t*>(bytes.p), static_cast<uint16_t*>(status.p)};
  const uint32_t count = uint32_t(n);
  if (run.mode == LaneMode::block_per_message) {
    block_per_message<<<count, run.threads, Context::reduce_scratch_bytes(run.threads)>>>(job);
  } else if (run.mode == LaneMode::warp_per_message) {
    const uint32_t warps = run.threads / 32;
    warp_per_message<<<(count + warps - 1) / warps, warps * 32>>>(job);
  } else {
    thread_per_message<<<(count + run.threads - 1) / run.threads, run.threads>>>(job);
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
