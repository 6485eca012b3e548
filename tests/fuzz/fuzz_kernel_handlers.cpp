// Fuzz target: the kernel SDK's bounds-checked Cap'n Proto view (host
// build) driving each built-in handler through rk::handle_message, the
// per-message policy both backends share. The request record and the
// kernel state are heap blocks of exactly their size, so ASan sees any
// read outside them; the reply must stay inside its capacity and be a
// valid Envelope whenever the handler wrote one.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "fuzz_input.h"
#include "kernels/registry.h"
#include "kernels/sdk/dispatch.h"
#include "shm/envelope.h"

namespace {

[[noreturn]] void die(const char* why) {
  fprintf(stderr, "fuzz_kernel_handlers: %s\n", why);
  abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rk;
  fuzz::Input in(data, size);
  const auto kernels = builtin_kernels();
  const KernelDef& def = kernels[in.take<uint8_t>() % kernels.size()];
  static const uint32_t kCaps[] = {0, 8, 32, 64, 128, 512, 4096, 65792};
  const uint32_t cap = kCaps[in.take<uint8_t>() % (sizeof kCaps / sizeof kCaps[0])];
  const bool zeroed = in.take<uint8_t>() & 1;
  const uint64_t state_fill = in.take<uint64_t>();
  auto record = in.rest();

  // Exactly sized copies: a read one byte past the end is a finding.
  std::vector<std::byte> request(record.size());
  if (!record.empty()) std::memcpy(request.data(), record.data(), record.size());
  std::vector<std::byte> state(def.state_bytes);
  for (size_t i = 0; i < state.size(); ++i) state[i] = std::byte(state_fill >> (8 * (i % 8)));
  std::vector<std::byte> reply(cap + 16);
  const std::byte kGuard{0xa5};
  std::memset(reply.data(), zeroed ? 0 : 0x77, cap);
  std::memset(reply.data() + cap, int(kGuard), 16);

  Context ctx(7, state.data(), uint32_t(state.size()));
  Handled h = handle_message(def.host_handler, ctx, request.data(), uint32_t(request.size()), reply.data(), cap,
                             zeroed);
  for (size_t i = cap; i < cap + 16; ++i)
    if (reply[i] != kGuard) die("handler wrote past the reply capacity");
  if (h.reply_bytes > cap) die("reply longer than its capacity");
  if (h.reply_bytes != 0) {
    auto view = shm::read_envelope(std::span<const std::byte>(reply.data(), h.reply_bytes));
    if (!view) die("the reply is not a valid Envelope");
    if (view->fields.status != h.status) die("reply status differs from the one reported");
  } else if (cap >= 64) {
    die("no reply although an error envelope fits");
  }
  return 0;
}
