// The service on the CUDA backend: a real ringkerneld whose kernels run on
// the GPU (in its worker process), driven through libringkernel. Skipped
// when the machine has no usable CUDA device. Every test runs once per
// transfer strategy (mapped: the GPU reads the rings across PCIe; staged:
// the worker's bridge copies spans of them to device memory).
#include <capnp/serialize.h>
#include <cuda_runtime.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "rk_schema/envelope.capnp.h"
#include "tests/capi/capi_test.h"
#include "tests/capi/hand_session.h"

namespace rk::test {
namespace {

class GpuService : public ::testing::TestWithParam<rk_transfer> {
 protected:
  void SetUp() override {
    daemon_ = std::make_unique<Daemon>(std::vector<std::string>{"--backend", "cuda"});
    if (!daemon_->started()) {
      if (daemon_->log_tail().find("no usable CUDA device") != std::string::npos)
        GTEST_SKIP() << "no CUDA device: " << daemon_->log_tail(300);
      FAIL() << daemon_->error();
    }
    client_ = connect_to(*daemon_);
    ASSERT_TRUE(client_);
  }

  KernelPtr launch_cuda(const char* kernel, uint32_t grid = 0, uint32_t block = 0, const char* name = nullptr) {
    rk_launch_options o;
    rk_launch_options_init(&o);
    o.backend = RK_BACKEND_CUDA;
    o.grid = grid;
    o.block = block;
    o.instance_name = name;
    o.transfer = GetParam();
    return launch(client_.get(), kernel, &o);
  }

  // A hostile channel with an impossible tail beside good ones: defined with its tests, below.
  void garbage_tail_harms_no_one(const std::function<uint64_t(uint64_t head, uint64_t capacity)>& garbage);

