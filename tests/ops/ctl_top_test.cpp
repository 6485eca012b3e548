// `ringkernelctl top` run as a process with --iterations: the table, the
// JSON lines, and the rate that follows the calls made between refreshes.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <sstream>
#include <string>
#include <vector>

#include "tests/capi/daemon.h"
#include "tests/tools/command.h"

namespace rk::test {
namespace {

using Json = nlohmann::json;

class CtlTop : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(daemon_.started()) << daemon_.error();
    ASSERT_TRUE(ctl({"launch", "echo", "--name", "top-echo", "--activate"}).exited_ok());
    ASSERT_TRUE(ctl({"call", "echo", "x", "--attach", "top-echo", "--count", "20"}).exited_ok());
  }
  CommandResult ctl(std::vector<std::string> args) {
    args.insert(args.begin(), {std::string(RK_BIN_DIR) + "/ringkernelctl", "--socket", daemon_.socket_path()});
    return run_command(args, 60s);
  }
  Daemon daemon_;
};

TEST_F(CtlTop, JsonIterations_PrintOneObjectPerRefresh) {
  const auto r = ctl({"top", "--iterations", "3", "--interval-ms", "20", "--json"});
  ASSERT_TRUE(r.exited_ok()) << r.out << r.err;
  std::istringstream lines(r.out);
  std::vector<Json> refreshes;
  for (std::string line; std::getline(lines, line);) refreshes.push_back(Json::parse(line, nullptr, false));
  ASSERT_EQ(refreshes.size(), 3u) << r.out;
  for (size_t i = 0; i < refreshes.size(); ++i) {
    const Json& j = refreshes[i];
    ASSERT_TRUE(j.is_object()) << r.out;
    EXPECT_EQ(j["refresh"], i + 1);
    ASSERT_EQ(j["instances"].size(), 1u) << j.dump();
    const Json& e = j["instances"][0];
    EXPECT_EQ(e["name"], "top-echo");
    EXPECT_EQ(e["state"], "active");
    EXPECT_EQ(e["processed"], 20u);
    // No rate before there is a previous refresh; then none while idle.
    if (i == 0) EXPECT_TRUE(e["rate_per_s"].is_null()) << e.dump();
    else EXPECT_EQ(e["rate_per_s"], 0.0) << e.dump();
  }
}

TEST_F(CtlTop, Text_ShowsTheTableWithTheInstance) {
  const auto r = ctl({"top", "-n", "1"});
  ASSERT_TRUE(r.exited_ok()) << r.out << r.err;
  EXPECT_NE(r.out.find("MSG/S"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("LAT AVG"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("top-echo"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("\033["), std::string::npos) << "no screen clearing into a pipe";
}

TEST_F(CtlTop, NoServer_FailsWithStatusAndJson) {
  const auto r = run_command({std::string(RK_BIN_DIR) + "/ringkernelctl", "--socket", daemon_.dir() + "/none.sock",
                              "top", "-n", "1", "--json"},
                             30s);
  EXPECT_EQ(r.exit_code(), 1) << r.out << r.err;
  const Json j = Json::parse(r.out, nullptr, false);
  ASSERT_TRUE(j.is_object()) << r.out;
  EXPECT_EQ(j["ok"], false);
}

}  // namespace
}  // namespace rk::test
