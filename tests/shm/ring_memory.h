// Ring memory for in-process tests: an aligned, zeroed, formatted block with
// one producer and one consumer attached, plus raw access to the header and
// buffer so tests can play the hostile peer.
#pragma once
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <memory>

#include "shm/ring.h"

namespace rk::shm::test {

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};

class RingMemory {
 public:
  explicit RingMemory(RingConfig config) : config_(config) {
    bytes_ = ring_bytes(config.capacity);
    memory_.reset(std::aligned_alloc(kRingLine, bytes_));
    std::memset(memory_.get(), 0, bytes_);
    EXPECT_EQ(format_ring(memory_.get(), config), Errc::ok);
  }

  RingProducer producer() {
    auto p = RingProducer::attach(memory_.get(), bytes_);
    EXPECT_TRUE(p.ok()) << errc_string(p.error());
    return p.value();
  }
  RingConsumer consumer() {
    auto c = RingConsumer::attach(memory_.get(), bytes_);
    EXPECT_TRUE(c.ok()) << errc_string(c.error());
    return c.value();
  }

  RingHeader* header() { return static_cast<RingHeader*>(memory_.get()); }
  std::byte* buffer() { return static_cast<std::byte*>(memory_.get()) + sizeof(RingHeader); }
  void* memory() { return memory_.get(); }
  uint64_t bytes() const { return bytes_; }
  const RingConfig& config() const { return config_; }

  // The record header at ring position `pos`, as a peer could rewrite it.
  RecordHeader* record_at(uint64_t pos) {
    return reinterpret_cast<RecordHeader*>(buffer() + (pos & (config_.capacity - 1)));
  }

 private:
  RingConfig config_;
  uint64_t bytes_ = 0;
  std::unique_ptr<void, FreeDeleter> memory_;
};

// Deterministic bytes for record `n`: any shift, loss or overwrite shows.
inline std::byte pattern_byte(uint64_t n, size_t i) {
  return std::byte(uint8_t((n * 131u + i * 7u + (i >> 8)) ^ (n >> 3)));
}

inline void fill_pattern(std::span<std::byte> body, uint64_t n) {
  for (size_t i = 0; i < body.size(); ++i) body[i] = pattern_byte(n, i);
}

// Index of the first byte that differs from the pattern, or -1.
inline long first_pattern_mismatch(std::span<const std::byte> body, uint64_t n) {
  for (size_t i = 0; i < body.size(); ++i)
    if (body[i] != pattern_byte(n, i)) return long(i);
  return -1;
}

// Writes and publishes one record of `n` bytes with pattern `tag`.
inline void push_record(RingProducer& p, size_t n, uint64_t tag, uint32_t flags = 0) {
  auto r = p.try_reserve(n);
  ASSERT_TRUE(r.ok()) << errc_string(r.error());
  fill_pattern(*r, tag);
  p.commit(n, flags);
}

}  // namespace rk::shm::test
