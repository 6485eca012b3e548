// rk_bench_gpu_ping_pong: where the time of a mapped-memory ping-pong goes,
// and which ways of polling and storing shorten it. A host thread and a
// one-thread persistent kernel pass a sequence number through host memory
// registered with CUDA (mmap'd, 4 KiB pages, as session segments are); no
// RingKernel code. Each variant is one choice on each side:
//   poll     acquire: one acquire load at a time (the `floor` baseline's loop)
//            relaxed: relaxed loads (only the word itself is read)
//   lines    K: the host writes the sequence to K lines of a page, and the
//            kernel keeps K loads in flight, one per line, issued a K-th of
//            a round trip apart (two loads of one line do not overlap:
//            docs/benchmarks.md, eleventh session)
//   delay    ns after a reply in which the kernel issues no look (one
//            thread, the poller warps and the warp's look; not K lines)
//   reply    fenced: a system fence, then the store (the floor's)
//            plain: the store alone (a 0 B reply has nothing to order)
//   host     store: a release store; nt: a non-temporal store and sfence,
//            so the line is in memory, not modified in a core's cache,
//            when the GPU's read comes
//   pollers  K warps each poll one line (a K-th of a round trip apart) and
//            hand what they see through shared memory to a warp that only
//            replies, so the reply's store has no load of its own in flight
//   record   a warp's look, as the scout's with its prefetch: lane 0 reads
//            the sequence, lanes 1-31 two lines of a record on another
//            page, one load instruction; the host writes the record before
//            the sequence, or leaves it; the record's lanes load relaxed at
//            system scope, or ld.global.cv (__ldcv, as the scout's prefetch)
// Prints the host's round trip (p50, p90, p99, p99.9) and the kernel's
// view: looks per round trip, and how long the look that found the
// request took against a quiet one. Asserts nothing.
//
// rk_bench_gpu_ping_pong [rounds [host_cpu]]
#include <cuda/atomic>
#include <cuda_runtime.h>
#include <immintrin.h>
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

using SysRef = cuda::atomic_ref<uint64_t, cuda::thread_scope_system>;

constexpr uint32_t kLineWords = 16;     // 128 B
constexpr uint64_t kGiveUpNs = 10'000'000'000;

struct Knobs {
  uint32_t stagger_ns = 0;  // between the first issues of the K loads
  uint32_t delay_ns = 0;
  bool cv_record = false;  // the record's lanes load with __ldcv
  bool acquire = false;
  bool fenced = false;
};

struct KernelView {
  unsigned long long looks, found_ns, found, quiet_ns, quiet;
  int timed_out;
};

__device__ uint64_t globaltimer() {
  uint64_t t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
}

// %globaltimer read once `x` is in: the read is predicated on a test of x,
// so it cannot issue before the load that produces x lands.
__device__ uint64_t globaltimer_after(uint64_t x) {
  uint64_t t;
  asm volatile(
      "{ .reg .pred p; setp.ne.u64 p, %1, 0xffffffffffffffff; @p mov.u64 %0, %%globaltimer; @!p mov.u64 %0, 0; }"
      : "=l"(t)
      : "l"(x));
  return t;
}

__device__ void spin_ns(uint32_t ns) {
  const uint64_t t = globaltimer();
  while (globaltimer() - t < ns) {
  }
}

template <uint32_t K>
__global__ void pong(uint64_t* req, uint64_t* rep, uint64_t rounds, Knobs kn, KernelView* view) {
  if (threadIdx.x != 0) return;
  auto look = [&](uint32_t k) {
    SysRef word(req[k * kLineWords]);
    return kn.acquire ? word.load(cuda::std::memory_order_acquire) : word.load(cuda::std::memory_order_relaxed);
  };
  uint64_t v[K], at[K];
#pragma unroll
  for (uint32_t k = 0; k < K; ++k) {
    at[k] = globaltimer();
    v[k] = look(k);
    if (K > 1) spin_ns(kn.stagger_ns);
  }
  const uint64_t give_up = globaltimer() + kGiveUpNs;
  unsigned long long looks = 0, found_ns = 0, found = 0, quiet_ns = 0, quiet = 0;
  uint64_t i = 1;
  while (i <= rounds) {
#pragma unroll
    for (uint32_t k = 0; k < K; ++k) {
      const uint64_t x = v[k];
      const uint64_t t = globaltimer_after(x);
      ++looks;
      if (x >= i) {
        found_ns += t - at[k];
        ++found;
        if (kn.fenced) cuda::atomic_thread_fence(cuda::std::memory_order_seq_cst, cuda::thread_scope_system);
        SysRef(*rep).store(i, cuda::std::memory_order_relaxed);
        ++i;
        if (kn.delay_ns) spin_ns(kn.delay_ns);
      } else {
        quiet_ns += t - at[k];
        ++quiet;
        if (t > give_up) {
          view->timed_out = 1;
          return;
        }
      }
      if (i > rounds) break;
      at[k] = globaltimer();
      v[k] = look(k);
    }
  }
  *view = KernelView{looks, found_ns, found, quiet_ns, quiet, 0};
}

