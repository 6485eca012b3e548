// The Prometheus text the daemon serves, from snapshots made up here: what
// each family says, label escaping, cumulative histograms, and promtool's
// verdict on the whole.
#include <gtest/gtest.h>

#include <string>

#include "server/metrics_http.h"
#include "server/prometheus_format.h"
#include "tests/ops/promtool.h"

namespace rk::server {
namespace {

MetricsSnapshot sample_snapshot() {
  MetricsSnapshot s;
  s.daemon.sessions = 3;
  s.daemon.segments = 5;
  s.daemon.bytes_mapped = 3 * (64ull << 20) + 2 * 4096;
  s.daemon.kernel_faults = 1;
  s.daemon.instances = 2;
  s.daemon.start_time_s = 1700000000;
  InstanceMetrics echo;
  echo.id = 1;
  echo.kernel = "echo";
  echo.instance = "shared-echo";
  echo.backend = "cpu";
  echo.state = "active";
  echo.processed = 1000;
  echo.errors = 2;
  echo.queue_depth_bytes = 128;
  echo.channels = 2;
  echo.has_latency_buckets = true;
  echo.latency_buckets[0] = 10;                    // <= 250 ns
  echo.latency_buckets[2] = 5;                     // <= 1 µs
  echo.latency_buckets[kLatencyBuckets - 1] = 1;  // above every bound
  echo.latency_samples = 16;
  echo.latency_sum_ns = 20'000'000'000;
  s.instances.push_back(echo);
  InstanceMetrics gpu;
  gpu.id = 2;
  gpu.kernel = "saxpy";
  gpu.instance = "#2";
  gpu.backend = "cuda";
  gpu.device = 0;
  gpu.state = "faulted";
  gpu.latency_samples = 7;  // sum and count only: no buckets from this backend
  gpu.latency_sum_ns = 7000;
  s.instances.push_back(gpu);
  return s;
}

bool contains_line(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos || text.rfind(line + "\n", 0) == 0;
}

TEST(PrometheusFormat, DaemonFigures_AreGaugesAndCounters) {
  const std::string t = render_prometheus(sample_snapshot());
  EXPECT_TRUE(contains_line(t, "# TYPE ringkernel_sessions gauge")) << t;
  EXPECT_TRUE(contains_line(t, "ringkernel_sessions 3")) << t;
  EXPECT_TRUE(contains_line(t, "ringkernel_segments 5")) << t;
  EXPECT_TRUE(contains_line(t, "ringkernel_mapped_bytes " + std::to_string(3 * (64ull << 20) + 2 * 4096))) << t;
  EXPECT_TRUE(contains_line(t, "# TYPE ringkernel_kernel_faults_total counter")) << t;
  EXPECT_TRUE(contains_line(t, "ringkernel_kernel_faults_total 1")) << t;
  EXPECT_TRUE(contains_line(t, "ringkernel_device_resets_total 0")) << t;
}

TEST(PrometheusFormat, InstanceCounters_CarryKernelInstanceBackendDeviceLabels) {
  const std::string t = render_prometheus(sample_snapshot());
  const std::string labels = R"(kernel="echo",instance="shared-echo",backend="cpu",device="-1")";
  EXPECT_TRUE(contains_line(t, "ringkernel_kernel_messages_processed_total{" + labels + "} 1000")) << t;
  EXPECT_TRUE(contains_line(t, "ringkernel_kernel_errors_total{" + labels + "} 2")) << t;
  EXPECT_TRUE(contains_line(t, "ringkernel_kernel_queue_depth_bytes{" + labels + "} 128")) << t;
  EXPECT_TRUE(contains_line(t, "ringkernel_kernel_channels{" + labels + "} 2")) << t;
  EXPECT_TRUE(
      contains_line(t, R"(ringkernel_kernel_messages_processed_total{kernel="saxpy",instance="#2",backend="cuda",device="0"} 0)"))
      << t;
}

TEST(PrometheusFormat, StateGauge_IsOneForTheCurrentStateOnly) {
  const std::string t = render_prometheus(sample_snapshot());
  const std::string labels = R"(kernel="echo",instance="shared-echo",backend="cpu",device="-1")";
  EXPECT_TRUE(contains_line(t, "ringkernel_kernel_state{" + labels + ",state=\"active\"} 1")) << t;
  EXPECT_TRUE(contains_line(t, "ringkernel_kernel_state{" + labels + ",state=\"launched\"} 0")) << t;
  EXPECT_TRUE(contains_line(t, "ringkernel_kernel_state{" + labels + ",state=\"faulted\"} 0")) << t;
}

TEST(PrometheusFormat, Histogram_IsCumulativeAndInfEqualsCount) {
  const std::string t = render_prometheus(sample_snapshot());
  const std::string b = R"(ringkernel_kernel_handler_latency_seconds_bucket{kernel="echo",instance="shared-echo",backend="cpu",device="-1",le=")";
  EXPECT_TRUE(contains_line(t, b + "2.5e-07\"} 10")) << t;
  EXPECT_TRUE(contains_line(t, b + "5e-07\"} 10")) << t;
  EXPECT_TRUE(contains_line(t, b + "1e-06\"} 15")) << t;
  EXPECT_TRUE(contains_line(t, b + "10\"} 15")) << t;
  EXPECT_TRUE(contains_line(t, b + "+Inf\"} 16")) << t;
  EXPECT_TRUE(contains_line(
      t, R"(ringkernel_kernel_handler_latency_seconds_count{kernel="echo",instance="shared-echo",backend="cpu",device="-1"} 16)"))
      << t;
  EXPECT_TRUE(contains_line(
      t, R"(ringkernel_kernel_handler_latency_seconds_sum{kernel="echo",instance="shared-echo",backend="cpu",device="-1"} 20)"))
      << t;
}

TEST(PrometheusFormat, BackendWithoutBuckets_ReportsOnlyInfSumAndCount) {
  const std::string t = render_prometheus(sample_snapshot());
  const std::string labels = R"(kernel="saxpy",instance="#2",backend="cuda",device="0")";
  EXPECT_TRUE(contains_line(t, "ringkernel_kernel_handler_latency_seconds_bucket{" + labels + ",le=\"+Inf\"} 7")) << t;
  EXPECT_EQ(t.find("ringkernel_kernel_handler_latency_seconds_bucket{" + labels + ",le=\"1e-06\"}"), std::string::npos)
      << t;
  EXPECT_TRUE(contains_line(t, "ringkernel_kernel_handler_latency_seconds_count{" + labels + "} 7")) << t;
}

TEST(PrometheusFormat, LabelValues_AreEscaped) {
  EXPECT_EQ(escape_label_value(R"(a"b\c)" "\n"), R"(a\"b\\c\n)");
  MetricsSnapshot s = sample_snapshot();
  s.instances[0].instance = "we\"ird\nname";
  const std::string t = render_prometheus(s);
  EXPECT_NE(t.find(R"(instance="we\"ird\nname")"), std::string::npos) << t;
}

TEST(PrometheusFormat, NoInstances_StillValidWithDaemonFamiliesOnly) {
  MetricsSnapshot s;
  const std::string t = render_prometheus(s);
  EXPECT_TRUE(contains_line(t, "ringkernel_sessions 0")) << t;
  EXPECT_EQ(t.find("ringkernel_kernel_state"), std::string::npos) << t;
  if (!rk::test::have_promtool()) GTEST_SKIP() << "promtool not installed (Debian package prometheus)";
  const auto r = rk::test::promtool_check(t);
  EXPECT_TRUE(r.exited_ok()) << r.describe({"promtool", "check", "metrics"}) << "\n" << t;
}

TEST(PrometheusFormat, WholeSnapshot_PassesPromtool) {
  if (!rk::test::have_promtool()) GTEST_SKIP() << "promtool not installed (Debian package prometheus)";
  const std::string t = render_prometheus(sample_snapshot());
  const auto r = rk::test::promtool_check(t);
  EXPECT_TRUE(r.exited_ok()) << r.describe({"promtool", "check", "metrics"}) << "\n" << t;
}

TEST(ListenAddress, HostAndPort_Parse) {
  std::string why;
  auto a = parse_listen_address("127.0.0.1:9464", why);
  ASSERT_TRUE(a) << why;
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 9464);
  auto v6 = parse_listen_address("[::1]:0", why);
  ASSERT_TRUE(v6) << why;
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 0);
}

TEST(ListenAddress, Malformed_IsRefusedWithAReason) {
  for (const char* bad : {"9464", "127.0.0.1", ":9464", "127.0.0.1:", "127.0.0.1:http", "127.0.0.1:70000",
                          "::1:9464", "[::1]9464"}) {
    std::string why;
    EXPECT_FALSE(parse_listen_address(bad, why)) << bad;
    EXPECT_FALSE(why.empty()) << bad;
  }
}

}  // namespace
}  // namespace rk::server
