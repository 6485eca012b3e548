// Ring memory layout, shared by host code, device code and the bindings'
// layout tests. Plain data, no pointers, no includes beyond <cstdint>.
//
//   RingHeader (5 lines of 128 B) | buffer[capacity], capacity a power of two
//
// A record is [u32 length][u32 flags][body, padded to 8 bytes] and never
// wraps: when it would not fit before the end of the buffer, the producer
// writes a padding record over the rest and starts again at offset 0.
// head and tail are byte positions that only grow (mod 2^64); the record at
// position p lies at buffer[p & (capacity - 1)].
#pragma once
#include <cstdint>

namespace rk::shm {

inline constexpr uint32_t kRingMagic = 0x52494e47;  // "RING"
inline constexpr uint32_t kRingLayoutVersion = 1;
inline constexpr uint32_t kRingLine = 128;           // GPU L2 line; also 2 x86 lines
inline constexpr uint32_t kRecordHeaderBytes = 8;
inline constexpr uint32_t kRecordAlign = 8;

// Line 0 `features`, set by the ring's creator (shm/tail_digest.h).
// kRingTailDigest: the consumer reads across PCIe and wants `tail_digest`
// for a small record published alone. kRingUnorderedTail: the producer
// (a GPU) may publish its last small record unordered, marking the tail
// with kTailUnordered; the consumer checks that record's digest.
inline constexpr uint32_t kRingTailDigest = 1u << 0;
inline constexpr uint32_t kRingUnorderedTail = 1u << 1;
inline constexpr uint32_t kRingKnownFeatures = kRingTailDigest | kRingUnorderedTail;
inline constexpr uint64_t kTailUnordered = 1;  // bit 0 of a tail (positions are multiples of 8)

// Record flags. Bits 16..31 belong to the layers above (see envelope.h).
// Padding fills the end of the buffer before a wrap. A filler is skipped
// like padding but may stand anywhere: a producer that reserved room for a
// record before knowing its size (the GPU, building many replies at once)
// fills what it did not use.
inline constexpr uint32_t kRecordPadding = 1u << 0;
inline constexpr uint32_t kRecordFiller = 1u << 1;
inline constexpr uint32_t kRecordReservedMask = 0x0000fffcu;

struct RecordHeader {
  uint32_t length;  // body bytes, excluding this header and the tail padding
  uint32_t flags;
};
static_assert(sizeof(RecordHeader) == kRecordHeaderBytes);

// A futex word pair: `seq` is what waiters sleep on, `waiters` says someone
// sleeps (so the other side pays for a wake syscall only when needed).
// waiters bit 0: a thread sleeps in futex_wait (ring with a wake syscall);
// bit 1: a poller watches seq (bump seq, no syscall: the GPU's case).
inline constexpr uint32_t kBellSleeping = 1u << 0;
inline constexpr uint32_t kBellPolled = 1u << 1;
struct alignas(kRingLine) DoorbellWord {
  uint32_t seq;
  uint32_t waiters;
  uint8_t pad[kRingLine - 8];
};
static_assert(sizeof(DoorbellWord) == kRingLine);

struct alignas(kRingLine) RingHeader {
  // Line 0: written once by the segment's creator before anyone else maps
  // it. Peers copy these into private memory at attach and never reread
  // them, so a hostile peer cannot change the bounds we trust.
  uint32_t magic;
  uint32_t version;
  uint64_t capacity;      // buffer bytes, a power of two
  uint32_t max_record;    // largest body accepted
  uint32_t features;      // kRingTailDigest, kRingUnorderedTail; 0 in rings made before them
  uint8_t pad0[kRingLine - 24];

  // Line 1: producer-owned.
  uint64_t tail;          // end of the last published record
  uint64_t tail_digest;   // with kRingTailDigest: see shm/tail_digest.h
  uint64_t tail_reply_head;  // ... and where the producer had taken its replies to (shm/tail_digest.h)
  uint8_t pad1[kRingLine - 24];

  // Line 2: consumer-owned.
  uint64_t head;          // start of the oldest unreleased record
  uint8_t pad2[kRingLine - 8];

  // Line 3: consumer waits here for data; the producer rings it.
  DoorbellWord data_bell;
  // Line 4: producer waits here for space; the consumer rings it.
  DoorbellWord space_bell;
};
static_assert(sizeof(RingHeader) == 5 * kRingLine);
static_assert(__builtin_offsetof(RingHeader, tail) == 1 * kRingLine);
static_assert(__builtin_offsetof(RingHeader, tail_digest) == 1 * kRingLine + 8);
static_assert(__builtin_offsetof(RingHeader, tail_reply_head) == 1 * kRingLine + 16);
static_assert(__builtin_offsetof(RingHeader, head) == 2 * kRingLine);
static_assert(__builtin_offsetof(RingHeader, data_bell) == 3 * kRingLine);
static_assert(__builtin_offsetof(RingHeader, space_bell) == 4 * kRingLine);

// Bytes a record of `body` bytes occupies in the buffer.
constexpr uint64_t record_bytes(uint64_t body) {
  return kRecordHeaderBytes + ((body + kRecordAlign - 1) & ~uint64_t{kRecordAlign - 1});
}

// Bytes of ring memory (header + buffer) for a capacity.
constexpr uint64_t ring_bytes(uint64_t capacity) { return sizeof(RingHeader) + capacity; }

}  // namespace rk::shm
