// gpu_baselines.h for builds without CUDA: every baseline says why it did not run.
#include "bench/e2e/gpu_baselines.h"

namespace rk::bench {

namespace {
constexpr const char* kWhy = "built without CUDA";
}

GpuProbe gpu_probe() { return GpuProbe{false, "", kWhy}; }
GpuSamples gpu_launch_round_trips(size_t, size_t, size_t) { return GpuSamples{{}, kWhy}; }
GpuSamples gpu_graph_round_trips(size_t, size_t, size_t) { return GpuSamples{{}, kWhy}; }
GpuRate gpu_h2d_copy(size_t, size_t) { return GpuRate{0, 0, 0, kWhy}; }
GpuRate gpu_mapped_read(size_t, uint32_t, uint32_t) { return GpuRate{0, 0, 0, kWhy}; }
std::string gpu_floor_begin(GpuFloor&, void*, size_t, uint64_t) { return kWhy; }
std::string gpu_floor_finish(GpuFloor&) { return {}; }

}  // namespace rk::bench
