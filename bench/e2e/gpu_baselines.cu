// gpu_baselines.h with CUDA. Each baseline is the plainest way to do the job
// without RingKernel, so the harness can print it beside RingKernel's figure.
#include <cuda/atomic>
#include <cuda_runtime.h>

#include <chrono>
#include <cstring>
#include <string>

#include "bench/e2e/floor_layout.h"
#include "bench/e2e/gpu_baselines.h"

namespace rk::bench {

namespace {

using Clock = std::chrono::steady_clock;

std::string failed(const char* what, cudaError_t e) { return std::string(what) + ": " + cudaGetErrorString(e); }

#define RK_CUDA_TRY(x)                                         \
  do {                                                         \
    cudaError_t e_ = (x);                                      \
    if (e_ != cudaSuccess) return failed(#x, e_);              \
  } while (0)

constexpr unsigned kThreads = 256;

// The floor: thread 0 polls the request sequence in host memory (one PCIe
// read per poll), the block copies the payload in 16-byte words with
// cache-bypassing loads, then thread 0 publishes the reply sequence after a
// system-scope fence.
__global__ void floor_kernel(unsigned char* mem, uint64_t payload, uint64_t rounds) {
  auto* req = reinterpret_cast<FloorLine*>(mem);
  auto* rep = req + 1;
  const uint4* in = reinterpret_cast<const uint4*>(mem + kFloorReqPayload);
  uint4* out = reinterpret_cast<uint4*>(mem + kFloorRepPayload);
  __shared__ int stop;
  cuda::atomic_ref<uint64_t, cuda::thread_scope_system> seq(req->seq), abort(req->abort), done(rep->seq);
  for (uint64_t i = 1; i <= rounds; ++i) {
    if (threadIdx.x == 0) {
      int s = 0;
      while (seq.load(cuda::std::memory_order_acquire) != i) {
        if (abort.load(cuda::std::memory_order_relaxed) != 0) {
          s = 1;
          break;
        }
      }
      stop = s;
    }
    __syncthreads();
    if (stop) return;
    for (uint64_t w = threadIdx.x; w < payload / 16; w += blockDim.x) out[w] = __ldcv(in + w);
    __threadfence_system();
    __syncthreads();
    if (threadIdx.x == 0) done.store(i, cuda::std::memory_order_release);
  }
}

__global__ void echo_kernel(const uint4* in, uint4* out, uint64_t words) {
  for (uint64_t w = blockIdx.x * blockDim.x + threadIdx.x; w < words; w += uint64_t(gridDim.x) * blockDim.x)
    out[w] = in[w];
}

unsigned blocks_for(size_t payload) {
  const size_t words = (payload + 15) / 16;
  return unsigned((words + kThreads - 1) / kThreads);
}

// Pinned host buffers and device buffers of one payload size, one stream.
struct Buffers {
  unsigned char *hin = nullptr, *hout = nullptr;
  uint4 *din = nullptr, *dout = nullptr;
  cudaStream_t stream = nullptr;
  ~Buffers() {
    if (stream) cudaStreamDestroy(stream);
    cudaFreeHost(hin);
    cudaFreeHost(hout);
    cudaFree(din);
    cudaFree(dout);
  }
  std::string allocate(size_t payload) {
    const size_t bytes = (payload + 15) / 16 * 16;
    RK_CUDA_TRY(cudaHostAlloc(&hin, bytes, cudaHostAllocDefault));
    RK_CUDA_TRY(cudaHostAlloc(&hout, bytes, cudaHostAllocDefault));
    RK_CUDA_TRY(cudaMalloc(&din, bytes));
    RK_CUDA_TRY(cudaMalloc(&dout, bytes));
    RK_CUDA_TRY(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
    std::memset(hin, 0x5a, bytes);
    return {};
  }
  // The three steps of one request, enqueued on the stream.
  std::string enqueue(size_t payload) {
    RK_CUDA_TRY(cudaMemcpyAsync(din, hin, payload, cudaMemcpyHostToDevice, stream));
    echo_kernel<<<blocks_for(payload), kThreads, 0, stream>>>(din, dout, (payload + 15) / 16);
    RK_CUDA_TRY(cudaGetLastError());
    RK_CUDA_TRY(cudaMemcpyAsync(hout, dout, payload, cudaMemcpyDeviceToHost, stream));
    return {};
  }
};

template <class Step>
std::string time_rounds(GpuSamples& out, size_t rounds, size_t warmup, Step step) {
  out.ns.reserve(rounds);
  for (size_t i = 0; i < rounds + warmup; ++i) {
    const auto t0 = Clock::now();
    if (std::string e = step(); !e.empty()) return e;
    const auto t1 = Clock::now();
    if (i >= warmup) out.ns.push_back(uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count()));
  }
  return {};
}

}  // namespace

GpuProbe gpu_probe() {
  GpuProbe p;
  int n = 0;
  if (cudaError_t e = cudaGetDeviceCount(&n); e != cudaSuccess || n == 0) {
    p.detail = e != cudaSuccess ? std::string("no CUDA device: ") + cudaGetErrorString(e) : "no CUDA device";
    return p;
  }
  cudaDeviceProp prop{};
  if (cudaError_t e = cudaGetDeviceProperties(&prop, 0); e != cudaSuccess) {
    p.detail = failed("cudaGetDeviceProperties", e);
    return p;
  }
  if (cudaError_t e = cudaSetDevice(0); e != cudaSuccess) {
    p.detail = failed("cudaSetDevice", e);
    return p;
  }
  int runtime = 0, driver = 0;
  cudaRuntimeGetVersion(&runtime);
  cudaDriverGetVersion(&driver);
  p.present = true;
  p.name = prop.name;
  p.detail = std::to_string(prop.multiProcessorCount) + " SMs, CUDA runtime " + std::to_string(runtime / 1000) + "." +
             std::to_string(runtime % 1000 / 10) + ", driver API " + std::to_string(driver / 1000) + "." +
             std::to_string(driver % 1000 / 10);
  return p;
}

GpuSamples gpu_launch_round_trips(size_t payload, size_t rounds, size_t warmup) {
  GpuSamples out;
  Buffers b;
  if ((out.error = b.allocate(payload)).empty())
    out.error = time_rounds(out, rounds, warmup, [&]() -> std::string {
      if (std::string e = b.enqueue(payload); !e.empty()) return e;
      RK_CUDA_TRY(cudaStreamSynchronize(b.stream));
      return {};
    });
  return out;
}

GpuSamples gpu_graph_round_trips(size_t payload, size_t rounds, size_t warmup) {
  GpuSamples out;
  Buffers b;
  if (!(out.error = b.allocate(payload)).empty()) return out;
  cudaGraph_t graph = nullptr;
  cudaGraphExec_t exec = nullptr;
  out.error = [&]() -> std::string {
    RK_CUDA_TRY(cudaStreamBeginCapture(b.stream, cudaStreamCaptureModeThreadLocal));
    std::string e = b.enqueue(payload);
    RK_CUDA_TRY(cudaStreamEndCapture(b.stream, &graph));
    if (!e.empty()) return e;
    RK_CUDA_TRY(cudaGraphInstantiate(&exec, graph, 0));
    return time_rounds(out, rounds, warmup, [&]() -> std::string {
      RK_CUDA_TRY(cudaGraphLaunch(exec, b.stream));
      RK_CUDA_TRY(cudaStreamSynchronize(b.stream));
      return {};
    });
  }();
  if (exec) cudaGraphExecDestroy(exec);
  if (graph) cudaGraphDestroy(graph);
  return out;
}

std::string gpu_floor_begin(GpuFloor& floor, void* memory, size_t payload, uint64_t rounds) {
  if (payload % 16 != 0 || payload > kFloorMaxPayload) return "floor: payload must be a multiple of 16, at most 64 KiB";
  RK_CUDA_TRY(cudaHostRegister(memory, kFloorBytes, cudaHostRegisterMapped | cudaHostRegisterPortable));
  floor.memory = memory;
  unsigned char* dev = nullptr;
  RK_CUDA_TRY(cudaHostGetDevicePointer(reinterpret_cast<void**>(&dev), memory, 0));
  floor_kernel<<<1, payload <= 64 ? 32 : kThreads>>>(dev, payload, rounds);
  RK_CUDA_TRY(cudaGetLastError());
  floor.running = true;
  return {};
}

std::string gpu_floor_finish(GpuFloor& floor) {
  std::string error;
  if (floor.running) {
    if (cudaError_t e = cudaDeviceSynchronize(); e != cudaSuccess) error = failed("floor kernel", e);
    floor.running = false;
  }
  if (floor.memory) {
    if (cudaError_t e = cudaHostUnregister(floor.memory); e != cudaSuccess && error.empty())
      error = failed("cudaHostUnregister", e);
    floor.memory = nullptr;
  }
  return error;
}

}  // namespace rk::bench
