// Single-producer single-consumer ring of variable-size records in shared
// memory (layout in ring_layout.h). Each side writes only its own index:
// the producer `tail`, the consumer `head`.
//
// Memory ordering, the whole argument:
//  * The producer writes record bytes, then stores `tail` with release; the
//    consumer loads `tail` with acquire, so every byte before `tail` is
//    visible to it.
//  * The consumer finishes reading records, then stores `head` with release;
//    the producer loads `head` with acquire before it reuses that space, so
//    it never overwrites bytes still being read.
//  * Each side keeps a private copy of its own index and a cached copy of the
//    other's, so the common case touches the shared line of the other side
//    only when the cached view says the ring is empty / full.
//
// Trust: the peer may be hostile. Capacity and max record size are copied
// from the header once at attach and validated against the mapping; every
// index loaded from the peer and every record header is checked before use,
// and a violation is reported as Errc::corrupt: never an out-of-bounds
// access and never a loop.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>

#include "shm/doorbell.h"
#include "shm/result.h"
#include "shm/ring_layout.h"
#include "shm/tail_digest.h"

namespace rk::shm {

struct RingConfig {
  uint64_t capacity = 1u << 20;   // buffer bytes, power of two
  uint32_t max_record = 65792;    // 64 KiB payload + envelope headroom
  uint32_t features = 0;          // kRingTailDigest, kRingUnorderedTail (ring_layout.h)
};

// Checks a config: power-of-two capacity of at least 4 KiB, and a max record
// that fits the buffer with room for a padding record.
Errc validate_ring_config(const RingConfig& config);

// Initialises ring memory (header + buffer) at `memory`, which must be
// zeroed and at least ring_bytes(capacity) long. Called by the creator only.
Errc format_ring(void* memory, const RingConfig& config);

// Reads and checks the header of ring memory of `mapped_bytes`, returning
// the config it describes.
Result<RingConfig> inspect_ring(const void* memory, uint64_t mapped_bytes);

class RingProducer {
 public:
  RingProducer() = default;
  static Result<RingProducer> attach(void* memory, uint64_t mapped_bytes);

  // Space for a record with a body of up to `n` bytes, without waiting.
  // Errc::too_large if n > max_record, Errc::queue_full if there is no room
  // now, Errc::corrupt if the consumer's index is impossible.
  Result<std::span<std::byte>> try_reserve(size_t n);  // inline fast path below
  // Same, but waits for room until the deadline (Errc::timeout) or stop.
  // `before_sleep`, if given, is rung each time this thread is about to
  // sleep (so that whoever frees space for a GPU consumer can wake it).
  Result<std::span<std::byte>> reserve(size_t n, Deadline deadline, const WaitStop* stop = nullptr,
                                       DoorbellWord* before_sleep = nullptr);  // inline fast path below

  // Finishes the reserved record with `len` body bytes (len <= n) and makes
  // it, and every record staged before it, visible to the consumer.
  void commit(size_t len, uint32_t flags = 0) { stage(len, flags); publish(); }
  // Finishes the reserved record without publishing it yet (batching).
  void stage(size_t len, uint32_t flags = 0);
  // Makes all staged records visible with one index store, and wakes a
  // parked consumer.
  void publish();
  // publish() without the wake, for a caller that publishes several
  // records or rings first and then calls data_bell().ring(). `awaited`:
  // the producer will wait for this record's answer, so a consumer across
  // PCIe may well find it alone: worth its tail digest (shm/tail_digest.h;
  // 20-30 ns of hashing a streaming producer does without). `reply_head`:
  // where this producer has released the replies it reads to (the head of
  // its reply ring), stored beside the digest: a GPU reads both with the
  // tail instead of the reply ring's line (0: none, or unknown).
  void publish_no_wake(bool awaited = true, uint64_t reply_head = 0);

  // Bytes free for records right now (from a fresh load of head).
  uint64_t free_bytes();
  // Whether try_reserve(n) would succeed now; changes nothing in the ring.
  bool would_fit(size_t n);
  // Errc::corrupt if the consumer's index (loaded now) is impossible, else
  // Errc::ok: tells a full ring from a broken one (would_fit says no to both).
  Errc check_consumer() { return refresh_head(); }
  const RingConfig& config() const { return cfg_; }
  Doorbell data_bell() const { return Doorbell(&hdr_->data_bell); }
  Doorbell space_bell() const { return Doorbell(&hdr_->space_bell); }
  bool valid() const { return hdr_ != nullptr; }
  // Where the next record will start (once it fits before the buffer's
  // end), the buffer's end, and the line its publish will write: for
  // write-prefetch hints.
  std::byte* next_record() const { return buf_ + (tail_ & mask_); }
  const std::byte* buffer_end() const { return buf_ + cfg_.capacity; }
  void* tail_line() const { return &hdr_->tail; }

