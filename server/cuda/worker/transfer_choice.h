// What "auto" means for a built-in kernel. docs/transfer.md holds the
// measurements behind the choice: PROVISIONAL until the mapped vs staged
// sweep has run on the device.
#pragma once
#include <cstdint>

#include "kernels/builtin/builtins.h"
#include "server/transfer.h"

namespace rk::server::gpu {

inline Transfer choose_transfer(uint32_t builtin) {
  const auto which = rk::builtin::Builtin(builtin);
  return rk::builtin::block_per_message(which) ? Transfer::staged : Transfer::mapped;
}

}  // namespace rk::server::gpu
