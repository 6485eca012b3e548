// ringkernelctl as scripts use it: a real ringkerneld (CPU backend), the
// tool run as a process, its exit status, stdout (--json parsed) and stderr.
#include <gtest/gtest.h>
#include <ringkernel/ringkernel.h>

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "tests/capi/daemon.h"
#include "tests/tools/command.h"

namespace rk::test {
namespace {

using Json = nlohmann::json;
using namespace std::chrono_literals;

class Ringkernelctl : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(daemon_.started()) << daemon_.error(); }

  // ringkernelctl --socket <the daemon's> args...
  CommandResult ctl(const std::vector<std::string>& args) {
    last_ = {std::string(RK_BIN_DIR) + "/ringkernelctl", "--socket", daemon_.socket_path()};
    last_.insert(last_.end(), args.begin(), args.end());
    return run_command(last_, 30s);
  }
  // Runs it, requires exit 0 and parses stdout as JSON.
  Json ctl_json(const std::vector<std::string>& args) {
    const CommandResult r = ctl(args);
    EXPECT_TRUE(r.exited_ok()) << r.describe(last_);
    return Json::parse(r.out, nullptr, /*allow_exceptions=*/false);
  }
  std::string what() const {
    std::string s;
    for (const auto& a : last_) s += a + " ";
    return s;
  }
  // The entry named `name` of `list --json`, or null.
  Json listed(const std::string& name) {
    Json list = ctl_json({"list", "--json"});
    EXPECT_TRUE(list.is_object() && list["instances"].is_array()) << list.dump();
    if (!list.is_object() || !list["instances"].is_array()) return nullptr;
    for (const auto& i : list["instances"])
      if (i.value("name", "") == name) return i;
    return nullptr;
  }

  Daemon daemon_;
  std::vector<std::string> last_;
};

TEST_F(Ringkernelctl, InfoJson_ParsesAndDescribesTheServer) {
  const Json info = ctl_json({"info", "--json"});
  ASSERT_TRUE(info.is_object()) << what();
  EXPECT_EQ(info["pid"], daemon_.pid());
  EXPECT_EQ(info["abi_version"], RK_ABI_VERSION);
  EXPECT_EQ(info["default_backend"], "cpu");
  EXPECT_EQ(info["socket"], daemon_.socket_path());
  EXPECT_GE(info["sessions"].get<int>(), 1);
}

TEST_F(Ringkernelctl, CallEcho_PrintsTheReplyAndRoundTrip) {
  const CommandResult r = ctl({"call", "echo", "hi"});
  ASSERT_TRUE(r.exited_ok()) << r.describe(last_);
  EXPECT_EQ(r.out.substr(0, r.out.find('\n')), "hi") << r.out;
  EXPECT_NE(r.out.find("round trip"), std::string::npos) << r.out;

  const Json j = ctl_json({"call", "echo", "hello", "ring", "--count", "10", "--json"});
  EXPECT_EQ(j["reply"], "hello ring");
  EXPECT_EQ(j["calls"], 10);
  EXPECT_GT(j["round_trip_min_ns"].get<uint64_t>(), 0u);
}

TEST_F(Ringkernelctl, LaunchNamed_ListedSteerableThenTerminated) {
  const CommandResult launched = ctl({"launch", "echo", "--name", "x"});
  ASSERT_TRUE(launched.exited_ok()) << launched.describe(last_);

  // It outlives the ringkernelctl session that launched it.
  Json x = listed("x");
  ASSERT_FALSE(x.is_null()) << "x is not in list --json";
  EXPECT_EQ(x["kernel"], "echo");
  EXPECT_EQ(x["state"], "launched");
  EXPECT_EQ(x["shared"], true);

  ASSERT_EQ(ctl_json({"activate", "--attach", "x", "--json"})["state"], "active") << what();
  const CommandResult call = ctl({"call", "echo", "via-shared", "--attach", "x"});
  EXPECT_TRUE(call.exited_ok()) << call.describe(last_);
  EXPECT_EQ(call.out.substr(0, call.out.find('\n')), "via-shared");

  const Json status = ctl_json({"status", "--attach", "x", "--json"});
  EXPECT_EQ(status["state"], "active");
  EXPECT_EQ(status["kernel"], "echo");
  EXPECT_EQ(status["processed"], 1);
  EXPECT_EQ(status["dropped"], 0);

  const Json metrics = ctl_json({"metrics", "--json"});
  ASSERT_TRUE(metrics["instances"].is_array()) << metrics.dump();
  ASSERT_EQ(metrics["instances"].size(), 1u) << metrics.dump();
  EXPECT_EQ(metrics["instances"][0]["name"], "x");
  EXPECT_EQ(metrics["server"]["pid"], daemon_.pid());

  EXPECT_EQ(ctl_json({"deactivate", "x", "--json"})["state"], "deactivated") << what();
  const CommandResult terminated = ctl({"terminate", "--attach", "x"});
  ASSERT_TRUE(terminated.exited_ok()) << terminated.describe(last_);
  EXPECT_NE(terminated.out.find("terminated"), std::string::npos) << terminated.out;
  EXPECT_TRUE(listed("x").is_null()) << "x is still listed after terminate";
}

