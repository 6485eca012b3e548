// The .deb: built with CPack from this build directory, its contents and
// control data checked; as root, installed with dpkg, the installed
// ringkerneld started and called through the installed ringkernelctl,
// stopped, and the package removed again.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "tests/capi/daemon.h"
#include "tests/tools/command.h"

namespace rk::test {
namespace {

namespace fs = std::filesystem;

class DebPackage : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(dir_.ok());
    const std::vector<std::string> argv = {RK_CPACK_COMMAND, "-G", "DEB", "--config",
                                           std::string(RK_BUILD_DIR) + "/CPackConfig.cmake", "-B", dir_.path()};
    const auto r = run_command(argv, std::chrono::minutes(5));
    ASSERT_TRUE(r.exited_ok()) << r.describe(argv);
    for (const auto& e : fs::directory_iterator(dir_.path()))
      if (e.path().extension() == ".deb") deb_ = e.path().string();
    ASSERT_FALSE(deb_.empty()) << "cpack made no .deb in " << dir_.path() << "\n" << r.out;
  }
  CommandResult dpkg_deb(const std::string& what) { return run_command({"/usr/bin/dpkg-deb", what, deb_}, 60s); }

  TempDir dir_{"rk-deb"};
  std::string deb_;
};

TEST_F(DebPackage, Contents_LayOutBinariesLibraryHeadersConfigsAndUnits) {
  const auto r = dpkg_deb("-c");
  ASSERT_TRUE(r.exited_ok()) << r.err;
  for (const char* path : {"./usr/bin/ringkerneld", "./usr/bin/ringkernelctl", "/libringkernel.so.1",
                           "./usr/include/ringkernel/ringkernel.h", "/cmake/RingKernel/RingKernelConfig.cmake",
                           "/pkgconfig/ringkernel.pc", "./usr/lib/systemd/system/ringkerneld.service",
                           "./usr/lib/systemd/system/ringkerneld.socket", "./usr/share/ringkernel/ringkerneld.toml",
                           "./usr/share/man/man8/ringkerneld.8"})
    EXPECT_NE(r.out.find(path), std::string::npos) << path << " missing from the package:\n" << r.out;
}

TEST_F(DebPackage, Control_NamesDependenciesAndMaintainerScripts) {
  const auto r = dpkg_deb("-I");
  ASSERT_TRUE(r.exited_ok()) << r.err;
  EXPECT_NE(r.out.find("Package: ringkernel"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Depends:"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("libsystemd0"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("postinst"), std::string::npos) << r.out;
}

TEST_F(DebPackage, UnitFile_RunsTheInstalledBinaryAsTypeNotify) {
  const auto r = run_command({"/bin/sh", "-c", "/usr/bin/dpkg-deb --fsys-tarfile '" + deb_ +
                                                    "' | tar -xO ./usr/lib/systemd/system/ringkerneld.service"},
                             60s);
  ASSERT_TRUE(r.exited_ok()) << r.err;
  EXPECT_NE(r.out.find("ExecStart=/usr/bin/ringkerneld "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Type=notify"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("RuntimeDirectory=ringkernel"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("DeviceAllow=char-nvidia-frontend rw"), std::string::npos) << r.out;
}

TEST_F(DebPackage, AsRoot_InstallsStartsServesAndRemoves) {
  if (geteuid() != 0) GTEST_SKIP() << "dpkg -i needs root; the package was built and inspected only";
  if (run_command({"/usr/bin/dpkg-query", "-W", "-f=${Status}", "ringkernel"}, 60s).out.find("installed") !=
      std::string::npos)
    GTEST_SKIP() << "a ringkernel package is already installed on this machine; not replacing it";
  const auto install = run_command({"/usr/bin/dpkg", "-i", deb_}, std::chrono::minutes(5));
  // Removed whatever happens below.
  struct Remove {
    ~Remove() { run_command({"/usr/bin/dpkg", "--purge", "ringkernel"}, std::chrono::minutes(5)); }
  } remove;
  ASSERT_TRUE(install.exited_ok()) << install.describe({"dpkg", "-i", deb_});
  EXPECT_TRUE(fs::exists("/etc/ringkernel/ringkerneld.toml")) << "postinst did not install the configuration";

  TempDir run("rk-deb-run");
  const std::string sock = run.path() + "/rk.sock";
  Process daemon("/usr/bin/ringkerneld", {"--socket", sock, "--backend", "cpu"});
  ASSERT_TRUE(daemon.started());
  ASSERT_TRUE(eventually([&] { return fs::exists(sock) || !daemon.running(); }, 20s));
  ASSERT_TRUE(daemon.running()) << "the installed ringkerneld exited at start";
  const auto call = run_command({"/usr/bin/ringkernelctl", "--socket", sock, "call", "echo", "from-the-deb"}, 60s);
  EXPECT_TRUE(call.exited_ok()) << call.out << call.err;
  EXPECT_NE(call.out.find("from-the-deb"), std::string::npos) << call.out;
  daemon.signal(SIGTERM);
  const auto status = daemon.wait_exit(30s);
  ASSERT_TRUE(status) << "the installed ringkerneld did not stop on SIGTERM";
  EXPECT_EQ(describe_wait_status(*status), "exited 0");

  const auto removed = run_command({"/usr/bin/dpkg", "-r", "ringkernel"}, std::chrono::minutes(5));
  EXPECT_TRUE(removed.exited_ok()) << removed.out << removed.err;
  EXPECT_FALSE(fs::exists("/usr/bin/ringkerneld"));
  EXPECT_FALSE(fs::exists("/usr/bin/ringkernelctl"));
}

}  // namespace
}  // namespace rk::test
