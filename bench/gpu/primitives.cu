// rk_bench_gpu_primitives: what the persistent kernel's building blocks cost
// on this device, measured one at a time with no RingKernel code: a load of
// mapped host memory (one PCIe round trip), the fences at system and device
// scope (alone and behind a store to host memory), device-scope acquire and
// release on L2, %globaltimer reads and their resolution, __nanosleep and a
// block barrier. The persistent kernel's design budgets (docs/cuda-status.md)
// are written against these figures. Prints one line per primitive; asserts
// nothing.
#include <cuda/atomic>
#include <cuda_runtime.h>
#include <sys/mman.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

constexpr int kIters = 4000;

enum Probe : int {
  kGlobaltimerRead,
  kGlobaltimerStep,
  kClock64Read,
  kHostLoadRelaxed,
  kHostLoadAcquire,
  kHostLoad8InFlight,
  kHostLoad5Pages,
  kRegisteredLoad,
  kRegisteredLoad5Pages,
  kRegisteredLoad5PagesAcquire,
  kFenceAcqSysIdle,
  kFenceRelSysAfterHostStore,
  kFenceGpuAfterHostStore,
  kFenceScSysIdle,
  kL2LoadRelaxed,
  kL2LoadAcquireGpu,
  kL2StoreReleaseGpu,
  kNanosleep0,
  kNanosleep256,
  kNanosleep1000,
  kSyncthreads256,
  kProbeCount
};

const char* kNames[kProbeCount] = {
    "%globaltimer read",
    "%globaltimer step (smallest change seen)",
    "clock64 read",
    "host-mapped load, relaxed (dependent chain)",
    "host-mapped load, acquire system (dependent chain)",
    "host-mapped loads, 8 in flight (per batch)",
    "host-mapped loads, 5 in flight on 5 pages",
    "registered (mmap, 4 KiB pages) load, relaxed",
    "registered loads, 5 in flight on 5 pages",
    "registered loads, 5 pages, acquire each",
    "fence acquire system, nothing outstanding",
    "host store + fence release system",
    "host store + fence acq_rel device",
    "fence seq_cst system, nothing outstanding",
    "L2 load relaxed device (dependent chain)",
    "L2 load acquire device (dependent chain)",
    "L2 store release device",
    "__nanosleep(0)",
    "__nanosleep(256)",
    "__nanosleep(1000)",
    "__syncthreads, 256 threads",
};

__device__ uint64_t globaltimer() {
  uint64_t t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
}

__device__ uint64_t g_sink;

using SysRef = cuda::atomic_ref<uint64_t, cuda::thread_scope_system>;
using GpuRef = cuda::atomic_ref<uint64_t, cuda::thread_scope_device>;

// Times `body` kIters times with %globaltimer (long enough that its
// resolution does not matter) and stores ns per iteration.
template <class Body>
__device__ void time_it(double* out, Probe p, Body body) {
  uint64_t sink = 0;
  body(sink);  // warm
  const uint64_t t0 = globaltimer();
  for (int i = 0; i < kIters; ++i) body(sink);
  const uint64_t t1 = globaltimer();
  out[p] = double(t1 - t0) / kIters;
  g_sink = sink;  // keeps the measured work live
}

// Loads of one word on each of 5 pages, all in flight, as the scout's
// round issues them (command words, bell, ring tails live on different
// pages).
template <cuda::std::memory_order Order>
__device__ void load_5_pages(uint64_t& s, uint64_t* base) {
  uint64_t v[5];
#pragma unroll
  for (int j = 0; j < 5; ++j) v[j] = SysRef(base[(s & 0) + 512 * j * 3]).load(Order);
#pragma unroll
  for (int j = 0; j < 5; ++j) s += v[j] + 1;
}

