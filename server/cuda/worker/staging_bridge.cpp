#include "server/cuda/worker/staging_bridge.h"

#include <cuda.h>

#include <algorithm>

#include "server/cuda/gpu_layout.h"
#include "server/cuda/worker/cuda_check.h"

namespace rk::server::gpu {

namespace {

// While spans keep coming the thread spins; after this long without one it
// sleeps on the bell until a client rings it.
constexpr uint64_t kSpinNs = 50'000;

template <class T>
std::atomic_ref<T> at(T& v) { return std::atomic_ref<T>(v); }

// The two driver calls the bridge needs, looked up through the runtime: the
// worker then links no libcuda of its own (the runtime loads the driver's),
// so it builds, and packages, like any other runtime-only program.
using WriteValue64 = CUresult (*)(CUstream, CUdeviceptr, cuuint64_t, unsigned int);
using DeviceAttribute = CUresult (*)(int*, CUdevice_attribute, CUdevice);
using DeviceGet = CUresult (*)(CUdevice*, int);
template <class Fn>
Fn driver_entry(const char* symbol) {
  void* fn = nullptr;
  cudaDriverEntryPointQueryResult found{};
  if (cudaGetDriverEntryPointByVersion(symbol, &fn, 12000, cudaEnableDefault, &found) != cudaSuccess ||
      found != cudaDriverEntryPointSuccess)
    return nullptr;
  return reinterpret_cast<Fn>(fn);
}
WriteValue64 write_value64() {
  static const WriteValue64 fn = driver_entry<WriteValue64>("cuStreamWriteValue64");
  return fn;
}

}  // namespace

bool StagingBridge::supported(int device, std::string& why) {
  const auto get = driver_entry<DeviceGet>("cuDeviceGet");
  const auto attribute = driver_entry<DeviceAttribute>("cuDeviceGetAttribute");
  CUdevice d{};
  int ops = 0;
  if (!write_value64() || !get || !attribute || get(&d, device) != CUDA_SUCCESS ||
      attribute(&ops, CU_DEVICE_ATTRIBUTE_CAN_USE_64_BIT_STREAM_MEM_OPS, d) != CUDA_SUCCESS || !ops) {
    why = "the staged transfer needs 64-bit stream memory operations, which this GPU or driver lacks";
    return false;
  }
  return true;
}

StagingBridge::StagingBridge(int device, shm::KernelBell* bell, uint64_t* pending)
    : device_(device), bell_(bell), pending_(pending) {
  die_on(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "bridge: stream");
  thread_ = std::thread([this] { run(); });
}

StagingBridge::~StagingBridge() {
  stop_.stop.store(true, std::memory_order_release);
  shm::Doorbell(&bell_->bell).wake_all();
  if (thread_.joinable()) thread_.join();
  for (Channel& c : channels_) cudaFreeAsync(c.mirror, stream_);
  cudaStreamSynchronize(stream_);
  cudaStreamDestroy(stream_);
}

uint8_t* StagingBridge::add(uint32_t slot, uint64_t key, shm::RingHeader* request, uint64_t capacity) {
  std::lock_guard lock(mu_);
  Channel c{};
  c.slot = slot;
  c.key = key;
  c.request = request;
  c.ring = reinterpret_cast<const uint8_t*>(request) + sizeof(shm::RingHeader);
  c.capacity = capacity;
  // Stream-ordered: allocating must not wait for the device, which runs
  // persistent kernels that never finish.
  die_on(cudaMallocAsync(reinterpret_cast<void**>(&c.mirror), capacity, stream_), "bridge: mirror");
  // The kernel starts this channel's cursor at the same head.
  c.copied = at(request->head).load(std::memory_order_acquire);
  post(slot, key, c.copied);
  // The mirror exists, and the slot's word names this channel, before the
  // channel table does.
  die_on(cudaStreamSynchronize(stream_), "bridge: add");
  channels_.push_back(c);
  return c.mirror;
}

uint8_t* StagingBridge::remove(uint32_t slot) {
  std::lock_guard lock(mu_);
  auto it = std::find_if(channels_.begin(), channels_.end(), [&](const Channel& c) { return c.slot == slot; });
  if (it == channels_.end()) return nullptr;
  uint8_t* mirror = it->mirror;
  channels_.erase(it);
  die_on(cudaStreamSynchronize(stream_), "bridge: remove");  // nothing of it in flight
  return mirror;
}

void StagingBridge::release(uint8_t* mirror) {
  if (!mirror) return;
  std::lock_guard lock(mu_);
  die_on(cudaFreeAsync(mirror, stream_), "bridge: free mirror");
}

void StagingBridge::post(uint32_t slot, uint64_t key, uint64_t tail) {
  // The default flags fence after the stream's earlier copies: an owner
  // that sees this word sees the span it ends.
  die_on(write_value64()(stream_, CUdeviceptr(pending_ + slot), pending_word(key, tail), CU_STREAM_WRITE_VALUE_DEFAULT),
         "bridge: post");
}

void StagingBridge::move_span(Channel& c, uint64_t tail) {
  const uint64_t n = tail - c.copied;
  if (n > c.capacity || n % 8 != 0) {
    // A tail no producer could publish. Posted uncopied: the owning block
    // finds the span impossible and leaves the channel alone, as mapped.
    c.broken = true;
    post(c.slot, c.key, tail);
    return;
  }
  const uint64_t off = c.copied & (c.capacity - 1);
  const uint64_t first = std::min(n, c.capacity - off);
  die_on(cudaMemcpyAsync(c.mirror + off, c.ring + off, first, cudaMemcpyHostToDevice, stream_), "bridge: copy");
  if (n > first) die_on(cudaMemcpyAsync(c.mirror, c.ring, n - first, cudaMemcpyHostToDevice, stream_), "bridge: copy");
  post(c.slot, c.key, tail);
  c.copied = tail;
  spans_.fetch_add(1, std::memory_order_relaxed);
  bytes_.fetch_add(n, std::memory_order_relaxed);
}

bool StagingBridge::any_moved() {
  std::lock_guard lock(mu_);
  for (const Channel& c : channels_)
    if (!c.broken && at(c.request->tail).load(std::memory_order_relaxed) != c.copied) return true;
  return false;
}

void StagingBridge::run() {
  // Driver calls act on the thread's current context: make it the
  // runtime's primary context of our device.
  die_on(cudaSetDevice(device_), "bridge: device");
  shm::Doorbell bell(&bell_->bell);
  while (!stop_.stop.load(std::memory_order_acquire)) {
    bool moved = false;
    {
      std::lock_guard lock(mu_);
      for (Channel& c : channels_) {
        if (c.broken) continue;
        const uint64_t tail = at(c.request->tail).load(std::memory_order_acquire);
        if (tail == c.copied) continue;
        move_span(c, tail);
        moved = true;
      }
    }
    if (!moved) (void)bell.wait([this] { return any_moved(); }, Deadline::never(), &stop_, kSpinNs);
  }
}

}  // namespace rk::server::gpu
