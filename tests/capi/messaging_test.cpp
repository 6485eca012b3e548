// The data plane through the C ABI against a real ringkerneld (CPU backend):
// round trips of every size, kernel state across messages, order, many
// threads on one handle, size limits, and a full ring that loses nothing.
#include <algorithm>
#include <chrono>
#include <atomic>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tests/capi/capi_test.h"

namespace rk::test {
namespace {

class CapiMessaging : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(daemon_.started()) << daemon_.error();
    client_ = connect_to(daemon_);
    ASSERT_TRUE(client_);
  }
  // An active private kernel.
  KernelPtr active(const char* kernel, uint64_t ring_bytes = 0) {
    rk_launch_options o;
    rk_launch_options_init(&o);
    o.ring_bytes = ring_bytes;
    KernelPtr k = launch(client_.get(), kernel, &o);
    if (k) {
      rk_status s = rk_activate(k.get());
      EXPECT_EQ(s, RK_OK) << why(s);
    }
    return k;
  }
  Daemon daemon_;
  ClientPtr client_;
};

std::vector<unsigned char> pattern(size_t n, uint32_t seed) {
  std::vector<unsigned char> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<unsigned char>((i * 131 + seed * 17 + (i >> 8)) & 0xff);
  return v;
}

TEST_F(CapiMessaging, Echo_RoundTripsPayloadsOfEverySize) {
  KernelPtr k = active("echo");
  ASSERT_TRUE(k);
  for (size_t n : {size_t{0}, size_t{1}, size_t{7}, size_t{8}, size_t{1000}, size_t{4096}, size_t{65535},
                   size_t{RK_MAX_PAYLOAD}}) {
    SCOPED_TRACE("payload of " + std::to_string(n) + " bytes");
    const auto sent = pattern(n, uint32_t(n));
    rk_message* reply = nullptr;
    RK_ASSERT_OK(rk_call(k.get(), 40 + uint32_t(n % 7), sent.data(), sent.size(), &reply, 10000));
    MessagePtr owned(reply);
    EXPECT_EQ(rk_message_status(reply), RK_OK);
    EXPECT_EQ(rk_message_type(reply), 40 + uint32_t(n % 7));
    EXPECT_EQ(bytes_of(reply), sent);
  }
  rk_metrics m = metrics(k.get());
  EXPECT_EQ(m.processed, 8u);
  EXPECT_EQ(m.errors, 0u);
}

TEST_F(CapiMessaging, Counter_KeepsStateAcrossMessages) {
  KernelPtr k = active("counter");
  ASSERT_TRUE(k);
  int64_t expected = 0;
  for (int64_t delta : {int64_t{5}, int64_t{-2}, int64_t{10}, int64_t{1} << 40, int64_t{-7}}) {
    expected += delta;
    rk_message* reply = nullptr;
    RK_ASSERT_OK(rk_call(k.get(), 1, &delta, sizeof delta, &reply, 10000));
    MessagePtr owned(reply);
    const auto got = bytes_of(reply);
    ASSERT_EQ(got.size(), sizeof(int64_t));
    int64_t total = 0;
    std::memcpy(&total, got.data(), sizeof total);
    EXPECT_EQ(total, expected);
  }
  // A delta that is not 8 bytes is an error reply; the state is untouched.
  rk_message* bad = nullptr;
  EXPECT_EQ(rk_call(k.get(), 1, "abc", 3, &bad, 10000), RK_E_MALFORMED);
  ASSERT_NE(bad, nullptr) << "an error reply is still handed out";
  EXPECT_EQ(rk_message_status(bad), RK_E_MALFORMED);
  rk_message_release(bad);
  const int64_t zero = 0;
  rk_message* reply = nullptr;
  RK_ASSERT_OK(rk_call(k.get(), 1, &zero, sizeof zero, &reply, 10000));
  int64_t total = 0;
  std::memcpy(&total, bytes_of(reply).data(), sizeof total);
  rk_message_release(reply);
  EXPECT_EQ(total, expected);
}

