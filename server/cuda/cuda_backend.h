// The CUDA backend as the daemon sees it. The daemon never touches CUDA:
// it starts one worker process per GPU (ringkernel-cuda-worker), hands it
// descriptors of the control page, the bell and the session segments, and
// reads telemetry from the control page directly. When a worker dies (a
// device fault is sticky for its whole process) its kernels become FAULTED
// and the next launch starts a fresh worker.
#pragma once
#include <sys/types.h>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "server/backend.h"
#include "server/cuda/heartbeat_watchdog.h"
#include "server/cuda/worker_protocol.h"

namespace rk::server::gpu {

class WorkerLink {
 public:
  // Starts the worker for `device` and waits for it to say it is ready.
  // A kernel whose heartbeat stands still `hang_ms` (0: never) gets the
  // worker killed (see HeartbeatWatchdog).
  static std::shared_ptr<WorkerLink> start(const std::string& exe, int device, uint64_t hang_ms, ControlWake wake,
                                           std::string& why);
  ~WorkerLink();

  // One request/reply exchange, at most `timeout_ms`.
  Errc call(WorkerMessage& request, int fd0, int fd1, std::string& why, int timeout_ms = 10000);
  bool dead() const { return dead_.load(std::memory_order_acquire); }
  std::string death() const;
  const std::string& device_name() const { return device_name_; }
  pid_t pid() const { return pid_; }
  // Kernels whose heartbeats the watchdog follows.
  void watch(uint32_t instance, const ControlPage* page, uint32_t grid);
  void unwatch(uint32_t instance);

 private:
  WorkerLink() = default;
  void read_loop();
  // Kills the worker, recording why (its death message then says so).
  void kill_worker(const std::string& why);

  pid_t pid_ = -1;
  int fd_ = -1;
  std::string device_name_;
  ControlWake wake_;
  std::thread reader_;
  std::mutex call_mu_;  // one exchange at a time
  std::mutex mu_;
  std::condition_variable cv_;
  std::optional<WorkerMessage> reply_;
  std::atomic<bool> dead_{false};
  std::atomic<bool> closing_{false};  // the daemon closed the link: the worker's exit is expected
  std::string death_;
  std::string kill_reason_;  // guarded by mu_
  std::unique_ptr<HeartbeatWatchdog> watchdog_;
};

class CudaBackend final : public Backend {
 public:
  // Probes the GPU by starting its worker; null (with `why`) when no
  // device is usable.
  static std::unique_ptr<CudaBackend> probe(int device, uint64_t hang_ms, ControlWake wake, std::string& why);
  const char* name() const override { return "cuda"; }
  const KernelDef* find_kernel(const std::string& name) const override;
  Result<std::unique_ptr<Executor>> launch(const LaunchSpec& spec, std::string& why) override;
  const std::string& device_name() const { return link_->device_name(); }
  uint64_t device_resets() const override { return restarts_.load(std::memory_order_relaxed); }

 private:
  std::string exe_;
  int device_ = 0;
  uint64_t hang_ms_ = 0;
  ControlWake wake_;
  std::shared_ptr<WorkerLink> link_;
  std::atomic<uint64_t> restarts_{0};  // workers started after the first (read by the metrics thread)
};

// The worker binary next to the running ringkerneld.
std::string worker_executable();

}  // namespace rk::server::gpu
