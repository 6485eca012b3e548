// What the integration tests and rk_shm_peer agree on: where the two rings
// and a small control block lie in the segment, which records a stream
// carries, and how each side checks them.
//
//   SegmentHeader | PeerControl | ring 0 (creator -> opener) | ring 1 (opener -> creator)
//
// Record i of a stream has a size and content derived from (seed, i) only,
// so the receiver can check every byte without any other channel: a lost,
// duplicated, reordered or damaged record shows as a sequence or content
// mismatch. Records of 8 bytes or more start with their sequence number.
// Each side also folds every byte it sent or received into a checksum, and
// the two sides compare them at the end.
#pragma once
#include <atomic>
#include <cstdint>
#include <cstring>
#include <string>

#include "shm/clock.h"
#include "shm/ring.h"
#include "shm/segment.h"
#include "shm/segment_layout.h"

namespace rk::shm::test {

inline constexpr RingConfig kStreamRing{1u << 20, 65536};
inline constexpr uint64_t kControlOffset = sizeof(SegmentHeader);
inline constexpr uint64_t kRingStride = (ring_bytes(kStreamRing.capacity) + kSegmentPage - 1) & ~(kSegmentPage - 1);
inline constexpr uint64_t kRingOffset[2] = {kSegmentPage, kSegmentPage + kRingStride};
inline constexpr uint64_t kStreamSegmentBytes = kSegmentPage + 2 * kRingStride;

// Written by the opener (the child), read by the creator.
struct alignas(128) PeerControl {
  uint64_t attached;     // 1 once the opener has mapped and unlinked the segment
  uint64_t received;     // records the opener has checked so far
  uint64_t rx_checksum;  // over every byte the opener received
  uint64_t tx_checksum;  // over every byte the opener sent
  uint64_t finished;     // 1 = both directions done and correct, 2 = failed
};
static_assert(sizeof(PeerControl) <= kSegmentPage - kControlOffset);

inline PeerControl* control_of(const Segment& s) {
  return reinterpret_cast<PeerControl*>(static_cast<std::byte*>(s.data()) + kControlOffset);
}
inline uint64_t load(uint64_t& word) { return std::atomic_ref<uint64_t>(word).load(std::memory_order_acquire); }
inline void store(uint64_t& word, uint64_t v) {
  std::atomic_ref<uint64_t>(word).store(v, std::memory_order_release);
}

// Creates the stream segment with both rings formatted.
inline Result<Segment> create_stream_segment() {
  auto s = Segment::create(kStreamSegmentBytes);
  if (!s) return s;
  for (uint64_t off : kRingOffset) {
    if (Errc e = format_ring(static_cast<std::byte*>(s->data()) + off, kStreamRing); e != Errc::ok) return e;
  }
  return s;
}

inline void* ring_memory(const Segment& s, int ring) { return static_cast<std::byte*>(s.data()) + kRingOffset[ring]; }

// ---- the records of a stream --------------------------------------------------

inline uint64_t mix(uint64_t x) {  // splitmix64 finaliser
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// Body size of record `seq`: uniform over 0..64 KiB for one record in 16,
// uniform over 0..1 KiB otherwise. Mean ~2.5 KiB, so 2 M records each way is
// ~5 GB per direction, with ~125 K records above 1 KiB covering every size
// up to 64 KiB; a run takes ~6 s on two cores. (A uniform 0..64 KiB draw
// moves ~64 GiB per direction: ~70 s on the same two cores, too slow here.)
inline size_t record_size(uint64_t seed, uint64_t seq) {
  const uint64_t h = mix(seed ^ mix(seq));
  return (h & 15) == 0 ? size_t((h >> 8) % 65537) : size_t((h >> 8) % 1025);
}

// Content word `i` of record `seq` (word 0 is replaced by seq itself).
inline uint64_t content_word(uint64_t seed, uint64_t seq, uint64_t i) {
  return i == 0 ? seq : mix(seed + seq * 0x100000001b3ull + i);
}

inline uint64_t fold(uint64_t checksum, uint64_t word) { return (checksum ^ word) * 0x100000001b3ull + 1; }

inline void fill_record(std::byte* body, size_t n, uint64_t seed, uint64_t seq, uint64_t& checksum) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const uint64_t w = content_word(seed, seq, i / 8);
    std::memcpy(body + i, &w, 8);
    checksum = fold(checksum, w);
  }
  if (i < n) {
    uint64_t w = content_word(seed, seq, i / 8);
    std::memcpy(body + i, &w, n - i);
    uint64_t sent = 0;
    std::memcpy(&sent, &w, n - i);
    checksum = fold(checksum, sent);
  }
}

