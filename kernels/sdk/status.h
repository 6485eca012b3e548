// Status codes a handler may put in a reply, usable in device code. They are
// rk::Errc's numbers (shm/errc.h, the C ABI's rk_status); that header is
// host-only, so the codes a kernel needs are mirrored here and
// kernels/registry.cpp static_asserts that both agree.
#pragma once
#include <cstdint>

namespace rk::status {

inline constexpr uint16_t ok = 0;
inline constexpr uint16_t invalid_argument = 1;
inline constexpr uint16_t too_large = 5;   // the reply does not fit its record
inline constexpr uint16_t malformed = 10;  // the request does not decode as the kernel expects
inline constexpr uint16_t internal = 13;   // a bug: builder misuse, state missing at launch

}  // namespace rk::status
