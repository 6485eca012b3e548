// A backend hosts persistent kernels: CPU worker threads, or a GPU.
#pragma once
#include <memory>
#include <string>

#include "kernels/sdk/handler.h"
#include "server/executor.h"
#include "server/transfer.h"
#include "shm/result.h"

namespace rk::server {

struct LaunchSpec {
  const KernelDef* def = nullptr;
  uint32_t instance_id = 0;
  uint32_t grid = 0, block = 0;  // 0: the kernel's defaults
  int32_t device = -1;
  Transfer transfer = Transfer::automatic;
  // The instance's bell page (shm::KernelBell), mapped by the server, and
  // the descriptor behind it (for backends in another process).
  shm::KernelBell* bell = nullptr;
  int bell_fd = -1;
  ControlWake wake_control;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual const char* name() const = 0;
  // The kernel launched by `name` on this backend, or null. Built-ins by
  // default; a backend may add its own (the CUDA backend's debug_trap).
  virtual const KernelDef* find_kernel(const std::string& name) const;
  // Starts a persistent kernel, inactive. On failure `why` says why.
  virtual Result<std::unique_ptr<Executor>> launch(const LaunchSpec& spec, std::string& why) = 0;
  // Times this backend restarted its device (a GPU worker that died or
  // hung and was replaced), for /metrics. Backends without one: 0.
  virtual uint64_t device_resets() const { return 0; }
};

}  // namespace rk::server
