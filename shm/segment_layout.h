// Layout of a session segment: a header, a table of channel slots, then the
// rings. A channel is a pair of rings: requests towards a kernel, replies
// back from it. Plain data shared with device code and the bindings.
//
//   SegmentHeader | ChannelSlot[max_channels] | ring areas (page aligned)
//
// The server writes the header and the slots; the client only reads them.
// The server never rereads what a client could have changed: it keeps its
// own copy of every offset.
#pragma once
#include <cstdint>

#include "shm/ring_layout.h"

namespace rk::shm {

inline constexpr uint32_t kSegmentMagic = 0x524b5347;  // "RKSG"
inline constexpr uint32_t kSegmentLayoutVersion = 1;
inline constexpr uint64_t kSegmentPage = 4096;

struct alignas(128) SegmentHeader {
  uint32_t magic;
  uint32_t version;
  uint64_t total_bytes;     // the creator's size; a shorter mapping is refused
  uint32_t max_channels;
  uint32_t reserved0;
  uint64_t slots_offset;    // offset of ChannelSlot[0]
  uint64_t data_offset;     // first byte available for ring areas
  uint8_t pad[128 - 40];
};
static_assert(sizeof(SegmentHeader) == 128);

// Closed: the kernel terminated or the channel was released; Faulted: the
// kernel faulted. Clients check this when a wait ends without a reply.
enum ChannelSlotState : uint32_t { kSlotFree = 0, kSlotBound = 1, kSlotClosed = 2, kSlotFaulted = 3 };

struct alignas(128) ChannelSlot {
  uint32_t state;           // ChannelSlotState, written by the server
  uint32_t instance_id;     // kernel instance this channel talks to
  uint64_t request_offset;  // ring memory (RingHeader + buffer), client -> kernel
  uint64_t reply_offset;    // ring memory, kernel -> client
  uint64_t ring_bytes;      // bytes of each ring's memory
  uint32_t generation;      // bumped each time the slot is reused
  uint8_t pad[128 - 36];
};
static_assert(sizeof(ChannelSlot) == 128);
static_assert(__builtin_offsetof(ChannelSlot, request_offset) == 8);
static_assert(__builtin_offsetof(ChannelSlot, reply_offset) == 16);

}  // namespace rk::shm

namespace rk::shm {

// One per kernel instance, in its own 4 KiB mapping shared with every
// session bound to the kernel (passed as a descriptor). Producers of
// requests ring it after publishing, so the kernel parks on (CPU) or polls
// (GPU) one word instead of every channel.
inline constexpr uint64_t kKernelBellBytes = 4096;
//
// `bell`: producers of requests ring it (the CPU worker sleeps on it; a
// GPU kernel polls its seq, asking with kBellPolled for a bump without a
// system call). `parked`: a client rings it just before it sleeps for a
// reply, so the GPU worker's waker thread knows someone needs a futex wake.
struct alignas(128) KernelBell {
  DoorbellWord bell;
  DoorbellWord parked;
};
static_assert(sizeof(KernelBell) == 256);

}  // namespace rk::shm
