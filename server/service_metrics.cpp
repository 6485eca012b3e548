// Service::metrics_snapshot: what /metrics reports, copied on the control
// thread (the only one that may walk sessions and the registry). Kernel
// counters come from each executor's telemetry: loads of fields that the
// kernel alone writes.
#include "server/service.h"

namespace rk::server {

namespace {

const char* state_label(KernelState s) {
  const auto i = size_t(s);
  return i < std::size(kInstanceStates) ? kInstanceStates[i] : "unknown";
}

}  // namespace

MetricsSnapshot Service::metrics_snapshot() {
  MetricsSnapshot out;
  DaemonMetrics& d = out.daemon;
  d.sessions = sessions_.size();
  for (const auto& [id, s] : sessions_) {
    ++d.segments;
    d.bytes_mapped += s->segment().size();
  }
  for (const auto& [name, b] : backends_) d.device_resets += b->device_resets();
  d.kernel_faults = kernel_faults_;
  d.instances = registry_.all().size();
  d.start_time_s = start_time_s_;

  out.instances.reserve(registry_.all().size());
  for (auto& [id, k] : registry_.all()) {
    if (k->bell) {
      ++d.segments;
      d.bytes_mapped += k->bell_segment.size();
    }
    InstanceMetrics m;
    m.id = k->id;
    m.kernel = k->def->name;
    m.instance = k->shared() ? k->instance_name : "#" + std::to_string(k->id);
    m.backend = k->backend;
    m.device = k->device;
    m.state = state_label(k->state);
    m.channels = uint32_t(k->channels.size());
    for (const auto& ch : k->channels) m.queue_depth_bytes += queued_bytes(*ch);
    const Telemetry t = k->executor ? k->executor->telemetry() : k->final_telemetry;
    m.processed = t.processed;
    m.errors = t.errors;
    m.dropped = t.dropped;
    m.backpressure = t.backpressure;
    m.latency_sum_ns = t.latency_sum_ns;
    m.latency_samples = t.latency_samples;
    m.has_latency_buckets = t.has_latency_buckets;
    m.latency_buckets = t.latency_buckets;
    out.instances.push_back(std::move(m));
  }
  return out;
}

}  // namespace rk::server