  std::unique_ptr<Daemon> daemon_;
  ClientPtr client_;
};

MessagePtr call(rk_kernel* k, const void* data, size_t len, rk_status expect = RK_OK) {
  rk_message* m = nullptr;
  rk_status s = rk_call(k, 7, data, len, &m, 10000);
  EXPECT_EQ(s, expect) << why(s);
  return MessagePtr(m);
}

TEST_P(GpuService, EchoRoundTripsEverySizeUpTo64KiB) {
  KernelPtr k = launch_cuda("echo");
  ASSERT_TRUE(k);
  RK_ASSERT_OK(rk_activate(k.get()));
  std::vector<uint8_t> payload(65536);
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = uint8_t(i * 131 + 7);
  for (size_t len : {size_t(0), size_t(1), size_t(7), size_t(64), size_t(1000), size_t(4096), size_t(65536)}) {
    MessagePtr r = call(k.get(), payload.data(), len);
    ASSERT_TRUE(r);
    size_t n = 0;
    const void* d = rk_message_data(r.get(), &n);
    ASSERT_EQ(n, len);
    EXPECT_EQ(0, std::memcmp(d, payload.data(), len)) << "size " << len;
    EXPECT_EQ(rk_message_type(r.get()), 7u);
  }
  RK_EXPECT_OK(rk_terminate(k.get(), -1));
}

TEST_P(GpuService, InactiveKernelHoldsRequestsUntilActivated) {
  // Launched kernels start inactive; requests wait in the ring (for the
  // staged bridge too, which must not hand them to the GPU meanwhile).
  KernelPtr k = launch_cuda("echo");
  ASSERT_TRUE(k);
  const uint64_t v = 0x5eed;
  RK_ASSERT_OK(rk_send(k.get(), 7, &v, sizeof v, 1, 5000));
  rk_message* early = nullptr;
  EXPECT_EQ(rk_receive(k.get(), &early, 300), RK_E_TIMEOUT) << "an inactive kernel answered";
  rk_message_release(early);
  RK_ASSERT_OK(rk_activate(k.get()));
  rk_message* reply = nullptr;
  RK_ASSERT_OK(rk_receive(k.get(), &reply, 10000));
  MessagePtr r(reply);
  const auto* p = reinterpret_cast<const unsigned char*>(&v);
  EXPECT_EQ(bytes_of(r.get()), std::vector<unsigned char>(p, p + sizeof v));
  RK_EXPECT_OK(rk_terminate(k.get(), -1));
}

TEST_P(GpuService, CounterKeepsStateAcrossMessagesOnTheDevice) {
  KernelPtr k = launch_cuda("counter");
  ASSERT_TRUE(k);
  RK_ASSERT_OK(rk_activate(k.get()));
  int64_t total = 0;
  for (int64_t d = 1; d <= 100; ++d) {
    MessagePtr r = call(k.get(), &d, sizeof d);
    ASSERT_TRUE(r);
    size_t n = 0;
    const void* p = rk_message_data(r.get(), &n);
    ASSERT_EQ(n, sizeof total);
    std::memcpy(&total, p, sizeof total);
  }
  EXPECT_EQ(total, 5050);
  RK_EXPECT_OK(rk_terminate(k.get(), -1));
}

// Sends `count` requests with up to `window` in flight and hands every
// reply to `check(correlation, message)`; returns how many failed it.
template <class Fill, class Check>
size_t pipeline(rk_kernel* k, uint64_t count, uint64_t window, Fill fill, Check check) {
  std::vector<uint8_t> buf(65792);  // the biggest record's payload fits
  uint64_t sent = 0, got = 0;
  size_t wrong = 0;
  while (got < count) {
    while (sent < count && sent - got < window) {
      const size_t n = fill(sent, buf.data());
      EXPECT_EQ(rk_send(k, 3, buf.data(), n, sent, 10000), RK_OK) << rk_last_error_message();
      ++sent;
    }
    rk_message* m = nullptr;
    const rk_status s = rk_receive(k, &m, 10000);
    EXPECT_EQ(s, RK_OK) << why(s);
    if (s != RK_OK) return wrong + (count - got);
    MessagePtr reply(m);
    wrong += !check(rk_message_correlation(m), m);
    ++got;
  }
  return wrong;
}

// pipeline()'s `fill` for requests of size_of(i) bytes whose byte j is
// byte_of(i, j).
template <class Size, class Byte>
auto fill_with(Size size_of, Byte byte_of) {
  return [=](uint64_t i, uint8_t* out) {
    const size_t n = size_of(i);
    for (size_t j = 0; j < n; ++j) out[j] = byte_of(i, j);
    return n;
  };
}

// Pipelined sends fill the request ring: runs of equal records are planned
// by the whole block at once and served a lane per message, mixed sizes
// are walked record by record and served a warp per message. Every reply
// must come back whole, once.
TEST_P(GpuService, PipelinedRunsOfEqualAndMixedSizesAllComeBack) {
  KernelPtr k = launch_cuda("echo");
  ASSERT_TRUE(k);
  RK_ASSERT_OK(rk_activate(k.get()));
  constexpr uint64_t kCount = 20000;
  auto size_of = [](uint64_t i) -> size_t { return i < kCount / 2 ? 64 : (i * 37) % 1500; };
  auto byte_of = [](uint64_t i, size_t j) { return uint8_t(i * 131 + j * 7); };
  std::vector<bool> seen(kCount);
  const size_t wrong = pipeline(
      k.get(), kCount, 64,
      fill_with(size_of, byte_of),
      [&](uint64_t c, const rk_message* m) {
        size_t n = 0;
        const auto* d = static_cast<const uint8_t*>(rk_message_data(m, &n));
        if (c >= kCount || seen[c] || n != size_of(c) || rk_message_type(m) != 3) return false;
        seen[c] = true;
        for (size_t j = 0; j < n; ++j)
          if (d[j] != byte_of(c, j)) return false;
        return true;
      });
  EXPECT_EQ(wrong, 0u);
  RK_EXPECT_OK(rk_terminate(k.get(), -1));
}

// The kernel counted `processed` messages and no error; then it is terminated.
void expect_counted_then_terminate(rk_kernel* k, uint64_t processed) {
  rk_metrics m;
  rk_metrics_init(&m);
  RK_ASSERT_OK(rk_kernel_metrics(k, &m));
  EXPECT_EQ(m.processed, processed);
  EXPECT_EQ(m.errors, 0u);
  RK_EXPECT_OK(rk_terminate(k, -1));
}

// An echo reply checked whole: the payload `byte_of(c, j)` for j < size,
// the bytes after it up to the next word (which a builder in a zeroed room
// never writes), and the envelope fields the GPU never sets.
template <class Size, class Byte>
bool echo_reply_is_whole(const rk_message* m, Size size_of, Byte byte_of) {
  const uint64_t c = rk_message_correlation(m);
  size_t n = 0;
  const auto* d = static_cast<const uint8_t*>(rk_message_data(m, &n));
  if (n != size_of(c) || rk_message_status(m) != RK_OK) return false;
  for (size_t j = 0; j < n; ++j)
    if (d[j] != byte_of(c, j)) return false;
  for (size_t j = n; j % 8 != 0; ++j)
    if (d[j] != 0) return false;
  size_t bytes = 0;
  const void* whole = rk_message_capnp(m, &bytes);
  capnp::FlatArrayMessageReader reader(kj::arrayPtr(static_cast<const capnp::word*>(whole), bytes / 8));
  const auto env = reader.getRoot<rk::schema::Envelope>();
  return env.getHlcPhysical() == 0 && env.getHlcLogical() == 0 && env.getFlags() == 0 && env.getStatus() == 0;
}

// One echo rk_call of call `c`'s bytes (`byte_of(c, j)`, `size_of(c)` of
// them): whether its reply differs. A call that fails is a test failure
// (and counts as wrong).
template <class Size, class Byte>
bool echo_call_differs(rk_kernel* k, uint32_t type, uint64_t c, Size size_of, Byte byte_of, std::vector<uint8_t>& buf) {
  const size_t n = size_of(c);
  for (size_t j = 0; j < n; ++j) buf[j] = byte_of(c, j);
  rk_message* m = nullptr;
  const rk_status s = rk_call(k, type, buf.data(), n, &m, 10000);
  EXPECT_EQ(s, RK_OK) << why(s);
  if (s != RK_OK) return true;
  MessagePtr reply(m);
  size_t got = 0;
  const void* d = rk_message_data(m, &got);
  return got != n || std::memcmp(d, buf.data(), n) != 0 || rk_message_status(m) != RK_OK;
}

// Records bigger than the shared stage go through the block's device-memory
// stages. A reply's room is its request's size plus 256 bytes (at most the
// biggest record), and where rooms are big only the reply and its filler's
// header are copied out. That stage is kept all-zero between spans instead
// of zeroed per message, so a reply built over the bytes of an earlier,
// bigger one must still read zero wherever nothing was set. Mixed sizes
// make the reply image wrap the ring (a padding record) now and then; the
// biggest payload fills its room exactly (no filler).
TEST_P(GpuService, BigRepliesComeBackWholeWithNothingStaleAroundThem) {
  KernelPtr k = launch_cuda("echo");
  ASSERT_TRUE(k);
  RK_ASSERT_OK(rk_activate(k.get()));
  constexpr uint64_t kCount = 600;
  constexpr size_t kLargest = 65736;  // with the envelope: 65,792 bytes, the biggest record
  auto size_of = [](uint64_t i) -> size_t {
    switch (i % 5) {
      case 0: return 65536;
      case 1: return 17000 + (i * 7919) % 30000;
      case 2: return 40 + (i * 131) % 900;
      case 3: return kLargest - (i * 3) % 8;
      default: return 16400 + (i * 104729) % 48000;
    }
  };
  auto byte_of = [](uint64_t i, size_t j) { return uint8_t(0xa5 ^ (i * 29 + j * 13)); };
  std::vector<bool> seen(kCount);
  // A window of 8 x 64 KiB: both 1 MiB rings keep room.
  const size_t wrong = pipeline(
      k.get(), kCount, 8,
      fill_with(size_of, byte_of),
      [&](uint64_t c, const rk_message* m) {
        if (c >= kCount || seen[c]) return false;
        seen[c] = true;
        return echo_reply_is_whole(m, size_of, byte_of);
      });
  EXPECT_EQ(wrong, 0u);
  expect_counted_then_terminate(k.get(), kCount);
}

// One big record and many small ones in one span: the span goes to the
// device-memory stage, its rooms average under 1 KiB, and the image is
// copied out whole and cleared. Requests pile up while the kernel is
// inactive, so each burst is one span; the next burst's replies are built
// over the last one's and must come back as clean.
TEST_P(GpuService, BurstsOfOneBigAndManySmallRecordsComeBackClean) {
  KernelPtr k = launch_cuda("echo");
  ASSERT_TRUE(k);
  constexpr uint64_t kPerBurst = 80;
  auto size_of = [](uint64_t i) -> size_t {
    const uint64_t burst = i / kPerBurst;
    return i % kPerBurst == 0 ? 17000 + burst * 3000 : 1 + (i * 37 + burst * 11) % 300;
  };
  auto byte_of = [](uint64_t i, size_t j) { return uint8_t(0x3c ^ (i * 7 + j * 101)); };
  std::vector<uint8_t> buf(65536);
  const auto fill = fill_with(size_of, byte_of);
  for (uint64_t burst = 0; burst < 4; ++burst) {
    for (uint64_t i = burst * kPerBurst; i < (burst + 1) * kPerBurst; ++i) {
      const size_t n = fill(i, buf.data());
      ASSERT_EQ(rk_send(k.get(), 3, buf.data(), n, i, 10000), RK_OK) << rk_last_error_message();
    }
    RK_ASSERT_OK(rk_activate(k.get()));
    uint64_t wrong = 0;
    for (uint64_t got = 0; got < kPerBurst; ++got) {
      rk_message* m = nullptr;
      const rk_status st = rk_receive(k.get(), &m, 10000);
      ASSERT_EQ(st, RK_OK) << why(st);
      MessagePtr reply(m);
      const uint64_t c = rk_message_correlation(m);
      wrong += c / kPerBurst != burst || !echo_reply_is_whole(m, size_of, byte_of);
    }
    EXPECT_EQ(wrong, 0u) << "burst " << burst;
    RK_ASSERT_OK(rk_deactivate(k.get()));
  }
  RK_EXPECT_OK(rk_terminate(k.get(), -1));
}

// The same for counter, a lane per message updating one state word:
// the replies are the running totals 1..N, each exactly once.
TEST_P(GpuService, PipelinedCounterDeltasGiveEveryRunningTotalOnce) {
  KernelPtr k = launch_cuda("counter");
  ASSERT_TRUE(k);
  RK_ASSERT_OK(rk_activate(k.get()));
  constexpr uint64_t kCount = 10000;
  std::vector<bool> seen(kCount + 1);
  const size_t wrong = pipeline(
      k.get(), kCount, 128,
      [](uint64_t, uint8_t* out) {
        const int64_t one = 1;
        std::memcpy(out, &one, sizeof one);
        return sizeof one;
      },
      [&](uint64_t, const rk_message* m) {
        size_t n = 0;
        const void* d = rk_message_data(m, &n);
        int64_t total = 0;
        if (n != sizeof total) return false;
        std::memcpy(&total, d, sizeof total);
        if (total < 1 || total > int64_t(kCount) || seen[size_t(total)]) return false;
        seen[size_t(total)] = true;
        return true;
      });
  EXPECT_EQ(wrong, 0u);
  RK_EXPECT_OK(rk_terminate(k.get(), -1));
}

// A one-block kernel hands a lone caller's record to block 0's second warp
// (server/cuda/worker/lone_server.cuh), which keeps the channel's cursor
// between calls; a burst of pipelined records is served by the scout or
// the block instead, moving that cursor behind the second warp's back. Lone
// calls and bursts taking turns must each come back whole, in order, and
// be counted exactly once in the kernel's metrics.
TEST_P(GpuService, LoneCallsAndBurstsTakingTurnsOnOneBlockComeBackWhole) {
  KernelPtr k = launch_cuda("echo", 1);
  ASSERT_TRUE(k);
  RK_ASSERT_OK(rk_activate(k.get()));
  constexpr uint64_t kTurns = 150, kLone = 20, kBurst = 24;
  auto size_of = [](uint64_t c) -> size_t { return 8 + (c * 8) % 120; };
  auto byte_of = [](uint64_t c, size_t j) { return uint8_t(c * 29 + j * 5 + 1); };
  std::vector<uint8_t> buf(256);
  uint64_t next = 0;
  size_t wrong = 0;
  for (uint64_t turn = 0; turn < kTurns; ++turn) {
    for (uint64_t i = 0; i < kLone; ++i, ++next) {
      wrong += echo_call_differs(k.get(), 3, next, size_of, byte_of, buf);
      ASSERT_FALSE(HasFailure());
    }
    const uint64_t first = next;
    for (uint64_t i = 0; i < kBurst; ++i, ++next) {
      const size_t n = size_of(next);
      for (size_t j = 0; j < n; ++j) buf[j] = byte_of(next, j);
      ASSERT_EQ(rk_send(k.get(), 3, buf.data(), n, next, 10000), RK_OK) << rk_last_error_message();
    }
    for (uint64_t c = first; c < next; ++c) {
      rk_message* m = nullptr;
      const rk_status s = rk_receive(k.get(), &m, 10000);
      ASSERT_EQ(s, RK_OK) << why(s);
      MessagePtr reply(m);
      wrong += !echo_reply_is_whole(m, size_of, byte_of) || rk_message_correlation(m) != c;
    }
  }
  EXPECT_EQ(wrong, 0u);
  expect_counted_then_terminate(k.get(), kTurns * (kLone + kBurst));
}

// A lone caller that pauses 0-4 µs before each call lands its requests at
// every phase of the scout's look: found by the look, by a look repeated
// at once after a miss (scout.cuh, relooks), or only by a later round.
// Every reply must still be the whole echo of its own request.
TEST_P(GpuService, LoneCallsLandingAtEveryPhaseOfTheLookComeBackWhole) {
  KernelPtr k = launch_cuda("echo", 1);
  ASSERT_TRUE(k);
  RK_ASSERT_OK(rk_activate(k.get()));
  constexpr uint64_t kCalls = 4000;
  auto size_of = [](uint64_t c) -> size_t { return 8 + (c * 24) % 96; };
  auto byte_of = [](uint64_t c, size_t j) { return uint8_t(c * 13 + j * 7 + 3); };
  std::vector<uint8_t> buf(128);
  size_t wrong = 0;
  for (uint64_t c = 0; c < kCalls; ++c) {
    const auto pause = std::chrono::nanoseconds((c * 97) % 4000);
    for (auto until = std::chrono::steady_clock::now() + pause; std::chrono::steady_clock::now() < until;) {
    }
    wrong += echo_call_differs(k.get(), 5, c, size_of, byte_of, buf);
    ASSERT_FALSE(HasFailure());
  }
  EXPECT_EQ(wrong, 0u);
  expect_counted_then_terminate(k.get(), kCalls);
}

TEST_P(GpuService, ManyThreadsCallOneGpuKernelAndGetTheirOwnReplies) {
  KernelPtr k = launch_cuda("echo", 2);
  ASSERT_TRUE(k);
  RK_ASSERT_OK(rk_activate(k.get()));
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (uint32_t t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      for (uint32_t i = 0; i < 2000; ++i) {
        uint64_t v = (uint64_t(t) << 32) | i;
        rk_message* m = nullptr;
        if (rk_call(k.get(), 1, &v, sizeof v, &m, 10000) != RK_OK) {
          ++wrong;
          continue;
        }
        size_t n = 0;
        const void* p = rk_message_data(m, &n);
        if (n != sizeof v || std::memcmp(p, &v, sizeof v) != 0) ++wrong;
        rk_message_release(m);
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
  rk_metrics m;
  rk_metrics_init(&m);
  RK_ASSERT_OK(rk_kernel_metrics(k.get(), &m));
  EXPECT_EQ(m.processed, 16000u);
  EXPECT_EQ(m.dropped, 0u);
  RK_EXPECT_OK(rk_terminate(k.get(), -1));
}

TEST_P(GpuService, HostileRecordsGetErrorRepliesAndTheKernelLives) {
  KernelPtr k = launch_cuda("echo");
  ASSERT_TRUE(k);
  RK_ASSERT_OK(rk_activate(k.get()));
  // A framed Envelope whose struct payload holds a pointer far outside the
  // record: the framing is fine (the library sends it), the device's view
  // must refuse it.
  void* record = nullptr;
  rk_message* res = nullptr;
  RK_ASSERT_OK(rk_reserve_envelope(k.get(), 64, &record, &res, 1000));
  uint64_t words[8] = {};
  words[0] = uint64_t(7) << 32;                          // framing: one segment of 7 words
  words[1] = (uint64_t(4) << 32) | (uint64_t(1) << 48);  // root: 4 data words, 1 pointer
  words[3] = 42;                                         // correlation
  words[6] = uint64_t(1) << 48;                          // payload: struct, 0 data words, 1 pointer
  words[7] = 1 | (uint64_t(1000) << 2) | (uint64_t(2) << 32) | (uint64_t(16) << 35);  // Data, 1000 words away
  std::memcpy(record, words, sizeof words);
  RK_ASSERT_OK(rk_commit_envelope(res, sizeof words));
  rk_message* reply = nullptr;
  rk_status s = rk_receive(k.get(), &reply, 10000);
  MessagePtr r(reply);
  ASSERT_TRUE(r) << why(s);
  EXPECT_EQ(rk_message_status(r.get()), RK_E_MALFORMED);
  r.reset();
  uint64_t v = 99;
  MessagePtr ok = call(k.get(), &v, sizeof v);  // still answers
  ASSERT_TRUE(ok);
  rk_metrics m;
  rk_metrics_init(&m);
  RK_ASSERT_OK(rk_kernel_metrics(k.get(), &m));
  EXPECT_GE(m.errors, 1u);
  RK_EXPECT_OK(rk_terminate(k.get(), -1));
}

TEST_P(GpuService, SaxpyAndReduceSumUseWholeBlocks) {
  // Typed payloads are covered by the CPU suite; on the GPU a wrong kind
  // must come back as an error reply from the block-per-message path.
  KernelPtr k = launch_cuda("reduce_sum");
  ASSERT_TRUE(k);
  RK_ASSERT_OK(rk_activate(k.get()));
  uint64_t junk = 1;
  MessagePtr r = call(k.get(), &junk, sizeof junk, RK_E_MALFORMED);
  ASSERT_TRUE(r);
  EXPECT_EQ(rk_message_status(r.get()), RK_E_MALFORMED);
  RK_EXPECT_OK(rk_terminate(k.get(), -1));
}

TEST_P(GpuService, TrapFaultsTheGpuKernelsThenAFreshLaunchWorks) {
  KernelPtr victim = launch_cuda("echo");
  ASSERT_TRUE(victim);
  RK_ASSERT_OK(rk_activate(victim.get()));
  KernelPtr trap = launch_cuda("debug_trap");
  ASSERT_TRUE(trap);
  // The worker dies with the sticky fault; every kernel on that GPU is FAULTED.
  bool faulted = eventually([&] {
    rk_state st;
    return rk_kernel_state(victim.get(), &st) == RK_OK && st == RK_STATE_FAULTED;
  });
  EXPECT_TRUE(faulted) << daemon_->log_tail();
  uint64_t v = 5;
  rk_message* m = nullptr;
  EXPECT_EQ(rk_call(victim.get(), 1, &v, sizeof v, &m, 5000), RK_E_KERNEL_FAULTED);
  rk_message_release(m);
  // The server keeps serving: a new GPU kernel (fresh worker) answers.
  KernelPtr fresh = launch_cuda("echo");
  ASSERT_TRUE(fresh);
  RK_ASSERT_OK(rk_activate(fresh.get()));
  MessagePtr r = call(fresh.get(), &v, sizeof v);
  EXPECT_TRUE(r);
  RK_EXPECT_OK(rk_terminate(fresh.get(), -1));
}

TEST(GpuHang, KernelWhoseHeartbeatStopsIsFaultedThenAFreshLaunchWorks) {
  Daemon daemon({"--backend", "cuda", "--gpu-hang-ms", "1500"});
  if (!daemon.started()) {
    if (daemon.log_tail().find("no usable CUDA device") != std::string::npos) GTEST_SKIP() << "no CUDA device";
    FAIL() << daemon.error();
  }
  ClientPtr client = connect_to(daemon);
  ASSERT_TRUE(client);
  rk_launch_options o;
  rk_launch_options_init(&o);
  o.backend = RK_BACKEND_CUDA;
  KernelPtr victim = launch(client.get(), "echo", &o);
  ASSERT_TRUE(victim);
  RK_ASSERT_OK(rk_activate(victim.get()));
  KernelPtr hung = launch(client.get(), "debug_hang", &o);
  ASSERT_TRUE(hung);
  // The watchdog sees no heartbeat for 1.5 s, kills the worker: every
  // kernel on that GPU is FAULTED, with the reason in the daemon's log.
  bool faulted = eventually([&] {
    rk_state st;
    return rk_kernel_state(victim.get(), &st) == RK_OK && st == RK_STATE_FAULTED;
  }, 15s);
  EXPECT_TRUE(faulted) << daemon.log_tail();
  EXPECT_NE(daemon.log_tail().find("never started its heartbeat"), std::string::npos) << daemon.log_tail();
  uint64_t v = 5;
  rk_message* m = nullptr;
  EXPECT_EQ(rk_call(victim.get(), 1, &v, sizeof v, &m, 5000), RK_E_KERNEL_FAULTED);
  rk_message_release(m);
  // A fresh worker serves the next launch.
  KernelPtr fresh = launch(client.get(), "echo", &o);
  ASSERT_TRUE(fresh);
  RK_ASSERT_OK(rk_activate(fresh.get()));
  MessagePtr r = call(fresh.get(), &v, sizeof v);
  EXPECT_TRUE(r);
  RK_EXPECT_OK(rk_terminate(fresh.get(), -1));
}

TEST_P(GpuService, LaunchThatWouldNotBeCoResidentIsRefused) {
  std::vector<KernelPtr> running;
  rk_status refused = RK_OK;
  for (int i = 0; i < 16 && refused == RK_OK; ++i) {
    rk_launch_options o;
    rk_launch_options_init(&o);
    o.backend = RK_BACKEND_CUDA;
    o.grid = 128;
    o.block = 256;  // a few such blocks per SM: some launches fit, then one does not
    rk_kernel* k = nullptr;
    refused = rk_launch(client_.get(), "echo", &o, &k);
    if (refused == RK_OK) running.emplace_back(k);
  }
  EXPECT_EQ(refused, RK_E_LIMIT) << rk_last_error_message();
  EXPECT_NE(std::string(rk_last_error_message()).find("co-resident"), std::string::npos);
  for (auto& k : running) RK_EXPECT_OK(rk_terminate(k.get(), -1));
}

TEST_P(GpuService, LaunchAndTerminate100TimesReturnsDeviceMemory) {
  auto launch_once = [&] {
    KernelPtr k = launch_cuda("counter");
    ASSERT_TRUE(k);
    RK_ASSERT_OK(rk_activate(k.get()));
    int64_t d = 1;
    call(k.get(), &d, sizeof d);
    RK_ASSERT_OK(rk_terminate(k.get(), -1));
  };
  launch_once();  // warm: the worker's first allocations
  size_t free0 = 0, total = 0, free1 = 0;
  ASSERT_EQ(cudaMemGetInfo(&free0, &total), cudaSuccess);
  for (int i = 0; i < 100; ++i) launch_once();
  // The worker frees an ended kernel when it next hears from the daemon.
  launch_once();
  ASSERT_EQ(cudaMemGetInfo(&free1, &total), cudaSuccess);
  EXPECT_GE(free1 + (8u << 20), free0) << "device memory lost: " << (free0 - free1) << " bytes";
}

TEST_P(GpuService, EightProcessesShareOneGpuKernel) {
  KernelPtr k = launch_cuda("echo", 2, 0, "shared-gpu-echo");
  ASSERT_TRUE(k);
  RK_ASSERT_OK(rk_activate(k.get()));
  std::vector<std::unique_ptr<Process>> clients;
  Process::Options o;
  o.pipe_stdin = true;
  o.pipe_stdout = true;
  for (int i = 0; i < 8; ++i)
    clients.push_back(std::make_unique<Process>(
        client_binary(), std::vector<std::string>{"attach-and-call", daemon_->socket_path(), "shared-gpu-echo", "2000"}, o));
  for (auto& c : clients) ASSERT_EQ(c->read_line(20s).value_or(""), "attached");
  for (auto& c : clients) c->write_stdin("go\n");
  for (auto& c : clients) {
    EXPECT_EQ(c->read_line(60s).value_or(""), "ok 2000");
    auto st = c->wait_exit(20s);
    ASSERT_TRUE(st);
    EXPECT_EQ(*st, 0) << describe_wait_status(*st);
  }
  RK_EXPECT_OK(rk_terminate(k.get(), -1));
}

TEST_P(GpuService, ClientsKilledDuringGpuTrafficLeaveNoFaultAndNoLeak) {
  KernelPtr k = launch_cuda("echo", 1, 0, "gpu-kill-target");
  ASSERT_TRUE(k);
  RK_ASSERT_OK(rk_activate(k.get()));
  const auto shm_before = shm_entries();
  Process::Options o;
  o.pipe_stdout = true;
  for (int i = 0; i < 20; ++i) {
    Process p(client_binary(), {"call-forever", daemon_->socket_path(), "echo", "gpu-kill-target"}, o);
    ASSERT_EQ(p.read_line(20s).value_or(""), "ready");
    p.kill_and_reap();
  }
  rk_server_info info;
  rk_server_info_init(&info);
  EXPECT_TRUE(eventually([&] {
    return rk_server_info_get(client_.get(), &info) == RK_OK && info.sessions == 1;
  })) << "sessions: " << info.sessions;
  EXPECT_TRUE(new_entries(shm_before, shm_entries()).empty());
  uint64_t v = 3;
  MessagePtr r = call(k.get(), &v, sizeof v);  // no fault, still serving
  EXPECT_TRUE(r);
  rk_state st;
  RK_ASSERT_OK(rk_kernel_state(k.get(), &st));
  EXPECT_EQ(st, RK_STATE_ACTIVE);
  RK_EXPECT_OK(rk_terminate(k.get(), -1));
}

// Echo calls on `k`, every reply checked; true when all came back right.
bool serves(rk_kernel* k, int calls) {
  for (int i = 0; i < calls; ++i) {
    const uint64_t v = 0x6761726261676500ull + uint64_t(i);
    rk_message* m = nullptr;
    const rk_status s = rk_call(k, 1, &v, sizeof v, &m, 10000);
    MessagePtr reply(m);
    EXPECT_EQ(s, RK_OK) << "call " << i << ": " << why(s);
    if (s != RK_OK || !reply) return false;
    size_t n = 0;
    const void* d = rk_message_data(reply.get(), &n);
    EXPECT_EQ(n, sizeof v) << "call " << i;
    if (n != sizeof v || std::memcmp(d, &v, sizeof v) != 0) return false;
  }
  return true;
}

// Callers whose channels sit behind 40 idle ones (slots 40 and 41: the
// scout's lanes acquire their first hot slot, here one past the first 32)
// are served one at a time and side by side, by a one-block kernel (the
// scout serves them before posting) and by one of three blocks (there
// their channels belong to other blocks); then an idle channel wakes
// (its first message rings the bell) and is served too.
TEST_P(GpuService, CallersBehindManyIdleChannelsAreServed) {
  for (uint32_t grid : {1u, 3u}) {
    SCOPED_TRACE("grid " + std::to_string(grid));
    const std::string name = "gpu-behind-idle-" + std::to_string(grid);
    KernelPtr k = launch_cuda("echo", grid, 0, name.c_str());
    ASSERT_TRUE(k);
    RK_ASSERT_OK(rk_activate(k.get()));
    std::vector<ClientPtr> sessions;
    std::vector<KernelPtr> channels;
    for (int i = 0; i < 42; ++i) {
      sessions.push_back(connect_to(*daemon_));
      ASSERT_TRUE(sessions.back());
      rk_kernel* attached = nullptr;
      RK_ASSERT_OK(rk_attach(sessions.back().get(), name.c_str(), &attached));
      channels.emplace_back(attached);
    }
    EXPECT_TRUE(serves(channels[40].get(), 500));
    std::atomic<bool> ok_a{false}, ok_b{false};
    std::thread a([&] { ok_a = serves(channels[40].get(), 2000); });
    std::thread b([&] { ok_b = serves(channels[41].get(), 2000); });
    a.join();
    b.join();
    EXPECT_TRUE(ok_a.load());
    EXPECT_TRUE(ok_b.load());
    EXPECT_TRUE(serves(channels[3].get(), 10));
    // The counters reach the control page at the kernel's next quiet moment.
    EXPECT_TRUE(eventually([&] { return metrics(k.get()).processed == 4510u; }, 5s))
        << metrics(k.get()).processed;
    channels.clear();
    sessions.clear();
    RK_EXPECT_OK(rk_terminate(k.get(), -1));
  }
}

// A hostile client attached to a shared GPU kernel publishes a request tail
// no producer could publish, `garbage(head, capacity)`, and rings the bell.
// The owning block finds the span impossible (mapped: the tail the scout
// posts; staged: the bridge posts it uncopied) and leaves that channel
// alone, stalled, so that it holds back neither the other channels nor the
// drain. Unlike the CPU backend, which closes such a session ("corrupted
// its rings"), the GPU backend leaves it bound until it ends: nothing is
// asserted about the hostile session itself. Every wait here is bounded.
void GpuService::garbage_tail_harms_no_one(const std::function<uint64_t(uint64_t, uint64_t)>& garbage) {
  KernelPtr victim = launch_cuda("echo", 1, 0, "gpu-garbage-victim");
  ASSERT_TRUE(victim);
  RK_ASSERT_OK(rk_activate(victim.get()));

  auto bad = std::make_unique<HandSession>(*daemon_);
  ASSERT_EQ(bad->open("gpu-garbage-victim"), "");
  ASSERT_TRUE(eventually([&] { return metrics(victim.get()).channels == 2; }, 10s));
  // One good record from the hostile channel first, consumed on the device:
  // the kernel knows the channel before its tail turns to garbage.
  ASSERT_TRUE(bad->send_valid(1));
  ASSERT_TRUE(eventually([&] { return std::atomic_ref<uint64_t>(bad->requests()->head).load() != 0; }, 10s))
      << "the GPU kernel never consumed the hand-driven session's request; log:\n" << daemon_->log_tail();
  ASSERT_TRUE(serves(victim.get(), 5));

  const uint64_t head = std::atomic_ref<uint64_t>(bad->requests()->head).load(std::memory_order_acquire);
  store_tail(bad->requests(), garbage(head, bad->requests()->capacity));
  bad->ring_kernel();

  // Everyone else on the kernel is served, and it stays ACTIVE.
  EXPECT_TRUE(serves(victim.get(), 50)) << daemon_->log_tail();
  rk_state st = RK_STATE_FAULTED;
  RK_ASSERT_OK(rk_kernel_state(victim.get(), &st));
  EXPECT_EQ(st, RK_STATE_ACTIVE) << daemon_->log_tail();
  ASSERT_TRUE(daemon_->process().running()) << daemon_->log_tail();
  // A new session attaching to `name` is served.
  auto fresh_session_served = [&](const char* name) {
    ClientPtr fresh = connect_to(*daemon_);
    ASSERT_TRUE(fresh);
    rk_kernel* k = nullptr;
    RK_ASSERT_OK(rk_attach(fresh.get(), name, &k));
    KernelPtr attached(k);
    EXPECT_TRUE(serves(attached.get(), 10));
  };
  fresh_session_served("gpu-garbage-victim");  // beside the broken channel
  // The broken channel, still bound, does not hold back the drain.
  RK_EXPECT_OK(rk_terminate(victim.get(), 10000));
  victim.reset();

  // The hostile session ends: the daemon serves on, new kernels and sessions.
  bad.reset();
  ASSERT_TRUE(daemon_->process().running()) << daemon_->log_tail();
  EXPECT_TRUE(eventually([&] { return server_info(client_.get()).sessions == 1; }, 10s));
  KernelPtr after = launch_cuda("echo", 1, 0, "gpu-garbage-after");
  ASSERT_TRUE(after);
  RK_ASSERT_OK(rk_activate(after.get()));
  fresh_session_served("gpu-garbage-after");
  EXPECT_TRUE(serves(after.get(), 10));
  RK_EXPECT_OK(rk_terminate(after.get(), 10000));
}

TEST_P(GpuService, HostileTailBeyondCapacity_OthersServedKernelActiveTerminateDrains) {
  // Far past anything the capacity allows.
  garbage_tail_harms_no_one([](uint64_t head, uint64_t capacity) { return head + capacity * 3 + 8; });
}

TEST_P(GpuService, HostileUnalignedTail_OthersServedKernelActiveTerminateDrains) {
  // 13 bytes past the head: no record ends there.
  garbage_tail_harms_no_one([](uint64_t head, uint64_t) { return head + 13; });
}

INSTANTIATE_TEST_SUITE_P(Transfer, GpuService, ::testing::Values(RK_TRANSFER_MAPPED, RK_TRANSFER_STAGED),
                         [](const ::testing::TestParamInfo<rk_transfer>& p) {
                           return std::string(p.param == RK_TRANSFER_STAGED ? "staged" : "mapped");
                         });

}  // namespace
}  // namespace rk::test
