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

}  // namespace rk::capi
