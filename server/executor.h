// The backend-independent face of a running persistent kernel. A backend's
// launch() returns one; the control thread drives it and reads telemetry.
#pragma once
#include <cstdint>
#include <functional>
#include <string>

#include "server/channel.h"
#include "server/control_block.h"
#include "server/latency_histogram.h"

namespace rk::server {

struct Telemetry {
  uint64_t processed = 0, errors = 0, dropped = 0;
  uint64_t latency_min_ns = 0, latency_avg_ns = 0, latency_max_ns = 0;
  uint64_t heartbeat_age_ns = 0;
  uint64_t backpressure = 0;
  uint64_t epoch = 0;
  uint16_t last_error = 0;
  bool terminated = false, faulted = false, parked = false;
  // Sampled handler latency for Prometheus: the sum and count of the
  // samples, and their histogram where the backend keeps one
  // (has_latency_buckets false: only sum and count are known).
  uint64_t latency_sum_ns = 0, latency_samples = 0;
  bool has_latency_buckets = false;
  LatencyBucketCounts latency_buckets{};
};

// Called from the kernel's side (any thread) when the control thread has
// something to look at: the kernel exited or faulted, or a channel broke.
// The control thread then scans; nothing polls on a timer.
using ControlWake = std::function<void()>;

class Executor {
 public:
  virtual ~Executor() = default;
  // Adds a channel; the kernel starts serving it at its next iteration.
  // On failure (`why` set) the channel is not served.
  virtual Errc bind(ChannelPtr channel, std::string& why) = 0;
  // Removes a channel; the kernel drops its reference at its next iteration.
  virtual void unbind(const ChannelPtr& channel) = 0;
  virtual void set_active(bool active) = 0;
  // Asks the kernel to drain and exit; returns at once.
  virtual void request_terminate() = 0;
  virtual Telemetry telemetry() const = 0;
  // Why the kernel faulted, if it did.
  virtual std::string fault_message() const = 0;
};

}  // namespace rk::server