__global__ void probe_single(uint64_t* host, uint64_t* dev, uint64_t* reg, double* out) {
  if (threadIdx.x != 0) return;
  time_it(out, kGlobaltimerRead, [](uint64_t& s) { s += globaltimer(); });
  {
    uint64_t best = ~0ull;
    for (int k = 0; k < 200; ++k) {
      const uint64_t a = globaltimer();
      uint64_t b = a;
      while (b == a) b = globaltimer();
      if (b - a < best) best = b - a;
    }
    out[kGlobaltimerStep] = double(best);
  }
  time_it(out, kClock64Read, [](uint64_t& s) { s += uint64_t(clock64()); });
  time_it(out, kHostLoadRelaxed,
          [&](uint64_t& s) { s += SysRef(host[s & 0]).load(cuda::std::memory_order_relaxed) + 1; });
  time_it(out, kHostLoadAcquire,
          [&](uint64_t& s) { s += SysRef(host[s & 0]).load(cuda::std::memory_order_acquire) + 1; });
  time_it(out, kHostLoad8InFlight, [&](uint64_t& s) {
    uint64_t v[8];
#pragma unroll
    for (int j = 0; j < 8; ++j) v[j] = SysRef(host[(s & 0) + 16 * j]).load(cuda::std::memory_order_relaxed);
#pragma unroll
    for (int j = 0; j < 8; ++j) s += v[j] + 1;
  });
  time_it(out, kHostLoad5Pages, [&](uint64_t& s) { load_5_pages<cuda::std::memory_order_relaxed>(s, host); });
  time_it(out, kRegisteredLoad,
          [&](uint64_t& s) { s += SysRef(reg[s & 0]).load(cuda::std::memory_order_relaxed) + 1; });
  time_it(out, kRegisteredLoad5Pages, [&](uint64_t& s) { load_5_pages<cuda::std::memory_order_relaxed>(s, reg); });
  time_it(out, kRegisteredLoad5PagesAcquire,
          [&](uint64_t& s) { load_5_pages<cuda::std::memory_order_acquire>(s, reg); });
  time_it(out, kFenceAcqSysIdle, [](uint64_t& s) {
    cuda::atomic_thread_fence(cuda::std::memory_order_acquire, cuda::thread_scope_system);
    ++s;
  });
  time_it(out, kFenceRelSysAfterHostStore, [&](uint64_t& s) {
    SysRef(host[32]).store(s, cuda::std::memory_order_relaxed);
    cuda::atomic_thread_fence(cuda::std::memory_order_release, cuda::thread_scope_system);
    ++s;
  });
  time_it(out, kFenceGpuAfterHostStore, [&](uint64_t& s) {
    SysRef(host[48]).store(s, cuda::std::memory_order_relaxed);
    cuda::atomic_thread_fence(cuda::std::memory_order_acq_rel, cuda::thread_scope_device);
    ++s;
  });
  time_it(out, kFenceScSysIdle, [](uint64_t& s) {
    cuda::atomic_thread_fence(cuda::std::memory_order_seq_cst, cuda::thread_scope_system);
    ++s;
  });
  time_it(out, kL2LoadRelaxed, [&](uint64_t& s) { s += GpuRef(dev[s & 0]).load(cuda::std::memory_order_relaxed) + 1; });
  time_it(out, kL2LoadAcquireGpu,
          [&](uint64_t& s) { s += GpuRef(dev[s & 0]).load(cuda::std::memory_order_acquire) + 1; });
  time_it(out, kL2StoreReleaseGpu, [&](uint64_t& s) {
    GpuRef(dev[64]).store(s, cuda::std::memory_order_release);
    ++s;
  });
  time_it(out, kNanosleep0, [](uint64_t& s) { __nanosleep(0); ++s; });
  time_it(out, kNanosleep256, [](uint64_t& s) { __nanosleep(256); ++s; });
  time_it(out, kNanosleep1000, [](uint64_t& s) { __nanosleep(1000); ++s; });
}

__global__ void probe_barrier(double* out) {
  const uint64_t t0 = globaltimer();
  for (int i = 0; i < kIters; ++i) __syncthreads();
  const uint64_t t1 = globaltimer();
  if (threadIdx.x == 0) out[kSyncthreads256] = double(t1 - t0) / kIters;
}

