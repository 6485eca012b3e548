// A shared (named) kernel instance serving many client processes at once:
// each attacher has its own channel and gets exactly its own replies.
#include <memory>
#include <string>
#include <vector>

#include "tests/capi/capi_test.h"

namespace rk::test {
namespace {

TEST(CapiShared, SixteenProcessesOnOneNamedKernel_EachGetsOnlyItsOwnReplies) {
  Daemon daemon;
  ASSERT_TRUE(daemon.started()) << daemon.error();
  ClientPtr owner = connect_to(daemon);
  ASSERT_TRUE(owner);
  rk_launch_options o;
  rk_launch_options_init(&o);
  o.instance_name = "shared-echo";
  KernelPtr k = launch(owner.get(), "echo", &o);
  ASSERT_TRUE(k);
  RK_ASSERT_OK(rk_activate(k.get()));

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

}  // namespace
}  // namespace rk::test
