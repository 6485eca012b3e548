#include "shm/doorbell.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <climits>

namespace rk::shm {

namespace {
long futex(uint32_t* addr, int op, uint32_t val, const timespec* ts) {
  return syscall(SYS_futex, addr, op, val, ts, nullptr, 0);
}
}  // namespace

void Doorbell::wake_all() {
  seq().fetch_add(1, std::memory_order_release);
  futex(&word_->seq, FUTEX_WAKE, INT_MAX, nullptr);
}

void Doorbell::sleep(uint32_t expected, uint64_t timeout_ns) {
  // Cap one sleep so a clock jump or a missed wake costs a bounded time.
  constexpr uint64_t kMaxSleepNs = 1000000000ull;
  if (timeout_ns > kMaxSleepNs) timeout_ns = kMaxSleepNs;
  timespec ts{time_t(timeout_ns / 1000000000ull), long(timeout_ns % 1000000000ull)};
  futex(&word_->seq, FUTEX_WAIT, expected, &ts);  // EAGAIN/ETIMEDOUT/EINTR: caller re-checks
}

}  // namespace rk::shm
