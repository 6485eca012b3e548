// A shared (named) kernel instance serving many client processes at once:
// each attacher has its own channel and gets exactly its own replies.
#include <algorithm>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tests/capi/capi_test.h"

namespace rk::test {
namespace {

TEST(CapiShared, SixteenProcessesOnOneNamedKernel_EachGetsOnlyItsOwnReplies) {
  Daemon daemon;
  ASSERT_TRUE(daemon.started()) << daemon.error();
  ClientPtr owner = connect_to(daemon);
  ASSERT_TRUE(owner);
  KernelPtr k = launch_shared_active(owner.get(), "echo", "shared-echo");
  ASSERT_TRUE(k);

  constexpr int kClients = 16;
  constexpr int kCalls = 1000;
  std::vector<std::unique_ptr<Process>> clients;
  Process::Options po;
  po.pipe_stdin = true;
  po.pipe_stdout = true;
  for (int i = 0; i < kClients; ++i) {
    clients.push_back(std::make_unique<Process>(
        client_binary(), std::vector<std::string>{"attach-and-call", daemon.socket_path(), "shared-echo",
                                                  std::to_string(kCalls)},
        po));
    ASSERT_TRUE(clients.back()->started());
  }
  // All attached before any calls: their traffic overlaps on the kernel.
  for (int i = 0; i < kClients; ++i)
    ASSERT_EQ(clients[size_t(i)]->read_line(30s).value_or("(nothing)"), "attached") << "client " << i;
  EXPECT_EQ(metrics(k.get()).channels, uint32_t(kClients + 1));
  for (auto& c : clients) c->write_stdin("go\n");

  for (int i = 0; i < kClients; ++i) {
    Process& c = *clients[size_t(i)];
    auto status = c.wait_exit(120s);
    ASSERT_TRUE(status) << "client " << i << " still running";
    EXPECT_EQ(describe_wait_status(*status), "exited 0") << "client " << i << " (pid " << c.pid() << ")";
    EXPECT_EQ(c.read_line(1s).value_or("(nothing)"), "ok " + std::to_string(kCalls)) << "client " << i;
  }

  rk_metrics m = metrics(k.get());
  EXPECT_EQ(m.processed, uint64_t(kClients) * kCalls);
  EXPECT_EQ(m.errors, 0u);
  EXPECT_EQ(m.dropped, 0u);
  // The clients' channels went with their sessions; the instance lives on.
  EXPECT_TRUE(eventually([&] { return metrics(k.get()).channels == 1; }))
      << "channels: " << metrics(k.get()).channels;
  EXPECT_EQ(state_of(k.get()), RK_STATE_ACTIVE);
}

TEST(CapiShared, CounterSharedByTwoSessions_EveryAddSeesADistinctTotal) {
  Daemon daemon;
  ASSERT_TRUE(daemon.started()) << daemon.error();
  ClientPtr a = connect_to(daemon);
  ClientPtr b = connect_to(daemon);
  ASSERT_TRUE(a && b);
  KernelPtr ka = launch_shared_active(a.get(), "counter", "shared-counter");
  ASSERT_TRUE(ka);
  rk_kernel* raw = nullptr;
  RK_ASSERT_OK(rk_attach(b.get(), "shared-counter", &raw));
  KernelPtr kb(raw);

  // One kernel state behind both channels: the adds are serialised, each
  // reply carries the total right after its own add.
  constexpr int kThreadsPerSession = 3, kAdds = 1000;
  std::mutex mu;
  std::vector<int64_t> totals;
  std::vector<std::thread> threads;
  for (int t = 0; t < 2 * kThreadsPerSession; ++t)
    threads.emplace_back([&, t] {
      rk_kernel* k = t % 2 ? kb.get() : ka.get();
      std::vector<int64_t> mine;
      for (int i = 0; i < kAdds; ++i) {
        const int64_t one = 1;
        rk_message* reply = nullptr;
        if (rk_call(k, 1, &one, sizeof one, &reply, 30000) == RK_OK && bytes_of(reply).size() == 8) {
          int64_t total = 0;
          std::memcpy(&total, bytes_of(reply).data(), 8);
          mine.push_back(total);
        }
        rk_message_release(reply);
      }
      std::lock_guard lock(mu);
      totals.insert(totals.end(), mine.begin(), mine.end());
    });
  for (auto& th : threads) th.join();
  std::sort(totals.begin(), totals.end());
  const int64_t n = 2 * kThreadsPerSession * kAdds;
  ASSERT_EQ(int64_t(totals.size()), n);
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(totals[size_t(i)], i + 1) << "totals are not 1.." << n;
}

}  // namespace
}  // namespace rk::test
