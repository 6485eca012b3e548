#include "server/cpu/dispatch.h"

#include "kernels/sdk/dispatch.h"
#include "shm/envelope.h"

namespace rk::server::cpu {

Dispatched dispatch(const KernelDef& def, uint32_t instance_id, std::span<std::byte> state,
                    std::span<const std::byte> request, std::span<std::byte> reply) {
  Context ctx(instance_id, state.data(), uint32_t(state.size()));
  Handled h = handle_message(def.host_handler, ctx, request.data(), uint32_t(request.size()), reply.data(),
                             uint32_t(reply.size()));
  if (h.reply_bytes == 0) return {write_error_reply(instance_id, request, reply, Errc::too_large), Errc::too_large};
  return {h.reply_bytes, Errc(h.status)};
}

size_t write_error_reply(uint32_t instance_id, std::span<const std::byte> request, std::span<std::byte> reply,
                         Errc why) {
  shm::EnvelopeFields f;
  if (auto in = shm::read_envelope(request)) f = in->fields;  // keep type and correlation when we can
  f.kernel = instance_id;
  f.status = uint16_t(why);
  f.flags = 0;
  auto n = shm::write_data_envelope(reply, f, {});
  return n ? *n : 0;
}

}  // namespace rk::server::cpu
