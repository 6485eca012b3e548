#include "capi/errors.h"

namespace rk::capi {

namespace {
thread_local std::string g_last;
// Whether g_last holds anything, so that ok(), on every successful call,
// costs one thread-pointer-relative load: initial-exec TLS needs no
// __tls_get_addr call (a plain bool fits glibc's reserve for libraries
// loaded with dlopen).
__attribute__((tls_model("initial-exec"))) thread_local bool g_has_last = false;
}  // namespace

// The C enum and the internal codes are one numbering.
static_assert(RK_E_INVALID_ARGUMENT == int(Errc::invalid_argument));
static_assert(RK_E_NOT_FOUND == int(Errc::not_found));
static_assert(RK_E_TIMEOUT == int(Errc::timeout));
static_assert(RK_E_QUEUE_FULL == int(Errc::queue_full));
static_assert(RK_E_TOO_LARGE == int(Errc::too_large));
static_assert(RK_E_DISCONNECTED == int(Errc::disconnected));
static_assert(RK_E_ABI_MISMATCH == int(Errc::abi_mismatch));
static_assert(RK_E_PERMISSION == int(Errc::permission));
static_assert(RK_E_STATE == int(Errc::state));
static_assert(RK_E_MALFORMED == int(Errc::malformed));
static_assert(RK_E_KERNEL_FAULTED == int(Errc::kernel_faulted));
static_assert(RK_E_NO_DEVICE == int(Errc::no_device));
static_assert(RK_E_INTERNAL == int(Errc::internal));
static_assert(RK_E_CORRUPT == int(Errc::corrupt));
static_assert(RK_E_EMPTY == int(Errc::empty));
static_assert(RK_E_LIMIT == int(Errc::limit));

rk_status fail(rk_status status, std::string message) {
  g_last = std::move(message);
  g_has_last = true;
  return status;
}

rk_status fail(Errc code, std::string message) { return fail(to_status(code), std::move(message)); }

rk_status ok() {
  if (g_has_last) {
    g_last.clear();
    g_has_last = false;
  }
  return RK_OK;
}

const char* last_message() { return g_last.c_str(); }

}  // namespace rk::capi
