// Test helpers: ring-record-like buffers (word-aligned, exactly sized) built
// by libcapnp, and libcapnp readers over records the SDK built.
#pragma once
#include <capnp/message.h>
#include <capnp/serialize.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "kernels/sdk/message.h"
#include "rk_schema/envelope.capnp.h"

namespace rk::test {

// A record: whole words, so its bytes are 8-byte aligned; sized exactly, so
// AddressSanitizer catches any read past its end.
struct Record {
  std::vector<uint64_t> words;
  const void* data() const { return words.data(); }
  void* data() { return words.data(); }
  uint32_t size() const { return uint32_t(words.size() * 8); }
  uint8_t* bytes() { return reinterpret_cast<uint8_t*>(words.data()); }
  uint64_t& word(size_t i) { return words.at(i); }  // word 0 is the framing
  // Segment word i (after the framing word).
  uint64_t& seg(size_t i) { return words.at(i + 1); }
};

// The record libcapnp writes for `message`, which must be single-segment.
inline Record record_of(capnp::MessageBuilder& message) {
  EXPECT_EQ(message.getSegmentsForOutput().size(), 1u) << "test message spilled into a second segment";
  kj::Array<capnp::word> flat = capnp::messageToFlatArray(message);
  Record r;
  r.words.resize(flat.size());
  std::memcpy(r.words.data(), flat.begin(), flat.size() * 8);
  return r;
}

// An Envelope built by libcapnp; `fill` sets fields and payload.
template <class Fill>
Record capnp_envelope(Fill&& fill, uint32_t first_segment_words = 1 << 16) {
  capnp::MallocMessageBuilder message(first_segment_words);
  auto root = message.initRoot<rk::schema::Envelope>();
  fill(root);
  return record_of(message);
}

// A word-aligned output buffer with canary words past its capacity, to
// prove nothing is written beyond it.
class ReplyBuffer {
 public:
  static constexpr uint64_t kCanary = 0xC0FFEE0DDBA11CAFull;
  explicit ReplyBuffer(uint32_t capacity, uint8_t fill = 0) : capacity_(capacity) {
    words_.assign(capacity / 8 + kGuardWords, kCanary);
    std::memset(words_.data(), fill, capacity / 8 * 8);
  }
  void* data() { return words_.data(); }
  const void* data() const { return words_.data(); }
  uint32_t capacity() const { return capacity_; }
  bool guard_intact() const {
    for (size_t i = capacity_ / 8; i < words_.size(); ++i)
      if (words_[i] != kCanary) return false;
    return true;
  }
  kj::ArrayPtr<const capnp::word> message(uint32_t bytes) const {
    return {reinterpret_cast<const capnp::word*>(words_.data()), bytes / 8};
  }

 private:
  static constexpr size_t kGuardWords = 4;
  uint32_t capacity_;
  std::vector<uint64_t> words_;
};

// libcapnp's reader over a record the SDK built.
inline capnp::ReaderOptions strict_options() {
  capnp::ReaderOptions o;
  o.traversalLimitInWords = 1 << 20;
  o.nestingLimit = 32;
  return o;
}

}  // namespace rk::test
