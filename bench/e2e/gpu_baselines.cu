// gpu_baselines.h with CUDA. Each baseline is the plainest way to do the job
// without RingKernel, so the harness can print it beside RingKernel's figure.
#include <cuda/atomic>
#include <cuda_runtime.h>

#include <algorithm>
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
// system-scope fence. The abort word is read every kAbortEvery polls only,
// so the poll loop stays one load of one line.
__global__ void floor_kernel(unsigned char* mem, uint64_t payload, uint64_t rounds) {
  constexpr uint32_t kAbortEvery = 1024;  // ~1.3 ms of polls
  auto* line = reinterpret_cast<FloorLine*>(mem);
  const uint4* in = reinterpret_cast<const uint4*>(mem + kFloorReqPayload);
  uint4* out = reinterpret_cast<uint4*>(mem + kFloorRepPayload);
  __shared__ int stop;
  cuda::atomic_ref<uint64_t, cuda::thread_scope_system> seq(line[kFloorRequest].word),
      done(line[kFloorReply].word), abort(line[kFloorAbort].word);
  for (uint64_t i = 1; i <= rounds; ++i) {
    if (threadIdx.x == 0) {
      int s = 0;
      for (uint32_t polls = 1; seq.load(cuda::std::memory_order_acquire) != i; ++polls) {
        if (polls % kAbortEvery == 0 && abort.load(cuda::std::memory_order_relaxed) != 0) {
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

// mapped_read: a grid-stride pass over mapped host memory, four 16-byte
// loads in flight per thread and step (a PCIe read takes about a
// microsecond, so one at a time would measure latency, not bandwidth). The
// loads are ld.global.cv, as fresh requests in a ring must be read: a small
// buffer read twice must not be served from L2. The words are summed so no
// load is optimised away; one atomic per warp.
__global__ void mapped_read_kernel(const uint4* in, uint64_t words, unsigned long long* sum) {
  constexpr unsigned kUnroll = 4;
  const uint64_t stride = uint64_t(gridDim.x) * blockDim.x;
  uint64_t w = uint64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  uint64_t acc = 0;
  for (; w + (kUnroll - 1) * stride < words; w += kUnroll * stride) {
    uint4 v[kUnroll];
#pragma unroll
    for (unsigned u = 0; u < kUnroll; ++u) v[u] = __ldcv(in + w + u * stride);
#pragma unroll
    for (unsigned u = 0; u < kUnroll; ++u) acc += uint64_t(v[u].x) + v[u].y + v[u].z + v[u].w;
  }
  for (; w < words; w += stride) {
    const uint4 v = __ldcv(in + w);
    acc += uint64_t(v.x) + v.y + v.z + v.w;
  }
  for (int offset = 16; offset > 0; offset /= 2) acc += __shfl_down_sync(0xffffffffu, acc, offset);
  if ((threadIdx.x & 31) == 0) atomicAdd(sum, static_cast<unsigned long long>(acc));
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

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// What the bandwidth baselines allocate, freed however they end.
struct RateBuffers {
  unsigned char* host = nullptr;
  void* device = nullptr;
  unsigned long long* sum = nullptr;
  cudaStream_t stream = nullptr;
  ~RateBuffers() {
    if (stream) cudaStreamDestroy(stream);
    cudaFreeHost(host);
    cudaFree(device);
    cudaFree(sum);
  }
};

std::string h2d_copy(GpuRate& out, size_t chunk, size_t total) {
  // The copies cycle through 64 MiB, so the DMA engine reads fresh host
  // memory as a stream of requests would.
  const size_t span = std::max(chunk, (size_t{64} << 20) / chunk * chunk), per_span = span / chunk;
  RateBuffers b;
  RK_CUDA_TRY(cudaHostAlloc(&b.host, span, cudaHostAllocDefault));
  RK_CUDA_TRY(cudaMalloc(&b.device, span));
  RK_CUDA_TRY(cudaStreamCreateWithFlags(&b.stream, cudaStreamNonBlocking));
  std::memset(b.host, 0x5a, span);
  auto* dev = static_cast<unsigned char*>(b.device);
  auto copies = [&](size_t n) -> std::string {
    for (size_t i = 0; i < n; ++i) {
      const size_t at = i % per_span * chunk;
      RK_CUDA_TRY(cudaMemcpyAsync(dev + at, b.host + at, chunk, cudaMemcpyHostToDevice, b.stream));
    }
    RK_CUDA_TRY(cudaStreamSynchronize(b.stream));
    return {};
  };
  if (std::string e = copies(256); !e.empty()) return e;  // warm-up
  const size_t n = std::max<size_t>(1, total / chunk);
  const auto t0 = Clock::now();
  if (std::string e = copies(n); !e.empty()) return e;
  out.seconds = seconds_since(t0);
  out.bytes = double(n * chunk);
  return {};
}

std::string mapped_read(GpuRate& out, size_t bytes, uint32_t grid, uint32_t block) {
  constexpr int kPasses = 3;  // timed, after one warm-up pass
  bytes = bytes / 16 * 16;
  RateBuffers b;
  RK_CUDA_TRY(cudaHostAlloc(&b.host, bytes, cudaHostAllocMapped));
  RK_CUDA_TRY(cudaMalloc(&b.sum, sizeof *b.sum));
  std::memset(b.host, 1, bytes);  // every 32-bit word 0x01010101: the sum is known
  void* mapped = nullptr;
  RK_CUDA_TRY(cudaHostGetDevicePointer(&mapped, b.host, 0));
  const auto* in = static_cast<const uint4*>(mapped);
  auto pass = [&]() -> std::string {
    mapped_read_kernel<<<grid, block>>>(in, bytes / 16, b.sum);
    RK_CUDA_TRY(cudaGetLastError());
    RK_CUDA_TRY(cudaDeviceSynchronize());
    return {};
  };
  if (std::string e = pass(); !e.empty()) return e;
  RK_CUDA_TRY(cudaMemset(b.sum, 0, sizeof *b.sum));
  const auto t0 = Clock::now();
  for (int i = 0; i < kPasses; ++i)
    if (std::string e = pass(); !e.empty()) return e;
  out.seconds = seconds_since(t0);
  out.bytes = double(bytes) * kPasses;
  unsigned long long sum = 0;
  RK_CUDA_TRY(cudaMemcpy(&sum, b.sum, sizeof sum, cudaMemcpyDeviceToHost));
  if (sum != uint64_t(bytes / 4) * 0x01010101u * kPasses) return "mapped_read: the kernel's sum is wrong";
  return {};
}

}  // namespace

GpuRate gpu_h2d_copy(size_t chunk, size_t total) {
  GpuRate out;
  out.error = h2d_copy(out, chunk, total);
  return out;
}

GpuRate gpu_mapped_read(size_t bytes, uint32_t grid, uint32_t block) {
  GpuRate out;
  out.grid = grid;
  out.error = mapped_read(out, bytes, grid, block);
  return out;
}

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
  p.sms = prop.multiProcessorCount;
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