 private:
  Result<std::span<std::byte>> try_reserve_slow(size_t n);
  Result<std::span<std::byte>> reserve_slow(size_t n, Deadline deadline, const WaitStop* stop,
                                            DoorbellWord* before_sleep);
  Errc refresh_head();
  RingHeader* hdr_ = nullptr;
  std::byte* buf_ = nullptr;
  RingConfig cfg_{};
  uint64_t mask_ = 0;
  uint64_t tail_ = 0;        // staged end (private); published tail <= tail_
  uint64_t published_ = 0;   // last value stored to hdr_->tail
  uint64_t head_cache_ = 0;  // last head loaded from the consumer
  uint64_t record_pos_ = 0;  // position of the current reservation's header
  uint64_t staged_pos_ = 0;  // position of the last staged record's header
  size_t reserved_ = 0;      // body bytes of the current reservation
};

// One record as the consumer sees it: body bytes in the ring (valid until
// released), flags, and its position so callers can release out of order.
struct Record {
  std::span<const std::byte> body;
  uint32_t flags = 0;
  uint64_t pos = 0;  // position of its header
  uint64_t end = 0;  // position just past it
};

class RingConsumer {
 public:
  RingConsumer() = default;
  static Result<RingConsumer> attach(void* memory, uint64_t mapped_bytes);

  // The next record at the read cursor, skipping padding. Errc::empty if
  // none, Errc::corrupt if the producer broke the protocol. Does not move
  // the cursor: call advance() to step past it.
  Result<Record> peek();  // inline fast path below
  // Waits for a record until the deadline (Errc::timeout) or stop;
  // `before_sleep` as in RingProducer::reserve.
  Result<Record> wait(Deadline deadline, const WaitStop* stop = nullptr,
                      DoorbellWord* before_sleep = nullptr);  // inline fast path below
  // Moves the read cursor past r (r must be the last record peeked).
  void advance(const Record& r) { read_ = r.end; }
  // Returns all space before the read cursor to the producer.
  void release() { release_to(read_); }
  // Returns all space before pos (<= cursor) to the producer: one index
  // store for any number of records, then wakes a producer waiting for room.
  void release_to(uint64_t pos);
  // release_to() without the wake, for a ring whose producer never waits on
  // its space bell (the wake is a locked RMW, which also drains this
  // core's store buffer).
  void release_to_no_wake(uint64_t pos);
  // advance + release for the one-record-at-a-time consumer.
  void pop(const Record& r) { advance(r); release(); }

  // Published bytes not yet read (0 if the producer's tail is impossible).
  uint64_t unread_bytes() const;
  bool has_data() const;
  uint64_t read_position() const { return read_; }
  // Where this consumer last released to (its own `head`).
  uint64_t released_position() const {
    return std::atomic_ref<uint64_t>(hdr_->head).load(std::memory_order_relaxed);
  }
  const RingConfig& config() const { return cfg_; }
  Doorbell data_bell() const { return Doorbell(&hdr_->data_bell); }
  bool valid() const { return hdr_ != nullptr; }