// Checks a received body against record `seq`; folds the received bytes.
// Returns an empty string if it matches, otherwise what is wrong.
inline std::string check_record(const std::byte* body, size_t n, uint64_t seed, uint64_t seq, uint64_t& checksum) {
  const size_t want = record_size(seed, seq);
  if (n != want) {
    uint64_t got_seq = ~0ull;
    if (n >= 8) std::memcpy(&got_seq, body, 8);
    return "record " + std::to_string(seq) + ": size " + std::to_string(n) + ", expected " + std::to_string(want) +
           " (it carries seq " + std::to_string(got_seq) + ")";
  }
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, body + i, 8);
    checksum = fold(checksum, w);
    if (w != content_word(seed, seq, i / 8))
      return i == 0 ? "record " + std::to_string(seq) + " carries seq " + std::to_string(w)
                    : "record " + std::to_string(seq) + ": bytes differ at " + std::to_string(i);
  }
  if (i < n) {
    uint64_t w = 0, expect = 0;
    std::memcpy(&w, body + i, n - i);
    const uint64_t full = content_word(seed, seq, i / 8);
    std::memcpy(&expect, &full, n - i);
    checksum = fold(checksum, w);
    if (w != expect) return "record " + std::to_string(seq) + ": tail bytes differ";
  }
  return {};
}

// ---- the two halves of a side ---------------------------------------------------

struct StreamResult {
  uint64_t records = 0;
  uint64_t checksum = 0;
  std::string error;  // empty if all went well
};

inline constexpr int64_t kStreamWaitMs = 30000;  // a peer silent this long is gone

// Sends `count` records of stream `seed`, one commit each, waiting for room
// as needed. `progress`, if given, is bumped after every record.
inline StreamResult send_stream(RingProducer& ring, uint64_t seed, uint64_t count, const WaitStop* stop = nullptr) {
  StreamResult r;
  for (uint64_t seq = 0; seq < count; ++seq) {
    const size_t n = record_size(seed, seq);
    auto span = ring.reserve(n, Deadline::after_ms(kStreamWaitMs), stop);
    if (!span) {
      r.error = "send " + std::to_string(seq) + ": " + errc_string(span.error());
      return r;
    }
    fill_record(span->data(), n, seed, seq, r.checksum);
    ring.commit(n);
    r.records = seq + 1;
  }
  return r;
}

// Receives and checks `count` records of stream `seed`, releasing space in
// batches of 16 records (and always before it would wait).
inline StreamResult receive_stream(RingConsumer& ring, uint64_t seed, uint64_t count, uint64_t* progress = nullptr,
                                   const WaitStop* stop = nullptr) {
  StreamResult r;
  for (uint64_t seq = 0; seq < count; ++seq) {
    auto rec = ring.peek();
    if (rec.error() == Errc::empty) {
      ring.release();  // never sleep on space the producer may be waiting for
      rec = ring.wait(Deadline::after_ms(kStreamWaitMs), stop);
    }
    if (!rec) {
      r.error = "receive " + std::to_string(seq) + ": " + errc_string(rec.error());
      return r;
    }
    r.error = check_record(reinterpret_cast<const std::byte*>(rec->body.data()), rec->body.size(), seed, seq,
                           r.checksum);
    if (!r.error.empty()) return r;
    ring.advance(*rec);
    if ((seq & 15) == 15) ring.release();
    r.records = seq + 1;
    if (progress) store(*progress, r.records);
  }
  ring.release();
  return r;
}

// Seeds of the two directions of one test stream.
inline uint64_t forward_seed(uint64_t seed) { return seed * 2 + 1; }
inline uint64_t backward_seed(uint64_t seed) { return seed * 2 + 2; }

}  // namespace rk::shm::test
