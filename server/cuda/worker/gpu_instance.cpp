#include "server/cuda/worker/gpu_instance.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <map>
#include <mutex>

#include "server/cuda/worker/persistent_kernel.h"
#include "shm/clock.h"
#include "shm/doorbell.h"

namespace rk::server::gpu {

namespace {

// A CUDA error in the worker is fatal: a sticky device fault poisons the
// whole context, so the daemon restarts us rather than trust it.
void die_on(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return;
  std::fprintf(stderr, "ringkernel-cuda-worker: %s: %s\n", what, cudaGetErrorString(e));
  std::_Exit(3);
}

template <class T>
T* device_address(void* host) {
  void* d = nullptr;
  die_on(cudaHostGetDevicePointer(&d, host, 0), "cudaHostGetDevicePointer");
  return static_cast<T*>(d);
}

template <class T>
std::atomic_ref<T> at(T& v) { return std::atomic_ref<T>(v); }

// Ring areas registered with CUDA, counted across instances: two kernels
// (or one, re-binding) may serve the same rings, and registering a range
// twice is an error while unregistering it early pulls it from under the
// other. Guarded by g_registry_mu.
std::mutex g_registry_mu;
std::map<std::byte*, int> g_registered;

void register_area(std::byte* p, uint64_t bytes) {
  std::lock_guard lock(g_registry_mu);
  if (g_registered[p]++ == 0) die_on(cudaHostRegister(p, bytes, cudaHostRegisterMapped), "register channel rings");
}

void unregister_area(std::byte* p) {
  std::lock_guard lock(g_registry_mu);
  auto it = g_registered.find(p);
  if (it == g_registered.end()) return;
  if (--it->second == 0) {
    cudaHostUnregister(p);
    g_registered.erase(it);
  }
}

constexpr uint32_t kStageIn = 256 * 1024;   // >= one max record + header, many small ones
constexpr uint32_t kStageOut = 512 * 1024;  // replies of a full stage, with slack and padding

}  // namespace

std::unique_ptr<GpuInstance> GpuInstance::launch(const WorkerMessage& m, int control_fd, int bell_fd,
                                                 double& gpu_share, Exited on_exit, Errc& status, std::string& why) {
  std::unique_ptr<GpuInstance> g(new GpuInstance());
  g->id_ = m.instance;
  g->on_exit_ = std::move(on_exit);
  auto control = shm::Segment::from_fd(control_fd);
  auto bell = shm::Segment::from_fd(bell_fd);
  if (!control || !bell) {
    status = Errc::internal;
    why = "cannot map the control page or the bell";
    return nullptr;
  }
  g->control_seg_ = std::move(*control);
  g->bell_seg_ = std::move(*bell);
  die_on(cudaHostRegister(g->control_seg_.data(), g->control_seg_.size(), cudaHostRegisterMapped), "register control page");
  die_on(cudaHostRegister(g->bell_seg_.data(), g->bell_seg_.size(), cudaHostRegisterMapped), "register bell");
  g->control_ = reinterpret_cast<ControlPage*>(static_cast<std::byte*>(g->control_seg_.data()) + sizeof(shm::SegmentHeader));
  g->bell_ = reinterpret_cast<shm::KernelBell*>(static_cast<std::byte*>(g->bell_seg_.data()) + sizeof(shm::SegmentHeader));

  // Co-residency: every persistent kernel must fit on the GPU at once, or
  // one of them would wait forever for SMs another never gives back.
  g->block_ = m.block ? m.block : (m.block_per_message ? 256 : 128);
  g->grid_ = m.grid ? m.grid : 1;
  if (g->block_ > 1024 || g->grid_ > kMaxBlocks) {
    status = Errc::invalid_argument;
    why = "grid must be <= " + std::to_string(kMaxBlocks) + " and block <= 1024";
    return nullptr;
  }
  int device = 0, sms = 0, per_sm = 0;
  die_on(cudaGetDevice(&device), "cudaGetDevice");
  die_on(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device), "SM count");
  die_on(persistent_kernel_blocks_per_sm(g->block_, &per_sm), "occupancy");
  const double capacity = double(per_sm) * sms;
  g->share_ = capacity > 0 ? g->grid_ / capacity : 2.0;
  if (gpu_share + g->share_ > 1.0) {
    status = Errc::limit;
    why = "not co-resident: " + std::to_string(g->grid_) + " blocks of " + std::to_string(g->block_) +
          " threads would exceed the GPU (" + std::to_string(int(capacity)) + " such blocks fit, " +
          std::to_string(int(gpu_share * 100)) + "% already taken by running kernels)";
    return nullptr;
  }

