// Error codes shared by every layer. The numbering is the C ABI's rk_status
// (capi/ static_asserts that they agree), so a code can cross from the ring,
// through the server and the control protocol, to a client unchanged.
#pragma once
#include <cstdint>

namespace rk {

enum class Errc : uint16_t {
  ok = 0,
  invalid_argument = 1,
  not_found = 2,
  timeout = 3,
  queue_full = 4,
  too_large = 5,
  disconnected = 6,
  abi_mismatch = 7,
  permission = 8,
  state = 9,             // wrong lifecycle state
  malformed = 10,        // message bytes do not decode
  kernel_faulted = 11,
  no_device = 12,
  internal = 13,
  corrupt = 14,          // a peer broke the ring protocol (indices, record headers)
  empty = 15,            // nothing to read right now (non-blocking calls)
  limit = 16,            // a configured limit (sessions, channels, bytes) is reached
};

// Short stable name of a code, e.g. "queue full".
const char* errc_string(Errc e) noexcept;

}  // namespace rk