TEST_F(Ringkernelctl, LaunchWithTransferStaged_OnCpuServesCalls) {
  // The CPU backend reads the rings in place whatever strategy is asked.
  const CommandResult launched = ctl({"launch", "echo", "--name", "t", "--transfer", "staged", "--activate"});
  ASSERT_TRUE(launched.exited_ok()) << launched.describe(last_);
  const CommandResult call = ctl({"call", "echo", "via-staged", "--attach", "t"});
  EXPECT_TRUE(call.exited_ok()) << call.describe(last_);
  EXPECT_EQ(call.out.substr(0, call.out.find('\n')), "via-staged");

  const Json j = ctl_json({"call", "echo", "mapped", "--transfer", "mapped", "--json"});
  EXPECT_EQ(j["reply"], "mapped");
  EXPECT_TRUE(ctl({"terminate", "--attach", "t"}).exited_ok()) << what();
}

TEST_F(Ringkernelctl, LaunchWithUnknownTransfer_IsAUsageError) {
  const CommandResult r = ctl({"launch", "echo", "--name", "u", "--transfer", "zero-copy"});
  EXPECT_EQ(r.exit_code(), 2) << r.describe(last_);
  EXPECT_NE(r.err.find("--transfer"), std::string::npos) << r.err;
  EXPECT_TRUE(listed("u").is_null()) << "a launch went ahead with an unknown transfer";
}

TEST_F(Ringkernelctl, BadSocket_NonZeroExitAndAMessage) {
  const std::string nowhere = daemon_.dir() + "/no-such.sock";
  last_ = {std::string(RK_BIN_DIR) + "/ringkernelctl", "--socket", nowhere, "info"};
  const CommandResult r = run_command(last_, 30s);
  EXPECT_EQ(r.exit_code(), 1) << r.describe(last_);
  EXPECT_NE(r.err.find("RK_E_NOT_FOUND"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(nowhere), std::string::npos) << r.err;

  // Scripts get the failure as JSON on stdout too; list (its own protocol
  // session) fails the same way.
  last_ = {std::string(RK_BIN_DIR) + "/ringkernelctl", "--socket", nowhere, "list", "--json"};
  const CommandResult l = run_command(last_, 30s);
  EXPECT_EQ(l.exit_code(), 1) << l.describe(last_);
  const Json j = Json::parse(l.out, nullptr, false);
  ASSERT_TRUE(j.is_object()) << l.describe(last_);
  EXPECT_EQ(j["ok"], false);
  EXPECT_EQ(j["status"], "RK_E_NOT_FOUND");
}

TEST_F(Ringkernelctl, UnknownInstanceOrKernel_FailsNamingTheStatus) {
  const CommandResult status = ctl({"status", "--attach", "nobody"});
  EXPECT_EQ(status.exit_code(), 1) << status.describe(last_);
  EXPECT_NE(status.err.find("RK_E_NOT_FOUND"), std::string::npos) << status.err;

  const CommandResult launch = ctl({"launch", "no_such_kernel", "--name", "y"});
  EXPECT_EQ(launch.exit_code(), 1) << launch.describe(last_);
  EXPECT_NE(launch.err.find("RK_E_NOT_FOUND"), std::string::npos) << launch.err;
}

TEST_F(Ringkernelctl, LaunchWithoutName_IsAUsageErrorThatSaysWhy) {
  const CommandResult r = ctl({"launch", "echo"});
  EXPECT_EQ(r.exit_code(), 2) << r.describe(last_);
  EXPECT_NE(r.err.find("--name"), std::string::npos) << r.err;
  EXPECT_TRUE(listed("").is_null()) << "an unnamed instance was left behind";
}

}  // namespace
}  // namespace rk::test
