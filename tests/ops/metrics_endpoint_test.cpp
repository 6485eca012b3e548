// /metrics on a real ringkerneld: scraped over loopback HTTP after real
// calls, its figures checked against what the test did, and the whole text
// validated by promtool.
#include <gtest/gtest.h>
#include <httplib.h>

#include <regex>
#include <string>
#include <vector>

#include "tests/capi/daemon.h"
#include "tests/ops/promtool.h"
#include "tests/tools/command.h"

namespace rk::test {
namespace {

// The port ringkerneld logged for --metrics-listen 127.0.0.1:0, or 0.
int logged_metrics_port(const Daemon& d) {
  static const std::regex line(R"(metrics at http://127\.0\.0\.1:([0-9]+)/metrics)");
  std::smatch m;
  const std::string log = d.log_tail(100000);
  return std::regex_search(log, m, line) ? std::stoi(m[1]) : 0;
}

class MetricsEndpoint : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(daemon_.started()) << daemon_.error();
    ASSERT_TRUE(eventually([&] { return (port_ = logged_metrics_port(daemon_)) > 0; }))
        << "no 'metrics at' line in the log:\n" << daemon_.log_tail();
  }
  CommandResult ctl(std::vector<std::string> args) {
    args.insert(args.begin(), {std::string(RK_BIN_DIR) + "/ringkernelctl", "--socket", daemon_.socket_path()});
    return run_command(args, 30s);
  }
  // GET path; the body, with the status checked.
  std::string get(const std::string& path, int expect_status = 200) {
    httplib::Client client("127.0.0.1", port_);
    client.set_read_timeout(10, 0);
    auto res = client.Get(path.c_str());
    EXPECT_TRUE(res) << "GET " << path << ": " << httplib::to_string(res.error());
    if (!res) return {};
    EXPECT_EQ(res->status, expect_status) << res->body;
    if (path == "/metrics") {
      EXPECT_EQ(res->get_header_value("Content-Type").rfind("text/plain; version=0.0.4", 0), 0u);
    }
    return res->body;
  }

  Daemon daemon_{{"--metrics-listen", "127.0.0.1:0"}};
  int port_ = 0;
};

bool has_line(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos;
}

TEST_F(MetricsEndpoint, Scrape_CountsTheCallsMadeAndPassesPromtool) {
  auto r = ctl({"launch", "echo", "--name", "scraped-echo", "--activate"});
  ASSERT_TRUE(r.exited_ok()) << r.out << r.err;
  r = ctl({"call", "echo", "hello", "--attach", "scraped-echo", "--count", "40"});
  ASSERT_TRUE(r.exited_ok()) << r.out << r.err;

  const std::string text = get("/metrics");
  const std::string labels = R"(kernel="echo",instance="scraped-echo",backend="cpu",device="-1")";
  EXPECT_TRUE(has_line(text, "ringkernel_kernel_messages_processed_total{" + labels + "} 40")) << text;
  EXPECT_TRUE(has_line(text, "ringkernel_kernel_errors_total{" + labels + "} 0")) << text;
  EXPECT_TRUE(has_line(text, "ringkernel_kernel_state{" + labels + ",state=\"active\"} 1")) << text;
  EXPECT_TRUE(has_line(text, "ringkernel_kernel_queue_depth_bytes{" + labels + "} 0")) << text;
  EXPECT_NE(text.find("ringkernel_kernel_handler_latency_seconds_bucket{" + labels + ",le=\"+Inf\"}"),
            std::string::npos)
      << text;
  EXPECT_TRUE(has_line(text, "ringkernel_kernel_instances 1")) << text;
  EXPECT_TRUE(has_line(text, "ringkernel_kernel_faults_total 0")) << text;

  if (!have_promtool()) GTEST_SKIP() << "promtool not installed (Debian package prometheus; scripts/setup.sh installs it)";
  const auto check = promtool_check(text);
  EXPECT_TRUE(check.exited_ok()) << check.describe({"promtool", "check", "metrics"}) << "\n" << text;
}

TEST_F(MetricsEndpoint, SessionsAndSegments_FollowConnectedClients) {
  // No client yet: no session, no segment (once the server has seen the
  // hang-up of the fixture's start-up probe, in its own time).
  std::string text;
  EXPECT_TRUE(eventually([&] {
    text = get("/metrics");
    return has_line(text, "ringkernel_sessions 0") && has_line(text, "ringkernel_segments 0");
  })) << text;

  // A shared instance holds one segment (its bell) after its launcher left
  // (the server notices the launcher's hang-up in its own time).
  ASSERT_TRUE(ctl({"launch", "echo", "--name", "e1"}).exited_ok());
  EXPECT_TRUE(eventually([&] {
    text = get("/metrics");
    return has_line(text, "ringkernel_sessions 0") && has_line(text, "ringkernel_segments 1");
  })) << text;
  EXPECT_FALSE(has_line(text, "ringkernel_mapped_bytes 0")) << text;
  EXPECT_TRUE(has_line(text, R"(ringkernel_kernel_state{kernel="echo",instance="e1",backend="cpu",device="-1",state="launched"} 1)"))
      << text;
}

TEST_F(MetricsEndpoint, OtherPaths_AreNotFound) {
  get("/nothing-here", 404);
  EXPECT_NE(get("/").find("/metrics"), std::string::npos);
}

TEST(MetricsListen, MalformedAddress_FailsStartWithExit2) {
  TempDir dir("rk-metrics-bad");
  const auto r = run_command({server_binary(), "--socket", dir.path() + "/rk.sock", "--backend", "cpu",
                              "--metrics-listen", "localhost"},
                             30s);
  EXPECT_EQ(r.exit_code(), 2) << r.describe({"ringkerneld", "--metrics-listen", "localhost"});
  EXPECT_NE(r.err.find("--metrics-listen"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace rk::test
