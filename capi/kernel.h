// rk_kernel: this session's channel to one kernel instance — the request
// ring it produces into, the reply ring it consumes, the instance's bell,
// and the inbox that matches replies to callers by correlation id.
#pragma once
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_set>
#include <vector>

#include "capi/client.h"
#include "capi/message.h"
#include "shm/doorbell.h"
#include "shm/ring.h"
#include "shm/segment_layout.h"

namespace rk::capi {

// A timed lock for a channel's send side, held across a reservation
// (rk_reserve .. rk_commit), so that a sender never waits past its own
// deadline for another thread's reservation. Uncontended, taking it is one
// compare-and-swap and giving it back one plain store: a seq_cst store
// (a locked instruction on x86) would wait for the message just written to
// leave the store buffer. The price is that unlock() may miss a waiter
// that is just going to sleep; a waiter therefore re-checks every
// kRecheck, so a contended send waits at most that much longer. Not
// std::timed_mutex: libstdc++'s try_lock_until calls
// pthread_mutex_clocklock, which ThreadSanitizer (GCC 12) does not
// intercept, so it could not see the ordering the lock gives.
class SendLock {
 public:
  static constexpr std::chrono::microseconds kRecheck{200};
  bool try_lock() {
    bool free = false;
    return held_.compare_exchange_strong(free, true, std::memory_order_acquire, std::memory_order_relaxed);
  }
  bool try_lock_until(std::chrono::steady_clock::time_point until) {
    std::unique_lock g(mu_);
    waiting_.fetch_add(1, std::memory_order_relaxed);
    bool got;
    while (!(got = try_lock())) {
      const auto now = std::chrono::steady_clock::now();
      if (now >= until) break;
      cv_.wait_until(g, std::min(until, now + kRecheck));
    }
    waiting_.fetch_sub(1, std::memory_order_relaxed);
    return got;
  }
  void unlock() {
    held_.store(false, std::memory_order_release);
    if (waiting_.load(std::memory_order_relaxed) != 0) {
      std::lock_guard g(mu_);
      cv_.notify_one();
    }
  }

 private:
  std::atomic<bool> held_{false};
  std::atomic<uint32_t> waiting_{0};
  std::mutex mu_;
  std::condition_variable cv_;
};

// The inbox's lock: taken with one exchange and given back with a plain
// store. A pthread mutex's unlock is a second locked instruction, which
// waits for the ring head just stored to leave the store buffer, and a
// received message took the lock twice (rk_receive, rk_message_release).
// It is held for a few hundred instructions and never across a wait, so a
// thread that finds it taken spins briefly, then yields.
class InboxLock {
 public:
  void lock() {
    uint32_t spins = 0;
    while (!try_lock()) {
      while (held_.load(std::memory_order_relaxed)) {
        if (++spins < kSpins) rk::shm::cpu_relax();
        else std::this_thread::yield();
      }
    }
  }
  bool try_lock() { return !held_.load(std::memory_order_relaxed) && !held_.exchange(true, std::memory_order_acquire); }
  void unlock() { held_.store(false, std::memory_order_release); }

 private:
  static constexpr uint32_t kSpins = 256;
  std::atomic<bool> held_{false};
};

}  // namespace rk::capi

struct rk_kernel {
  rk_client* client = nullptr;
  uint32_t id = 0;
  rk::shm::ChannelSlot* slot = nullptr;
  rk::shm::RingProducer requests;  // guarded by send_mu
  rk::shm::RingConsumer replies;   // used only by the inbox's current reader
  rk::shm::Segment bell_map;
  rk::shm::KernelBell* bell = nullptr;
  size_t max_payload = 0;

