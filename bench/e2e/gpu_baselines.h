// The GPU baselines of the end-to-end harness, measured with no RingKernel
// code: `floor` (a persistent kernel on mapped pinned memory, pinged by
// another process), `launch` (H2D copy + launch + D2H copy + sync per
// request), `graph` (the same three steps as one CUDA graph launch), and
// for the consume scenario `h2d_copy` and `mapped_read` (bandwidths).
// Implemented in gpu_baselines.cu when built with CUDA, else by
// gpu_baselines_none.cpp, which reports "built without CUDA". No CUDA type
// appears here, so the harness itself is plain C++.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace rk::bench {

struct GpuProbe {
  bool present = false;
  std::string name;    // e.g. "NVIDIA H100 80GB HBM3"
  std::string detail;  // SMs and runtime version, or why there is no device
  int sms = 0;
};

// Initialises CUDA on device 0 in this process (once).
GpuProbe gpu_probe();

// Per-request round trips of `payload` bytes; `warmup` first rounds are not
// kept. Empty `error` on success; samples are nanoseconds.
struct GpuSamples {
  std::vector<uint64_t> ns;
  std::string error;
};
GpuSamples gpu_launch_round_trips(size_t payload, size_t rounds, size_t warmup);
GpuSamples gpu_graph_round_trips(size_t payload, size_t rounds, size_t warmup);

// A bandwidth measurement: bytes moved in seconds, or why it did not run.
struct GpuRate {
  double bytes = 0, seconds = 0;
  uint32_t grid = 0;  // blocks of the kernel that moved them (0: no kernel)
  std::string error;
};
// Back-to-back cudaMemcpyAsync of `chunk` bytes from pinned host memory to
// device memory on one stream, `total` bytes in all.
GpuRate gpu_h2d_copy(size_t chunk, size_t total);
// A kernel of `grid` x `block` threads reading a mapped pinned host buffer of
// `bytes` once with 16-byte loads and summing it (the sum is checked).
GpuRate gpu_mapped_read(size_t bytes, uint32_t grid, uint32_t block);

// The floor's device half. `memory` is kFloorBytes of shared memory laid out
// as floor_layout.h (zeroed); begin registers it as mapped pinned memory and
// launches the persistent kernel, which answers `rounds` requests (or stops
// when the abort word is set); finish waits for it and unregisters.
struct GpuFloor {
  void* memory = nullptr;
  bool running = false;
};
std::string gpu_floor_begin(GpuFloor& floor, void* memory, size_t payload, uint64_t rounds);
std::string gpu_floor_finish(GpuFloor& floor);

}  // namespace rk::bench
