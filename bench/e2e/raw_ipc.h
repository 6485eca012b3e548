// The `cpu_ipc` baseline's transport: a bounded single-producer,
// single-consumer queue of fixed-size slots in shared memory, one per
// direction per client, both sides spinning. No RingKernel code: this is
// what two processes get from shared memory and two counters.
#pragma once
#include <sched.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace rk::bench {

// Slots hold [u32 length][u32 unused][body]; the counters only grow.
struct RawQueueHeader {
  alignas(128) std::atomic<uint64_t> published;  // written by the producer only
  alignas(128) std::atomic<uint64_t> consumed;   // written by the consumer only
  alignas(128) uint64_t slot_bytes;              // set before either side starts
  uint64_t slots;
};
static_assert(sizeof(RawQueueHeader) == 384);

inline constexpr uint64_t raw_queue_bytes(uint64_t slots, uint64_t payload) {
  return sizeof(RawQueueHeader) + slots * ((payload + 8 + 63) / 64 * 64);
}

class RawQueue {
 public:
  // `memory` is raw_queue_bytes(slots, payload) of zeroed shared memory.
  static RawQueue format(void* memory, uint64_t slots, uint64_t payload) {
    auto* h = static_cast<RawQueueHeader*>(memory);
    h->slot_bytes = (payload + 8 + 63) / 64 * 64;
    h->slots = slots;
    return RawQueue(memory);
  }
  explicit RawQueue(void* memory)
      : h_(static_cast<RawQueueHeader*>(memory)),
        slots_(reinterpret_cast<std::byte*>(h_ + 1)),
        slot_bytes_(h_->slot_bytes),
        n_(h_->slots) {}

  // Producer. False when full.
  bool try_push(const void* data, uint32_t len) {
    const uint64_t p = h_->published.load(std::memory_order_relaxed);
    if (p - consumed_seen_ >= n_) {
      consumed_seen_ = h_->consumed.load(std::memory_order_acquire);  // slot reads done before we overwrite
      if (p - consumed_seen_ >= n_) return false;
    }
    std::byte* slot = slots_ + (p % n_) * slot_bytes_;
    std::memcpy(slot, &len, sizeof len);
    std::memcpy(slot + 8, data, len);
    h_->published.store(p + 1, std::memory_order_release);  // the slot's bytes before the count
    return true;
  }
  // Consumer: the oldest slot's body and length, or nullptr when empty.
  const std::byte* try_front(uint32_t& len) {
    const uint64_t c = h_->consumed.load(std::memory_order_relaxed);
    if (c == published_seen_) {
      published_seen_ = h_->published.load(std::memory_order_acquire);  // pairs with try_push's release
      if (c == published_seen_) return nullptr;
    }
    const std::byte* slot = slots_ + (c % n_) * slot_bytes_;
    std::memcpy(&len, slot, sizeof len);
    return slot + 8;
  }
  void pop() {
    h_->consumed.store(h_->consumed.load(std::memory_order_relaxed) + 1, std::memory_order_release);
  }

 private:
  RawQueueHeader* h_;
  std::byte* slots_;
  uint64_t slot_bytes_;
  uint64_t n_;
  uint64_t consumed_seen_ = 0;   // producer's cached copy of `consumed`
  uint64_t published_seen_ = 0;  // consumer's cached copy of `published`
};

// Spin politely: a pause per try, a yield now and then so that more spinning
// processes than cores still make progress.
struct Spinner {
  unsigned n = 0;
  void wait() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield");
#endif
    if ((++n & 1023) == 0) sched_yield();
  }
};

}  // namespace rk::bench
