// Another user of the machine: may not connect to a 0600 socket, may not
// open or map another session's segment (it has no name, and the daemon's
// descriptors are not theirs to reach), and may not touch another user's
// private kernel even when allowed to connect; with --allow-group only
// members of that group connect. Needs root (to make users and groups and
// become them); skips itself otherwise.
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
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
  explicit TempUser(const std::string& group = "") {
    char name[32];
    std::snprintf(name, sizeof name, "rk-test-%08x", unsigned(std::random_device{}()));
    const std::string add = "useradd --system --no-create-home --shell /usr/sbin/nologin " +
                            (group.empty() ? std::string() : "-G " + group + " ") + std::string(name) +
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
    // The user's own supplementary groups (none but the ones useradd gave it).
    if (::initgroups(user.name().c_str(), user.gid()) != 0 || ::setgid(user.gid()) != 0 ||
        ::setuid(user.uid()) != 0)
      ::_exit(200);
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

// The daemon's descriptors whose target is one of its memfd segments.
std::vector<std::string> memfd_paths(pid_t pid) {
  std::vector<std::string> out;
  const std::string dir = "/proc/" + std::to_string(pid) + "/fd";
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d)) {
      if (e->d_name[0] == '.') continue;
      char target[256] = {};
      const std::string path = dir + "/" + e->d_name;
      if (::readlink(path.c_str(), target, sizeof target - 1) > 0 && std::strstr(target, "/memfd:")) out.push_back(path);
    }
    ::closedir(d);
  }
  return out;
}

TEST_F(CapiPermission, SecondUid_CannotOpenOrMapAnotherSessionsSegment) {
  const auto shm_before = shm_entries();
  RawControl raw(daemon_.socket_path());
  ASSERT_TRUE(raw.connected());
  ASSERT_EQ(raw.hello(RK_ABI_VERSION), Errc::ok);
  ASSERT_EQ(raw.reply().getStatus(), 0u) << raw.reply().getMessage().cStr();
  ASSERT_TRUE(raw.reply().isWelcome());
  // No name to guess: the segment is a descriptor passed to its session alone.
  EXPECT_EQ(std::string(raw.reply().getWelcome().getSegmentName().cStr()), "");
  const int fd = raw.take_fd();
  ASSERT_GE(fd, 0) << "no segment descriptor came with the welcome";
  ::close(fd);  // the child below must not inherit it
  EXPECT_EQ(join(new_entries(shm_before, shm_entries())), join({})) << "a session segment appeared in /dev/shm";

  // The only other ways in are the daemon's own descriptors and mappings.
  const std::vector<std::string> paths = memfd_paths(daemon_.pid());
  ASSERT_FALSE(paths.empty()) << "the daemon holds no memfd segment";
  const int got = run_as(user_, [&] {
    for (const std::string& p : paths) {
      int f = ::open(p.c_str(), O_RDWR);
      if (f >= 0) return 10;  // opened another session's memory
      f = ::open(p.c_str(), O_RDONLY);
      if (f >= 0) return 11;
    }
    // Its mappings through /proc/<pid>/map_files and /proc/<pid>/mem.
    const std::string mem = "/proc/" + std::to_string(daemon_.pid()) + "/mem";
    if (::open(mem.c_str(), O_RDONLY) >= 0) return 12;
    return 0;
  });
  ASSERT_GE(got, 0) << "the child did not run";
  ASSERT_NE(got, 200) << "could not become " << user_.name();
  ASSERT_NE(got, 201) << "privileges were not dropped";
  EXPECT_EQ(got, 0) << user_.name() << " reached another session's segment (code " << got << ")";

  // The paths were right: root can open them (so the refusal was about who asked).
  const int own = ::open(paths.front().c_str(), O_RDWR);
  EXPECT_GE(own, 0) << "root could not open " << paths.front();
  if (own >= 0) ::close(own);
}

// A temporary group, removed again by the destructor.
class TempGroup {
 public:
  TempGroup() {
    char name[32];
    std::snprintf(name, sizeof name, "rk-grp-%08x", unsigned(std::random_device{}()));
    for (int attempt = 0; attempt < 10 && name_.empty(); ++attempt) {
      if (std::system(("groupadd --system " + std::string(name) + " >/dev/null 2>&1").c_str()) == 0) name_ = name;
      else std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }
  ~TempGroup() {
    if (!name_.empty()) (void)std::system(("groupdel " + name_ + " >/dev/null 2>&1").c_str());
  }
  const std::string& name() const { return name_; }

 private:
  std::string name_;
};

class CapiAllowGroup : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to create users and a group";
    if (group_.name().empty()) GTEST_SKIP() << "groupadd is not available or failed";
    member_.emplace(group_.name());
    outsider_.emplace();
    if (!member_->ok() || !outsider_->ok()) GTEST_SKIP() << "useradd is not available or failed";
    daemon_.emplace(std::vector<std::string>{"--allow-group", group_.name()});
    ASSERT_TRUE(daemon_->started()) << daemon_->error();
    ASSERT_EQ(::chmod(daemon_->dir().c_str(), 0711), 0);
  }
  void TearDown() override {
    daemon_.reset();  // before the users and the group go
    member_.reset();
    outsider_.reset();
  }
  int connect_as(const TempUser& u) {
    const std::string path = daemon_->socket_path();
    return run_as(u, [&] {
      rk_client* c = nullptr;
      rk_status s = rk_connect(path.c_str(), &c);
      rk_disconnect(c);
      return int(s);
    });
  }
  TempGroup group_;
  std::optional<TempUser> member_, outsider_;
  std::optional<Daemon> daemon_;
};

