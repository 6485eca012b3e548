#include "server/backends.h"

#include <spdlog/spdlog.h>

#include "kernels/registry.h"
#include "server/cpu/cpu_executor.h"
#include "server/cuda/cuda_backend.h"

namespace rk::server {

const KernelDef* Backend::find_kernel(const std::string& name) const { return find_builtin(name); }

std::map<std::string, std::unique_ptr<Backend>> make_backends(const std::string& choice,
                                                              const BackendOptions& options, ControlWake wake,
                                                              std::string& why) {
  std::map<std::string, std::unique_ptr<Backend>> out;
  if (choice != "cpu") {
    std::string no_gpu;
    if (auto cuda = gpu::CudaBackend::probe(0, options.gpu_hang_ms, wake, no_gpu)) {
      spdlog::info("CUDA backend on GPU 0: {}", cuda->device_name());
      out["cuda"] = std::move(cuda);
    } else if (choice == "cuda") {
      why = "--backend cuda: no usable CUDA device: " + no_gpu;
      return out;
    } else {
      spdlog::info("CUDA backend not available ({}); serving on the CPU", no_gpu);
    }
  }
  out["cpu"] = std::make_unique<cpu::CpuBackend>();
  return out;
}

std::string preferred_backend(const std::map<std::string, std::unique_ptr<Backend>>& backends) {
  return backends.count("cuda") ? "cuda" : "cpu";
}

}  // namespace rk::server
