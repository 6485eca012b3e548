// Which backends this server offers, from --backend and what the host has.
#pragma once
#include <map>
#include <memory>
#include <string>

#include "server/backend.h"

namespace rk::server {

struct BackendOptions {
  uint64_t gpu_hang_ms = 5000;  // heartbeat watchdog of GPU kernels; 0: off
};

// "auto": CUDA when a device is usable, plus the CPU backend always;
// "cpu": the CPU backend only; "cuda": fails (empty map, `why` set) when no
// device is usable.
std::map<std::string, std::unique_ptr<Backend>> make_backends(const std::string& choice,
                                                              const BackendOptions& options, ControlWake wake,
                                                              std::string& why);
// The backend "auto" launches pick: cuda if present, else cpu.
std::string preferred_backend(const std::map<std::string, std::unique_ptr<Backend>>& backends);

}  // namespace rk::server
