// ringkerneld with a configuration file: kernels launched at start that
// clients attach to without launching, flags over the file, and bad files
// refused with exit status 2 and a message naming the place.
#include <gtest/gtest.h>
#include <ringkernel/ringkernel.h>

#include <fstream>
#include <string>
#include <vector>

#include "tests/capi/daemon.h"
#include "tests/tools/command.h"

namespace rk::test {
namespace {

std::string ctl_path() { return std::string(RK_BIN_DIR) + "/ringkernelctl"; }

// A file in a fresh directory that lives as long as the object.
struct ConfigFile {
  explicit ConfigFile(const std::string& text) : dir("rk-config") {
    std::ofstream(path()) << text;
  }
  std::string path() const { return dir.path() + "/ringkerneld.toml"; }
  TempDir dir;
};

TEST(DaemonConfig, StartupKernel_IsSharedAndActive_ClientsAttachWithoutLaunching) {
  // boot-echo asks for staged transfer, which the CPU backend ignores.
  ConfigFile cfg("[[kernel]]\nname = \"boot-echo\"\nkernel = \"echo\"\ntransfer = \"staged\"\n\n"
                 "[[kernel]]\nname = \"idle-echo\"\nkernel = \"echo\"\nactive = false\n");
  Daemon d({"--config", cfg.path()});
  ASSERT_TRUE(d.started()) << d.error();
  const auto call = run_command({ctl_path(), "--socket", d.socket_path(), "call", "echo", "hi", "--attach",
                                 "boot-echo", "--count", "3"},
                                30s);
  EXPECT_TRUE(call.exited_ok()) << call.out << call.err;
  const auto list = run_command({ctl_path(), "--socket", d.socket_path(), "list", "--json"}, 30s);
  ASSERT_TRUE(list.exited_ok()) << list.err;
  EXPECT_NE(list.out.find("\"boot-echo\""), std::string::npos) << list.out;
  EXPECT_NE(list.out.find("\"idle-echo\""), std::string::npos) << list.out;
  const auto status = run_command({ctl_path(), "--socket", d.socket_path(), "status", "idle-echo", "--json"}, 30s);
  EXPECT_NE(status.out.find("\"launched\""), std::string::npos) << status.out;
}

TEST(DaemonConfig, FlagOverridesTheFile) {
  ConfigFile cfg("[server]\nbackend = \"cuda\"\nlog_level = \"error\"\n[limits]\nsessions = 7\n");
  // The file asks for CUDA; the fixture's --backend cpu wins, so it starts
  // on any machine. --check-config shows the rest.
  Daemon d({"--config", cfg.path()});
  ASSERT_TRUE(d.started()) << d.error();
  const auto r = run_command({server_binary(), "--config", cfg.path(), "--max-sessions", "9", "--check-config"}, 30s);
  ASSERT_TRUE(r.exited_ok()) << r.out << r.err;
  EXPECT_NE(r.out.find("sessions 9\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("backend cuda\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("log_level error\n"), std::string::npos) << r.out;
}

TEST(DaemonConfig, BadFile_ExitsTwoNamingLineAndKey) {
  ConfigFile cfg("[server]\nbackend = \"cpu\"\n\n[limits]\nsesions = 4\n");
  const auto r = run_command({server_binary(), "--config", cfg.path(), "--socket", cfg.dir.path() + "/rk.sock"}, 30s);
  EXPECT_EQ(r.exit_code(), 2) << r.out << r.err;
  EXPECT_NE(r.err.find(cfg.path() + ":5:1: unknown key 'limits.sesions'"), std::string::npos) << r.err;
}

TEST(DaemonConfig, MissingExplicitFile_ExitsTwo) {
  TempDir dir("rk-config-missing");
  const auto r = run_command({server_binary(), "--config", dir.path() + "/absent.toml", "--check-config"}, 30s);
  EXPECT_EQ(r.exit_code(), 2) << r.out << r.err;
  EXPECT_NE(r.err.find("absent.toml: cannot read"), std::string::npos) << r.err;
}

TEST(DaemonConfig, UnknownStartupKernel_FailsStartNamingTheEntry) {
  ConfigFile cfg("[[kernel]]\nname = \"x\"\nkernel = \"no_such_kernel\"\n");
  const auto r = run_command({server_binary(), "--config", cfg.path(), "--backend", "cpu", "--socket",
                              cfg.dir.path() + "/rk.sock"},
                             30s);
  EXPECT_EQ(r.exit_code(), 1) << r.out << r.err;
  EXPECT_NE(r.err.find("kernel 'x': unknown kernel 'no_such_kernel'"), std::string::npos) << r.err;
}

TEST(DaemonConfig, KernelsPerSessionFromTheFile_IsEnforced) {
  ConfigFile cfg("[limits]\nkernels_per_session = 1\n[[kernel]]\nname = \"a\"\nkernel = \"echo\"\n");
  Daemon d({"--config", cfg.path()});
  ASSERT_TRUE(d.started()) << d.error();
  rk_client* c = nullptr;
  ASSERT_EQ(rk_connect(d.socket_path().c_str(), &c), RK_OK) << rk_last_error_message();
  rk_kernel* a = nullptr;
  rk_kernel* second = nullptr;
  EXPECT_EQ(rk_attach(c, "a", &a), RK_OK) << rk_last_error_message();
  EXPECT_EQ(rk_launch(c, "echo", nullptr, &second), RK_E_LIMIT);
  if (second) rk_kernel_release(second);
  if (a) rk_kernel_release(a);
  rk_disconnect(c);
}

}  // namespace
}  // namespace rk::test
