#include "server/prometheus_format.h"

#include <fmt/format.h>

#include <functional>
#include <iterator>

namespace rk::server {

std::string escape_label_value(const std::string& value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

namespace {

// Seconds as Prometheus prints them: shortest exact-enough decimal.
std::string seconds(uint64_t ns) { return fmt::format("{}", double(ns) / 1e9); }

std::string instance_labels(const InstanceMetrics& m) {
  return fmt::format(R"(kernel="{}",instance="{}",backend="{}",device="{}")", escape_label_value(m.kernel),
                     escape_label_value(m.instance), escape_label_value(m.backend), m.device);
}

class Writer {
 public:
  void family(const char* name, const char* type, const char* help) {
    fmt::format_to(std::back_inserter(out_), "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
  }
  void sample(const std::string& name, const std::string& labels, const std::string& value) {
    if (labels.empty()) fmt::format_to(std::back_inserter(out_), "{} {}\n", name, value);
    else fmt::format_to(std::back_inserter(out_), "{}{{{}}} {}\n", name, labels, value);
  }
  void sample(const std::string& name, const std::string& labels, uint64_t value) {
    sample(name, labels, std::to_string(value));
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

// One family with one sample per instance.
void per_instance(Writer& w, const MetricsSnapshot& s, const char* name, const char* type, const char* help,
                  const std::function<uint64_t(const InstanceMetrics&)>& value) {
  if (s.instances.empty()) return;
  w.family(name, type, help);
  for (const auto& m : s.instances) w.sample(name, instance_labels(m), value(m));
}

void latency_histogram(Writer& w, const MetricsSnapshot& s) {
  if (s.instances.empty()) return;
  constexpr const char* name = "ringkernel_kernel_handler_latency_seconds";
  w.family(name, "histogram",
           "Handler time per message (sampled: one message in 8 and every message of a burst after the first).");
  for (const auto& m : s.instances) {
    const std::string labels = instance_labels(m);
    uint64_t count = m.latency_samples;
    if (m.has_latency_buckets) {
      uint64_t cumulative = 0;
      for (size_t i = 0; i < kLatencyBucketUpperNs.size(); ++i) {
        cumulative += m.latency_buckets[i];
        w.sample(std::string(name) + "_bucket", labels + ",le=\"" + seconds(kLatencyBucketUpperNs[i]) + "\"",
                 cumulative);
      }
      // The buckets were loaded one by one while the kernel ran: their
      // total is the count, so +Inf and _count always agree.
      count = cumulative + m.latency_buckets.back();
    }
    w.sample(std::string(name) + "_bucket", labels + ",le=\"+Inf\"", count);
    w.sample(std::string(name) + "_sum", labels, seconds(m.latency_sum_ns));
    w.sample(std::string(name) + "_count", labels, count);
  }
}

}  // namespace

std::string render_prometheus(const MetricsSnapshot& s) {
  Writer w;
  const DaemonMetrics& d = s.daemon;
  w.family("ringkernel_sessions", "gauge", "Client sessions connected to the control socket.");
  w.sample("ringkernel_sessions", "", d.sessions);
  w.family("ringkernel_segments", "gauge", "Shared-memory segments held (session segments and kernel bells).");
  w.sample("ringkernel_segments", "", d.segments);
  w.family("ringkernel_mapped_bytes", "gauge", "Bytes of shared memory mapped by the daemon (sparse).");
  w.sample("ringkernel_mapped_bytes", "", d.bytes_mapped);
  w.family("ringkernel_kernel_instances", "gauge", "Kernel instances in the registry, any state.");
  w.sample("ringkernel_kernel_instances", "", d.instances);
  w.family("ringkernel_kernel_faults_total", "counter", "Kernel instances that ended faulted since the daemon started.");
  w.sample("ringkernel_kernel_faults_total", "", d.kernel_faults);
  w.family("ringkernel_device_resets_total", "counter", "GPU worker processes restarted since the daemon started.");
  w.sample("ringkernel_device_resets_total", "", d.device_resets);
  w.family("ringkernel_start_time_seconds", "gauge", "When the daemon started, seconds since the Unix epoch.");
  w.sample("ringkernel_start_time_seconds", "", d.start_time_s);

  per_instance(w, s, "ringkernel_kernel_messages_processed_total", "counter", "Messages the kernel handled.",
               [](const InstanceMetrics& m) { return m.processed; });
  per_instance(w, s, "ringkernel_kernel_errors_total", "counter", "Messages answered with an error status.",
               [](const InstanceMetrics& m) { return m.errors; });
  per_instance(w, s, "ringkernel_kernel_messages_dropped_total", "counter", "Messages lost (must stay 0).",
               [](const InstanceMetrics& m) { return m.dropped; });
  per_instance(w, s, "ringkernel_kernel_backpressure_total", "counter",
               "Times a full reply ring held a channel's requests back.",
               [](const InstanceMetrics& m) { return m.backpressure; });
  per_instance(w, s, "ringkernel_kernel_queue_depth_bytes", "gauge",
               "Unread request bytes in the kernel's rings, all channels.",
               [](const InstanceMetrics& m) { return m.queue_depth_bytes; });
  per_instance(w, s, "ringkernel_kernel_channels", "gauge", "Channels (client rings) bound to the kernel.",
               [](const InstanceMetrics& m) { return m.channels; });
  latency_histogram(w, s);
  if (!s.instances.empty()) {
    w.family("ringkernel_kernel_state", "gauge", "1 for the kernel's current lifecycle state, 0 for the others.");
    for (const auto& m : s.instances)
      for (const char* state : kInstanceStates)
        w.sample("ringkernel_kernel_state", instance_labels(m) + ",state=\"" + state + "\"",
                 m.state == state ? 1 : 0);
  }
  return w.take();
}

}  // namespace rk::server
