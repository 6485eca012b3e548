// Processes dying the hard way. Clients SIGKILLed mid-traffic over and over
// (1000 times, at random points of reserve, commit, call, attach and the
// handshake, while other clients keep calling) leave nothing behind in the
// server (descriptors, threads, mapped segments, sessions, instances,
// channels) nor in /dev/shm, and the others never see an error; a server
// SIGKILLed or SIGTERMed under load wakes every client with
// RK_E_DISCONNECTED long before any call's own timeout; a restarted server
// leaves nothing in /dev/shm or its socket directory.
// RK_CRASH_KILLS overrides the 1000.
#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <string>
#include <thread>

#include "tests/capi/capi_test.h"

namespace rk::test {
namespace {

bool path_exists(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0;
}

// State letter (R, S, D, ...) of a process's main thread, or '?'.
char process_state(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto close_paren = all.rfind(')');
  return close_paren == std::string::npos || close_paren + 2 >= all.size() ? '?' : all[close_paren + 2];
}

TEST(CapiCrash, ClientKilledMidTraffic100Times_ServerReclaimsEverything) {
  const auto shm_before = shm_entries();
  Daemon daemon;
  ASSERT_TRUE(daemon.started()) << daemon.error();
  ClientPtr observer = connect_to(daemon);
  ASSERT_TRUE(observer);
  // A shared instance every victim also talks to: its channels must come and go.
  KernelPtr shared = launch_shared_active(observer.get(), "echo", "storm");
  ASSERT_TRUE(shared);
  ASSERT_TRUE(eventually([&] { return server_info(observer.get()).sessions == 1; }));

  const pid_t server = daemon.pid();
  const int fds_before = count_fds(server);
  const int threads_before = count_threads(server);
  ASSERT_GT(fds_before, 0);
  ASSERT_GT(threads_before, 0);

  const unsigned seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  Process::Options po;
  po.pipe_stdout = true;
  int killed_in_handshake = 0, killed_in_traffic = 0;
  for (int i = 0; i < 100; ++i) {
    Process victim(client_binary(), {"call-forever", daemon.socket_path(), "echo", "storm"}, po);
    ASSERT_TRUE(victim.started());
    if (i % 5 == 0) {
      // Early: anywhere in connect, hello, segment mapping, launch, attach.
      std::this_thread::sleep_for(std::chrono::microseconds(rng() % 8000));
      ++killed_in_handshake;
    } else {
      auto line = victim.read_line(20s);
      ASSERT_EQ(line.value_or("(nothing)"), "ready")
          << "victim " << i << " " << (victim.running() ? "running" : "exited") << "; server log:\n"
          << daemon.log_tail();
      std::this_thread::sleep_for(std::chrono::microseconds(rng() % 5000));
      ++killed_in_traffic;
    }
    ASSERT_TRUE(victim.running()) << "victim " << i << " stopped by itself: "
                                  << describe_wait_status(*victim.wait_exit(0ms));
    victim.kill_and_reap();
  }
  EXPECT_EQ(killed_in_handshake + killed_in_traffic, 100);
  ASSERT_TRUE(daemon.process().running()) << "the server died; log:\n" << daemon.log_tail();

  // Reclaiming is asynchronous: wait (bounded) for everything to settle.
  auto settled = [&] {
    rk_server_info info = server_info(observer.get());
    return count_fds(server) == fds_before && count_threads(server) == threads_before && info.sessions == 1 &&
           info.instances == 1 && metrics(shared.get()).channels == 1;
  };
  EXPECT_TRUE(eventually(settled, 30s)) << "server log:\n" << daemon.log_tail();
  EXPECT_EQ(count_fds(server), fds_before) << "descriptors leaked";
  EXPECT_EQ(count_threads(server), threads_before) << "threads leaked";
  rk_server_info info = server_info(observer.get());
  EXPECT_EQ(info.sessions, 1u) << "sessions leaked";
  EXPECT_EQ(info.instances, 1u) << "private kernels outlived their sessions";
  rk_metrics m = metrics(shared.get());
  EXPECT_EQ(m.channels, 1u) << "channels of dead sessions still bound";
  EXPECT_EQ(m.dropped, 0u);
  EXPECT_EQ(m.state, RK_STATE_ACTIVE);

  std::set<std::string> leftover;
  EXPECT_TRUE(eventually([&] { return (leftover = new_entries(shm_before, shm_entries())).empty(); }))
      << "left in /dev/shm: " << join(leftover);

  // Still serving: the shared kernel, and a new session with a new kernel.
  rk_message* reply = nullptr;
  RK_EXPECT_OK(rk_call(shared.get(), 1, "alive", 5, &reply, 10000));
  rk_message_release(reply);
  ClientPtr fresh = connect_to(daemon);
  ASSERT_TRUE(fresh);
  KernelPtr k = launch(fresh.get(), "counter");
  ASSERT_TRUE(k);
  RK_ASSERT_OK(rk_activate(k.get()));
  const int64_t delta = 42;
  RK_EXPECT_OK(rk_call(k.get(), 1, &delta, sizeof delta, &reply, 10000));
  rk_message_release(reply);
}

TEST(CapiCrash, ServerKilled_BlockedCallReturnsDisconnected) {
  const auto shm_before = shm_entries();
  Daemon daemon;
  ASSERT_TRUE(daemon.started()) << daemon.error();
  Process::Options po;
  po.pipe_stdout = true;
  Process client(client_binary(), {"block-in-call", daemon.socket_path()}, po);
  ASSERT_TRUE(client.started());
  ASSERT_EQ(client.read_line(20s).value_or("(nothing)"), "ready") << daemon.log_tail();
  // Let it get into rk_call and sleep there (the outcome must be the same if
  // the kill comes first; this only makes the interesting case the usual one).
  EXPECT_TRUE(eventually([&] { return process_state(client.pid()) == 'S'; }, 5s));
  std::this_thread::sleep_for(100ms);

  daemon.process().signal(SIGKILL);
  ASSERT_TRUE(daemon.process().wait_exit(10s));
  // The call's own timeout is 60 s: an exit within this bound means the
  // server's death woke it.
  auto status = client.wait_exit(20s);
  ASSERT_TRUE(status) << "the blocked call did not return after the server died";
  EXPECT_EQ(describe_wait_status(*status), "exited 0");
  EXPECT_EQ(client.read_line(1s).value_or("(nothing)"), "RK_E_DISCONNECTED");

  std::set<std::string> leftover;
  EXPECT_TRUE(eventually([&] { return (leftover = new_entries(shm_before, shm_entries())).empty(); }, 5s))
      << "left in /dev/shm: " << join(leftover);
}

// Waits (bounded) until every thread of `pid` sleeps, i.e. sits in a wait.
bool all_threads_sleep(pid_t pid) {
  DIR* d = ::opendir(("/proc/" + std::to_string(pid) + "/task").c_str());
  if (!d) return false;
  bool all = true;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::ifstream in("/proc/" + std::to_string(pid) + "/task/" + e->d_name + "/stat");
    std::string st((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto p = st.rfind(')');
    if (p == std::string::npos || p + 2 >= st.size() || st[p + 2] != 'S') all = false;
  }
  ::closedir(d);
  return all;
}

TEST(CapiCrash, ServerKilled_CallSendAndReceiveAllReturnDisconnected) {
  Daemon daemon;
  ASSERT_TRUE(daemon.started()) << daemon.error();
  Process::Options po;
  po.pipe_stdout = true;
  Process client(client_binary(), {"block-in-all", daemon.socket_path()}, po);
  ASSERT_TRUE(client.started());
  ASSERT_EQ(client.read_line(20s).value_or("(nothing)"), "ready") << daemon.log_tail();
  EXPECT_TRUE(eventually([&] { return all_threads_sleep(client.pid()); }, 5s));
  std::this_thread::sleep_for(100ms);

  daemon.process().signal(SIGKILL);
  ASSERT_TRUE(daemon.process().wait_exit(10s));
  auto status = client.wait_exit(20s);
  ASSERT_TRUE(status) << "blocked calls did not return after the server died";
  EXPECT_EQ(describe_wait_status(*status), "exited 0");
  std::set<std::string> lines;
  for (int i = 0; i < 3; ++i) lines.insert(client.read_line(1s).value_or("(nothing)"));
  EXPECT_EQ(lines, (std::set<std::string>{"call RK_E_DISCONNECTED", "send RK_E_DISCONNECTED",
                                          "receive RK_E_DISCONNECTED"}));
}

TEST(CapiCrash, ServerTerminated_BlockedCallEndsWithoutWaitingOutItsTimeout) {
  Daemon daemon;
  ASSERT_TRUE(daemon.started()) << daemon.error();
  Process::Options po;
  po.pipe_stdout = true;
  Process client(client_binary(), {"block-in-call", daemon.socket_path()}, po);
  ASSERT_TRUE(client.started());
  ASSERT_EQ(client.read_line(20s).value_or("(nothing)"), "ready") << daemon.log_tail();
  EXPECT_TRUE(eventually([&] { return process_state(client.pid()) == 'S'; }, 5s));
  std::this_thread::sleep_for(100ms);

  daemon.process().signal(SIGTERM);
  ASSERT_TRUE(daemon.process().wait_exit(20s)) << daemon.log_tail();
  auto status = client.wait_exit(20s);
  ASSERT_TRUE(status) << "the blocked call did not return after the server stopped";
  const std::string got = client.read_line(1s).value_or("(nothing)");
  // An error reply from the kernel's drain, or the hang-up: not the timeout.
  EXPECT_TRUE(got == "RK_E_STATE" || got == "RK_E_DISCONNECTED") << got;
}

TEST(CapiCrash, ServerTerminated_RemovesSocketAndDisconnectsClients) {
  const auto shm_before = shm_entries();
  Daemon daemon;
  ASSERT_TRUE(daemon.started()) << daemon.error();
  ClientPtr c = connect_to(daemon);
  ASSERT_TRUE(c);
  KernelPtr k = launch(c.get(), "echo");
  ASSERT_TRUE(k);
  RK_ASSERT_OK(rk_activate(k.get()));
  ASSERT_TRUE(path_exists(daemon.socket_path()));

  daemon.process().signal(SIGTERM);
  auto status = daemon.process().wait_exit(20s);
  ASSERT_TRUE(status) << "ringkerneld did not stop on SIGTERM; log:\n" << daemon.log_tail();
  EXPECT_EQ(describe_wait_status(*status), "exited 0") << daemon.log_tail();
  EXPECT_FALSE(path_exists(daemon.socket_path())) << "socket file left behind";

  rk_status s = RK_OK;
  EXPECT_TRUE(eventually([&] {
    rk_message* reply = nullptr;
    s = rk_call(k.get(), 1, "x", 1, &reply, 1000);
    rk_message_release(reply);
    return s == RK_E_DISCONNECTED;
  }, 10s)) << why(s);
  rk_server_info info;
  rk_server_info_init(&info);
  EXPECT_EQ(rk_server_info_get(c.get(), &info), RK_E_DISCONNECTED);

  std::set<std::string> leftover;
  EXPECT_TRUE(eventually([&] { return (leftover = new_entries(shm_before, shm_entries())).empty(); }, 5s))
      << "left in /dev/shm: " << join(leftover);
}

// Entries of a directory, for "nothing left behind".
std::set<std::string> dir_entries(const std::string& dir) {
  std::set<std::string> out;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d))
      if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) out.insert(e->d_name);
    ::closedir(d);
  }
  return out;
}