TEST_F(CapiMessaging, Oversized_RefusedWithTooLarge) {
  KernelPtr k = active("echo");
  ASSERT_TRUE(k);
  for (size_t n : {size_t{RK_MAX_PAYLOAD} * 2, size_t{1} << 20}) {
    const std::vector<unsigned char> big(n, 0x5a);
    rk_status s = rk_send(k.get(), 1, big.data(), big.size(), 1, 1000);
    EXPECT_EQ(s, RK_E_TOO_LARGE) << n << " bytes: " << why(s);
    EXPECT_STRNE(rk_last_error_message(), "");
    rk_message* reply = nullptr;
    s = rk_call(k.get(), 1, big.data(), big.size(), &reply, 1000);
    EXPECT_EQ(s, RK_E_TOO_LARGE) << n << " bytes: " << why(s);
    EXPECT_EQ(reply, nullptr);
    void* payload = nullptr;
    rk_message* reservation = nullptr;
    s = rk_reserve(k.get(), n, &payload, &reservation, 1000);
    EXPECT_EQ(s, RK_E_TOO_LARGE) << n << " bytes: " << why(s);
    EXPECT_EQ(reservation, nullptr);
  }
  // A channel with a small ring has a smaller limit.
  KernelPtr small = active("echo", 65536);
  ASSERT_TRUE(small);
  const std::vector<unsigned char> max_default(RK_MAX_PAYLOAD, 1);
  EXPECT_EQ(rk_send(small.get(), 1, max_default.data(), max_default.size(), 1, 1000), RK_E_TOO_LARGE);

  // Nothing was sent: the next reply is the next call's.
  rk_message* reply = nullptr;
  RK_ASSERT_OK(rk_call(k.get(), 9, "ok", 2, &reply, 10000));
  EXPECT_EQ(rk_message_type(reply), 9u);
  rk_message_release(reply);
  EXPECT_EQ(metrics(k.get()).processed, 1u);
}

TEST_F(CapiMessaging, SendThenReceive_KeepsOrder) {
  KernelPtr k = active("echo");
  ASSERT_TRUE(k);
  constexpr uint64_t kCount = 10000;
  for (uint64_t i = 0; i < kCount; ++i) {
    const uint64_t body[2] = {i, ~i};
    rk_status s = rk_send(k.get(), uint32_t(i % 1000), body, sizeof body, 1000000 + i, 10000);
    ASSERT_EQ(s, RK_OK) << "send " << i << ": " << why(s);
  }
  for (uint64_t i = 0; i < kCount; ++i) {
    rk_message* m = nullptr;
    rk_status s = rk_receive(k.get(), &m, 10000);
    ASSERT_EQ(s, RK_OK) << "receive " << i << ": " << why(s);
    MessagePtr owned(m);
    ASSERT_EQ(rk_message_correlation(m), 1000000 + i) << "reply " << i << " out of order";
    ASSERT_EQ(rk_message_type(m), uint32_t(i % 1000));
    const auto got = bytes_of(m);
    ASSERT_EQ(got.size(), 16u);
    uint64_t body[2];
    std::memcpy(body, got.data(), sizeof body);
    ASSERT_EQ(body[0], i);
    ASSERT_EQ(body[1], ~i);
  }
  rk_message* extra = nullptr;
  EXPECT_EQ(rk_receive(k.get(), &extra, 0), RK_E_TIMEOUT) << "no reply beyond the requests sent";
  rk_message_release(extra);
}