// A host line polled by the GPU while a CPU thread does `traffic` to the
// same page: how much a CPU writer (a client publishing its tail) or
// reader (a client spinning on its reply) slows each PCIe read.
__global__ void probe_poll(uint64_t* line, uint64_t polls, double* out, uint64_t* done) {
  if (threadIdx.x != 0) return;
  uint64_t total = 0, sink = 0;
  for (uint64_t i = 0; i < polls; ++i) {
    const uint64_t t0 = globaltimer();
    sink += SysRef(line[0]).load(cuda::std::memory_order_acquire);
    total += globaltimer() - t0;
  }
  *out = double(total) / double(polls);
  g_sink = sink;
  SysRef(*done).store(1, cuda::std::memory_order_release);
}

// One warp, `lanes` of its lanes each acquire-loading a line of its own
// page in one instruction, as the scout reads its hot tails.
__global__ void probe_warp_poll(uint64_t* pages, uint32_t lanes, uint64_t polls, double* out) {
  const uint32_t lane = threadIdx.x % 32;
  uint64_t total = 0, sink = 0;
  for (uint64_t i = 0; i < polls; ++i) {
    const uint64_t t0 = globaltimer();
    uint64_t v = 0;
    if (lane < lanes) v = SysRef(pages[lane * 512 + (sink & 0)]).load(cuda::std::memory_order_acquire);
    sink += __any_sync(0xffffffffu, v == 12345) ? 1 : 0;
    total += globaltimer() - t0;
  }
  if (lane == 0) *out = double(total) / double(polls);
  g_sink = sink;
}

// Two loads of mapped host memory in flight together, the second issued
// `gap_ns` after the first, by the same warp, another warp of the block, or
// a warp of another block (SM), to the same line, another line of the page
// or another page: whether a second probe of a tail overlaps the first or
// waits for it. Warps meet at shared deadlines on %globaltimer (one clock
// for every SM); out[0] / out[1]: mean ns from the deadline to each load's
// value being in.
enum class Second : int { kSameWarp, kOtherWarp, kOtherBlock };

// %globaltimer once `dep` is in: the volatile shared store needs the value,
// so it waits for the load, and the timer read stays behind it (checked in
// the SASS). An asm operand the template does not use would not make the
// read wait: ptxas drops it.
__device__ uint64_t globaltimer_after(uint64_t dep) {
  __shared__ uint64_t witness;
  asm volatile("st.volatile.shared.u64 [%0], %1;" ::"r"(uint32_t(__cvta_generic_to_shared(&witness))), "l"(dep)
               : "memory");
  uint64_t t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t)::"memory");
  return t;
}

__device__ void spin_until(uint64_t t) {
  while (globaltimer() < t) {
  }
}

__global__ void probe_overlap(uint64_t* first, uint64_t* second, Second who, uint32_t gap_ns, uint32_t rounds,
                              uint64_t* start_word, double* out) {
  constexpr uint64_t kPeriodNs = 8000;
  const uint32_t warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane != 0) return;
  const bool issues_first = blockIdx.x == 0 && warp == 0;
  const bool issues_second = who == Second::kSameWarp    ? issues_first
                             : who == Second::kOtherWarp ? blockIdx.x == 0 && warp == 1
                                                         : blockIdx.x == 1 && warp == 0;
  if (!issues_first && !issues_second) return;
  if (issues_first) {
    GpuRef(*start_word).store(globaltimer() + 20000, cuda::std::memory_order_release);
  }
  uint64_t start = 0;
  while ((start = GpuRef(*start_word).load(cuda::std::memory_order_acquire)) == 0) {
  }
  uint64_t sum_first = 0, sum_second = 0, sink = 0;
  // Three branches, not the two issuers' steps under `if`s: folded that
  // way, ptxas read the first load's time only after the second had
  // landed, and the same warp's first load looked as slow as its second.
  for (uint32_t k = 0; k < rounds; ++k) {
    const uint64_t at = start + k * kPeriodNs;
    if (issues_first && issues_second) {
      spin_until(at);
      const uint64_t a = SysRef(*first).load(cuda::std::memory_order_relaxed);
      spin_until(at + gap_ns);
      const uint64_t b = SysRef(*second).load(cuda::std::memory_order_relaxed);
      sum_first += globaltimer_after(a) - at;
      sum_second += globaltimer_after(b) - at;
      sink += a + b;
    } else if (issues_first) {
      spin_until(at);
      const uint64_t a = SysRef(*first).load(cuda::std::memory_order_relaxed);
      sum_first += globaltimer_after(a) - at;
      sink += a;
    } else {
      spin_until(at + gap_ns);
      const uint64_t b = SysRef(*second).load(cuda::std::memory_order_relaxed);
      sum_second += globaltimer_after(b) - at;
      sink += b;
    }
  }
  if (issues_first) out[0] = double(sum_first) / rounds;
  if (issues_second) out[1] = double(sum_second) / rounds;
  g_sink = sink;
}

