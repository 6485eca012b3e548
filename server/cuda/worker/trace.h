// Step trace for the GPU worker, for finding where a CUDA call blocks on a
// device: RK_WORKER_TRACE=<file> appends one line per step (monotonic µs,
// pid, step). Off by default; one getenv per process.
#pragma once
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>

namespace rk::server::gpu {

inline FILE* trace_file() {
  static FILE* out = [] {
    const char* path = std::getenv("RK_WORKER_TRACE");
    return path && *path ? std::fopen(path, "a") : nullptr;
  }();
  return out;
}

inline bool tracing() { return trace_file() != nullptr; }

inline void trace(const char* step, unsigned long long arg = 0) {
  FILE* out = trace_file();
  if (!out) return;
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  std::fprintf(out, "%lld.%06ld pid %d %s %llu\n", (long long)ts.tv_sec, ts.tv_nsec / 1000, int(getpid()), step, arg);
  std::fflush(out);
}

}  // namespace rk::server::gpu