// The warp's look of the `record` variants (see the top).
__global__ void pong_record(uint64_t* req, uint64_t* rec, uint64_t* rep, uint64_t rounds, Knobs kn,
                            KernelView* view) {
  const uint32_t lane = threadIdx.x;
  uint64_t* word = lane == 0 ? req : rec + (lane - 1);
  const uint64_t give_up = globaltimer() + kGiveUpNs;
  unsigned long long looks = 0, found_ns = 0, found = 0, quiet_ns = 0, quiet = 0;
  for (uint64_t i = 1; i <= rounds;) {
    const uint64_t at = globaltimer();
    const uint64_t x = kn.cv_record && lane != 0 ? __ldcv(reinterpret_cast<const unsigned long long*>(word))
                                                : SysRef(*word).load(cuda::std::memory_order_relaxed);
    const uint64_t seq = __shfl_sync(0xffffffffu, x, 0);  // waits for every lane's load
    const uint64_t t = globaltimer_after(seq);
    ++looks;
    if (seq >= i) {
      found_ns += t - at;
      ++found;
      if (lane == 0) {
        if (kn.fenced) cuda::atomic_thread_fence(cuda::std::memory_order_seq_cst, cuda::thread_scope_system);
        SysRef(*rep).store(i, cuda::std::memory_order_relaxed);
      }
      ++i;
      if (kn.delay_ns) spin_ns(kn.delay_ns);
    } else {
      quiet_ns += t - at;
      ++quiet;
      if (t > give_up) {
        if (lane == 0) view->timed_out = 1;
        return;
      }
    }
  }
  if (lane == 0) *view = KernelView{looks, found_ns, found, quiet_ns, quiet, 0};
}

// The `pollers` variants: warps 0..K-1 poll line k each, warp K replies.
__global__ void pong_pollers(uint64_t* req, uint64_t* rep, uint64_t rounds, Knobs kn, KernelView* view) {
  __shared__ unsigned long long seen, looks, quiet_until;
  __shared__ int timed_out;
  const uint32_t warp = threadIdx.x / 32, pollers = blockDim.x / 32 - 1;
  if (threadIdx.x == 0) seen = looks = quiet_until = timed_out = 0;
  __syncthreads();
  const uint64_t give_up = globaltimer() + kGiveUpNs;
  if (threadIdx.x % 32 == 0) {
    volatile unsigned long long& latest = seen;
    volatile int& stop = timed_out;
    volatile unsigned long long& pause_until = quiet_until;  // `delay`: no look issued before it
    if (warp < pollers) {
      spin_ns(warp * kn.stagger_ns);
      SysRef line(req[warp * kLineWords]);
      unsigned long long mine = 0;
      for (uint64_t last = 0; last < rounds && latest < rounds && !stop;) {
        while (globaltimer() < pause_until) {
        }
        const uint64_t x = line.load(cuda::std::memory_order_relaxed);
        ++mine;
        if (x > last) {
          last = x;
          atomicMax(&seen, static_cast<unsigned long long>(x));
        }
        if (globaltimer() > give_up) stop = 1;
      }
      atomicAdd(&looks, mine);
    } else {
      for (uint64_t i = 1; i <= rounds && !stop; ++i) {
        while (latest < i && !stop)
          if (globaltimer() > give_up) stop = 1;
        if (kn.fenced) cuda::atomic_thread_fence(cuda::std::memory_order_seq_cst, cuda::thread_scope_system);
        SysRef(*rep).store(i, cuda::std::memory_order_relaxed);
        if (kn.delay_ns) pause_until = globaltimer() + kn.delay_ns;
      }
    }
  }
  __syncthreads();
  if (threadIdx.x == 0) *view = KernelView{looks, 0, rounds, 0, 0, timed_out};
}

// Which kernel looks: one thread (K lines), K poller warps and a replier,
// or a warp reading a record beside the sequence (written by the host
// before it, or left as it was, or read with ld.global.cv).
enum Shape : uint32_t { kOneThread, kPollerWarps, kWarpRecordWritten, kWarpRecordLeft, kWarpRecordCv };

struct Variant {
  const char* name;
  uint32_t lines;
  bool acquire, fenced, nt;
  uint32_t delay_ns;
  Shape shape = kOneThread;
};

struct Result {
  std::vector<uint64_t> ns;
  KernelView view{};
};

uint64_t now_ns() {
  return uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(
                      std::chrono::steady_clock::now().time_since_epoch())
                      .count());
}

