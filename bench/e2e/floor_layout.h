// Memory shared by the `floor` baseline's two parties: a client process that
// writes a request and spins for the reply, and a persistent CUDA kernel that
// polls the request over PCIe (the memory is mapped pinned host memory) and
// copies it back. No RingKernel code on either side. Plain layout, no
// includes beyond <cstdint>, shared by host and device code.
#pragma once
#include <cstdint>

namespace rk::bench {

struct alignas(128) FloorLine {
  uint64_t seq;    // request: written by the client; reply: written by the kernel
  uint64_t abort;  // request line only: set by the harness to stop the kernel early
  uint8_t pad[112];
};
static_assert(sizeof(FloorLine) == 128);

// [request line][reply line][request payload][reply payload], payloads
// 128-byte aligned and kFloorMaxPayload each.
inline constexpr uint64_t kFloorMaxPayload = 65536;
inline constexpr uint64_t kFloorReqPayload = 2 * sizeof(FloorLine);
inline constexpr uint64_t kFloorRepPayload = kFloorReqPayload + kFloorMaxPayload;
inline constexpr uint64_t kFloorBytes = kFloorRepPayload + kFloorMaxPayload;
static_assert(kFloorReqPayload % 128 == 0 && kFloorRepPayload % 128 == 0);

}  // namespace rk::bench
