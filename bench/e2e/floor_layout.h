// Memory shared by the `floor` baseline's two parties: a client process that
// writes a request and spins for the reply, and a persistent CUDA kernel that
// polls the request over PCIe (the memory is mapped pinned host memory) and
// copies it back. No RingKernel code on either side. Plain layout, no
// includes beyond <cstdint>, shared by host and device code.
#pragma once
#include <cstdint>

namespace rk::bench {

// One word to a 128 B line. The abort word has a line of its own: a second
// load of the polled line lands a whole PCIe round trip after the first
// (docs/benchmarks.md, eleventh session), so reading it beside every poll
// halved the floor's looks (0 B: 5.0 µs before, 3.6-4.1 after; thirteenth
// session).
struct alignas(128) FloorLine {
  uint64_t word;  // request: sequence, written by the client; reply: by the kernel;
                  // abort: set by the harness to stop the kernel early
  uint8_t pad[120];
};
static_assert(sizeof(FloorLine) == 128);

// [request line][reply line][abort line][request payload][reply payload],
// payloads 128-byte aligned and kFloorMaxPayload each.
enum FloorLineIndex : unsigned { kFloorRequest = 0, kFloorReply = 1, kFloorAbort = 2 };
inline constexpr uint64_t kFloorMaxPayload = 65536;
inline constexpr uint64_t kFloorReqPayload = 3 * sizeof(FloorLine);
inline constexpr uint64_t kFloorRepPayload = kFloorReqPayload + kFloorMaxPayload;
inline constexpr uint64_t kFloorBytes = kFloorRepPayload + kFloorMaxPayload;
static_assert(kFloorReqPayload % 128 == 0 && kFloorRepPayload % 128 == 0);

}  // namespace rk::bench
