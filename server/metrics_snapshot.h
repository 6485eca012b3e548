// What /metrics reports: plain figures, copied by the control thread from
// the kernels' telemetry and the service's state, then formatted elsewhere
// (prometheus_format.h) on the metrics thread.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "server/latency_histogram.h"

namespace rk::server {

struct InstanceMetrics {
  uint32_t id = 0;
  std::string kernel;    // registered kernel, e.g. "echo"
  std::string instance;  // the shared name, or "#<id>" for a private instance
  std::string backend;   // "cpu" | "cuda"
  int32_t device = -1;   // GPU ordinal; -1: none / any
  std::string state;     // "launched", "active", ... (lower case)
  uint64_t processed = 0, errors = 0, dropped = 0, backpressure = 0;
  uint64_t queue_depth_bytes = 0;  // unread request bytes over all channels
  uint32_t channels = 0;
  uint64_t latency_sum_ns = 0, latency_samples = 0;
  bool has_latency_buckets = false;
  LatencyBucketCounts latency_buckets{};  // per bucket, not cumulative
};

struct DaemonMetrics {
  uint64_t sessions = 0;
  uint64_t segments = 0;      // shared-memory segments held: sessions' and kernel bells
  uint64_t bytes_mapped = 0;  // their mapped size (sparse: pages cost only when touched)
  uint64_t kernel_faults = 0;  // instances that ended FAULTED since start
  uint64_t device_resets = 0;  // GPU workers restarted since start
  uint64_t instances = 0;
  uint64_t start_time_s = 0;  // wall clock, seconds since the epoch
};

struct MetricsSnapshot {
  DaemonMetrics daemon;
  std::vector<InstanceMetrics> instances;
};

// Every state an instance can report, in the order the state gauge lists them.
inline constexpr const char* kInstanceStates[] = {"created",  "launched",   "active",  "deactivated",
                                                  "terminating", "terminated", "faulted"};

}  // namespace rk::server
