// counter: a running total kept in the kernel's state. Request: Data, an
// int64 little-endian delta. Reply: Data, the int64 total after adding it.
// Concurrent messages each see a distinct total (the add is atomic).
#pragma once
#include "kernels/sdk/atomic.h"
#include "kernels/sdk/handler.h"

namespace rk::builtin {

inline constexpr uint32_t kCounterStateBytes = sizeof(int64_t);

RK_HOST_DEVICE inline void counter(Context& ctx, MessageView in, Reply& out) {
  const proto::DataView delta = in.payload_data();
  if (!delta.ok() || delta.size() != sizeof(int64_t)) return out.fail(status::malformed);
  int64_t* total = ctx.state_as<int64_t>();
  if (total == nullptr) return out.fail(status::internal);  // launched without its state
  uint8_t* to = out.init_data(sizeof(int64_t));
  if (to == nullptr) return out.fail(status::too_large);
  ctx.sync();
  if (ctx.lane() == 0) store<int64_t>(to, atomic_add_fetch(total, load<int64_t>(delta.data())));
}

}  // namespace rk::builtin
