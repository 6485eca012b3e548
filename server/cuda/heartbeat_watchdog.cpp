#include "server/cuda/heartbeat_watchdog.h"

#include <algorithm>
#include <atomic>
#include <chrono>

#include "shm/clock.h"

namespace rk::server::gpu {

namespace {

template <class T>
T load(const T& v) {
  return std::atomic_ref<T>(const_cast<T&>(v)).load(std::memory_order_relaxed);
}

}  // namespace

HeartbeatWatchdog::HeartbeatWatchdog(uint64_t hang_ms, OnHang on_hang)
    : hang_ns_(hang_ms * 1000000ull), on_hang_(std::move(on_hang)) {
  if (hang_ns_ != 0) thread_ = std::thread([this] { run(); });
}

HeartbeatWatchdog::~HeartbeatWatchdog() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void HeartbeatWatchdog::watch(uint32_t instance, const ControlPage* page, uint32_t grid) {
  std::lock_guard lock(mu_);
  watched_[instance] = Watched{page, std::min(grid, kMaxBlocks), 0, monotonic_ns()};
}

void HeartbeatWatchdog::unwatch(uint32_t instance) {
  std::lock_guard lock(mu_);
  watched_.erase(instance);
}

std::string HeartbeatWatchdog::check(uint32_t instance, Watched& w, uint64_t now) const {
  // A kernel that has left its loop stamps no more: not hung.
  if (load(w.page->cb.terminated)) return {};
  bool all_exited = true;
  uint64_t newest = 0;
  for (uint32_t b = 0; b < w.grid; ++b) {
    newest = std::max(newest, load(w.page->blocks[b].heartbeat_ns));
    all_exited = all_exited && load(w.page->blocks[b].exited);
  }
  if (all_exited) return {};
  if (newest != w.last_stamp) {
    w.last_stamp = newest;
    w.still_since_ns = now;
    return {};
  }
  if (now - w.still_since_ns < hang_ns_) return {};
  return "kernel #" + std::to_string(instance) + (newest ? " stopped its heartbeat" : " never started its heartbeat") +
         " for " + std::to_string((now - w.still_since_ns) / 1000000) + " ms: hung";
}

void HeartbeatWatchdog::run() {
  // Checks four times per timeout: a hang is reported within 1.25 timeouts.
  const auto period = std::chrono::nanoseconds(std::max<uint64_t>(hang_ns_ / 4, 1000000));
  std::unique_lock lock(mu_);
  while (!stopping_) {
    cv_.wait_for(lock, period, [this] { return stopping_; });
    if (stopping_ || fired_) continue;
    const uint64_t now = monotonic_ns();
    for (auto& [instance, w] : watched_) {
      std::string why = check(instance, w, now);
      if (why.empty()) continue;
      fired_ = true;  // one worker, one kill
      lock.unlock();
      on_hang_(why);
      lock.lock();
      break;
    }
  }
}

}  // namespace rk::server::gpu
