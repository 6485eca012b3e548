// The configuration file: every section read, and bad files refused with
// the file, line and column of the problem.
#include <gtest/gtest.h>

#include <string>

#include "server/config_file.h"
#include "tests/tools/command.h"

namespace rk::server {
namespace {

// The ConfigError message for `text`, or "" if it parsed.
std::string error_of(const std::string& text) {
  try {
    parse_config(text, "test.toml");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(ConfigFile, EmptyFile_SetsNothing) {
  const DaemonConfig c = parse_config("", "empty.toml");
  EXPECT_FALSE(c.socket);
  EXPECT_FALSE(c.backend);
  EXPECT_FALSE(c.max_sessions);
  EXPECT_TRUE(c.kernels.empty());
}

TEST(ConfigFile, EverySection_IsRead) {
  const DaemonConfig c = parse_config(R"(
[server]
socket = "/run/ringkernel/default.sock"
backend = "cpu"
allow_group = "ringkernel"
log_level = "debug"
metrics_listen = "127.0.0.1:9464"
terminate_timeout_ms = 2000

[rings]
default_bytes = 262144

[limits]
sessions = 16
segment_bytes = 33554432
kernels_per_session = 8

[[kernel]]
name = "shared-echo"
kernel = "echo"

[[kernel]]
name = "sums"
kernel = "reduce_sum"
backend = "cpu"
device = 0
ring_bytes = 65536
transfer = "staged"
grid = 2
block = 64
active = false
)",
                                      "full.toml");
  EXPECT_EQ(c.socket, "/run/ringkernel/default.sock");
  EXPECT_EQ(c.backend, "cpu");
  EXPECT_EQ(c.allow_group, "ringkernel");
  EXPECT_EQ(c.log_level, "debug");
  EXPECT_EQ(c.metrics_listen, "127.0.0.1:9464");
  EXPECT_EQ(c.terminate_timeout_ms, 2000);
  EXPECT_EQ(c.default_ring_bytes, 262144u);
  EXPECT_EQ(c.max_sessions, 16u);
  EXPECT_EQ(c.segment_bytes, 33554432u);
  EXPECT_EQ(c.kernels_per_session, 8u);
  ASSERT_EQ(c.kernels.size(), 2u);
  EXPECT_EQ(c.kernels[0].name, "shared-echo");
  EXPECT_EQ(c.kernels[0].kernel, "echo");
  EXPECT_EQ(c.kernels[0].backend, "auto");
  EXPECT_EQ(c.kernels[0].transfer, "auto");
  EXPECT_TRUE(c.kernels[0].active);
  EXPECT_EQ(c.kernels[1].backend, "cpu");
  EXPECT_EQ(c.kernels[1].device, 0);
  EXPECT_EQ(c.kernels[1].ring_bytes, 65536u);
  EXPECT_EQ(c.kernels[1].transfer, "staged");
  EXPECT_EQ(c.kernels[1].grid, 2u);
  EXPECT_EQ(c.kernels[1].block, 64u);
  EXPECT_FALSE(c.kernels[1].active);
}

TEST(ConfigFile, SyntaxError_NamesFileLineAndColumn) {
  const std::string e = error_of("[server]\nbackend = \"cpu\"\nsocket = \n");
  EXPECT_EQ(e.rfind("test.toml:3:", 0), 0u) << e;
}

TEST(ConfigFile, UnknownKey_IsAnErrorWithItsPlace) {
  const std::string e = error_of("[server]\nbackend = \"cpu\"\nbakend = \"cuda\"\n");
  EXPECT_EQ(e.rfind("test.toml:3:1:", 0), 0u) << e;
  EXPECT_NE(e.find("unknown key 'server.bakend'"), std::string::npos) << e;
}

TEST(ConfigFile, UnknownTable_IsAnError) {
  EXPECT_NE(error_of("[limit]\nsessions = 4\n").find("unknown key 'limit'"), std::string::npos);
}

TEST(ConfigFile, WrongType_IsAnError) {
  const std::string e = error_of("[limits]\nsessions = \"many\"\n");
  EXPECT_NE(e.find("'limits.sessions' must be an integer"), std::string::npos) << e;
  EXPECT_EQ(e.rfind("test.toml:2:", 0), 0u) << e;
}

TEST(ConfigFile, OutOfRange_SaysTheRange) {
  const std::string e = error_of("[limits]\nsessions = 0\n");
  EXPECT_NE(e.find("'limits.sessions' must be in [1, 65536] (got 0)"), std::string::npos) << e;
}

TEST(ConfigFile, BackendNotKnown_ListsTheChoices) {
  const std::string e = error_of("[server]\nbackend = \"opencl\"\n");
  EXPECT_NE(e.find("must be one of auto, cpu, cuda"), std::string::npos) << e;
}

TEST(ConfigFile, TransferNotKnown_ListsTheChoicesWithItsPlace) {
  const std::string e = error_of("[[kernel]]\nname = \"e\"\nkernel = \"echo\"\ntransfer = \"zero-copy\"\n");
  EXPECT_EQ(e.rfind("test.toml:4:", 0), 0u) << e;
  EXPECT_NE(e.find("'kernel.transfer' must be one of auto, mapped, staged (got 'zero-copy')"), std::string::npos) << e;
}

TEST(ConfigFile, RingBytesNotPowerOfTwo_IsAnError) {
  EXPECT_NE(error_of("[rings]\ndefault_bytes = 100000\n").find("power of two"), std::string::npos);
  EXPECT_NE(error_of("[rings]\ndefault_bytes = 1024\n").find("must be in"), std::string::npos);
}

TEST(ConfigFile, KernelWithoutName_OrDuplicated_IsAnError) {
  EXPECT_NE(error_of("[[kernel]]\nkernel = \"echo\"\n").find("needs a 'name'"), std::string::npos);
  EXPECT_NE(error_of("[[kernel]]\nname = \"e\"\n").find("needs a 'kernel'"), std::string::npos);
  EXPECT_NE(error_of("[[kernel]]\nname = \"e\"\nkernel = \"echo\"\n[[kernel]]\nname = \"e\"\nkernel = \"echo\"\n")
                .find("two [[kernel]] entries are named 'e'"),
            std::string::npos);
}

TEST(ConfigFile, KernelNotATableArray_IsAnError) {
  EXPECT_NE(error_of("kernel = \"echo\"\n").find("array of tables"), std::string::npos);
  EXPECT_NE(error_of("server = 3\n").find("must be a table"), std::string::npos);
}

TEST(ConfigFile, MissingFile_IsAnErrorNamingIt) {
  try {
    load_config("/nonexistent/ringkerneld.toml");
    FAIL() << "a missing file loaded";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/ringkerneld.toml: cannot read"), std::string::npos);
  }
}

TEST(ConfigFile, ShippedExample_Parses) {
  const DaemonConfig c = load_config(std::string(RK_SOURCE_DIR) + "/packaging/ringkerneld.toml");
  EXPECT_TRUE(c.kernels.empty());  // the example launches nothing until an operator says so
}

}  // namespace
}  // namespace rk::server
