// Hands a MetricsSnapshot from the control thread (which alone may touch the
// Service) to the metrics thread (which serves HTTP), without ever making
// the control thread wait: the metrics thread asks and wakes the control
// loop; the control loop, when it next runs, copies the figures and hands
// them over; the metrics thread waits, bounded, for them.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>

#include "server/metrics_snapshot.h"

namespace rk::server {

class MetricsExchange {
 public:
  // `wake` makes the control loop run (ControlServer::wake).
  explicit MetricsExchange(std::function<void()> wake) : wake_(std::move(wake)) {}

  // Metrics thread: asks for a fresh snapshot and waits up to `timeout_ms`.
  // nullopt when the control loop did not answer in time.
  std::optional<MetricsSnapshot> fetch(int timeout_ms);

  // Control thread: the newest request not answered yet, or 0. Call it
  // before taking the snapshot, and pass it to provide(): a request made
  // while the snapshot was being taken waits for the next one.
  uint64_t wanted() const;
  // Control thread: hands a snapshot to the waiting metrics thread(s).
  void provide(MetricsSnapshot snapshot, uint64_t ticket);

 private:
  std::function<void()> wake_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  uint64_t asked_ = 0;     // requests made
  uint64_t answered_ = 0;  // requests covered by `latest_`
  MetricsSnapshot latest_;
};

}  // namespace rk::server
