#include "server/systemd_notify.h"

#include <systemd/sd-daemon.h>

#include <chrono>

namespace rk::server {

void notify_ready(const std::string& status) {
  const std::string message = "READY=1\nSTATUS=" + status;
  sd_notify(0, message.c_str());
}

void notify_stopping() { sd_notify(0, "STOPPING=1\nSTATUS=shutting down"); }

int systemd_listen_fd(std::string& why) {
  // unset_environment: children (the GPU workers) must not think the
  // socket is theirs.
  const int n = sd_listen_fds(1);
  if (n <= 0) return -1;
  if (n > 1) {
    why = "systemd passed " + std::to_string(n) + " sockets; ringkerneld serves exactly one control socket";
    return -2;
  }
  return SD_LISTEN_FDS_START;
}

Watchdog::Watchdog(std::function<void()> wake) : wake_(std::move(wake)) {
  uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) return;
  interval_us_ = usec;
  thread_ = std::thread([this] {
    const auto half = std::chrono::microseconds(interval_us_ / 2);
    std::unique_lock lock(mu_);
    while (!cv_.wait_for(lock, half, [this] { return stop_; })) {
      due_.store(true, std::memory_order_relaxed);
      wake_();
    }
  });
}

Watchdog::~Watchdog() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Watchdog::ping_if_due() {
  if (due_.exchange(false, std::memory_order_relaxed)) sd_notify(0, "WATCHDOG=1");
}

}  // namespace rk::server
