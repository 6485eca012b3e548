// Thread-local error detail behind rk_last_error_message().
#pragma once
#include <string>

#include "ringkernel/ringkernel.h"
#include "shm/errc.h"

namespace rk::capi {

// Records `message` as this thread's detail and returns `status`.
rk_status fail(rk_status status, std::string message);
rk_status fail(Errc code, std::string message);
// Clears the detail; returns RK_OK.
rk_status ok();
const char* last_message();

inline rk_status to_status(Errc e) { return static_cast<rk_status>(e); }

// A status code that came over the wire (a server's reply, a kernel's reply
// envelope) as an rk_status. A code this library does not know (a newer or
// broken peer) becomes RK_E_INTERNAL: casting it would hand callers a value
// outside the enum (undefined behaviour, caught by UBSan in the fuzzers).
inline rk_status status_from_wire(uint32_t code) {
  return code <= uint32_t(RK_E_LIMIT) ? static_cast<rk_status>(code) : RK_E_INTERNAL;
}
inline bool known_state(uint32_t code) { return code <= uint32_t(RK_STATE_FAULTED); }

}  // namespace rk::capi