  // Nothing here may synchronise the whole device: other persistent
  // kernels never finish. So: stream-ordered allocation on our own
  // non-blocking stream, and registered (not cudaHostAlloc'd) host memory.
  die_on(cudaStreamCreateWithFlags(&g->stream_, cudaStreamNonBlocking), "stream");
  g->table_ = static_cast<ChannelTable*>(std::aligned_alloc(4096, (sizeof(ChannelTable) + 4095) / 4096 * 4096));
  std::memset(g->table_, 0, sizeof(ChannelTable));
  die_on(cudaHostRegister(g->table_, sizeof(ChannelTable), cudaHostRegisterMapped), "register table");
  KernelArgs& a = g->args_;
  a.control = device_address<ControlPage>(g->control_);
  a.bell = device_address<shm::KernelBell>(g->bell_);
  a.table = device_address<ChannelTable>(g->table_);
  cudaStream_t s = g->stream_;
  die_on(cudaMallocAsync(reinterpret_cast<void**>(&a.cursors), sizeof(DeviceCursor) * kMaxChannels, s), "cursors");
  die_on(cudaMemsetAsync(a.cursors, 0, sizeof(DeviceCursor) * kMaxChannels, s), "cursors");
  a.stage_in = kStageIn;
  a.stage_out = kStageOut;
  die_on(cudaMallocAsync(reinterpret_cast<void**>(&a.scratch), size_t(g->grid_) * (kStageIn + kStageOut), s), "scratch");
  a.state_bytes = m.state_bytes;
  if (m.state_bytes) {
    die_on(cudaMallocAsync(&a.state, m.state_bytes, s), "state");
    die_on(cudaMemsetAsync(a.state, 0, m.state_bytes, s), "state");
  }
  a.instance = m.instance;
  a.builtin = m.builtin;
  a.block_per_message = m.block_per_message;
  die_on(cudaStreamSynchronize(s), "setup");

  // Clients bump the bell's seq after publishing, without a system call.
  at(g->bell_->bell.waiters).store(shm::kBellPolled, std::memory_order_release);
  g->trap_ = m.builtin == kTrapKernel;
  if (g->trap_) die_on(launch_trap_kernel(g->stream_), "launch trap kernel");
  else die_on(launch_persistent_kernel(a, g->grid_, g->block_, g->stream_), "launch");
  gpu_share += g->share_;
  g->monitor_ = std::thread([p = g.get()] { p->monitor(); });
  g->waker_ = std::thread([p = g.get()] { p->waker(); });
  status = Errc::ok;
  return g;
}

GpuInstance::~GpuInstance() {
  stopping_.store(true);
  shm::Doorbell(&bell_->parked).wake_all();
  if (waker_.joinable()) waker_.join();
  if (monitor_.joinable()) monitor_.join();  // the kernel has exited
  for (auto& c : channels_) unregister_area(c.area);
  for (auto& c : retired_) unregister_area(c.area);
  // Stream-ordered frees: no device-wide synchronisation.
  cudaFreeAsync(args_.cursors, stream_);
  cudaFreeAsync(args_.scratch, stream_);
  if (args_.state) cudaFreeAsync(args_.state, stream_);
  cudaStreamSynchronize(stream_);
  cudaStreamDestroy(stream_);
  cudaHostUnregister(table_);
  std::free(table_);
  cudaHostUnregister(control_seg_.data());
  cudaHostUnregister(bell_seg_.data());
}

void GpuInstance::request_stop() {
  at(control_->cb.terminate_requested).store(1, std::memory_order_release);
}

void GpuInstance::monitor() {
  // Blocks until the kernel returns. An error here is a device fault.
  die_on(cudaStreamSynchronize(stream_), "persistent kernel");
  at(control_->cb.terminated).store(1, std::memory_order_release);
  exited_.store(true);
  shm::Doorbell(&bell_->parked).wake_all();
  on_exit_(id_);
}

bool GpuInstance::publish_table(std::string& why) {
  at(bell_->bell.waiters).fetch_or(shm::kBellPolled, std::memory_order_relaxed);
  const uint64_t epoch = at(control_->cb.table_epoch).load(std::memory_order_relaxed) + 1;
  at(control_->cb.table_epoch).store(epoch, std::memory_order_release);
  if (exited_.load() || trap_) return true;  // nobody reads the table (any more)
  const uint64_t deadline = monotonic_ns() + 5000000000ull;
  for (uint32_t b = 0; b < grid_; ++b) {
    while (at(control_->blocks[b].seen_table_epoch).load(std::memory_order_acquire) < epoch) {
      if (exited_.load()) return true;
      if (monotonic_ns() > deadline) {
        why = "the kernel did not acknowledge its channel table within 5 s (hung?)";
        return false;
      }
      shm::cpu_relax();
    }
  }
  return true;
}

