// One message through a handler on the host: decode the request envelope in
// place, run the handler into a reply record, or write an error reply.
#pragma once
#include <cstddef>
#include <span>

#include "kernels/sdk/handler.h"
#include "shm/errc.h"

namespace rk::server::cpu {

struct Dispatched {
  size_t reply_bytes;  // length of the reply record written
  Errc status;         // ok, or the error the reply carries
};

// `state` is the kernel's persistent state. Never throws for bad input; a
// handler's own exception propagates (the executor turns it into a fault).
Dispatched dispatch(const KernelDef& def, uint32_t instance_id, std::span<std::byte> state,
                    std::span<const std::byte> request, std::span<std::byte> reply);

// Writes an error reply for a request (correlation and type copied when the
// request decodes far enough). Returns its length.
size_t write_error_reply(uint32_t instance_id, std::span<const std::byte> request,
                         std::span<std::byte> reply, Errc why);

}  // namespace rk::server::cpu
