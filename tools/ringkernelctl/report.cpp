#include "tools/ringkernelctl/report.h"

#include <cstdio>

namespace rk::ctl {

std::string status_name(rk_status status) {
  switch (status) {
    case RK_OK: return "RK_OK";
    case RK_E_INVALID_ARGUMENT: return "RK_E_INVALID_ARGUMENT";
    case RK_E_NOT_FOUND: return "RK_E_NOT_FOUND";
    case RK_E_TIMEOUT: return "RK_E_TIMEOUT";
    case RK_E_QUEUE_FULL: return "RK_E_QUEUE_FULL";
    case RK_E_TOO_LARGE: return "RK_E_TOO_LARGE";
    case RK_E_DISCONNECTED: return "RK_E_DISCONNECTED";
    case RK_E_ABI_MISMATCH: return "RK_E_ABI_MISMATCH";
    case RK_E_PERMISSION: return "RK_E_PERMISSION";
    case RK_E_STATE: return "RK_E_STATE";
    case RK_E_MALFORMED: return "RK_E_MALFORMED";
    case RK_E_KERNEL_FAULTED: return "RK_E_KERNEL_FAULTED";
    case RK_E_NO_DEVICE: return "RK_E_NO_DEVICE";
    case RK_E_INTERNAL: return "RK_E_INTERNAL";
    case RK_E_CORRUPT: return "RK_E_CORRUPT";
    case RK_E_EMPTY: return "RK_E_EMPTY";
    case RK_E_LIMIT: return "RK_E_LIMIT";
  }
  return "RK_STATUS_" + std::to_string(int(status));  // a newer server's code
}

const char* state_name(rk_state state) {
  switch (state) {
    case RK_STATE_CREATED: return "created";
    case RK_STATE_LAUNCHED: return "launched";
    case RK_STATE_ACTIVE: return "active";
    case RK_STATE_DEACTIVATED: return "deactivated";
    case RK_STATE_TERMINATING: return "terminating";
    case RK_STATE_TERMINATED: return "terminated";
    case RK_STATE_FAULTED: return "faulted";
  }
  return "unknown";
}

const char* backend_name(rk_backend backend) {
  switch (backend) {
    case RK_BACKEND_AUTO: return "auto";
    case RK_BACKEND_CPU: return "cpu";
    case RK_BACKEND_CUDA: return "cuda";
  }
  return "unknown";
}

void check(rk_status s, const std::string& doing) {
  if (s == RK_OK) return;
  std::string detail = rk_last_error_message();
  if (detail.empty()) detail = rk_status_string(s);
  throw Failure(s, doing + ": " + detail);
}

std::string format_ns(uint64_t ns) {
  char buf[32];
  if (ns < 1000)
    std::snprintf(buf, sizeof buf, "%llu ns", static_cast<unsigned long long>(ns));
  else if (ns < 1000'000)
    std::snprintf(buf, sizeof buf, "%.2f µs", double(ns) / 1e3);
  else if (ns < 1000'000'000)
    std::snprintf(buf, sizeof buf, "%.2f ms", double(ns) / 1e6);
  else
    std::snprintf(buf, sizeof buf, "%.2f s", double(ns) / 1e9);
  return buf;
}

std::string format_bytes(uint64_t bytes) {
  char buf[32];
  if (bytes < 1024)
    std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(bytes));
  else if (bytes < (1u << 20))
    std::snprintf(buf, sizeof buf, "%.1f KiB", double(bytes) / 1024);
  else
    std::snprintf(buf, sizeof buf, "%.1f MiB", double(bytes) / (1 << 20));
  return buf;
}

}  // namespace rk::ctl
