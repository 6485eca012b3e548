// Handler latency as a histogram with fixed bucket bounds, written by one
// thread (the kernel's worker) and read by any (the control thread). One
// writer per counter, so a relaxed load + store is enough: readers may see
// a sample in one bucket a moment before the sample count, never a torn one.
#pragma once
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

namespace rk::server {

// Upper bounds (inclusive) of the finite buckets, in nanoseconds; one more
// bucket counts everything above the last bound (Prometheus' +Inf).
inline constexpr std::array<uint64_t, 16> kLatencyBucketUpperNs = {
    250,     500,     1'000,     2'500,      5'000,      10'000,      25'000,        50'000,
    100'000, 250'000, 1'000'000, 2'500'000, 10'000'000, 100'000'000, 1'000'000'000, 10'000'000'000};
inline constexpr size_t kLatencyBuckets = kLatencyBucketUpperNs.size() + 1;

// Per-bucket (not cumulative) counts, the last one above every bound.
using LatencyBucketCounts = std::array<uint64_t, kLatencyBuckets>;

// Index of the bucket that counts `ns`.
constexpr size_t latency_bucket_of(uint64_t ns) {
  size_t i = 0;
  while (i < kLatencyBucketUpperNs.size() && ns > kLatencyBucketUpperNs[i]) ++i;
  return i;
}

class LatencyHistogram {
 public:
  // Writer thread only.
  void record(uint64_t ns) {
    std::atomic_ref<uint64_t> c(counts_[latency_bucket_of(ns)]);
    c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
  // Any thread.
  LatencyBucketCounts load() const {
    LatencyBucketCounts out{};
    for (size_t i = 0; i < kLatencyBuckets; ++i)
      out[i] = std::atomic_ref<uint64_t>(const_cast<uint64_t&>(counts_[i])).load(std::memory_order_relaxed);
    return out;
  }

 private:
  alignas(64) LatencyBucketCounts counts_{};
};

}  // namespace rk::server