TEST(CapiCrash, ClientsKilled1000TimesAtRandomPoints_OthersSeeNoErrorAndNothingLeaks) {
  int kills = 1000;
  if (const char* env = std::getenv("RK_CRASH_KILLS")) kills = std::atoi(env);
  const auto shm_before = shm_entries();
  Daemon daemon;
  ASSERT_TRUE(daemon.started()) << daemon.error();
  ClientPtr observer = connect_to(daemon);
  ASSERT_TRUE(observer);
  KernelPtr shared = launch_shared_active(observer.get(), "echo", "storm");
  ASSERT_TRUE(shared);
  ASSERT_TRUE(eventually([&] { return server_info(observer.get()).sessions == 1; }));

  const pid_t server = daemon.pid();
  const int fds_before = count_fds(server);
  const int threads_before = count_threads(server);
  const int segments_before = count_mapped_segments(server);
  ASSERT_GT(fds_before, 0);
  ASSERT_GT(threads_before, 0);
  ASSERT_GT(segments_before, 0);

  // Bystanders: other processes calling their own kernel and the shared one
  // through the whole storm.
  Process::Options po;
  po.pipe_stdout = true;
  Process::Options bo = po;
  bo.pipe_stdin = true;
  std::vector<std::unique_ptr<Process>> bystanders;
  for (int i = 0; i < 2; ++i) {
    bystanders.push_back(std::make_unique<Process>(client_binary(),
                                                   std::vector<std::string>{"call-until-stdin", daemon.socket_path(), "storm"}, bo));
    ASSERT_EQ(bystanders.back()->read_line(20s).value_or("(nothing)"), "ready") << daemon.log_tail();
  }

  const unsigned seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  const char* activities[] = {"reserve", "call", "blocked", "attach"};
  int killed[5] = {};  // per activity, and [4]: during the handshake
  constexpr int kBatch = 4;  // victims alive at once
  for (int i = 0; i < kills; i += kBatch) {
    std::vector<std::unique_ptr<Process>> victims;
    std::vector<int> what;
    for (int j = 0; j < kBatch && i + j < kills; ++j) {
      const int a = int(rng() % 4);
      what.push_back(rng() % 8 == 0 ? 4 : a);  // 1 in 8: anywhere in connect, hello, launch, attach
      victims.push_back(std::make_unique<Process>(
          client_binary(), std::vector<std::string>{"victim", daemon.socket_path(), "storm", activities[a]}, po));
      ASSERT_TRUE(victims.back()->started());
    }
    for (size_t j = 0; j < victims.size(); ++j) {
      Process& v = *victims[j];
      if (what[j] == 4) {
        std::this_thread::sleep_for(std::chrono::microseconds(rng() % 6000));
      } else {
        auto line = v.read_line(20s);
        ASSERT_EQ(line.value_or("(nothing)"), "ready")
            << "victim " << i + int(j) << " (" << activities[what[j]] << ") "
            << (v.running() ? "running" : "exited") << "; server log:\n" << daemon.log_tail();
        std::this_thread::sleep_for(std::chrono::microseconds(rng() % 3000));
      }
      ASSERT_TRUE(v.running()) << "victim " << i + int(j) << " stopped by itself: "
                               << describe_wait_status(*v.wait_exit(0ms));
      v.kill_and_reap();
      ++killed[what[j]];
    }
  }
  std::printf("[ crash    ] %d clients SIGKILLed: %d mid-reserve/commit, %d in calls, %d blocked in a call, "
              "%d attaching/releasing, %d in the handshake\n",
              kills, killed[0], killed[1], killed[2], killed[3], killed[4]);
  EXPECT_EQ(killed[0] + killed[1] + killed[2] + killed[3] + killed[4], kills);
  ASSERT_TRUE(daemon.process().running()) << "the server died; log:\n" << daemon.log_tail();

  // The bystanders never saw an error.
  for (auto& b : bystanders) {
    ASSERT_TRUE(b->write_stdin("stop\n"));
    const std::string got = b->read_line(30s).value_or("(nothing)");
    EXPECT_EQ(got.rfind("ok ", 0), 0u) << "a bystander failed: " << got;
    auto status = b->wait_exit(20s);
    ASSERT_TRUE(status);
    EXPECT_EQ(describe_wait_status(*status), "exited 0");
  }
  bystanders.clear();

  auto settled = [&] {
    rk_server_info info = server_info(observer.get());
    return count_fds(server) == fds_before && count_threads(server) == threads_before &&
           count_mapped_segments(server) == segments_before && info.sessions == 1 && info.instances == 1 &&
           metrics(shared.get()).channels == 1;
  };
  EXPECT_TRUE(eventually(settled, 30s)) << "server log:\n" << daemon.log_tail();
  EXPECT_EQ(count_fds(server), fds_before) << "descriptors leaked";
  EXPECT_EQ(count_threads(server), threads_before) << "threads leaked";
  EXPECT_EQ(count_mapped_segments(server), segments_before) << "segments leaked";
  rk_server_info info = server_info(observer.get());
  EXPECT_EQ(info.sessions, 1u) << "sessions leaked (only the observer's should be left)";
  EXPECT_EQ(info.instances, 1u) << "private kernels outlived their sessions";
  EXPECT_EQ(metrics(shared.get()).channels, 1u) << "channels of dead sessions still bound";
  EXPECT_EQ(metrics(shared.get()).dropped, 0u);
  std::set<std::string> leftover;
  EXPECT_TRUE(eventually([&] { return (leftover = new_entries(shm_before, shm_entries())).empty(); }))
      << "left in /dev/shm: " << join(leftover);

  // The observer leaves too: no session at all remains.
  shared.reset();
  observer.reset();
  ClientPtr last = connect_to(daemon);
  ASSERT_TRUE(last);
  EXPECT_TRUE(eventually([&] { return server_info(last.get()).sessions == 1; })) << "only this probe's session";
  // Only the named instance is left: shared instances outlive their sessions by design.
  EXPECT_TRUE(eventually([&] { return server_info(last.get()).instances == 1; }));
}

