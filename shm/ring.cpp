#include "shm/ring.h"

#include <cstring>

namespace rk::shm {

namespace {

bool is_pow2(uint64_t v) { return v != 0 && (v & (v - 1)) == 0; }

std::atomic_ref<uint64_t> head_of(RingHeader* h) { return std::atomic_ref<uint64_t>(h->head); }
std::atomic_ref<uint64_t> tail_of(RingHeader* h) { return std::atomic_ref<uint64_t>(h->tail); }

}  // namespace

Errc validate_ring_config(const RingConfig& c) {
  if (!is_pow2(c.capacity) || c.capacity < 4096 || c.capacity > (uint64_t{1} << 40))
    return Errc::invalid_argument;
  // A record of max size plus a worst-case padding record must fit, so a
  // producer can always make progress on an empty ring.
  if (c.max_record == 0 || record_bytes(c.max_record) * 2 > c.capacity) return Errc::invalid_argument;
  return Errc::ok;
}

Errc format_ring(void* memory, const RingConfig& c) {
  if (Errc e = validate_ring_config(c); e != Errc::ok) return e;
  auto* h = static_cast<RingHeader*>(memory);
  h->magic = kRingMagic;
  h->version = kRingLayoutVersion;
  h->capacity = c.capacity;
  h->max_record = c.max_record;
  h->features = c.features & kRingKnownFeatures;
  h->tail = 0;
  h->head = 0;
  return Errc::ok;
}

Result<RingConfig> inspect_ring(const void* memory, uint64_t mapped_bytes) {
  if (memory == nullptr || mapped_bytes < sizeof(RingHeader)) return Errc::corrupt;
  if (reinterpret_cast<uintptr_t>(memory) % kRingLine != 0) return Errc::invalid_argument;
  RingHeader h;
  std::memcpy(&h, memory, sizeof h);  // one private snapshot of line 0
  if (h.magic != kRingMagic || h.version != kRingLayoutVersion) return Errc::corrupt;
  // Features this build does not know are ignored: each is an offer.
  RingConfig c{h.capacity, h.max_record, h.features & kRingKnownFeatures};
  if (validate_ring_config(c) != Errc::ok) return Errc::corrupt;
  if (ring_bytes(c.capacity) > mapped_bytes) return Errc::corrupt;
  return c;
}

// ---- producer ----------------------------------------------------------------

Result<RingProducer> RingProducer::attach(void* memory, uint64_t mapped_bytes) {
  auto c = inspect_ring(memory, mapped_bytes);
  if (!c) return c.error();
  RingProducer p;
  p.hdr_ = static_cast<RingHeader*>(memory);
  p.buf_ = static_cast<std::byte*>(memory) + sizeof(RingHeader);
  p.cfg_ = *c;
  p.mask_ = c->capacity - 1;
  // Resume where the ring stands (a producer may re-attach to live memory).
  // The peer can write this index too (it maps the same memory): an
  // unaligned one would put record headers astride the buffer's end.
  p.tail_ = p.published_ = tail_of(p.hdr_).load(std::memory_order_relaxed);
  if (p.tail_ % kRecordAlign != 0) return Errc::corrupt;
  if (Errc e = p.refresh_head(); e != Errc::ok) return e;
  return p;
}

Errc RingProducer::refresh_head() {
  uint64_t head = head_of(hdr_).load(std::memory_order_acquire);
  // The consumer can only release what was published, and never more than
  // one buffer behind the tail.
  if (published_ - head > cfg_.capacity) return Errc::corrupt;
  head_cache_ = head;
  return Errc::ok;
}

uint64_t RingProducer::free_bytes() {
  if (refresh_head() != Errc::ok) return 0;
  return cfg_.capacity - (tail_ - head_cache_);
}

bool RingProducer::would_fit(size_t n) {
  if (n > cfg_.max_record) return false;
  const uint64_t need = record_bytes(n);
  const uint64_t off = tail_ & mask_;
  const uint64_t pad = off + need > cfg_.capacity ? cfg_.capacity - off : 0;
  if (tail_ + pad + need - head_cache_ <= cfg_.capacity) return true;
  if (refresh_head() != Errc::ok) return false;
  return tail_ + pad + need - head_cache_ <= cfg_.capacity;
}

Result<std::span<std::byte>> RingProducer::try_reserve_slow(size_t n) {
  if (n > cfg_.max_record) return Errc::too_large;
  const uint64_t need = record_bytes(n);
  const uint64_t off = tail_ & mask_;
  const uint64_t pad = off + need > cfg_.capacity ? cfg_.capacity - off : 0;
  if (tail_ + pad + need - head_cache_ > cfg_.capacity) {
    if (Errc e = refresh_head(); e != Errc::ok) return e;
    if (tail_ + pad + need - head_cache_ > cfg_.capacity) return Errc::queue_full;
  }
  if (pad != 0) {
    // Fill the end of the buffer; it is published with the next record.
    RecordHeader ph{uint32_t(pad - kRecordHeaderBytes), kRecordPadding};
    std::memcpy(buf_ + off, &ph, sizeof ph);
    tail_ += pad;
  }
  record_pos_ = tail_;
  reserved_ = n;
  return std::span<std::byte>(buf_ + (tail_ & mask_) + kRecordHeaderBytes, n);
}

Result<std::span<std::byte>> RingProducer::reserve_slow(size_t n, Deadline deadline, const WaitStop* stop,
                                                        DoorbellWord* before_sleep) {
  Result<std::span<std::byte>> r = Errc::queue_full;
  // Records staged but not published would never be consumed while we wait.
  publish();
  Errc why = Errc::ok;
  Errc w = space_bell().wait(
      [&] {
        r = try_reserve(n);
        if (r.error() == Errc::corrupt) why = Errc::corrupt;
        return r.error() != Errc::queue_full;
      },
      deadline, stop, kDefaultSpinNs, [before_sleep] {
        if (before_sleep) Doorbell(before_sleep).ring();
      });
  if (why != Errc::ok) return why;
  if (w == Errc::timeout) return Errc::queue_full;  // full for the whole timeout
  if (w != Errc::ok) return w;
  return r;
}

// ---- consumer ----------------------------------------------------------------

Result<RingConsumer> RingConsumer::attach(void* memory, uint64_t mapped_bytes) {
  auto c = inspect_ring(memory, mapped_bytes);
  if (!c) return c.error();
  RingConsumer q;
  q.hdr_ = static_cast<RingHeader*>(memory);
  q.buf_ = static_cast<const std::byte*>(memory) + sizeof(RingHeader);
  q.cfg_ = *c;
  q.mask_ = c->capacity - 1;
  q.read_ = head_of(q.hdr_).load(std::memory_order_relaxed);
  if (q.read_ % kRecordAlign != 0) return Errc::corrupt;  // as for the producer's tail
  q.tail_cache_ = q.read_;
  return q;
}

uint64_t RingConsumer::unread_bytes() const {
  uint64_t n = load_tail() - read_;
  return n > cfg_.capacity ? 0 : n;
}

// The tail up to which records may be read. A tail marked kTailUnordered
// (kRingUnorderedTail: shm/tail_digest.h) was stored without ordering after
// its record, which the producer writes that way only when every earlier
// one was taken: the record runs from the read position to the tail, and
// counts once the digest beside the tail states its length and matches its
// bytes. Until then nothing is new (the tail, the digest and the bytes
// arrive in any order: the digest may still be an earlier record's). A
// marked tail the producer could never have written (more than a small
// record ahead) is returned as loaded, odd, for peek_slow to report as
// corrupt.
uint64_t RingConsumer::load_tail() const {
  const uint64_t raw = tail_of(hdr_).load(std::memory_order_acquire);
  if ((raw & kTailUnordered) == 0 || (cfg_.features & kRingUnorderedTail) == 0) return raw;
  const uint64_t tail = raw & ~kTailUnordered, bytes = tail - read_;
  if (bytes == 0) return tail;  // read already
  const uint64_t off = read_ & mask_;
  if (bytes > kTailDigestMaxBytes || off + bytes > cfg_.capacity) return raw;
  const uint64_t digest = std::atomic_ref<uint64_t>(hdr_->tail_digest).load(std::memory_order_acquire);
  if (8 * uint64_t(digest_words(digest)) != bytes) return read_;
  return tail_digest(buf_ + off, uint32_t(bytes / 8), tail) == digest ? tail : read_;
}

Result<Record> RingConsumer::peek_slow() {
  // Skips padding and fillers; every round moves read_ forward and stays
  // below the published tail, so a hostile producer cannot make this loop.
  for (;;) {
    if (tail_cache_ == read_) {
      tail_cache_ = load_tail();
      if (tail_cache_ == read_) return Errc::empty;
    }
    const uint64_t avail = tail_cache_ - read_;
    if (avail > cfg_.capacity || avail % kRecordAlign != 0) return Errc::corrupt;
    const uint64_t off = read_ & mask_;
    RecordHeader h;
    std::memcpy(&h, buf_ + off, sizeof h);  // read once: the peer may rewrite it
    if (h.flags & kRecordPadding) {
      const uint64_t span = cfg_.capacity - off;
      if (off == 0 || (h.flags & ~kRecordPadding) != 0 || h.length != span - kRecordHeaderBytes ||
          span > avail)
        return Errc::corrupt;
      read_ += span;
      continue;
    }
    if ((h.flags & kRecordReservedMask) != 0) return Errc::corrupt;
    const uint64_t bytes = record_bytes(h.length);
    if (bytes > avail || off + bytes > cfg_.capacity) return Errc::corrupt;
    if (h.flags & kRecordFiller) {
      read_ += bytes;
      continue;
    }
    if (h.length > cfg_.max_record) return Errc::corrupt;
    return Record{std::span<const std::byte>(buf_ + off + kRecordHeaderBytes, h.length), h.flags,
                  read_, read_ + bytes};
  }
}

Result<Record> RingConsumer::wait_slow(Deadline deadline, const WaitStop* stop, DoorbellWord* before_sleep) {
  Result<Record> r = peek();
  if (r.error() != Errc::empty) return r;
  Errc w = data_bell().wait(
      [&] {
        r = peek();
        return r.error() != Errc::empty;
      },
      deadline, stop, kDefaultSpinNs, [before_sleep] {
        if (before_sleep) Doorbell(before_sleep).ring();
      });
  if (w != Errc::ok) return w;
  return r;
}

void RingConsumer::release_to(uint64_t pos) {
  release_to_no_wake(pos);
  Doorbell(&hdr_->space_bell).ring();
}

void RingConsumer::release_to_no_wake(uint64_t pos) { head_of(hdr_).store(pos, std::memory_order_release); }

}  // namespace rk::shm