TEST_F(CapiAllowGroup, OnlyMembersOfTheGroupConnect) {
  struct stat st;
  ASSERT_EQ(::stat(daemon_->socket_path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0660u);
  EXPECT_EQ(st.st_gid, ::getgrnam(group_.name().c_str())->gr_gid);

  const int member = connect_as(*member_);
  ASSERT_GE(member, 0);
  ASSERT_LT(member, 200) << "could not become " << member_->name();
  EXPECT_EQ(member, int(RK_OK)) << "a member of " << group_.name() << " was refused: "
                                << rk_status_string(static_cast<rk_status>(member));
  const int outsider = connect_as(*outsider_);
  ASSERT_GE(outsider, 0);
  ASSERT_LT(outsider, 200) << "could not become " << outsider_->name();
  EXPECT_EQ(outsider, int(RK_E_PERMISSION)) << "a non-member got " << rk_status_string(static_cast<rk_status>(outsider));
}

TEST_F(CapiAllowGroup, MemberCannotReachAnotherUsersPrivateKernel) {
  // root's private kernel, and root's shared one for comparison.
  ClientPtr c = connect_to(*daemon_);
  ASSERT_TRUE(c);
  KernelPtr mine = launch(c.get(), "counter");
  ASSERT_TRUE(mine);
  RK_ASSERT_OK(rk_activate(mine.get()));
  const uint32_t id = rk_kernel_id(mine.get());
  const std::string path = daemon_->socket_path();

  const int got = run_as(*member_, [&] {
    RawControl raw(path);
    if (!raw.connected() || raw.hello(RK_ABI_VERSION) != Errc::ok || raw.reply().getStatus() != 0) return 20;
    ::close(raw.take_fd());
    // By id: every request about an instance this session is not bound to is refused.
    using Build = void (*)(rk::schema::Request::Builder, uint32_t);
    const Build requests[] = {
        [](rk::schema::Request::Builder r, uint32_t i) { r.initStatus().setInstanceId(i); },
        [](rk::schema::Request::Builder r, uint32_t i) { r.initMetrics().setInstanceId(i); },
        [](rk::schema::Request::Builder r, uint32_t i) { r.initActivate().setInstanceId(i); },
        [](rk::schema::Request::Builder r, uint32_t i) { r.initDeactivate().setInstanceId(i); },
        [](rk::schema::Request::Builder r, uint32_t i) { r.initTerminate().setInstanceId(i); },
        [](rk::schema::Request::Builder r, uint32_t i) { r.initRelease().setInstanceId(i); },
    };
    int n = 0;
    for (Build b : requests) {
      ++n;
      capnp::MallocMessageBuilder m;
      b(m.initRoot<rk::schema::Request>(), id);
      if (raw.exchange(m) != Errc::ok) return 30 + n;
      if (raw.reply().getStatus() == 0) return 40 + n;  // accepted: a breach
    }
    // By name: a private kernel has none, and no name reaches it.
    for (const char* name : {"", "counter", "#1"}) {
      capnp::MallocMessageBuilder m;
      m.initRoot<rk::schema::Request>().initAttach().setInstanceName(name);
      if (raw.exchange(m) != Errc::ok) return 50;
      if (raw.reply().getStatus() == 0) return 51;
    }
    return 0;
  });
  ASSERT_GE(got, 0) << "the child did not run";
  ASSERT_LT(got, 200) << "could not become " << member_->name();
  EXPECT_EQ(got, 0) << "code " << got << ": " << member_->name() << " reached root's private kernel #" << id;

  // Untouched: still active, still counting from where it was.
  EXPECT_EQ(state_of(mine.get()), RK_STATE_ACTIVE);
  const int64_t one = 1;
  rk_message* reply = nullptr;
  RK_EXPECT_OK(rk_call(mine.get(), 1, &one, sizeof one, &reply, 10000));
  rk_message_release(reply);
}

}  // namespace
}  // namespace rk::test