void pin(int cpu) {
  if (cpu < 0) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

// The host half, on its own thread: write the sequence to each line, spin
// for the reply.
std::string ping(uint64_t* req, uint64_t* rec, uint64_t* rep, const Variant& v, uint64_t total, uint64_t warmup,
                 int cpu, std::vector<uint64_t>& ns) {
  pin(cpu);
  std::atomic_ref<uint64_t> reply(*rep);
  for (uint64_t i = 1; i <= total; ++i) {
    const uint64_t t0 = now_ns();
    if (v.shape == kWarpRecordWritten || v.shape == kWarpRecordCv)
      for (uint32_t w = 0; w < 2 * kLineWords; ++w) rec[w] = i;
    for (uint32_t k = 0; k < v.lines; ++k) {
      if (v.nt) _mm_stream_si64(reinterpret_cast<long long*>(&req[k * kLineWords]), static_cast<long long>(i));
      else std::atomic_ref<uint64_t>(req[k * kLineWords]).store(i, std::memory_order_release);
    }
    if (v.nt) _mm_sfence();
    while (reply.load(std::memory_order_acquire) != i)
      if (now_ns() - t0 > kGiveUpNs) return "the kernel does not answer";
    const uint64_t t1 = now_ns();
    if (i > warmup) ns.push_back(t1 - t0);
  }
  return {};
}

#define CUDA_TRY(x)                                                     \
  do {                                                                  \
    cudaError_t e_ = (x);                                               \
    if (e_ != cudaSuccess) return std::string(#x ": ") + cudaGetErrorString(e_); \
  } while (0)

std::string run(uint64_t* host, uint64_t* dev, const Variant& v, uint32_t stagger_ns, uint64_t rounds, int cpu,
                KernelView* view, Result& out) {
  constexpr uint64_t kWarmup = 2000;
  uint64_t* req = host;         // page 0: the request lines
  uint64_t* rep = host + 512;   // page 1: the reply line
  uint64_t* rec = host + 1024;  // page 2: the record lines
  std::memset(host, 0, 3 * 4096);
  std::memset(view, 0, sizeof *view);
  Knobs kn;
  kn.stagger_ns = stagger_ns;
  kn.delay_ns = v.delay_ns;
  kn.acquire = v.acquire;
  kn.fenced = v.fenced;
  kn.cv_record = v.shape == kWarpRecordCv;
  const uint64_t total = rounds + kWarmup;
  if (v.shape == kPollerWarps) pong_pollers<<<1, 32 * (v.lines + 1)>>>(dev, dev + 512, total, kn, view);
  else if (v.shape != kOneThread) pong_record<<<1, 32>>>(dev, dev + 1024, dev + 512, total, kn, view);
  else switch (v.lines) {
    case 1: pong<1><<<1, 32>>>(dev, dev + 512, total, kn, view); break;
    case 2: pong<2><<<1, 32>>>(dev, dev + 512, total, kn, view); break;
    case 4: pong<4><<<1, 32>>>(dev, dev + 512, total, kn, view); break;
    case 8: pong<8><<<1, 32>>>(dev, dev + 512, total, kn, view); break;
    default: return "lines must be 1, 2, 4 or 8";
  }
  CUDA_TRY(cudaGetLastError());
  out.ns.reserve(rounds);
  std::string err;
  std::thread t([&] { err = ping(req, rec, rep, v, total, kWarmup, cpu, out.ns); });
  t.join();
  CUDA_TRY(cudaDeviceSynchronize());
  out.view = *view;
  if (view->timed_out) return "the kernel gave up waiting";
  return err;
}

double pct(std::vector<uint64_t>& s, double p) {
  const size_t at = std::min(s.size() - 1, size_t(p * double(s.size())));
  std::nth_element(s.begin(), s.begin() + long(at), s.end());
  return double(s[at]) / 1000.0;
}

}  // namespace

int main(int argc, char** argv) {
  const uint64_t rounds = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 100000;
  const int cpu = argc > 2 ? std::atoi(argv[2]) : -1;
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0) {
    std::printf("rk_bench_gpu_ping_pong: no CUDA device, nothing measured\n");
    return 0;
  }
  constexpr size_t kBytes = 3 * 4096;
  void* mapped = mmap(nullptr, kBytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (mapped == MAP_FAILED) {
    std::perror("mmap");
    return 1;
  }
  std::memset(mapped, 0, kBytes);
  uint64_t* dev = nullptr;
  KernelView* view = nullptr;
  if (cudaHostRegister(mapped, kBytes, cudaHostRegisterMapped) != cudaSuccess ||
      cudaHostGetDevicePointer(reinterpret_cast<void**>(&dev), mapped, 0) != cudaSuccess ||
      cudaMallocManaged(&view, sizeof *view) != cudaSuccess) {
    std::printf("rk_bench_gpu_ping_pong: cannot map the host pages\n");
    return 1;
  }
  cudaDeviceProp prop{};
  cudaGetDeviceProperties(&prop, 0);
  std::printf("device: %s; %llu round trips a variant, host thread on CPU %d\n", prop.name,
              static_cast<unsigned long long>(rounds), cpu);
  const Variant variants[] = {
      {"floor: acquire poll, fenced reply", 1, true, true, false, 0},
      {"relaxed poll, fenced reply", 1, false, true, false, 0},
      {"relaxed poll, plain reply", 1, false, false, false, 0},
      {"relaxed poll, plain reply, host nt", 1, false, false, true, 0},
      {"floor, host nt", 1, true, true, true, 0},
      {"relaxed, plain, delay 300 ns", 1, false, false, false, 300},
      {"relaxed, plain, delay 600 ns", 1, false, false, false, 600},
      {"relaxed, plain, delay 100 ns", 1, false, false, false, 100},
      {"relaxed, plain, delay 200 ns", 1, false, false, false, 200},
      {"relaxed, plain, delay 400 ns", 1, false, false, false, 400},
      {"relaxed, plain, delay 500 ns", 1, false, false, false, 500},
      {"relaxed, plain, delay 800 ns", 1, false, false, false, 800},
      {"relaxed, plain, delay 1000 ns", 1, false, false, false, 1000},
      {"2 lines staggered, plain reply", 2, false, false, false, 0},
      {"4 lines staggered, plain reply", 4, false, false, false, 0},
      {"4 lines staggered, plain reply, host nt", 4, false, false, true, 0},
      {"8 lines staggered, plain reply", 8, false, false, false, 0},
      {"1 poller warp, 1 replier", 1, false, false, false, 0, kPollerWarps},
      {"2 poller warps staggered, 1 replier", 2, false, false, false, 0, kPollerWarps},
      {"4 poller warps staggered, 1 replier", 4, false, false, false, 0, kPollerWarps},
      {"4 poller warps staggered, fenced reply", 4, false, true, false, 0, kPollerWarps},
      {"8 poller warps staggered, 1 replier", 8, false, false, false, 0, kPollerWarps},
      {"4 poller warps, none issued 300 ns after a reply", 4, false, false, false, 300, kPollerWarps},
      {"4 poller warps, none issued 600 ns after a reply", 4, false, false, false, 600, kPollerWarps},
      {"warp look + record, host writes it", 1, false, false, false, 0, kWarpRecordWritten},
      {"warp look + record, host leaves it", 1, false, false, false, 0, kWarpRecordLeft},
      {"warp look + record written, record by ld.cv", 1, false, false, false, 0, kWarpRecordCv},
      {"warp look + record by ld.cv, delay 300", 1, false, false, false, 300, kWarpRecordCv},
      {"warp look + record written, delay 300", 1, false, false, false, 300, kWarpRecordWritten},
      {"warp look + record written, fenced", 1, false, true, false, 0, kWarpRecordWritten},
      {"warp look + record written, fenced, d300", 1, false, true, false, 300, kWarpRecordWritten},
  };
  // A quiet look's length sets the stagger: K loads a K-th of it apart.
  uint32_t look_ns = 1000;
  for (int pass = 0; pass < 2; ++pass)
    for (const Variant& v : variants) {
      Result r;
      const uint32_t stagger = v.lines > 1 ? look_ns / v.lines : 0;  // K lines or K pollers
      if (std::string e = run(static_cast<uint64_t*>(mapped), dev, v, stagger, rounds, cpu, view, r); !e.empty()) {
        std::printf("  %-42s %s\n", v.name, e.c_str());
        continue;
      }
      const KernelView& k = r.view;
      const double quiet_look = k.quiet ? double(k.quiet_ns) / double(k.quiet) : 0;
      if (v.shape == kOneThread && v.lines == 1 && !v.acquire && !v.fenced && !v.nt && !v.delay_ns && quiet_look > 0)
        look_ns = uint32_t(quiet_look);
      std::printf("  %-42s p50 %6.2f  p90 %6.2f  p99 %6.2f  p99.9 %6.2f us | looks/rt %5.2f, found look %6.0f ns, "
                  "quiet look %6.0f ns%s\n",
                  v.name, pct(r.ns, 0.5), pct(r.ns, 0.9), pct(r.ns, 0.99), pct(r.ns, 0.999),
                  double(k.looks) / double(k.found ? k.found : 1), k.found ? double(k.found_ns) / double(k.found) : 0,
                  quiet_look, v.lines > 1 ? (" (stagger " + std::to_string(stagger) + " ns)").c_str() : "");
    }
  cudaHostUnregister(mapped);
  munmap(mapped, kBytes);
  cudaFree(view);
  return 0;
}
