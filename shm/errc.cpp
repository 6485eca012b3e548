#include "shm/errc.h"

namespace rk {

const char* errc_string(Errc e) noexcept {
  switch (e) {
    case Errc::ok: return "ok";
    case Errc::invalid_argument: return "invalid argument";
    case Errc::not_found: return "not found";
    case Errc::timeout: return "timed out";
    case Errc::queue_full: return "queue full";
    case Errc::too_large: return "message too large";
    case Errc::disconnected: return "disconnected";
    case Errc::abi_mismatch: return "ABI version mismatch";
    case Errc::permission: return "permission denied";
    case Errc::state: return "wrong kernel state";
    case Errc::malformed: return "malformed message";
    case Errc::kernel_faulted: return "kernel faulted";
    case Errc::no_device: return "no usable device";
    case Errc::internal: return "internal error";
    case Errc::corrupt: return "ring corrupted by peer";
    case Errc::empty: return "empty";
    case Errc::limit: return "limit reached";
  }
  return "unknown status";
}

}  // namespace rk
