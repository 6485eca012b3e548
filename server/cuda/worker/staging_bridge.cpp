#include "server/cuda/worker/staging_bridge.h"

#include <cuda.h>

#include <algorithm>
#include <chrono>

#include "server/cuda/gpu_layout.h"
#include "server/cuda/worker/cuda_check.h"
#include "shm/atomic_at.h"

namespace rk::server::gpu {

namespace {

// While spans keep coming the thread spins; after this long without one it
// sleeps on the bell until a client rings it.
constexpr uint64_t kSpinNs = 50'000;
// While the kernel is inactive.
constexpr int64_t kInactivePollUs = 200;
constexpr int64_t kInactiveWaitMs = 100;

using shm::at;

// The two driver calls the bridge needs, looked up through the runtime: the
// worker then links no libcuda of its own (the runtime loads the driver's),
// so it builds, and packages, like any other runtime-only program.
using WriteValue64 = CUresult (*)(CUstream, CUdeviceptr, cuuint64_t, unsigned int);
using BatchMemOp = CUresult (*)(CUstream, unsigned int, CUstreamBatchMemOpParams*, unsigned int);
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
BatchMemOp batch_mem_op() {
  static const BatchMemOp fn = driver_entry<BatchMemOp>("cuStreamBatchMemOp");
  return fn;
}
// Stream memory operations per cuStreamBatchMemOp call (the driver caps a batch).
constexpr size_t kPostsPerBatch = 128;

}  // namespace

bool StagingBridge::supported(int device, std::string& why) {
  const auto get = driver_entry<DeviceGet>("cuDeviceGet");
  const auto attribute = driver_entry<DeviceAttribute>("cuDeviceGetAttribute");
  CUdevice d{};
  int ops = 0;
  if (!write_value64() || !batch_mem_op() || !get || !attribute || get(&d, device) != CUDA_SUCCESS ||
      attribute(&ops, CU_DEVICE_ATTRIBUTE_CAN_USE_64_BIT_STREAM_MEM_OPS, d) != CUDA_SUCCESS || !ops) {
    why = "the staged transfer needs 64-bit stream memory operations, which this GPU or driver lacks";
    return false;
  }
  return true;
}

StagingBridge::StagingBridge(int device, const ControlBlock* control, shm::KernelBell* bell, uint64_t* pending)
    : device_(device), control_(control), bell_(bell), pending_(pending) {
  for (cudaStream_t& s : streams_) die_on(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "bridge: stream");
  thread_ = std::thread([this] { run(); });
}

StagingBridge::~StagingBridge() {
  stop_.stop.store(true, std::memory_order_release);
  shm::Doorbell(&bell_->bell).wake_all();
  if (thread_.joinable()) thread_.join();
  for (cudaStream_t s : streams_) cudaStreamSynchronize(s);
  for (Channel& c : channels_) cudaFreeAsync(c.mirror, streams_[0]);
  for (cudaStream_t s : streams_) {
    cudaStreamSynchronize(s);
    cudaStreamDestroy(s);
  }
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
  cudaStream_t stream = stream_of(slot);
  die_on(cudaMallocAsync(reinterpret_cast<void**>(&c.mirror), capacity, stream), "bridge: mirror");
  // Zeroed: pool memory may hold another session's requests, and a client
  // can make the kernel read mirror bytes the bridge never copied (a head
  // it moves before the kernel reads it); it must find nothing but zeros.
  die_on(cudaMemsetAsync(c.mirror, 0, capacity, stream), "bridge: mirror");
  // The kernel starts this channel's cursor at the same head.
  c.copied = at(request->head).load(std::memory_order_acquire);
  post(slot, key, c.copied);
  // The mirror exists, and the slot's word names this channel, before the
  // channel table does.
  die_on(cudaStreamSynchronize(stream), "bridge: add");
  channels_.push_back(c);
  return c.mirror;
}

uint8_t* StagingBridge::remove(uint32_t slot) {
  std::lock_guard lock(mu_);
  auto it = std::find_if(channels_.begin(), channels_.end(), [&](const Channel& c) { return c.slot == slot; });
  if (it == channels_.end()) return nullptr;
  uint8_t* mirror = it->mirror;
  channels_.erase(it);
  die_on(cudaStreamSynchronize(stream_of(slot)), "bridge: remove");  // nothing of it in flight
  return mirror;
}

void StagingBridge::release(uint8_t* mirror) {
  if (!mirror) return;
  std::lock_guard lock(mu_);
  die_on(cudaFreeAsync(mirror, streams_[0]), "bridge: free mirror");  // nothing uses it since remove()
}

void StagingBridge::post(uint32_t slot, uint64_t key, uint64_t tail) {
  // The default flags fence after the stream's earlier copies: an owner
  // that sees this word sees the span it ends.
  die_on(write_value64()(stream_of(slot), CUdeviceptr(pending_ + slot), pending_word(key, tail),
                         CU_STREAM_WRITE_VALUE_DEFAULT),
         "bridge: post");
}

void StagingBridge::gather(Channel& c, uint64_t tail, Round& r) {
  const uint64_t n = tail - c.copied;
  if (n > c.capacity || n % 8 != 0) {
    // A tail no producer could publish. Posted as a misaligned span, which
    // the owning block finds impossible and leaves alone (the tail itself
    // could pass the kernel's 48-bit arithmetic as a small span).
    c.broken = true;
    r.posts.push_back({c.slot, c.key, c.copied + 4});
    return;
  }
  const uint64_t off = c.copied & (c.capacity - 1);
  const uint64_t first = std::min(n, c.capacity - off);
  r.copy(c.mirror + off, c.ring + off, first);
  if (n > first) r.copy(c.mirror, c.ring, n - first);
  r.posts.push_back({c.slot, c.key, tail});
  r.bytes += n;
  c.copied = tail;
}

void StagingBridge::submit(Round& r, cudaStream_t stream) {
  if (!r.sizes.empty()) {
    // One call for every span of the round: the copies' cost is the API's
    // per call far more than the engines' per byte.
    cudaMemcpyAttributes attr{};
    attr.srcAccessOrder = cudaMemcpySrcAccessOrderStream;
    size_t first = 0;
    die_on(cudaMemcpyBatchAsync(r.dsts.data(), r.srcs.data(), r.sizes.data(), r.sizes.size(), &attr, &first, 1,
                                stream),
           "bridge: copy");
  }
  // The posts after them, in one batch of stream-ordered writes whose
  // default flags fence after the copies: an owner that sees its word
  // sees the span it ends.
  for (size_t i = 0; i < r.posts.size(); i += kPostsPerBatch) {
    CUstreamBatchMemOpParams ops[kPostsPerBatch]{};
    const size_t n = std::min(kPostsPerBatch, r.posts.size() - i);
    for (size_t j = 0; j < n; ++j) {
      const Post& p = r.posts[i + j];
      ops[j].writeValue.operation = CU_STREAM_MEM_OP_WRITE_VALUE_64;
      ops[j].writeValue.address = CUdeviceptr(pending_ + p.slot);
      ops[j].writeValue.value64 = pending_word(p.key, p.tail);
      ops[j].writeValue.flags = CU_STREAM_WRITE_VALUE_DEFAULT;
    }
    die_on(batch_mem_op()(stream, unsigned(n), ops, 0), "bridge: post");
  }
  spans_.fetch_add(r.posts.size(), std::memory_order_relaxed);
  bytes_.fetch_add(r.bytes, std::memory_order_relaxed);
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
    // An inactive kernel serves nothing (requests wait in the rings, as
    // with mapped, whose scout posts nothing then): post nothing, and look
    // again now and then while something waits. Only a launched or
    // deactivated kernel with queued requests polls like this.
    if (std::atomic_ref<uint32_t>(const_cast<uint32_t&>(control_->active)).load(std::memory_order_acquire) == 0) {
      if (any_moved()) {
        std::this_thread::sleep_for(std::chrono::microseconds(kInactivePollUs));
        continue;
      }
      (void)bell.wait([this] { return any_moved(); }, Deadline::after_ms(kInactiveWaitMs), &stop_, 0);
      continue;
    }
    bool moved = false;
    {
      std::lock_guard lock(mu_);
      for (Round& r : rounds_) r.clear();
      for (Channel& c : channels_) {
        if (c.broken) continue;
        const uint64_t tail = at(c.request->tail).load(std::memory_order_acquire);
        if (tail != c.copied) gather(c, tail, rounds_[c.slot % kCopyStreams]);
      }
      for (uint32_t i = 0; i < kCopyStreams; ++i)
        if (!rounds_[i].posts.empty()) {
          submit(rounds_[i], streams_[i]);
          moved = true;
        }
    }
    if (!moved) (void)bell.wait([this] { return any_moved(); }, Deadline::never(), &stop_, kSpinNs);
  }
}

}  // namespace rk::server::gpu
