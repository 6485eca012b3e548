// ringkerneld under systemd's protocols, without systemd: the test plays
// the service manager. It binds a NOTIFY_SOCKET and reads READY=1 and
// WATCHDOG=1; and it passes a listening socket the way a .socket unit does
// (systemd-socket-activate, from Debian's systemd package).
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <string>

#include "tests/capi/daemon.h"
#include "tests/tools/command.h"

namespace rk::test {
namespace {

// A datagram socket standing in for systemd's notification socket.
class NotifySocket {
 public:
  explicit NotifySocket(const std::string& path) : path_(path) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
    ok_ = fd_ >= 0 && ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
  ~NotifySocket() {
    if (fd_ >= 0) ::close(fd_);
    ::unlink(path_.c_str());
  }
  bool ok() const { return ok_; }
  // Datagrams until one contains `needle` (true) or `bound` passes (false).
  bool wait_for(const std::string& needle, std::chrono::milliseconds bound, std::string& seen) {
    const auto deadline = std::chrono::steady_clock::now() + bound;
    for (;;) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, int(left.count())) <= 0) continue;
      char buf[4096];
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) continue;
      const std::string msg(buf, size_t(n));
      seen += msg + "|";
      if (msg.find(needle) != std::string::npos) return true;
    }
  }

 private:
  std::string path_;
  int fd_ = -1;
  bool ok_ = false;
};

TEST(Systemd, NotifySocket_GetsReadyThenWatchdogPings) {
  TempDir dir("rk-notify");
  NotifySocket notify(dir.path() + "/notify.sock");
  ASSERT_TRUE(notify.ok()) << std::strerror(errno);
  // WATCHDOG_USEC=200 ms: ringkerneld pings every 100 ms from its control loop.
  Process daemon("/usr/bin/env",
                 {"NOTIFY_SOCKET=" + dir.path() + "/notify.sock", "WATCHDOG_USEC=200000", server_binary(),
                  "--socket", dir.path() + "/rk.sock", "--backend", "cpu"});
  ASSERT_TRUE(daemon.started());
  std::string seen;
  EXPECT_TRUE(notify.wait_for("READY=1", 20s, seen)) << seen;
  EXPECT_NE(seen.find("STATUS=serving " + dir.path() + "/rk.sock"), std::string::npos) << seen;
  EXPECT_TRUE(notify.wait_for("WATCHDOG=1", 20s, seen)) << seen;
  daemon.signal(SIGTERM);
  EXPECT_TRUE(notify.wait_for("STOPPING=1", 20s, seen)) << seen;
  const auto status = daemon.wait_exit(20s);
  ASSERT_TRUE(status) << "ringkerneld did not stop on SIGTERM";
  EXPECT_EQ(describe_wait_status(*status), "exited 0");
}

TEST(Systemd, SocketActivation_ServesThePassedSocket) {
  if (std::string(RK_SOCKET_ACTIVATE).empty())
    GTEST_SKIP() << "systemd-socket-activate not installed (Debian package systemd)";
  TempDir dir("rk-activate");
  const std::string sock = dir.path() + "/activated.sock";
  // systemd-socket-activate binds and listens, then execs ringkerneld with
  // LISTEN_FDS=1 when the first client connects.
  Process activator(RK_SOCKET_ACTIVATE, {"--seqpacket", "--listen=" + sock, server_binary(), "--backend", "cpu",
                                         "--socket", dir.path() + "/unused.sock"});
  ASSERT_TRUE(activator.started());
  ASSERT_TRUE(eventually([&] { return ::access(sock.c_str(), F_OK) == 0; }, 20s)) << "no socket bound";
  const auto r = run_command({std::string(RK_BIN_DIR) + "/ringkernelctl", "--socket", sock, "call", "echo", "hi"}, 30s);
  EXPECT_TRUE(r.exited_ok()) << r.out << r.err;
  EXPECT_NE(r.out.find("hi"), std::string::npos) << r.out;
  // The daemon served the passed socket and never created its own.
  EXPECT_NE(::access((dir.path() + "/unused.sock").c_str(), F_OK), 0);
  activator.signal(SIGTERM);
  const auto status = activator.wait_exit(20s);
  ASSERT_TRUE(status);
  EXPECT_EQ(describe_wait_status(*status), "exited 0");
  // Not ours to remove: the socket file stays for systemd.
  EXPECT_EQ(::access(sock.c_str(), F_OK), 0);
}

}  // namespace
}  // namespace rk::test