TEST_F(CapiMessaging, ConcurrentCalls_EachThreadGetsItsOwnReplies) {
  KernelPtr k = active("echo");
  ASSERT_TRUE(k);
  constexpr uint32_t kThreads = 8;
  constexpr uint32_t kCalls = 10000;
  std::atomic<uint64_t> good{0}, bad{0};
  std::mutex first_mu;
  std::string first_failure;
  auto record = [&](const std::string& what) {
    bad.fetch_add(1);
    std::lock_guard lock(first_mu);
    if (first_failure.empty()) first_failure = what;
  };
  std::vector<std::thread> threads;
  for (uint32_t t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (uint32_t seq = 0; seq < kCalls; ++seq) {
        // Payload: thread, sequence, and a length that varies with both.
        std::vector<uint32_t> body(2 + (seq + t) % 9, t * 0x9e3779b9u ^ seq);
        body[0] = t;
        body[1] = seq;
        rk_message* reply = nullptr;
        rk_status s = rk_call(k.get(), 100 + t, body.data(), body.size() * 4, &reply, 30000);
        if (s != RK_OK) {
          record("thread " + std::to_string(t) + " call " + std::to_string(seq) + ": " + why(s));
          rk_message_release(reply);
          return;
        }
        size_t len = 0;
        const void* data = rk_message_data(reply, &len);
        if (rk_message_type(reply) != 100 + t || len != body.size() * 4 || std::memcmp(data, body.data(), len) != 0) {
          uint32_t got[2] = {0, 0};
          if (len >= 8) std::memcpy(got, data, 8);
          record("thread " + std::to_string(t) + " call " + std::to_string(seq) + " got thread " +
                 std::to_string(got[0]) + " call " + std::to_string(got[1]));
        } else {
          good.fetch_add(1);
        }
        rk_message_release(reply);
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(bad.load(), 0u) << first_failure;
  EXPECT_EQ(good.load(), uint64_t{kThreads} * kCalls);
  rk_metrics m = metrics(k.get());
  EXPECT_EQ(m.processed, uint64_t{kThreads} * kCalls);
  EXPECT_EQ(m.errors, 0u);
  EXPECT_EQ(m.dropped, 0u);
}

TEST_F(CapiMessaging, FullRingWhileDeactivated_QueueFullThenNothingLostAfterActivate) {
  KernelPtr k = active("echo", 65536);
  ASSERT_TRUE(k);
  RK_ASSERT_OK(rk_deactivate(k.get()));

  // Fill the request ring: every send succeeds until one times out full.
  std::vector<std::vector<unsigned char>> sent;
  rk_status s = RK_OK;
  for (uint32_t i = 0; i < 10000; ++i) {
    auto body = pattern(1000 + i % 50, i);
    s = rk_send(k.get(), 5, body.data(), body.size(), i, 50);
    if (s != RK_OK) break;
    sent.push_back(std::move(body));
  }
  ASSERT_EQ(s, RK_E_QUEUE_FULL) << why(s) << " after " << sent.size() << " sends";
  EXPECT_STRNE(rk_last_error_message(), "");
  ASSERT_GT(sent.size(), 10u);
  rk_metrics held = metrics(k.get());
  EXPECT_EQ(held.state, RK_STATE_DEACTIVATED);
  EXPECT_EQ(held.processed, 0u);
  EXPECT_GT(held.queue_depth, 0u) << "the requests wait in the ring";

  // Resume: every request comes back, in order, with its own bytes.
  RK_ASSERT_OK(rk_activate(k.get()));
  for (uint32_t i = 0; i < sent.size(); ++i) {
    rk_message* m = nullptr;
    s = rk_receive(k.get(), &m, 10000);
    ASSERT_EQ(s, RK_OK) << "reply " << i << " of " << sent.size() << ": " << why(s);
    MessagePtr owned(m);
    ASSERT_EQ(rk_message_correlation(m), i);
    ASSERT_EQ(bytes_of(m), sent[i]) << "reply " << i;
  }
  rk_message* extra = nullptr;
  EXPECT_EQ(rk_receive(k.get(), &extra, 0), RK_E_TIMEOUT);
  rk_message_release(extra);

  rk_metrics m = metrics(k.get());
  EXPECT_EQ(m.dropped, 0u);
  EXPECT_EQ(m.errors, 0u);
  EXPECT_EQ(m.processed, sent.size());
  // And the ring takes new work again.
  rk_message* reply = nullptr;
  RK_EXPECT_OK(rk_call(k.get(), 6, "again", 5, &reply, 10000));
  rk_message_release(reply);
}

TEST_F(CapiMessaging, ReserveCommit_SendsInPlaceAndAbandonedReservationSendsNothing) {
  KernelPtr k = active("echo");
  ASSERT_TRUE(k);
  const auto body = pattern(300, 3);

  void* payload = nullptr;
  rk_message* reservation = nullptr;
  RK_ASSERT_OK(rk_reserve(k.get(), 1024, &payload, &reservation, 1000));
  std::memset(payload, 0xee, 1024);
  rk_message_release(reservation);  // abandoned: nothing is sent

  RK_ASSERT_OK(rk_reserve(k.get(), 1024, &payload, &reservation, 1000));
  std::memcpy(payload, body.data(), body.size());
  RK_ASSERT_OK(rk_commit(reservation, body.size(), 12, 777));

  rk_message* m = nullptr;
  RK_ASSERT_OK(rk_receive(k.get(), &m, 10000));
  MessagePtr owned(m);
  EXPECT_EQ(rk_message_correlation(m), 777u);
  EXPECT_EQ(rk_message_type(m), 12u);
  EXPECT_EQ(bytes_of(m), body);
  rk_message* extra = nullptr;
  EXPECT_EQ(rk_receive(k.get(), &extra, 0), RK_E_TIMEOUT);
  rk_message_release(extra);
  EXPECT_EQ(metrics(k.get()).processed, 1u);
}

// The send side is one lock per channel, held from rk_reserve to
// rk_commit. A sender behind another thread's reservation either gets
// the lock once it is given back (its send then goes out after the
// committed record), or gives up at its own deadline with RK_E_TIMEOUT,
// sending nothing; the reserving thread itself gets RK_E_STATE.
TEST_F(CapiMessaging, SenderBehindAReservation_GoesAfterTheCommitOrTimesOutSendingNothing) {
  KernelPtr k = active("echo");
  ASSERT_TRUE(k);
  const auto first = pattern(64, 1), second = pattern(64, 2), third = pattern(64, 3);
  void* payload = nullptr;
  rk_message* reservation = nullptr;

  // 1. Held past the other sender's deadline: it times out.
  RK_ASSERT_OK(rk_reserve(k.get(), 64, &payload, &reservation, 1000));
  EXPECT_EQ(rk_send(k.get(), 1, first.data(), first.size(), 99, 0), RK_E_STATE);
  rk_status timed_out = RK_OK;
  std::thread([&] { timed_out = rk_send(k.get(), 1, third.data(), third.size(), 3, 50); }).join();
  EXPECT_EQ(timed_out, RK_E_TIMEOUT) << why(timed_out);

  // 2. Given back while the other sender waits: it goes next.
  std::atomic<bool> waiting{false};
  rk_status behind = RK_E_INTERNAL;
  std::thread other([&] {
    waiting = true;
    behind = rk_send(k.get(), 1, second.data(), second.size(), 2, 30000);
  });
  while (!waiting) std::this_thread::yield();
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // let it block (not needed for correctness)
  std::memcpy(payload, first.data(), first.size());
  RK_ASSERT_OK(rk_commit(reservation, first.size(), 1, 1));
  other.join();
  EXPECT_EQ(behind, RK_OK) << why(behind);

  for (uint64_t want : {1u, 2u}) {
    rk_message* m = nullptr;
    RK_ASSERT_OK(rk_receive(k.get(), &m, 10000));
    MessagePtr owned(m);
    EXPECT_EQ(rk_message_correlation(m), want);
    EXPECT_EQ(bytes_of(m), want == 1 ? first : second);
  }
  rk_message* extra = nullptr;
  EXPECT_EQ(rk_receive(k.get(), &extra, 0), RK_E_TIMEOUT);  // the timed-out send left nothing
  rk_message_release(extra);
}

TEST_F(CapiMessaging, CallsAcrossDeactivateActivate_NoneLostNoneDuplicated) {
  KernelPtr k = active("echo");
  ASSERT_TRUE(k);
  constexpr uint32_t kThreads = 4, kCalls = 2000;
  std::atomic<bool> done{false};
  std::atomic<uint32_t> bad{0};
  std::vector<std::thread> callers;
  for (uint32_t t = 0; t < kThreads; ++t)
    callers.emplace_back([&, t] {
      for (uint32_t seq = 0; seq < kCalls; ++seq) {
        const uint32_t body[2] = {t, seq};
        rk_message* reply = nullptr;
        rk_status s = rk_call(k.get(), 1, body, sizeof body, &reply, 30000);
        if (s != RK_OK || bytes_of(reply) != std::vector<unsigned char>(reinterpret_cast<const unsigned char*>(body),
                                                                        reinterpret_cast<const unsigned char*>(body) + 8))
          bad.fetch_add(1);
        rk_message_release(reply);
      }
    });
  // Meanwhile the kernel is paused and resumed over and over.
  uint32_t cycles = 0;
  std::thread toggler([&] {
    while (!done.load()) {
      if (rk_deactivate(k.get()) != RK_OK || rk_activate(k.get()) != RK_OK) bad.fetch_add(1000000);
      ++cycles;
    }
  });
  for (auto& th : callers) th.join();
  done = true;
  toggler.join();
  EXPECT_EQ(bad.load(), 0u);
  EXPECT_GT(cycles, 0u);
  rk_metrics m = metrics(k.get());
  EXPECT_EQ(m.processed, uint64_t{kThreads} * kCalls);
  EXPECT_EQ(m.dropped, 0u);
  EXPECT_EQ(m.state, RK_STATE_ACTIVE);
}

TEST_F(CapiMessaging, CallTimedOut_LateReplyDoesNotClogTheReplyRing) {
  KernelPtr k = active("echo", 65536);
  ASSERT_TRUE(k);
  RK_ASSERT_OK(rk_deactivate(k.get()));
  rk_message* reply = nullptr;
  EXPECT_EQ(rk_call(k.get(), 1, "late", 4, &reply, 20), RK_E_TIMEOUT);
  EXPECT_EQ(reply, nullptr);
  RK_ASSERT_OK(rk_activate(k.get()));

  // The abandoned call's reply arrives now. Many times the ring's size of
  // traffic must still flow: the late reply may not pin the ring.
  const auto body = pattern(2000, 7);
  for (int i = 0; i < 500; ++i) {
    rk_status s = rk_call(k.get(), 2, body.data(), body.size(), &reply, 10000);
    ASSERT_EQ(s, RK_OK) << "call " << i << ": " << why(s);
    MessagePtr owned(reply);
    ASSERT_EQ(rk_message_type(reply), 2u) << "call " << i << " got someone else's reply";
    ASSERT_EQ(bytes_of(reply), body);
  }
  rk_metrics m = metrics(k.get());
  EXPECT_EQ(m.processed, 501u);
  EXPECT_EQ(m.dropped, 0u);
}

TEST_F(CapiMessaging, SlowReaderOnSharedKernel_OthersStillServedNothingLost) {
  KernelPtr shared = launch_shared_active(client_.get(), "echo", "slow-reader", 65536);
  ASSERT_TRUE(shared);

  // A second session sends far more than its reply ring holds and reads nothing.
  ClientPtr slow_client = connect_to(daemon_);
  ASSERT_TRUE(slow_client);
  rk_kernel* slow = nullptr;
  RK_ASSERT_OK(rk_attach(slow_client.get(), "slow-reader", &slow));
  KernelPtr slow_owned(slow);
  std::vector<std::vector<unsigned char>> sent;
  rk_status s = RK_OK;
  for (uint32_t i = 0; i < 1000; ++i) {
    auto body = pattern(1500, i);
    s = rk_send(slow, 3, body.data(), body.size(), i, 50);
    if (s != RK_OK) break;
    sent.push_back(std::move(body));
  }
  EXPECT_EQ(s, RK_E_QUEUE_FULL) << "both of the slow reader's rings should be full: " << why(s);
  ASSERT_GT(sent.size(), 40u);

  // Everyone else is still served.
  for (int i = 0; i < 100; ++i) {
    rk_message* reply = nullptr;
    s = rk_call(shared.get(), 4, &i, sizeof i, &reply, 10000);
    ASSERT_EQ(s, RK_OK) << "call " << i << " while another channel is stuck: " << why(s);
    rk_message_release(reply);
  }
  EXPECT_EQ(metrics(shared.get()).dropped, 0u);

  // The slow reader finally reads: everything, in order.
  for (uint32_t i = 0; i < sent.size(); ++i) {
    rk_message* m = nullptr;
    s = rk_receive(slow, &m, 10000);
    ASSERT_EQ(s, RK_OK) << "reply " << i << " of " << sent.size() << ": " << why(s);
    MessagePtr owned(m);
    ASSERT_EQ(rk_message_correlation(m), i);
    ASSERT_EQ(bytes_of(m), sent[i]);
  }
  rk_metrics m = metrics(shared.get());
  EXPECT_EQ(m.processed, sent.size() + 100);
  EXPECT_EQ(m.dropped, 0u);
}

}  // namespace
}  // namespace rk::test