  // Held across a reservation (rk_reserve .. rk_commit), so timed: a sender
  // never waits past its own deadline for another thread's reservation.
  rk::capi::SendLock send_mu;
  // Thread holding a reservation. Relaxed: only that thread compares it with
  // its own id (a seq_cst store is a locked instruction on x86).
  std::atomic<std::thread::id> reserver{};
  // Coarse time of this channel's last kick; see kick() in kernel.cpp.
  std::atomic<uint64_t> last_kick_ns{0};
  // Where this channel's next request will be written (set at each
  // publish): a caller whose reply arrives asks for those lines then
  // (prefetch_next_request in kernel.cpp).
  std::atomic<std::byte*> next_request{nullptr};
  std::atomic<uint64_t> reply_wait_ns{0};  // moving average of waits that ended with a reply
  uint64_t hlc_physical = 0;  // guarded by send_mu
  uint32_t hlc_logical = 0;
  // rk_call's ids have bit 63 set, apart from ids callers pick for rk_send.
  std::atomic<uint64_t> next_correlation{uint64_t{1} << 63};

  // Inbox: one thread at a time reads the reply ring (the reader); the
  // others wait on `arrived`. Records leave the ring in order but callers
  // release them in any order: `held` remembers which are done so that the
  // ring's head only moves over a finished prefix.
  struct Held {
    uint64_t end;
    bool released;
  };
  rk::capi::InboxLock inbox_mu;
  std::condition_variable_any arrived;
  uint32_t arrived_waiters = 0;   // threads in arrived.wait: notify only when there are some
  bool reader_active = false;
  std::deque<rk_message*> stash;  // decoded, not yet handed to a caller
  std::vector<rk_message*> spare; // released messages kept for reuse (no malloc per reply; see kSpareMessages)
  std::deque<Held> held;
  uint64_t corrupt_replies = 0;   // replies that did not decode (counted, released)
  // Correlation ids of rk_calls that timed out: their replies, when they
  // come, are released on arrival instead of pinning the ring's head.
  std::unordered_set<uint64_t> abandoned;
};

namespace rk::capi {

// Binds a handle to the channel the server just created (Bound reply + the
// bell descriptor, which it takes).
rk_status bind_kernel(rk_client* client, rk::schema::Bound::Reader bound, int bell_fd, rk_kernel** out);
void release_kernel(rk_kernel* kernel);
void wake_all_waiters(rk_kernel* kernel);

// Timeouts in ms as in the C ABI (negative: 30 s default).
Deadline deadline_for(int64_t timeout_ms);

// A caller's timeout that becomes a deadline the first time a call has to
// wait. The fast paths (room in the ring, a reply already there) then read
// no clock: two clock reads were a fifth of a pipelined message's cost.
// rk_call passes one to both halves, so its timeout still bounds the whole
// call, counted from the first moment it waited.
class LazyDeadline {
 public:
  explicit LazyDeadline(int64_t timeout_ms) : timeout_ms_(timeout_ms) {}
  Deadline get() {
    if (!at_) at_ = deadline_for(timeout_ms_);
    return *at_;
  }

 private:
  int64_t timeout_ms_;
  std::optional<Deadline> at_;
};

// `awaited`: the caller waits for the reply next (rk_call), which makes the
// request worth a tail digest (shm/tail_digest.h).
rk_status send_data(rk_kernel* k, uint32_t type, const void* data, size_t len, uint64_t correlation,
                    LazyDeadline& deadline, bool awaited);
// Waits for a reply: the one with `correlation`, or any if nullopt.
rk_status wait_reply(rk_kernel* k, std::optional<uint64_t> correlation, LazyDeadline& deadline, rk_message** out);
// Gives up waiting for the reply to `correlation` (a timed-out call): it
// is released whenever it arrives, or now if it already has.
void abandon_reply(rk_kernel* k, uint64_t correlation);
void release_message(rk_message* m);

rk_status reserve(rk_kernel* k, size_t capacity, bool envelope, rk_message** out, int64_t timeout_ms);
rk_status commit_data(rk_message* m, size_t len, uint32_t type, uint64_t correlation);
rk_status commit_envelope(rk_message* m, size_t len);

// A simple control request about this instance (activate, status, ...).
enum class KernelOp { activate, deactivate, status, release };
rk_status kernel_op(rk_kernel* k, KernelOp op, rk_state* state_out = nullptr);
rk_status terminate_kernel(rk_kernel* k, int64_t timeout_ms);
rk_status kernel_metrics(rk_kernel* k, rk_metrics* out);

}  // namespace rk::capi
