// Hang detection for the kernels of one GPU worker: every block of a running
// persistent kernel stamps its heartbeat (%globaltimer) at least every
// millisecond, idle or not. A kernel whose newest stamp stands still for the
// hang timeout (or that never stamped one) is hung; the watchdog then calls
// `on_hang` once, which kills the worker: its kernels turn FAULTED and the
// next launch starts a fresh one, as after a device fault. The daemon's side
// only: it reads the control pages and never touches CUDA.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "server/cuda/gpu_layout.h"

namespace rk::server::gpu {

class HeartbeatWatchdog {
 public:
  using OnHang = std::function<void(const std::string& why)>;
  // hang_ms == 0: never fires (and starts no thread).
  HeartbeatWatchdog(uint64_t hang_ms, OnHang on_hang);
  ~HeartbeatWatchdog();
  HeartbeatWatchdog(const HeartbeatWatchdog&) = delete;
  HeartbeatWatchdog& operator=(const HeartbeatWatchdog&) = delete;

  // `page` stays mapped until unwatch(instance).
  void watch(uint32_t instance, const ControlPage* page, uint32_t grid);
  void unwatch(uint32_t instance);

 private:
  struct Watched {
    const ControlPage* page;
    uint32_t grid;
    uint64_t last_stamp = 0;     // newest heartbeat of any block
    uint64_t still_since_ns = 0; // monotonic time the stamp last moved (or watching began)
  };
  void run();
  // The reason, if `w` is hung at `now`.
  std::string check(uint32_t instance, Watched& w, uint64_t now) const;

  const uint64_t hang_ns_;
  OnHang on_hang_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<uint32_t, Watched> watched_;
  bool stopping_ = false;
  bool fired_ = false;
  std::thread thread_;
};

}  // namespace rk::server::gpu
