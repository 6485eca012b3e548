// One persistent kernel in the GPU worker: its mapped control page and
// bell, channel table, device buffers, stream, and two helper threads — a
// monitor that learns when the kernel ends (or faults), and a waker that
// turns device-written replies into futex wakes for parked clients.
#pragma once
#include <cuda_runtime.h>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "server/transfer.h"
#include "server/cuda/worker/kernel_args.h"
#include "server/cuda/worker/staging_bridge.h"
#include "server/cuda/worker_protocol.h"
#include "shm/segment.h"

namespace rk::server::gpu {

// A session segment as the worker maps it (its own mapping, from the
// descriptor), shared by all channels of that session.
struct MappedSegment {
  shm::Segment segment;
};

struct BoundChannel {
  uint64_t key;
  uint32_t index;                     // slot in the ChannelTable
  std::shared_ptr<MappedSegment> seg;
  std::byte* area = nullptr;          // host address of the registered rings
  uint64_t area_bytes = 0;
  shm::RingHeader* request = nullptr; // host addresses, for the waker
  shm::RingHeader* reply = nullptr;
  uint64_t seen_reply_tail = 0, seen_request_head = 0;
  uint8_t* mirror = nullptr;          // staged: the request ring's copy in device memory
};

// Unregisters the host memory that ended kernels left pinned. Call only
// while no persistent kernel runs (see gpu_instance.cpp).
void unpin_idle();

class GpuInstance {
 public:
  using Exited = std::function<void(uint32_t instance)>;
  // Maps and registers the pages, allocates, launches. On failure returns
  // null with `status`/`why` set.
  static std::unique_ptr<GpuInstance> launch(const WorkerMessage& m, int control_fd, int bell_fd, double& gpu_share,
                                             Exited on_exit, Errc& status, std::string& why);
  ~GpuInstance();

  Errc bind(const WorkerMessage& m, std::shared_ptr<MappedSegment> seg, std::string& why);
  Errc unbind(uint64_t key, std::string& why);
  double share() const { return share_; }
  Transfer transfer() const { return transfer_; }
  // Asks the kernel to leave its loop (the daemon is gone).
  void request_stop();
  bool exited() const { return exited_.load(); }

 private:
  GpuInstance() = default;
  // Publishes the table and waits until every block uses it, so that memory
  // dropped from it is no longer read by the GPU.
  bool publish_table(std::string& why);
  void monitor();
  // RK_WORKER_TRACE: every channel's ring indices, every 250 ms.
  void trace_rings();
  void waker();
  bool any_parked();

  uint32_t id_ = 0;
  uint32_t grid_ = 0, block_ = 0;
  double share_ = 0;
  Transfer transfer_ = Transfer::mapped;
  std::unique_ptr<StagingBridge> bridge_;  // staged transfer only
  std::shared_ptr<shm::Segment> control_seg_, bell_seg_;
  ControlPage* control_ = nullptr;     // host address
  shm::KernelBell* bell_ = nullptr;    // host address
  ChannelTable* table_ = nullptr;      // cudaHostAlloc'd, mapped
  KernelArgs args_{};
  cudaStream_t stream_ = nullptr;
  std::mutex mu_;                      // guards channels_ and the table
  std::vector<BoundChannel> channels_;
  // Unbound channels stay registered until the kernel exits: unregistering
  // host memory may wait for the device to go idle, which a GPU running
  // persistent kernels never does. Registrations are counted worker-wide.
  std::vector<BoundChannel> retired_;
  bool trap_ = false;  // a debug kernel (trap or hang): no channel table
  std::atomic<bool> exited_{false};
  std::atomic<bool> stopping_{false};
  Exited on_exit_;
  std::thread monitor_, waker_;
};

}  // namespace rk::server::gpu
