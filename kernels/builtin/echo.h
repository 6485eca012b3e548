// echo: replies with the request's payload (Data, struct or list), type and
// correlation. The latency probe of every benchmark.
#pragma once
#include "kernels/sdk/handler.h"

namespace rk::builtin {

RK_HOST_DEVICE inline void echo(Context& ctx, MessageView in, Reply& out) {
  const proto::PointerView payload = in.payload();
  if (payload.is_list() && payload.element_size() == proto::ElementSize::byte) {
    // Data, the common case: the lanes copy it together.
    const proto::DataView data = payload.as_data();
    if (!data.ok()) return out.fail(status::malformed);
    uint8_t* to = out.init_data(data.size());
    if (to == nullptr) return out.fail(status::too_large);
    ctx.sync();
    ctx.copy(to, data.data(), data.size());
    return;
  }
  const uint16_t copied = out.copy_payload(in);
  if (copied != status::ok) out.fail(copied);
}

}  // namespace rk::builtin