Errc GpuInstance::bind(const WorkerMessage& m, std::shared_ptr<MappedSegment> seg, std::string& why) {
  std::lock_guard lock(mu_);
  const uint64_t area_bytes = m.reply_offset + m.ring_bytes - m.request_offset;
  if (m.request_offset % shm::kSegmentPage || m.reply_offset != m.request_offset + m.ring_bytes ||
      m.reply_offset + m.ring_bytes > seg->segment.size() || m.capacity + sizeof(shm::RingHeader) > m.ring_bytes ||
      (m.capacity & (m.capacity - 1)) != 0) {
    why = "channel rings outside the segment";
    return Errc::invalid_argument;
  }
  BoundChannel c;
  c.key = (m.session << 32) | m.slot;
  c.seg = std::move(seg);
  c.area = static_cast<std::byte*>(c.seg->segment.data()) + m.request_offset;
  c.area_bytes = area_bytes;
  // Only the rings are pinned, not the whole (sparse) session segment.
  register_area(c.area, area_bytes);
  c.request = reinterpret_cast<shm::RingHeader*>(c.area);
  c.reply = reinterpret_cast<shm::RingHeader*>(c.area + m.ring_bytes);
  uint32_t index = 0;
  while (index < table_->count && table_->channels[index].live) ++index;
  if (index == kMaxChannels) {
    unregister_area(c.area);
    why = "the kernel serves its maximum of " + std::to_string(kMaxChannels) + " channels";
    return Errc::limit;
  }
  c.index = index;
  DeviceChannel& d = table_->channels[index];
  d.request_ring = reinterpret_cast<uint64_t>(device_address<void>(c.request));
  d.reply_ring = reinterpret_cast<uint64_t>(device_address<void>(c.reply));
  // Bounds from the daemon's own record, never from the client-writable header.
  d.capacity = m.capacity;
  d.max_record = m.max_record;
  // A fresh key per bind (not the daemon's session/slot pair, which repeats
  // when a slot is reused): the kernel resets its cursors on a new key.
  static uint64_t binds = 0;
  d.key = ++binds;
  at(d.live).store(1, std::memory_order_release);
  if (index == table_->count) at(table_->count).store(index + 1, std::memory_order_release);
  channels_.push_back(std::move(c));
  if (!publish_table(why)) return Errc::internal;
  shm::Doorbell(&bell_->parked).wake_all();  // the waker looks at the new set
  return Errc::ok;
}

Errc GpuInstance::unbind(uint64_t key, std::string& why) {
  std::lock_guard lock(mu_);
  auto it = std::find_if(channels_.begin(), channels_.end(), [&](const BoundChannel& c) { return c.key == key; });
  if (it == channels_.end()) return Errc::ok;
  at(table_->channels[it->index].live).store(0, std::memory_order_release);
  if (!publish_table(why)) {
    // The GPU may still read it: keep the memory pinned and mapped forever
    // rather than let it read freed pages.
    [[maybe_unused]] auto* leaked = new std::shared_ptr<MappedSegment>(std::move(it->seg));
    channels_.erase(it);
    return Errc::internal;
  }
  retired_.push_back(std::move(*it));
  channels_.erase(it);
  return Errc::ok;
}

bool GpuInstance::any_parked() {
  for (auto& c : channels_)
    if ((at(c.reply->data_bell.waiters).load(std::memory_order_relaxed) & shm::kBellSleeping) ||
        (at(c.request->space_bell.waiters).load(std::memory_order_relaxed) & shm::kBellSleeping))
      return true;
  return false;
}

void GpuInstance::waker() {
  // Sleeps while no client sleeps; while some do, watches their rings'
  // indices (host memory, no PCIe) with a short backoff and wakes them as
  // the GPU moves them.
  shm::Doorbell parked(&bell_->parked);
  uint32_t backoff_ns = 1000;
  while (!stopping_.load()) {
    {
      std::unique_lock lock(mu_);
      if (!any_parked()) {
        lock.unlock();
        (void)parked.wait([&] {
          std::lock_guard l(mu_);
          return stopping_.load() || any_parked();
        }, Deadline::never(), nullptr, 0);
        backoff_ns = 1000;
        continue;
      }
      for (auto& c : channels_) {
        const uint64_t tail = at(c.reply->tail).load(std::memory_order_acquire);
        const uint64_t head = at(c.request->head).load(std::memory_order_acquire);
        if (tail != c.seen_reply_tail) {
          c.seen_reply_tail = tail;
          shm::Doorbell(&c.reply->data_bell).ring();
          backoff_ns = 1000;
        }
        if (head != c.seen_request_head) {
          c.seen_request_head = head;
          shm::Doorbell(&c.request->space_bell).ring();
          backoff_ns = 1000;
        }
      }
    }
    timespec ts{0, long(backoff_ns)};
    nanosleep(&ts, nullptr);
    backoff_ns = backoff_ns * 2 > 50000 ? 50000 : backoff_ns * 2;
  }
}

}  // namespace rk::server::gpu
