// Another user of the machine: may not connect to a 0600 socket, and may not
// open another session's segment even knowing its name. Needs root (to make
// a user and become it); skips itself otherwise.
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <thread>

#include "shm/segment.h"
#include "tests/capi/capi_test.h"
#include "tests/capi/raw_control.h"

namespace rk::test {
namespace {

// A throw-away system user, removed again by the destructor.
class TempUser {
 public:
  TempUser() {
    char name[32];
    std::snprintf(name, sizeof name, "rk-test-%08x", unsigned(std::random_device{}()));
    const std::string add = "useradd --system --no-create-home --shell /usr/sbin/nologin " + std::string(name) +
                            " >/dev/null 2>&1";
    // useradd fails while another one holds /etc/passwd's lock: try a few times.
    bool added = false;
    for (int attempt = 0; attempt < 10 && !added; ++attempt) {
      added = std::system(add.c_str()) == 0;
      if (!added) std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    if (!added) return;
    name_ = name;
    if (passwd* pw = ::getpwnam(name)) {
      uid_ = pw->pw_uid;
      gid_ = pw->pw_gid;
    }
  }
  ~TempUser() {
    if (!name_.empty()) (void)std::system(("userdel " + name_ + " >/dev/null 2>&1").c_str());
  }
  TempUser(const TempUser&) = delete;
  TempUser& operator=(const TempUser&) = delete;

  bool ok() const { return !name_.empty() && uid_ != 0; }
  const std::string& name() const { return name_; }
  uid_t uid() const { return uid_; }
  gid_t gid() const { return gid_; }

 private:
  std::string name_;
  uid_t uid_ = 0;
  gid_t gid_ = 0;
};

// Runs `body` in a child that has become `user` for good (groups, gid,
// uid); returns the child's exit code, or -1 if it did not exit normally.
// The test process has no threads of its own at this point, so the child
// may call anything.
template <class Body>
int run_as(const TempUser& user, Body&& body) {
  pid_t pid = ::fork();
  if (pid == 0) {
    if (::setgroups(0, nullptr) != 0 || ::setgid(user.gid()) != 0 || ::setuid(user.uid()) != 0) ::_exit(200);
    if (::getuid() != user.uid() || ::setuid(0) == 0) ::_exit(201);  // really dropped
    ::_exit(body());
  }
  int status = 0;
  if (pid < 0 || ::waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return -1;
  return WEXITSTATUS(status);
}

class CapiPermission : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to create a second user";
    if (!user_.ok()) GTEST_SKIP() << "useradd is not available or failed";
    ASSERT_TRUE(daemon_.started()) << daemon_.error();
    // Let the other user reach the socket file: only its own mode may stop them.
    ASSERT_EQ(::chmod(daemon_.dir().c_str(), 0711), 0);
  }
  TempUser user_;
  Daemon daemon_;
};

TEST_F(CapiPermission, SecondUid_CannotConnectToTheSocket) {
  struct stat st;
  ASSERT_EQ(::stat(daemon_.socket_path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(st.st_uid, 0u);

  const std::string path = daemon_.socket_path();
  const int got = run_as(user_, [&] {
    rk_client* c = nullptr;
    rk_status s = rk_connect(path.c_str(), &c);
    rk_disconnect(c);
    return int(s);
  });
  ASSERT_GE(got, 0) << "the child did not run";
  ASSERT_NE(got, 200) << "could not become " << user_.name();
  ASSERT_NE(got, 201) << "privileges were not dropped";
  EXPECT_NE(got, int(RK_OK)) << user_.name() << " connected to a 0600 socket of root";
  EXPECT_TRUE(got == RK_E_PERMISSION || got == RK_E_NOT_FOUND)
      << "status " << rk_status_string(static_cast<rk_status>(got));

  // The server itself is fine, and root still gets in.
  ClientPtr c = connect_to(daemon_);
  EXPECT_TRUE(c);
}

TEST_F(CapiPermission, SecondUid_RefusedByPeerCredentialsEvenThroughAnOpenSocket) {
  // Behind a socket opened up by mistake, the server's own check still holds.
  ASSERT_EQ(::chmod(daemon_.socket_path().c_str(), 0666), 0);
  const std::string path = daemon_.socket_path();
  for (int i = 0; i < 20; ++i) {
    const int got = run_as(user_, [&] {
      rk_client* c = nullptr;
      rk_status s = rk_connect(path.c_str(), &c);
      rk_disconnect(c);
      return int(s);
    });
    ASSERT_GE(got, 0) << "the child did not run";
    ASSERT_LT(got, 200) << "could not become " << user_.name();
    // Told why, every time: not a bare hang-up.
    ASSERT_EQ(got, int(RK_E_PERMISSION)) << "attempt " << i << ": " << rk_status_string(static_cast<rk_status>(got));
  }
  ClientPtr c = connect_to(daemon_);
  ASSERT_TRUE(c);
  EXPECT_TRUE(eventually([&] { return server_info(c.get()).sessions == 1; })) << "refused peers hold no session";
}

TEST_F(CapiPermission, SecondUid_CannotOpenAnotherSessionsSegment) {
  // A session that never confirms the mapping: its segment keeps its name.
  RawControl raw(daemon_.socket_path());
  ASSERT_TRUE(raw.connected());
  ASSERT_EQ(raw.hello(RK_ABI_VERSION), Errc::ok);
  ASSERT_EQ(raw.reply().getStatus(), 0u) << raw.reply().getMessage().cStr();
  ASSERT_TRUE(raw.reply().isWelcome());
  const std::string name = raw.reply().getWelcome().getSegmentName();
  ASSERT_EQ(name.rfind("rk-", 0), 0u) << name;

  struct stat st;
  ASSERT_EQ(::stat(("/dev/shm/" + name).c_str(), &st), 0) << "segment " << name << " not in /dev/shm";
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(st.st_uid, 0u) << "owned by the peer (root here)";

  const int got = run_as(user_, [&] {
    auto seg = rk::shm::Segment::open(name);
    return seg ? 0 : int(seg.error());
  });
  ASSERT_GE(got, 0) << "the child did not run";
  ASSERT_NE(got, 200) << "could not become " << user_.name();
  ASSERT_NE(got, 201) << "privileges were not dropped";
  EXPECT_NE(got, 0) << user_.name() << " opened another session's segment";
  EXPECT_EQ(got, int(Errc::permission)) << "error " << got;

  // The name was right: its owner can open it (so the refusal was about who asked).
  auto own = rk::shm::Segment::open(name);
  EXPECT_TRUE(own) << "root could not open " << name;
  EXPECT_TRUE(::stat(("/dev/shm/" + name).c_str(), &st) == 0) << "the refused open must not remove the name";
}

}  // namespace
}  // namespace rk::test
