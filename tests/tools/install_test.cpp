// The installed package as a user meets it: `cmake --install` this build
// into a temporary prefix, then build examples/c/hello.c out of tree against
// that prefix alone, once through pkg-config and once through
// find_package(RingKernel), and run each binary against a real ringkerneld.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "tests/capi/daemon.h"
#include "tests/tools/command.h"

namespace rk::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// Generous bounds: a cold compiler on a loaded CI machine.
constexpr auto kInstallBound = 120s;
constexpr auto kBuildBound = 180s;
constexpr auto kRunBound = 30s;

// The C compiler and the flags every object of this build carries
// (sanitizers): an instrumented library needs an instrumented program.
std::vector<std::string> sanitizer_flags() { return split_words(RK_SANITIZER_FLAGS); }

class Install : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(tmp_.ok()) << "mkdtemp failed";
    prefix_ = tmp_.path() + "/prefix";
    const std::vector<std::string> install = {RK_CMAKE_COMMAND, "--install", RK_BUILD_DIR, "--prefix", prefix_};
    const CommandResult r = run_command(install, kInstallBound);
    ASSERT_TRUE(r.exited_ok()) << r.describe(install);
    for (const char* f : {"include/ringkernel/ringkernel.h", "lib/libringkernel.so.1", "lib/pkgconfig/ringkernel.pc",
                          "lib/cmake/RingKernel/RingKernelConfig.cmake", "bin/ringkerneld", "bin/ringkernelctl"})
      ASSERT_TRUE(fs::exists(prefix_ + "/" + f)) << f << " was not installed under " << prefix_;
    // The consumer gets its own copy of the source, away from this tree.
    src_ = tmp_.path() + "/consumer";
    fs::create_directories(src_);
    fs::copy_file(std::string(RK_SOURCE_DIR) + "/examples/c/hello.c", src_ + "/hello.c");
  }

  // Runs the built example against a fresh ringkerneld; it must exit 0.
  void expect_hello_runs(const std::string& binary) {
    Daemon daemon;
    ASSERT_TRUE(daemon.started()) << daemon.error();
    const std::vector<std::string> run = {binary, daemon.socket_path()};
    const CommandResult r = run_command(run, kRunBound);
    EXPECT_TRUE(r.exited_ok()) << r.describe(run) << "\nserver log:\n" << daemon.log_tail();
    EXPECT_NE(r.out.find("hello, ring"), std::string::npos) << r.describe(run);
  }

  TempDir tmp_{"rk-install-test"};
  std::string prefix_, src_;
};

TEST_F(Install, PkgConfig_CExampleBuildsOutOfTreeAndRuns) {
  ASSERT_FALSE(std::string(RK_PKG_CONFIG).empty()) << "pkg-config was not found when this build was configured";
  const std::string pc_path = "PKG_CONFIG_PATH=" + prefix_ + "/lib/pkgconfig";
  // Only the temporary prefix may answer, never a RingKernel installed on the machine.
  const std::vector<std::string> env = {pc_path, "PKG_CONFIG_LIBDIR=" + prefix_ + "/lib/pkgconfig"};
  const std::vector<std::string> query = {RK_PKG_CONFIG, "--cflags", "--libs", "ringkernel"};
  const CommandResult flags = run_command(query, 30s, env);
  ASSERT_TRUE(flags.exited_ok()) << flags.describe(query);
  const std::vector<std::string> libdir_query = {RK_PKG_CONFIG, "--variable=libdir", "ringkernel"};
  const CommandResult libdir = run_command(libdir_query, 30s, env);
  ASSERT_TRUE(libdir.exited_ok()) << libdir.describe(libdir_query);
  const std::string lib = split_words(libdir.out).at(0);
  // The .pc file must point into the prefix it was installed to.
  ASSERT_EQ(fs::weakly_canonical(lib), fs::weakly_canonical(prefix_ + "/lib")) << "ringkernel.pc: libdir " << lib;

  const std::string binary = tmp_.path() + "/hello-pkgconfig";
  std::vector<std::string> cc = {RK_C_COMPILER, "-std=c99", "-Wall", "-Werror"};
  for (const auto& f : sanitizer_flags()) cc.push_back(f);
  cc.push_back(src_ + "/hello.c");
  for (const auto& f : split_words(flags.out)) cc.push_back(f);
  // A prefix off the loader's path: record it in the binary, as a user would.
  cc.push_back("-Wl,-rpath," + lib);
  cc.insert(cc.end(), {"-o", binary});
  const CommandResult build = run_command(cc, kBuildBound);
  ASSERT_TRUE(build.exited_ok()) << build.describe(cc);
  expect_hello_runs(binary);
}

TEST_F(Install, FindPackage_CExampleBuildsOutOfTreeAndRuns) {
  const std::string config_dir = prefix_ + "/lib/cmake/RingKernel";
  {
    std::ofstream cml(src_ + "/CMakeLists.txt");
    cml << "cmake_minimum_required(VERSION 3.16)\n"
           "project(rk_hello_consumer C)\n"
           "find_package(RingKernel REQUIRED)\n"
           "get_filename_component(found \"${RingKernel_DIR}\" REALPATH)\n"
           "get_filename_component(expected \"${EXPECTED_RINGKERNEL_DIR}\" REALPATH)\n"
           "if(NOT found STREQUAL expected)\n"
           "  message(FATAL_ERROR \"found RingKernel in ${found}, not in ${expected}\")\n"
           "endif()\n"
           "add_executable(hello hello.c)\n"
           "target_link_libraries(hello PRIVATE RingKernel::ringkernel)\n";
    ASSERT_TRUE(cml.good());
  }
  const std::string build_dir = tmp_.path() + "/consumer-build";
  std::vector<std::string> configure = {RK_CMAKE_COMMAND,
                                        "-S", src_,
                                        "-B", build_dir,
                                        "-G", RK_CMAKE_GENERATOR,
                                        "-DCMAKE_C_COMPILER=" RK_C_COMPILER,
                                        "-DCMAKE_PREFIX_PATH=" + prefix_,
                                        "-DEXPECTED_RINGKERNEL_DIR=" + config_dir};
  if (std::string(RK_MAKE_PROGRAM).size()) configure.push_back("-DCMAKE_MAKE_PROGRAM=" RK_MAKE_PROGRAM);
  if (!sanitizer_flags().empty()) {
    configure.push_back("-DCMAKE_C_FLAGS=" RK_SANITIZER_FLAGS);
    configure.push_back("-DCMAKE_EXE_LINKER_FLAGS=" RK_SANITIZER_FLAGS);
  }
  const CommandResult conf = run_command(configure, kBuildBound);
  ASSERT_TRUE(conf.exited_ok()) << conf.describe(configure);
  const std::vector<std::string> build = {RK_CMAKE_COMMAND, "--build", build_dir};
  const CommandResult built = run_command(build, kBuildBound);
  ASSERT_TRUE(built.exited_ok()) << built.describe(build);
  expect_hello_runs(build_dir + "/hello");
}

}  // namespace
}  // namespace rk::test
