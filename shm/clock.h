// Monotonic time and deadlines. Every blocking call in RingKernel takes one.
#pragma once
#include <cstdint>
#include <ctime>

namespace rk {

inline uint64_t monotonic_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

inline uint64_t realtime_ns() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

// Wall clock at the kernel tick's resolution (1-4 ms), without reading the
// time source: for timestamps that only need to be roughly right.
inline uint64_t realtime_coarse_ns() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME_COARSE, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

// An absolute point on the monotonic clock; `never()` exists only for
// internal waits that are cancelled by other means.
class Deadline {
 public:
  static Deadline after_ns(uint64_t ns) { return Deadline(monotonic_ns() + ns); }
  // Timeouts beyond ~31 years are taken as "that long", not wrapped around.
  static Deadline after_ms(int64_t ms) {
    constexpr int64_t kMaxMs = int64_t(1) << 40;
    return after_ns(ms <= 0 ? 0 : uint64_t(ms < kMaxMs ? ms : kMaxMs) * 1000000ull);
  }
  static Deadline now() { return Deadline(monotonic_ns()); }
  static Deadline never() { return Deadline(UINT64_MAX); }
  bool passed() const { return at_ != UINT64_MAX && monotonic_ns() >= at_; }
  uint64_t remaining_ns() const {
    if (at_ == UINT64_MAX) return UINT64_MAX;
    uint64_t now = monotonic_ns();
    return now >= at_ ? 0 : at_ - now;
  }
  uint64_t at_ns() const { return at_; }

 private:
  explicit Deadline(uint64_t at) : at_(at) {}
  uint64_t at_;
};

}  // namespace rk
