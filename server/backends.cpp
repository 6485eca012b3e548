#include "server/backends.h"

#include "server/cpu/cpu_executor.h"

namespace rk::server {

std::map<std::string, std::unique_ptr<Backend>> make_backends(const std::string& choice, std::string& why) {
  std::map<std::string, std::unique_ptr<Backend>> out;
  if (choice == "cuda") {
    why = "--backend cuda: this ringkerneld has no usable CUDA device (built without the CUDA backend)";
    return out;
  }
  out["cpu"] = std::make_unique<cpu::CpuBackend>();
  return out;
}

std::string preferred_backend(const std::map<std::string, std::unique_ptr<Backend>>& backends) {
  return backends.count("cuda") ? "cuda" : "cpu";
}

}  // namespace rk::server
