// One message through a handler: the per-message policy that both backends
// share. Parse the request, run the handler into the reply record, and make
// sure a reply comes out whatever happened: an undecodable request gets a
// malformed error reply, a reply that outgrew its record a too_large one.
#pragma once
#include <cstdint>

#include "kernels/sdk/context.h"
#include "kernels/sdk/message.h"
#include "kernels/sdk/status.h"

namespace rk {

struct Handled {
  uint32_t reply_bytes;  // length of the reply record; 0 only if `reply_capacity` cannot hold an Envelope
  uint16_t status;       // the status the reply carries
};

// `handler` is a Handler or anything callable like one (the CUDA backend
// passes the built-in itself). On the device every lane of the block calls
// this with the same records; lane 0 commits the reply after a ctx.sync().
template <class HandlerFn>
RK_HOST_DEVICE Handled handle_message(HandlerFn&& handler, Context& ctx, const void* request, uint32_t request_bytes,
                                      void* reply, uint32_t reply_capacity, bool reply_zeroed = false) {
  MessageView in;
  if (!MessageView::parse(request, request_bytes, &in)) {
    Reply out(reply, reply_capacity, reply_zeroed);
    out.set_kernel(ctx.instance());
    out.fail(status::malformed);
    return Handled{out.finish(), status::malformed};
  }
  Reply out(reply, reply_capacity, in, reply_zeroed);
  handler(ctx, in, out);
  uint32_t bytes = out.finish();
  if (bytes == 0) {
    out.fail(out.error() == proto::BuildError::misuse ? status::internal : status::too_large);
    bytes = out.finish();
    if (bytes == 0) return Handled{0, status::too_large};
  }
  return Handled{bytes, out.status()};
}

}  // namespace rk
