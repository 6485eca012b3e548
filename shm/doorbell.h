// Doorbell: park and wake across processes on a futex word in shared memory.
//
// Waiter                                   Ringer
//   waiters.exchange(1)      (acq_rel)       publish data (release store)
//   s = seq                  (acquire)       w = waiters.fetch_add(0) (acq_rel)
//   if ready(): waiters = 0, return          if w: seq += 1 (release); futex_wake
//   futex_wait(&seq, s, remaining)
//
// No lost wake-up, from the two read-modify-writes on `waiters` alone (no
// fences: every ordering is carried by an operation on the atomic it
// concerns, which is also what ThreadSanitizer can check). Every RMW reads
// the value just before it in the word's modification order, so:
//  * ringer's RMW after the waiter's: it reads the 1 the waiter wrote (or a
//    later value written by that same waiter leaving a finished wait) and
//    wakes it;
//  * ringer's RMW before the waiter's: the waiter's acquire RMW reads the
//    value of the ringer's release RMW, so it synchronises with it; the
//    ringer's data store happens-before the waiter's ready() check, which
//    therefore sees the data and does not sleep.
// If the waiter read the bumped seq it also sees the data (release/acquire
// on seq); if it read the old one, futex_wait returns at once because seq
// no longer equals s, or the FUTEX_WAKE finds it asleep. The futex is shared
// (not FUTEX_PRIVATE) so it works between processes mapping the same
// segment. A ringer that skips the wake (a hostile peer, or the GPU, which
// cannot call futex) costs at most the caller's deadline, never a hang.
//
// The price: ring() is one locked RMW on the doorbell's line (lock xadd on
// x86), the cost of the seq_cst fence it replaces, and each doorbell rung
// pays its own (a fence used to serve several).
#pragma once
#include <atomic>
#include <cstdint>

#include "shm/clock.h"
#include "shm/errc.h"
#include "shm/ring_layout.h"

namespace rk::shm {

// How long a waiter spins before parking. Spinning keeps the round trip off
// the scheduler when the peer answers within microseconds.
inline constexpr uint64_t kDefaultSpinNs = 20000;

// Something outside the ring that ends a wait early (peer death, shutdown).
struct WaitStop {
  std::atomic<bool> stop{false};
};

class Doorbell {
 public:
  explicit Doorbell(DoorbellWord* word) : word_(word) {}

  // Wakes the waiters, if any announced themselves. Call after publishing.
  void ring();
  // Wakes every waiter unconditionally (used to abort waits, e.g. on disconnect).
  void wake_all();

  // Waits until ready() holds, the deadline passes (Errc::timeout) or stop is
  // set (Errc::disconnected). Spins for spin_ns first. before_sleep() runs
  // each time the waiter has announced itself and is about to sleep.
  template <class Ready, class BeforeSleep>
  Errc wait(Ready&& ready, Deadline deadline, const WaitStop* stop, uint64_t spin_ns, BeforeSleep&& before_sleep);
  template <class Ready>
  Errc wait(Ready&& ready, Deadline deadline, const WaitStop* stop = nullptr, uint64_t spin_ns = kDefaultSpinNs) {
    return wait(ready, deadline, stop, spin_ns, [] {});
  }

 private:
  // One futex sleep of at most timeout_ns on seq == expected.
  void sleep(uint32_t expected, uint64_t timeout_ns);
  std::atomic_ref<uint32_t> seq() const { return std::atomic_ref<uint32_t>(word_->seq); }
  std::atomic_ref<uint32_t> waiters() const { return std::atomic_ref<uint32_t>(word_->waiters); }

  DoorbellWord* word_;  // borrowed, in shared memory
};

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// Asks for the line at `p` in a writable state ahead of a store to it, so
// that the store later finds it in the cache. A hint: nothing waits for it.
inline void prefetch_for_write(const void* p) {
#if defined(__x86_64__) || defined(__i386__)
  asm volatile("prefetchw %0" ::"m"(*static_cast<const char*>(p)));
#else
  __builtin_prefetch(p, 1, 3);
#endif
}

inline void Doorbell::ring() {
  // An RMW, not a load: see the argument at the top of this file.
  const uint32_t w = waiters().fetch_add(0, std::memory_order_acq_rel);
  if (w & kBellSleeping) wake_all();
  else if (w & kBellPolled) seq().fetch_add(1, std::memory_order_release);
}

template <class Ready, class BeforeSleep>
Errc Doorbell::wait(Ready&& ready, Deadline deadline, const WaitStop* stop, uint64_t spin_ns,
                    BeforeSleep&& before_sleep) {
  auto stopped = [stop] { return stop && stop->stop.load(std::memory_order_acquire); };
  // Spin: check the clock only every 64 rounds to keep the loop tight, and
  // not at all when the wait ends sooner (the common case of a fast peer).
  uint64_t spin_until = 0;
  for (uint32_t i = 1;; ++i) {
    if (ready()) return Errc::ok;
    if ((i & 63) == 0) {
      if (stopped()) return Errc::disconnected;
      const uint64_t now = monotonic_ns();
      if (spin_until == 0) spin_until = now + spin_ns;
      if (now >= spin_until || now >= deadline.at_ns()) break;
    }
    cpu_relax();
  }
  for (;;) {
    waiters().exchange(kBellSleeping, std::memory_order_acq_rel);  // an RMW: see the top of this file
    uint32_t s = seq().load(std::memory_order_acquire);
    if (ready()) break;
    if (stopped()) { waiters().store(0, std::memory_order_relaxed); return Errc::disconnected; }
    uint64_t left = deadline.remaining_ns();
    if (left == 0) { waiters().store(0, std::memory_order_relaxed); return ready() ? Errc::ok : Errc::timeout; }
    before_sleep();
    sleep(s, left);
  }
  waiters().store(0, std::memory_order_relaxed);
  return Errc::ok;
}

}  // namespace rk::shm
