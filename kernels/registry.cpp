#include "kernels/registry.h"

#include "kernels/builtin/builtins.h"
#include "kernels/sdk/message.h"
#include "kernels/sdk/status.h"
#include "shm/envelope.h"
#include "shm/errc.h"

namespace rk {

// The SDK mirrors these for device code; they must not drift.
static_assert(status::ok == uint16_t(Errc::ok));
static_assert(status::invalid_argument == uint16_t(Errc::invalid_argument));
static_assert(status::too_large == uint16_t(Errc::too_large));
static_assert(status::malformed == uint16_t(Errc::malformed));
static_assert(status::internal == uint16_t(Errc::internal));
static_assert(envelope_layout::kHeaderBytes == shm::kEnvelopeHeaderBytes);

namespace {

using builtin::Builtin;

// Launch defaults: one block, sized for the work. echo and counter give a
// warp to each message (eight or one at a time); the data-parallel kernels
// give the whole block to each message.
constexpr KernelDef kBuiltins[] = {
    {"echo", &builtin::echo, 0, 1, 256, false},
    {"counter", &builtin::counter, builtin::kCounterStateBytes, 1, 32, false},
    {"saxpy", &builtin::saxpy, 0, 1, 256, true},
    {"reduce_sum", &builtin::reduce_sum, 0, 1, 256, true},
};
static_assert(std::size(kBuiltins) == size_t(Builtin::count));
static_assert([] {
  for (size_t i = 0; i < std::size(kBuiltins); ++i)
    if (kBuiltins[i].block_per_message != builtin::block_per_message(Builtin(i))) return false;
  return true;
}(), "kBuiltins and builtin::block_per_message disagree");

}  // namespace

std::span<const KernelDef> builtin_kernels() { return kBuiltins; }

const KernelDef* find_builtin(std::string_view name) {
  for (const KernelDef& def : kBuiltins)
    if (name == def.name) return &def;
  return nullptr;
}

}  // namespace rk