class CapiServerDeath : public ::testing::TestWithParam<int> {};

TEST_P(CapiServerDeath, UnderLoad_EveryClientGetsDisconnectedWithoutItsTimeout_RestartLeavesNothing) {
  const int sig = GetParam();
  const auto shm_before = shm_entries();
  Daemon daemon;
  ASSERT_TRUE(daemon.started()) << daemon.error();
  const std::string socket = daemon.socket_path();
  Process::Options po;
  po.pipe_stdout = true;
  // Four clients calling flat out (60 s per call) and one blocked in a call
  // (60 s): only the server's death can end them within the bound below.
  std::vector<std::unique_ptr<Process>> clients;
  for (int i = 0; i < 4; ++i)
    clients.push_back(std::make_unique<Process>(client_binary(), std::vector<std::string>{"load-until-death", socket}, po));
  clients.push_back(std::make_unique<Process>(client_binary(), std::vector<std::string>{"block-in-call", socket}, po));
  for (auto& c : clients) ASSERT_EQ(c->read_line(20s).value_or("(nothing)"), "ready") << daemon.log_tail();
  EXPECT_TRUE(eventually([&] { return process_state(clients.back()->pid()) == 'S'; }, 5s));

  daemon.process().signal(sig);
  ASSERT_TRUE(daemon.process().wait_exit(20s)) << daemon.log_tail();
  for (size_t i = 0; i < clients.size(); ++i) {
    auto status = clients[i]->wait_exit(20s);
    ASSERT_TRUE(status) << "client " << i << " still waits after the server's death";
    EXPECT_EQ(describe_wait_status(*status), "exited 0");
    const std::string got = clients[i]->read_line(1s).value_or("(nothing)");
    if (sig == SIGKILL) {
      EXPECT_EQ(got, "RK_E_DISCONNECTED") << "client " << i;
    } else {
      // SIGTERM drains: a call may be answered with the drain's error reply first.
      EXPECT_TRUE(got == "RK_E_DISCONNECTED" || got == "RK_E_STATE") << "client " << i << ": " << got;
    }
  }

  // A new server on the same socket (a SIGKILLed one left it behind) serves,
  // and once stopped leaves nothing behind.
  {
    Process::Options so;
    so.stderr_file = daemon.dir() + "/restart.log";
    Process restarted(server_binary(), {"--socket", socket, "--backend", "cpu"}, so);
    ASSERT_TRUE(restarted.started());
    rk_client* c = nullptr;
    EXPECT_TRUE(eventually([&] {
      if (rk_connect(socket.c_str(), &c) == RK_OK) return true;
      return false;
    }, 10s)) << "the restarted server did not accept";
    ClientPtr owned(c);
    ASSERT_TRUE(owned);
    KernelPtr k = launch(owned.get(), "echo");
    ASSERT_TRUE(k);
    RK_ASSERT_OK(rk_activate(k.get()));
    rk_message* reply = nullptr;
    RK_EXPECT_OK(rk_call(k.get(), 1, "again", 5, &reply, 10000));
    rk_message_release(reply);
    k.reset();
    owned.reset();
    restarted.signal(SIGTERM);
    auto status = restarted.wait_exit(20s);
    ASSERT_TRUE(status);
    EXPECT_EQ(describe_wait_status(*status), "exited 0");
  }
  EXPECT_EQ(join(dir_entries(daemon.dir())), join({"restart.log", "ringkerneld.log"}))
      << "the socket directory should hold only the logs";
  std::set<std::string> leftover;
  EXPECT_TRUE(eventually([&] { return (leftover = new_entries(shm_before, shm_entries())).empty(); }, 5s))
      << "left in /dev/shm: " << join(leftover);
}

INSTANTIATE_TEST_SUITE_P(Signals, CapiServerDeath, ::testing::Values(SIGKILL, SIGTERM),
                         [](const ::testing::TestParamInfo<int>& p) {
                           return std::string(p.param == SIGKILL ? "Sigkill" : "Sigterm");
                         });

}  // namespace
}  // namespace rk::test
