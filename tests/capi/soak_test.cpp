// Soak: N client processes call their own kernel and one shared kernel
// flat out for a configured time while the test itself opens and closes a
// session every second; the server's RSS, descriptors and threads are
// sampled every second once that session is reclaimed and must stay flat
// (descriptors, threads and mapped segments exactly, RSS within a small
// bound after warm-up). Every client must finish without
// an error. RK_SOAK_SECONDS (default 60) and RK_SOAK_CLIENTS (default 8);
// docs/reliability.md gives the 10-minute run.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tests/capi/capi_test.h"

namespace rk::test {
namespace {

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoi(v) : fallback;
}

struct Sample {
  int second;
  long rss_kib;
  int fds, threads, segments;
};

TEST(CapiSoak, ManyClientsCallingForMinutes_ServerResourcesStayFlat) {
  const int seconds = env_int("RK_SOAK_SECONDS", 60);
  const int n_clients = env_int("RK_SOAK_CLIENTS", 8);
  ASSERT_GT(seconds, 0);
  Daemon daemon;
  ASSERT_TRUE(daemon.started()) << daemon.error();
  ClientPtr owner = connect_to(daemon);
  ASSERT_TRUE(owner);
  KernelPtr shared = launch_shared_active(owner.get(), "echo", "soak");
  ASSERT_TRUE(shared);

  Process::Options po;
  po.pipe_stdout = true;
  po.pipe_stdin = true;
  std::vector<std::unique_ptr<Process>> clients;
  for (int i = 0; i < n_clients; ++i) {
    clients.push_back(std::make_unique<Process>(
        client_binary(), std::vector<std::string>{"call-until-stdin", daemon.socket_path(), "soak"}, po));
    ASSERT_EQ(clients.back()->read_line(20s).value_or("(nothing)"), "ready") << daemon.log_tail();
  }

  const pid_t server = daemon.pid();
  // The steady state every sample must come back to once the second's churn
  // session has been reclaimed (asynchronously: its kernel thread exits and
  // drops the segment at its next iteration).
  const int base_fds = count_fds(server), base_threads = count_threads(server);
  const int base_segments = count_mapped_segments(server);
  auto at_base = [&] {
    return count_fds(server) == base_fds && count_threads(server) == base_threads &&
           count_mapped_segments(server) == base_segments;
  };
  std::vector<Sample> samples;
  for (int t = 0; t <= seconds; ++t) {
    // Churn: a whole session (connect, launch, call, release, disconnect) each second.
    {
      ClientPtr c = connect_to(daemon);
      ASSERT_TRUE(c);
      KernelPtr k = launch(c.get(), "counter");
      ASSERT_TRUE(k);
      RK_ASSERT_OK(rk_activate(k.get()));
      const int64_t one = 1;
      rk_message* reply = nullptr;
      RK_ASSERT_OK(rk_call(k.get(), 1, &one, sizeof one, &reply, 10000));
      rk_message_release(reply);
    }
    // Sampled once that session is gone again (bounded: a leak shows in the sample).
    eventually([&] { return server_info(owner.get()).sessions == unsigned(1 + n_clients) && at_base(); }, 10s);
    samples.push_back({t, rss_kib(server), count_fds(server), count_threads(server), count_mapped_segments(server)});
    for (auto& c : clients) ASSERT_TRUE(c->running()) << "a client stopped: " << daemon.log_tail();
    if (t < seconds) std::this_thread::sleep_for(1s);
  }

  uint64_t calls = 0;
  for (auto& c : clients) {
    ASSERT_TRUE(c->write_stdin("stop\n"));
    const std::string got = c->read_line(30s).value_or("(nothing)");
    ASSERT_EQ(got.rfind("ok ", 0), 0u) << "a client failed: " << got;
    calls += std::strtoull(got.c_str() + 3, nullptr, 10);
    EXPECT_TRUE(c->wait_exit(20s));
  }

  // Flat: every sample's descriptors, threads and mapped segments are back
  // at the steady state, and after a warm-up (the first tenth, at least
  // 3 s) RSS grows by at most 16 MiB over its warm-up peak (allocator caches
  // settle; a leak of even a few bytes per call would pass that within
  // seconds: the clients make tens of thousands of calls a second).
  const size_t warm = std::max<size_t>(3, samples.size() / 10);
  ASSERT_GT(samples.size(), warm);
  long warm_rss = 0;
  for (size_t i = 0; i <= warm; ++i) warm_rss = std::max(warm_rss, samples[i].rss_kib);
  const Sample ref{0, 0, base_fds, base_threads, base_segments};
  std::printf("[ soak     ] %d clients, %d s, %llu calls; server samples (s: RSS KiB, fds, threads, segments):\n",
              n_clients, seconds, static_cast<unsigned long long>(calls));
  for (size_t i = 0; i < samples.size(); ++i) {
    const Sample& s = samples[i];
    if (i % std::max<size_t>(1, samples.size() / 12) == 0 || i + 1 == samples.size())
      std::printf("[ soak     ]   %4d: %7ld %4d %4d %4d\n", s.second, s.rss_kib, s.fds, s.threads, s.segments);
  }
  long max_rss = 0;
  for (size_t i = 0; i < samples.size(); ++i) {
    const Sample& s = samples[i];
    EXPECT_EQ(s.fds, ref.fds) << "descriptors did not come back at " << s.second << " s";
    EXPECT_EQ(s.threads, ref.threads) << "threads did not come back at " << s.second << " s";
    EXPECT_EQ(s.segments, ref.segments) << "mapped segments did not come back at " << s.second << " s";
    if (i >= warm) max_rss = std::max(max_rss, s.rss_kib);
  }
  std::printf("[ soak     ] RSS warm-up peak %ld KiB, later peak %ld KiB (growth %ld KiB)\n", warm_rss, max_rss,
              max_rss - warm_rss);
  EXPECT_LE(max_rss, warm_rss + 16 * 1024) << "server RSS grew";
  EXPECT_GT(calls, uint64_t(n_clients)) << "the clients hardly called";
  EXPECT_EQ(metrics(shared.get()).dropped, 0u);
}

}  // namespace
}  // namespace rk::test
