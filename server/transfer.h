// How a GPU kernel's requests reach it: a launch option (rk_transfer),
// resolved by the GPU worker when it says "auto". docs/transfer.md.
#pragma once
#include <cstdint>

namespace rk::server {

// Backends without a device read the rings in place and ignore it.
enum class Transfer : uint16_t { automatic = 0, mapped = 1, staged = 2 };
inline const char* transfer_name(Transfer t) {
  return t == Transfer::mapped ? "mapped" : t == Transfer::staged ? "staged" : "auto";
}

}  // namespace rk::server
