// The baselines a GPU user compares RingKernel against, measured raw (no
// RingKernel code), 64-byte requests, p50/p99 over many round trips:
//   floor  — host thread <-> persistent kernel ping-pong on mapped pinned
//            memory, one polling warp, request and reply on separate lines;
//   launch — per request: H2D copy + kernel launch + D2H copy + sync;
//   graph  — the same three steps as one CUDA graph launch.
#include <cuda/atomic>
#include <cuda_runtime.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#define CHECK(x)                                                                         \
  do {                                                                                   \
    cudaError_t e_ = (x);                                                                \
    if (e_ != cudaSuccess) {                                                             \
      std::fprintf(stderr, "%s: %s\n", #x, cudaGetErrorString(e_));                     \
      std::exit(1);                                                                      \
    }                                                                                    \
  } while (0)

namespace {

struct alignas(128) Line {
  unsigned long long seq;
  unsigned char payload[64];
};

__global__ void pong(Line* req, Line* rep, unsigned long long rounds) {
  if (threadIdx.x != 0) return;
  cuda::atomic_ref<unsigned long long, cuda::thread_scope_system> in(req->seq), out(rep->seq);
  for (unsigned long long i = 1; i <= rounds; ++i) {
    while (in.load(cuda::std::memory_order_acquire) != i) {
    }
    for (int b = 0; b < 64; b += 8) *reinterpret_cast<unsigned long long*>(rep->payload + b) = *reinterpret_cast<unsigned long long*>(req->payload + b);
    out.store(i, cuda::std::memory_order_release);
  }
}

__global__ void echo_once(const unsigned char* in, unsigned char* out) {
  if (threadIdx.x < 64) out[threadIdx.x] = in[threadIdx.x];
}

using Clock = std::chrono::steady_clock;

void report(const char* name, std::vector<double>& ns) {
  std::sort(ns.begin(), ns.end());
  auto pct = [&](double p) { return ns[size_t(p * (ns.size() - 1))]; };
  std::printf("%-8s n=%zu  p50 %8.2f us  p90 %8.2f us  p99 %8.2f us  p99.9 %8.2f us  max %8.2f us\n", name, ns.size(),
              pct(0.5) / 1e3, pct(0.9) / 1e3, pct(0.99) / 1e3, pct(0.999) / 1e3, ns.back() / 1e3);
}

}  // namespace

int main(int argc, char** argv) {
  setvbuf(stdout, nullptr, _IOLBF, 0);
  const unsigned long long n = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 100000;
  cudaDeviceProp p{};
  CHECK(cudaGetDeviceProperties(&p, 0));
  std::printf("device: %s, %d SMs\n", p.name, p.multiProcessorCount);

  {  // floor
    Line *req, *rep, *dreq, *drep;
    CHECK(cudaHostAlloc(&req, sizeof(Line), cudaHostAllocMapped));
    CHECK(cudaHostAlloc(&rep, sizeof(Line), cudaHostAllocMapped));
    std::memset(req, 0, sizeof(Line));
    std::memset(rep, 0, sizeof(Line));
    CHECK(cudaHostGetDevicePointer(&dreq, req, 0));
    CHECK(cudaHostGetDevicePointer(&drep, rep, 0));
    const unsigned long long warm = 10000;
    pong<<<1, 32>>>(dreq, drep, n + warm);
    CHECK(cudaGetLastError());
    std::vector<double> ns;
    ns.reserve(n);
    std::atomic_ref<unsigned long long> in(req->seq), out(rep->seq);
    for (unsigned long long i = 1; i <= n + warm; ++i) {
      auto t0 = Clock::now();
      std::memset(req->payload, int(i), 64);
      in.store(i, std::memory_order_release);
      while (out.load(std::memory_order_acquire) != i) {
      }
      if (i > warm) ns.push_back(std::chrono::duration<double, std::nano>(Clock::now() - t0).count());
    }
    CHECK(cudaDeviceSynchronize());
    report("floor", ns);
    CHECK(cudaFreeHost(req));
    CHECK(cudaFreeHost(rep));
  }

  unsigned char *hin, *hout, *din, *dout;
  CHECK(cudaHostAlloc(&hin, 64, cudaHostAllocDefault));
  CHECK(cudaHostAlloc(&hout, 64, cudaHostAllocDefault));
  CHECK(cudaMalloc(&din, 64));
  CHECK(cudaMalloc(&dout, 64));
  cudaStream_t s;
  CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  const unsigned long long m = n / 4 > 20000 ? n / 4 : n;
  {  // launch
    std::vector<double> ns;
    for (unsigned long long i = 0; i < m + 1000; ++i) {
      auto t0 = Clock::now();
      CHECK(cudaMemcpyAsync(din, hin, 64, cudaMemcpyHostToDevice, s));
      echo_once<<<1, 64, 0, s>>>(din, dout);
      CHECK(cudaMemcpyAsync(hout, dout, 64, cudaMemcpyDeviceToHost, s));
      CHECK(cudaStreamSynchronize(s));
      if (i >= 1000) ns.push_back(std::chrono::duration<double, std::nano>(Clock::now() - t0).count());
    }
    report("launch", ns);
  }
  {  // graph
    cudaGraph_t g;
    cudaGraphExec_t ge;
    CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
    CHECK(cudaMemcpyAsync(din, hin, 64, cudaMemcpyHostToDevice, s));
    echo_once<<<1, 64, 0, s>>>(din, dout);
    CHECK(cudaMemcpyAsync(hout, dout, 64, cudaMemcpyDeviceToHost, s));
    CHECK(cudaStreamEndCapture(s, &g));
    CHECK(cudaGraphInstantiate(&ge, g, 0));
    std::vector<double> ns;
    for (unsigned long long i = 0; i < m + 1000; ++i) {
      auto t0 = Clock::now();
      CHECK(cudaGraphLaunch(ge, s));
      CHECK(cudaStreamSynchronize(s));
      if (i >= 1000) ns.push_back(std::chrono::duration<double, std::nano>(Clock::now() - t0).count());
    }
    report("graph", ns);
  }
  return 0;
}