// One warp reading a record as the scout's prefetch does: `lanes` lanes a
// word each (ld.global.cv), and with `header` a second instruction of 3
// lanes on another page (the tail's line): whether one line costs less
// than two, and what the second page adds.
__global__ void probe_record_read(uint64_t* record, uint64_t* header, uint32_t lanes, uint32_t rounds,
                                  double* out) {
  const uint32_t lane = threadIdx.x % 32;
  uint64_t total = 0, sink = 0;
  for (uint32_t k = 0; k < rounds; ++k) {
    const uint64_t t0 = globaltimer();
    uint64_t v = 0, h = 0;
    if (lane < lanes) v = __ldcv(reinterpret_cast<unsigned long long*>(record) + lane);
    if (header != nullptr && lane < 3) h = SysRef(header[lane]).load(cuda::std::memory_order_relaxed);
    const uint64_t all = __reduce_add_sync(0xffffffffu, uint32_t(v + h));
    total += globaltimer_after(all) - t0;
    sink += all;
  }
  if (lane == 0) *out = double(total) / rounds;
  g_sink = sink;
}

#define CHECK(x)                                                                           \
  do {                                                                                     \
    cudaError_t e_ = (x);                                                                  \
    if (e_ != cudaSuccess) {                                                               \
      std::fprintf(stderr, "rk_bench_gpu_primitives: %s: %s\n", #x, cudaGetErrorString(e_)); \
      return 1;                                                                            \
    }                                                                                      \
  } while (0)

}  // namespace