 private:
  Result<Record> peek_slow();
  uint64_t load_tail() const;
  Result<Record> wait_slow(Deadline deadline, const WaitStop* stop, DoorbellWord* before_sleep);
  RingHeader* hdr_ = nullptr;
  const std::byte* buf_ = nullptr;
  RingConfig cfg_{};
  uint64_t mask_ = 0;
  uint64_t read_ = 0;        // read cursor (private)
  uint64_t tail_cache_ = 0;  // last tail loaded from the producer
};

// ---- inline hot paths ------------------------------------------------------

inline Result<std::span<std::byte>> RingProducer::try_reserve(size_t n) {
  // The common case, decided from private state alone: the record fits
  // before the end of the buffer and in the space the cached head allows
  // (head_cache_ came from an acquire load of head, so the consumer is done
  // with everything below it). Anything else (too large, padding needed,
  // head to reload) goes to try_reserve_slow(), which decides.
  const uint64_t off = tail_ & mask_;
  if (n <= cfg_.max_record && off + record_bytes(n) <= cfg_.capacity &&
      tail_ + record_bytes(n) - head_cache_ <= cfg_.capacity) {
    record_pos_ = tail_;
    reserved_ = n;
    return std::span<std::byte>(buf_ + off + kRecordHeaderBytes, n);
  }
  return try_reserve_slow(n);
}

inline Result<std::span<std::byte>> RingProducer::reserve(size_t n, Deadline deadline, const WaitStop* stop,
                                                          DoorbellWord* before_sleep) {
  auto r = try_reserve(n);
  if (r.error() != Errc::queue_full) return r;
  return reserve_slow(n, deadline, stop, before_sleep);  // full: publish, then wait for room
}

inline Result<Record> RingConsumer::peek() {
  // The common case: a plain record below the tail an earlier peek loaded
  // (with acquire, so every byte before tail_cache_ is visible here). The
  // header is read once and gets the same checks as in peek_slow(); anything
  // else (nothing cached, padding, fillers, a bad header) goes to
  // peek_slow(), which decides.
  constexpr uint32_t kRingFlags = kRecordPadding | kRecordFiller | kRecordReservedMask;
  const uint64_t avail = tail_cache_ - read_;
  if (avail - 1 < cfg_.capacity && avail % kRecordAlign == 0) {  // 0 < avail <= capacity
    const uint64_t off = read_ & mask_;
    RecordHeader h;
    __builtin_memcpy(&h, buf_ + off, sizeof h);  // read once: the peer may rewrite it
    const uint64_t bytes = record_bytes(h.length);
    if ((h.flags & kRingFlags) == 0 && h.length <= cfg_.max_record && bytes <= avail && off + bytes <= cfg_.capacity)
      return Record{std::span<const std::byte>(buf_ + off + kRecordHeaderBytes, h.length), h.flags, read_,
                    read_ + bytes};
  }
  return peek_slow();
}

// Rounds of peek() a wait spends in the caller's frame before wait_slow().
inline constexpr int kInlineWaitSpins = 64;

inline Result<Record> RingConsumer::wait(Deadline deadline, const WaitStop* stop, DoorbellWord* before_sleep) {
  // A short spin right here: a busy peer usually answers within it, and a
  // record found inline reaches the caller without crossing a call (about a
  // quarter off a cross-process round trip in rk_bench_ring). Then
  // wait_slow(): the doorbell's spin, park, deadline and stop. Like the
  // doorbell's own first 64 rounds, these read no clock.
  for (int i = 0; i < kInlineWaitSpins; ++i) {
    Result<Record> r = peek();
    if (r.error() != Errc::empty) return r;
    cpu_relax();
  }
  return wait_slow(deadline, stop, before_sleep);
}

inline void RingProducer::stage(size_t len, uint32_t flags) {
  // Header written last among the record's bytes; the release store in
  // publish() orders all of them before the new tail.
  RecordHeader h{uint32_t(len), flags & ~(kRecordPadding | kRecordFiller)};
  __builtin_memcpy(buf_ + (record_pos_ & mask_), &h, sizeof h);
  staged_pos_ = record_pos_;
  tail_ = record_pos_ + record_bytes(len);
  reserved_ = 0;
}

inline void RingProducer::publish_no_wake(bool awaited, uint64_t reply_head) {
  if (tail_ == published_) return;
  // One small record since the last publish (no padding before it): its
  // digest goes out with the tail, for a consumer across PCIe.
  if (awaited && (cfg_.features & kRingTailDigest) && staged_pos_ == published_ &&
      tail_ - published_ <= kTailDigestMaxBytes) {
    const uint64_t digest = tail_digest(buf_ + (published_ & mask_), uint32_t((tail_ - published_) / 8), tail_);
    std::atomic_ref<uint64_t>(hdr_->tail_digest).store(digest, std::memory_order_relaxed);
    std::atomic_ref<uint64_t>(hdr_->tail_reply_head).store(reply_head, std::memory_order_relaxed);
  }
  std::atomic_ref<uint64_t>(hdr_->tail).store(tail_, std::memory_order_release);
  published_ = tail_;
}

inline void RingProducer::publish() {
  publish_no_wake();
  data_bell().ring();
}

inline bool RingConsumer::has_data() const { return load_tail() != read_; }

}  // namespace rk::shm
