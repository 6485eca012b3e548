// Whether the host's memory slows down for everyone now and then: a
// dependent chain of loads through a buffer far larger than the last-level
// cache, timed in slices. Run beside a latency run (pinned to a CPU of its
// own) and compare when its slices are slow with when the run's calls were
// (bench/call_trace.py). Plain C++, no RingKernel code.
//
//   rk_bench_memory_probe SECONDS [CPU] > probe.txt
//
// Prints one line per slice of 4096 loads: CLOCK_MONOTONIC ns at its end,
// and ns per load. Asserts nothing.
#include <pthread.h>
#include <sched.h>
#include <time.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <numeric>
#include <random>
#include <vector>

namespace {

uint64_t monotonic_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

// A single random cycle through `n` slots, one slot per 64-byte line, so
// that each load depends on the one before and misses the caches.
std::vector<uint64_t> random_cycle(size_t n) {
  std::vector<uint64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin() + 1, order.end(), std::mt19937_64(1));
  std::vector<uint64_t> next(n * 8);
  for (size_t i = 0; i < n; ++i) next[order[i] * 8] = order[(i + 1) % n] * 8;
  return next;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s SECONDS [CPU]\n", argv[0]);
    return 2;
  }
  const double seconds = std::atof(argv[1]);
  if (argc > 2) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(std::atoi(argv[2]), &set);
    pthread_setaffinity_np(pthread_self(), sizeof set, &set);
  }
  const std::vector<uint64_t> next = random_cycle(size_t(1) << 22);  // 4 Mi lines: 256 MiB
  constexpr int kSlice = 4096;
  uint64_t at = 0;
  const uint64_t end = monotonic_ns() + uint64_t(seconds * 1e9);
  for (uint64_t t = monotonic_ns(); t < end;) {
    for (int i = 0; i < kSlice; ++i) at = next[at];
    const uint64_t now = monotonic_ns();
    std::printf("%llu %.1f\n", (unsigned long long)now, double(now - t) / kSlice);
    t = now;
  }
  return at == 1 ? 1 : 0;  // keeps the chain from being optimised away
}