int main() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0) {
    std::printf("rk_bench_gpu_primitives: no CUDA device, nothing measured\n");
    return 0;
  }
  cudaDeviceProp prop{};
  CHECK(cudaGetDeviceProperties(&prop, 0));
  uint64_t *host = nullptr, *host_dev = nullptr, *dev = nullptr;
  double* out = nullptr;
  constexpr size_t kBytes = 1 << 18;  // 64 pages: the 5-page probes stride 3 pages, the warp probe 1
  CHECK(cudaHostAlloc(&host, kBytes, cudaHostAllocMapped));
  // Session segments are mmap'd shared memory registered with CUDA, 4 KiB
  // pages: probe that kind too.
  void* mapped = mmap(nullptr, kBytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (mapped == MAP_FAILED) {
    std::perror("mmap");
    return 1;
  }
  std::memset(mapped, 0, kBytes);
  uint64_t* reg = nullptr;
  CHECK(cudaHostRegister(mapped, kBytes, cudaHostRegisterMapped));
  CHECK(cudaHostGetDevicePointer(reinterpret_cast<void**>(&reg), mapped, 0));
  CHECK(cudaHostGetDevicePointer(reinterpret_cast<void**>(&host_dev), host, 0));
  CHECK(cudaMalloc(&dev, 4096));
  CHECK(cudaMemset(dev, 0, 4096));
  CHECK(cudaMallocManaged(&out, sizeof(double) * kProbeCount));
  std::memset(host, 0, kBytes);
  for (int i = 0; i < kProbeCount; ++i) out[i] = 0;
  probe_single<<<1, 32>>>(host_dev, dev, reg, out);
  CHECK(cudaGetLastError());
  probe_barrier<<<1, 256>>>(out);
  CHECK(cudaGetLastError());
  CHECK(cudaDeviceSynchronize());
  std::printf("device: %s, %d SMs\n", prop.name, prop.multiProcessorCount);
  for (int i = 0; i < kProbeCount; ++i) std::printf("  %-52s %9.1f ns\n", kNames[i], out[i]);

  for (uint32_t lanes : {1u, 2u, 8u, 32u}) {
    probe_warp_poll<<<1, 32>>>(reg, lanes, 20000, out);
    CHECK(cudaDeviceSynchronize());
    std::printf("  acquire loads by %2u lanes of a warp, a page each, one instruction    %9.1f ns\n", lanes, out[0]);
  }

  // Two probes in flight: does the second overlap the first?
  {
    uint64_t* start_word = nullptr;
    CHECK(cudaMalloc(&start_word, 8));
    const char* who_names[] = {"same warp", "another warp", "another SM"};
    const char* where_names[] = {"same line", "other line", "other page"};
    for (int who = 0; who < 3; ++who)
      for (int where = 0; where < 3; ++where)
        for (uint32_t gap : {0u, 300u, 600u}) {
          uint64_t* a = reg + 2048;
          uint64_t* b = a + (where == 0 ? 0 : where == 1 ? 16 : 512);
          CHECK(cudaMemset(start_word, 0, 8));
          out[0] = out[1] = 0;
          probe_overlap<<<2, 64>>>(a, b, Second(who), gap, 2000, start_word, out);
          CHECK(cudaGetLastError());
          CHECK(cudaDeviceSynchronize());
          std::printf("  two loads in flight, second %3u ns later by %-12s to the %-10s first in %7.1f ns, second %7.1f ns\n",
                      gap, who_names[who], where_names[where], out[0], out[1]);
        }
    cudaFree(start_word);
  }

  // A record's read: one line or two, with or without the tail's line.
  for (uint64_t* header : {static_cast<uint64_t*>(nullptr), reg + 4096}) {
    for (uint32_t lanes : {16u, 32u}) {
      probe_record_read<<<1, 32>>>(reg + 6144, header, lanes, 4000, out);
      CHECK(cudaGetLastError());
      CHECK(cudaDeviceSynchronize());
      std::printf("  a record read by %2u lanes (%u B)%-28s %9.1f ns\n", lanes, lanes * 8,
                  header ? ", with the tail's line of another page" : "", out[0]);
    }
  }

  // Polls under CPU traffic. Line 0 of a page is polled; the CPU thread
  // writes it, writes line 1, or reads line 0, every ~2 µs (or does nothing).
  const char* traffic_names[] = {"no CPU traffic", "CPU writes the polled line every 2 us",
                                 "CPU writes another line of the page every 2 us", "CPU spins reading the polled line"};
  for (int traffic = 0; traffic < 4; ++traffic) {
    volatile uint64_t* page = reinterpret_cast<volatile uint64_t*>(static_cast<uint8_t*>(mapped) + 8192);
    volatile uint64_t* done = page + 64;
    *done = 0;
    probe_poll<<<1, 32>>>(reinterpret_cast<uint64_t*>(reg) + 1024, 20000, out, reinterpret_cast<uint64_t*>(reg) + 1024 + 64);
    CHECK(cudaGetLastError());
    uint64_t v = 0;
    while (*done == 0) {
      if (traffic == 1) page[0] = ++v;
      if (traffic == 2) page[16] = ++v;
      if (traffic == 3) v += page[0];
      if (traffic == 1 || traffic == 2) {
        const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(2);
        while (std::chrono::steady_clock::now() < until) {
        }
      }
    }
    CHECK(cudaDeviceSynchronize());
    std::printf("  acquire poll of a registered line, %-46s %9.1f ns\n", traffic_names[traffic], out[0]);
  }
  cudaHostUnregister(mapped);
  munmap(mapped, kBytes);
  cudaFreeHost(host);
  cudaFree(dev);
  cudaFree(out);
  return 0;
}
