// Parking and waking between two threads: the consumer sleeps in the kernel
// on the data bell until the producer commits, the producer sleeps on the
// space bell until the consumer releases; deadlines and stops end waits.
#include <gtest/gtest.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <random>
#include <string>
#include <thread>

#include "shm/doorbell.h"
#include "shm/ring.h"
#include "tests/shm/ring_memory.h"

namespace rk::shm {
namespace {

using test::first_pattern_mismatch;
using test::push_record;
using test::RingMemory;

constexpr RingConfig kSmall{4096, 1024};

uint32_t load_u32(uint32_t& word) { return std::atomic_ref<uint32_t>(word).load(); }

// Thread state letter from /proc ('S' = sleeping in the kernel, 'R' = running).
char thread_state(pid_t tid) {
  std::ifstream f("/proc/self/task/" + std::to_string(tid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  auto close = stat.rfind(')');
  return close == std::string::npos || close + 2 >= stat.size() ? '?' : stat[close + 2];
}

// Waits (bounded) until thread `tid` has announced itself on `bell` and is
// asleep in the kernel. Returns false if that never happened.
bool wait_until_parked(const std::atomic<pid_t>& tid, DoorbellWord& bell) {
  const Deadline give_up = Deadline::after_ms(20000);
  while (!give_up.passed()) {
    pid_t t = tid.load();
    if (t != 0 && load_u32(bell.waiters) == 1 && thread_state(t) == 'S') return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return false;
}

pid_t my_tid() { return pid_t(syscall(SYS_gettid)); }

TEST(ShmDoorbell, ConsumerParkedInWait_WokenByProducerCommit) {
  RingMemory m(kSmall);
  auto p = m.producer();
  auto c = m.consumer();
  std::atomic<pid_t> tid{0};
  Errc result = Errc::internal;
  long mismatch = -2;
  std::thread consumer([&] {
    tid = my_tid();
    auto r = c.wait(Deadline::after_ms(60000));
    result = r.error();
    if (r) mismatch = first_pattern_mismatch(r->body, 77);
  });
  ASSERT_TRUE(wait_until_parked(tid, m.header()->data_bell));
  const uint32_t seq_before = load_u32(m.header()->data_bell.seq);

  push_record(p, 300, 77);
  consumer.join();

  EXPECT_EQ(result, Errc::ok) << errc_string(result);
  EXPECT_EQ(mismatch, -1);
  EXPECT_EQ(load_u32(m.header()->data_bell.seq), seq_before + 1);  // the commit rang
  EXPECT_EQ(load_u32(m.header()->data_bell.waiters), 0u);
}

TEST(ShmDoorbell, ProducerParkedOnFullRing_WokenByConsumerRelease) {
  RingMemory m(kSmall);
  auto p = m.producer();
  auto c = m.consumer();
  while (p.try_reserve(500).ok()) p.commit(500);
  std::atomic<pid_t> tid{0};
  Errc result = Errc::internal;
  std::thread producer([&] {
    tid = my_tid();
    auto r = p.reserve(500, Deadline::after_ms(60000));
    result = r.error();
    if (r) p.commit(500);
  });
  ASSERT_TRUE(wait_until_parked(tid, m.header()->space_bell));

  auto r = c.peek();
  ASSERT_TRUE(r.ok());
  c.pop(*r);
  producer.join();

  EXPECT_EQ(result, Errc::ok) << errc_string(result);
  EXPECT_GE(load_u32(m.header()->space_bell.seq), 1u);
  EXPECT_EQ(c.unread_bytes(), 4096u);
}

TEST(ShmDoorbell, WaitOnEmptyRing_TimesOutAtDeadline) {
  RingMemory m(kSmall);
  auto c = m.consumer();
  const Deadline deadline = Deadline::after_ms(50);
  EXPECT_EQ(c.wait(deadline).error(), Errc::timeout);
  EXPECT_GE(monotonic_ns(), deadline.at_ns());
  EXPECT_EQ(load_u32(m.header()->data_bell.waiters), 0u);  // no stale announcement
  EXPECT_EQ(c.wait(Deadline::now()).error(), Errc::timeout);
}

TEST(ShmDoorbell, ReserveOnFullRing_ReturnsQueueFullAfterDeadline) {
  RingMemory m(kSmall);
  auto p = m.producer();
  while (p.try_reserve(100).ok()) p.commit(100);
  const Deadline deadline = Deadline::after_ms(50);
  EXPECT_EQ(p.reserve(100, deadline).error(), Errc::queue_full);
  EXPECT_GE(monotonic_ns(), deadline.at_ns());
}

TEST(ShmDoorbell, StopWhileParked_ReturnsDisconnected) {
  RingMemory m(kSmall);
  auto c = m.consumer();
  WaitStop stop;
  std::atomic<pid_t> tid{0};
  Errc result = Errc::internal;
  std::thread consumer([&] {
    tid = my_tid();
    result = c.wait(Deadline::after_ms(60000), &stop).error();
  });
  ASSERT_TRUE(wait_until_parked(tid, m.header()->data_bell));
  stop.stop = true;
  c.data_bell().wake_all();
  consumer.join();
  EXPECT_EQ(result, Errc::disconnected) << errc_string(result);
}

TEST(ShmDoorbell, StopAlreadySet_EndsWaitsOfBothSides) {
  RingMemory m(kSmall);
  auto p = m.producer();
  auto c = m.consumer();
  WaitStop stop;
  stop.stop = true;
  EXPECT_EQ(c.wait(Deadline::after_ms(60000), &stop).error(), Errc::disconnected);
  while (p.try_reserve(100).ok()) p.commit(100);
  EXPECT_EQ(p.reserve(100, Deadline::after_ms(60000), &stop).error(), Errc::disconnected);
}

TEST(ShmDoorbell, RingWithoutWaiters_DoesNotTouchSeq) {
  DoorbellWord word{};
  Doorbell bell(&word);
  bell.ring();
  EXPECT_EQ(word.seq, 0u);
  word.waiters = 1;
  bell.ring();
  EXPECT_EQ(word.seq, 1u);
  bell.wake_all();
  EXPECT_EQ(word.seq, 2u);
}

// Two threads hand a token back and forth, parking on every wait (no spin):
// a single lost wake-up turns into a timeout and fails the test.
TEST(ShmDoorbell, PingPongParkingEveryTime_LosesNoWakeups) {
  DoorbellWord words[2]{};
  uint64_t turn[2] = {0, 0};
  constexpr uint64_t kRounds = 20000;
  auto side = [&](int me) {
    Doorbell mine(&words[me]);
    Doorbell theirs(&words[1 - me]);
    std::atomic_ref<uint64_t> my_turn(turn[me]), their_turn(turn[1 - me]);
    for (uint64_t i = 0; i < kRounds; ++i) {
      // Side 0 goes first in each round, side 1 answers.
      Errc e = mine.wait([&] { return my_turn.load(std::memory_order_acquire) >= i + uint64_t(me); },
                         Deadline::after_ms(20000), nullptr, /*spin_ns=*/0);
      if (e != Errc::ok) return e;
      their_turn.store(i + 1, std::memory_order_release);
      theirs.ring();
    }
    return Errc::ok;
  };
  Errc r1 = Errc::internal;
  std::thread other([&] { r1 = side(1); });
  Errc r0 = side(0);
  other.join();
  EXPECT_EQ(r0, Errc::ok) << errc_string(r0);
  EXPECT_EQ(r1, Errc::ok) << errc_string(r1);
  EXPECT_EQ(turn[1], kRounds);
  EXPECT_EQ(turn[0], kRounds);
}

// A stream between two threads through a small ring, blocking on both
// sides, with batched release: every record arrives once, in order, intact.
TEST(ShmDoorbell, StreamBetweenThreads_DeliversEveryRecordInOrder) {
  constexpr RingConfig kConfig{64 * 1024, 8192};
  constexpr uint64_t kRecords = 300000;
  RingMemory m(kConfig);
  auto p = m.producer();
  auto c = m.consumer();
  auto size_of = [](uint64_t i) { return size_t((i * 2654435761u) % (i % 97 == 0 ? 8193 : 200)); };

  Errc producer_result = Errc::ok;
  std::thread producer([&] {
    for (uint64_t i = 0; i < kRecords; ++i) {
      auto r = p.reserve(size_of(i), Deadline::after_ms(20000));
      if (!r) {
        producer_result = r.error();
        return;
      }
      test::fill_pattern(*r, i);
      if (i % 3 == 0) {
        p.stage(size_of(i));  // some records go out in batches
      } else {
        p.commit(size_of(i));
      }
    }
    p.publish();
  });

  uint64_t received = 0, bad = 0;
  Errc consumer_result = Errc::ok;
  while (received < kRecords) {
    auto r = c.peek();
    if (r.error() == Errc::empty) {
      c.release();  // never wait while holding space the producer may need
      r = c.wait(Deadline::after_ms(20000));
    }
    if (!r) {
      consumer_result = r.error();
      break;
    }
    if (r->body.size() != size_of(received) || first_pattern_mismatch(r->body, received) != -1) ++bad;
    c.advance(*r);
    if (++received % 16 == 0) c.release();
  }
  c.release();
  producer.join();
  EXPECT_EQ(producer_result, Errc::ok) << errc_string(producer_result);
  EXPECT_EQ(consumer_result, Errc::ok) << errc_string(consumer_result);
  EXPECT_EQ(received, kRecords);
  EXPECT_EQ(bad, 0u);
  EXPECT_EQ(c.peek().error(), Errc::empty);
}

}  // namespace
}  // namespace rk::shm
