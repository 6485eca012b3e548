// ringkerneld under systemd (libsystemd): readiness and watchdog
// notifications for Type=notify units, and the listening socket of a
// .socket unit (socket activation). Outside systemd every call is a no-op.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace rk::server {

// READY=1 with a STATUS= line, once the control socket accepts clients.
void notify_ready(const std::string& status);
// STOPPING=1, when shutdown begins.
void notify_stopping();

// The control socket systemd passed (LISTEN_FDS), or -1 when there is none.
// More than one descriptor is an error (`why` set, returns -2).
int systemd_listen_fd(std::string& why);

// WatchdogSec=: pings WATCHDOG=1 only from the control loop, so a control
// thread that hangs stops the pings and systemd restarts the daemon. A
// thread of its own asks for a ping at half the interval by waking the
// control loop; the loop's wake hook calls ping_if_due().
class Watchdog {
 public:
  // `wake` makes the control loop run. Does nothing unless systemd asked
  // for a watchdog (WATCHDOG_USEC for this pid).
  explicit Watchdog(std::function<void()> wake);
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  bool enabled() const { return interval_us_ != 0; }
  uint64_t interval_us() const { return interval_us_; }
  // Control thread: sends WATCHDOG=1 if the timer asked for it.
  void ping_if_due();

 private:
  std::function<void()> wake_;
  uint64_t interval_us_ = 0;
  std::atomic<bool> due_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace rk::server
