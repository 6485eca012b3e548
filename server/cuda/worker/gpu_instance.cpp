#include "server/cuda/worker/gpu_instance.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <map>
#include <mutex>
#include <string>

#include "server/cuda/worker/cuda_check.h"
#include "server/cuda/worker/persistent_kernel.h"
#include "server/cuda/worker/post_words.h"
#include "server/cuda/worker/transfer_choice.h"
#include "server/cuda/worker/trace.h"
#include "shm/atomic_at.h"
#include "shm/clock.h"
#include "shm/doorbell.h"

namespace rk::server::gpu {

namespace {

template <class T>
T* device_address(void* host) {
  void* d = nullptr;
  die_on(cudaHostGetDevicePointer(&d, host, 0), "cudaHostGetDevicePointer");
  return static_cast<T*>(d);
}

using shm::at;

// A tuning knob's value from the environment (same-lease A/B runs), else `fallback`.
uint32_t env_u32(const char* name, uint32_t fallback) {
  const char* v = std::getenv(name);
  return v && *v ? uint32_t(std::strtoul(v, nullptr, 10)) : fallback;
}

// Host memory registered with CUDA, counted across instances: two kernels
// (or one, re-binding) may serve the same rings, and registering a range
// twice is an error while unregistering it early pulls it from under the
// other. Unregistering may wait for the whole device to go idle, which a
// GPU running persistent kernels never does (seen on the H100: the worker
// hung in cudaHostUnregister with other kernels running). So a range whose
// count drops to zero stays registered, and its memory mapped, until no
// kernel runs: unpin_idle(). Guarded by g_registry_mu.
struct Pinned {
  int count = 0;
  std::shared_ptr<void> keep;  // owns the memory while it is registered
};
std::mutex g_registry_mu;
std::map<void*, Pinned> g_pinned;
std::vector<void*> g_unpin;

void pin(void* p, uint64_t bytes, std::shared_ptr<void> keep) {
  std::lock_guard lock(g_registry_mu);
  Pinned& e = g_pinned[p];
  if (e.count++ == 0 && !e.keep) {
    die_on(cudaHostRegister(p, bytes, cudaHostRegisterMapped), "cudaHostRegister");
    e.keep = std::move(keep);
  } else if (e.count == 1) {
    std::erase(g_unpin, p);  // pinned again before it was dropped
  }
}

void unpin_later(void* p) {
  std::lock_guard lock(g_registry_mu);
  auto it = g_pinned.find(p);
  if (it != g_pinned.end() && --it->second.count == 0) g_unpin.push_back(p);
}


constexpr size_t kTableBytes = (sizeof(ChannelTable) + 4095) / 4096 * 4096;

// A block's device-memory stages. In: at least one max record, and several
// big ones per publish fence (256 KiB gave 22.5 GB/s consumed, 1 MiB 28.6).
// Out: the replies of a full in-stage (each up to its request plus
// kReplySlack) and a padding record where the reply ring wraps; a smaller
// out-stage would cut the plan short of what was copied in.
constexpr uint32_t kStageIn = 1024 * 1024;
constexpr uint32_t kStageOut = kStageIn + 256 * 1024;

}  // namespace

void unpin_idle() {
  std::lock_guard lock(g_registry_mu);
  for (void* p : g_unpin) {
    auto it = g_pinned.find(p);
    if (it == g_pinned.end() || it->second.count != 0) continue;
    cudaHostUnregister(p);
    g_pinned.erase(it);  // and the memory may go
  }
  g_unpin.clear();
}

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
  g->control_seg_ = std::make_shared<shm::Segment>(std::move(*control));
  g->bell_seg_ = std::make_shared<shm::Segment>(std::move(*bell));

  // Co-residency: every persistent kernel must fit on the GPU at once, or
  // one of them would wait forever for SMs another never gives back.
  // Whole warps: a message is served by a warp (or by the whole block).
  g->block_ = m.block ? m.block : 256;
  g->grid_ = m.grid ? m.grid : 1;
  if (g->block_ > kMaxBlockThreads || g->block_ % 32 != 0 || g->grid_ > kMaxBlocks) {
    status = Errc::invalid_argument;
    why = "grid must be <= " + std::to_string(kMaxBlocks) + " and block a multiple of 32 up to " +
          std::to_string(kMaxBlockThreads);
    return nullptr;
  }
  int device = 0, sms = 0, per_sm = 0;
  die_on(cudaGetDevice(&device), "cudaGetDevice");
  die_on(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device), "SM count");
  // The debug kernels are tiny: echo's occupancy bounds theirs.
  const bool debug_kernel = m.builtin == kTrapKernel || m.builtin == kHangKernel;
  die_on(persistent_kernel_blocks_per_sm(debug_kernel ? 0 : m.builtin, g->grid_, g->block_, &per_sm), "occupancy");
  const double capacity = double(per_sm) * sms;
  g->share_ = capacity > 0 ? g->grid_ / capacity : 2.0;
  trace("launch: occupancy known", uint64_t(per_sm));
  if (gpu_share + g->share_ > 1.0) {
    status = Errc::limit;
    why = "not co-resident: " + std::to_string(g->grid_) + " blocks of " + std::to_string(g->block_) +
          " threads would exceed the GPU (" + std::to_string(int(capacity)) + " such blocks fit, " +
          std::to_string(int(gpu_share * 100)) + "% already taken by running kernels)";
    return nullptr;
  }

  // Like co-residency, settled before anything is registered.
  g->transfer_ = Transfer(m.transfer);
  if (debug_kernel) g->transfer_ = Transfer::mapped;  // they serve nothing: no bridge to start
  else if (g->transfer_ == Transfer::automatic) g->transfer_ = choose_transfer(m.builtin, g->grid_);
  if (g->transfer_ == Transfer::staged && !StagingBridge::supported(device, why)) {
    if (Transfer(m.transfer) == Transfer::staged) {
      status = Errc::invalid_argument;
      return nullptr;
    }
    why.clear();
    g->transfer_ = Transfer::mapped;  // what "auto" falls back to
  }
  if (g->transfer_ != Transfer::mapped && g->transfer_ != Transfer::staged) {
    status = Errc::invalid_argument;
    why = "unknown transfer strategy";
    return nullptr;
  }

  // Checked above before anything was registered: a refused launch must
  // not unregister (see unpin_later).
  trace("launch: register control and bell", m.instance);
  pin(g->control_seg_->data(), g->control_seg_->size(), g->control_seg_);
  pin(g->bell_seg_->data(), g->bell_seg_->size(), g->bell_seg_);
  g->control_ = reinterpret_cast<ControlPage*>(static_cast<std::byte*>(g->control_seg_->data()) + sizeof(shm::SegmentHeader));
  g->bell_ = reinterpret_cast<shm::KernelBell*>(static_cast<std::byte*>(g->bell_seg_->data()) + sizeof(shm::SegmentHeader));

  // Nothing here may synchronise the whole device: other persistent
  // kernels never finish. So: stream-ordered allocation on our own
  // non-blocking stream, and registered (not cudaHostAlloc'd) host memory.
  trace("launch: stream", m.instance);
  die_on(cudaStreamCreateWithFlags(&g->stream_, cudaStreamNonBlocking), "stream");
  std::shared_ptr<void> table(std::aligned_alloc(4096, kTableBytes), std::free);
  g->table_ = static_cast<ChannelTable*>(table.get());
  std::memset(g->table_, 0, kTableBytes);
  trace("launch: register table", m.instance);
  pin(g->table_, kTableBytes, std::move(table));
  KernelArgs& a = g->args_;
  a.control = device_address<ControlPage>(g->control_);
  a.bell = device_address<shm::KernelBell>(g->bell_);
  a.table = device_address<ChannelTable>(g->table_);
  cudaStream_t s = g->stream_;
  trace("launch: alloc cursors", m.instance);
  die_on(cudaMallocAsync(reinterpret_cast<void**>(&a.cursors), sizeof(DeviceCursor) * kMaxChannels, s), "cursors");
  die_on(cudaMemsetAsync(a.cursors, 0, sizeof(DeviceCursor) * kMaxChannels, s), "cursors");
  die_on(cudaMallocAsync(reinterpret_cast<void**>(&a.shared), sizeof(KernelShared), s), "shared");
  die_on(cudaMemsetAsync(a.shared, 0, sizeof(KernelShared), s), "shared");
  a.pending = take_post_words();
  die_on(cudaMemsetAsync(a.pending, 0, sizeof(uint64_t) * kMaxChannels, s), "post words");
  a.stage_in = kStageIn;
  a.stage_out = kStageOut;
  trace("launch: alloc scratch", m.instance);
  die_on(cudaMallocAsync(reinterpret_cast<void**>(&a.scratch), size_t(g->grid_) * (kStageIn + kStageOut), s), "scratch");
  // The reply stages start all-zero and the kernel keeps them so (channel_batch.cuh).
  die_on(cudaMemsetAsync(a.scratch, 0, size_t(g->grid_) * (kStageIn + kStageOut), s), "scratch");
  a.state_bytes = m.state_bytes;
  if (m.state_bytes) {
    die_on(cudaMallocAsync(&a.state, m.state_bytes, s), "state");
    die_on(cudaMemsetAsync(a.state, 0, m.state_bytes, s), "state");
  }
  a.instance = m.instance;
  a.builtin = m.builtin;
  a.staged = g->transfer_ == Transfer::staged;
  // For same-lease A/B runs (docs/cuda-status.md): RK_LONE_SERVER=0 serves
  // lone records on the scout's warp, as before lone_server.cuh;
  // RK_LOOK_EXTRA_NS replaces kLookExtraNs, RK_RELOOKS kRelooks.
  a.lone_server = env_u32("RK_LONE_SERVER", 1) != 0;
  a.look_extra_ns = env_u32("RK_LOOK_EXTRA_NS", kLookExtraNs);
  a.relooks = env_u32("RK_RELOOKS", kRelooks);
  trace("launch: setup sync", m.instance);
  die_on(cudaStreamSynchronize(s), "setup");

  if (a.staged) {
    // The bridge, not the GPU, watches the rings: it sleeps on the bell.
    g->bridge_ = std::make_unique<StagingBridge>(device, &g->control_->cb, g->bell_, a.pending);
  } else {
    // Clients bump the bell's seq after publishing, without a system call.
    at(g->bell_->bell.waiters).store(shm::kBellPolled, std::memory_order_release);
  }
  trace("launch: kernel", m.instance);
  // The debug kernels read no channel table.
  g->trap_ = debug_kernel;
  if (m.builtin == kTrapKernel) die_on(launch_trap_kernel(g->stream_), "launch trap kernel");
  else if (m.builtin == kHangKernel) die_on(launch_hang_kernel(&a.control->cb, g->stream_), "launch hang kernel");
  else die_on(launch_persistent_kernel(a, g->grid_, g->block_, g->stream_), "launch");
  trace("launch: launched", m.instance);
  gpu_share += g->share_;
  g->monitor_ = std::thread([p = g.get()] { p->monitor(); });
  g->waker_ = std::thread([p = g.get()] { p->waker(); });
  status = Errc::ok;
  return g;
}

GpuInstance::~GpuInstance() {
  stopping_.store(true);
  if (bell_) shm::Doorbell(&bell_->parked).wake_all();
  if (waker_.joinable()) waker_.join();
  if (monitor_.joinable()) monitor_.join();  // the kernel has exited
  bridge_.reset();  // after: a terminating kernel drains what the bridge copies
  for (auto& c : channels_) unpin_later(c.area);
  for (auto& c : retired_) unpin_later(c.area);
  if (!stream_) return;  // never launched
  // Stream-ordered frees: no device-wide synchronisation.
  cudaFreeAsync(args_.cursors, stream_);
  cudaFreeAsync(args_.shared, stream_);
  give_back_post_words(args_.pending);  // the kernel is gone, the bridge stopped
  cudaFreeAsync(args_.scratch, stream_);
  if (args_.state) cudaFreeAsync(args_.state, stream_);
  cudaStreamSynchronize(stream_);
  cudaStreamDestroy(stream_);
  // The table, control page and bell stay pinned (and mapped) until no
  // kernel runs: unpin_later.
  unpin_later(table_);
  unpin_later(control_seg_->data());
  unpin_later(bell_seg_->data());
}

void GpuInstance::request_stop() {
  at(control_->cb.terminate_requested).store(1, std::memory_order_release);
}

void GpuInstance::trace_rings() {
  std::lock_guard lock(mu_);
  const BlockStats& b0 = control_->blocks[0];
  char line[512];  // the scout's line is over 300 characters
  // Block 0's loop (the scout's block); what was served is summed below.
  std::snprintf(line, sizeof line, "kernel %u: active %u; block 0: rounds %llu parked %u table %llu/%llu", id_,
                at(control_->cb.active).load(), (unsigned long long)at(b0.rounds).load(), at(b0.parked).load(),
                (unsigned long long)at(b0.seen_table_epoch).load(), (unsigned long long)at(control_->cb.table_epoch).load());
  trace(line);
  // Summed over the blocks: with a grid over 1, block 0 serves only the
  // scout's inline spans.
  uint64_t phase[4] = {}, to_serve = 0, to_posted = 0, processed = 0, batches = 0;
  for (uint32_t b = 0; b < grid_; ++b) {
    const BlockStats& bs = control_->blocks[b];
    for (int i = 0; i < 4; ++i) phase[i] += at(bs.phase_ns[i]).load();
    to_serve += at(bs.posted_to_serve_ns).load();
    to_posted += at(bs.publish_to_posted_ns).load();
    processed += at(bs.processed).load();
    batches += at(bs.batches).load();
  }
  std::snprintf(line, sizeof line,
                "  all blocks: processed %llu in %llu spans; phases (us): copy in %llu, plan %llu, handlers %llu, copy "
                "out %llu; posted -> serve %llu, publish -> next posted %llu",
                (unsigned long long)processed, (unsigned long long)batches, (unsigned long long)phase[0] / 1000,
                (unsigned long long)phase[1] / 1000, (unsigned long long)phase[2] / 1000,
                (unsigned long long)phase[3] / 1000, (unsigned long long)to_serve / 1000,
                (unsigned long long)to_posted / 1000);
  trace(line);
  if (bridge_) {
    std::snprintf(line, sizeof line, "  bridge: %llu spans, %llu bytes", (unsigned long long)bridge_->spans(),
                  (unsigned long long)bridge_->bytes());
    trace(line);
  }
  const ScoutStats& sc = control_->scout;
  auto u = [](const uint64_t& v) { return (unsigned long long)at(v).load(); };
  std::snprintf(line, sizeof line,
                "  scout: rounds %llu (moved %llu, sweeps %llu, inline spans %llu, lone records %llu, prefetched %llu, unordered %llu, "
                "by warp 1 %llu, looks again %llu, found by them %llu); ns: quiet loads %llu (%llu rounds with the command words: %llu), moved loads "
                "%llu, fence %llu, post+serve %llu",
                u(sc.rounds), u(sc.moved_rounds), u(sc.sweeps), u(sc.inline_spans), u(sc.lone_records), u(sc.prefetched_records), u(sc.unordered_replies),
                u(sc.server_records), u(sc.relooks), u(sc.relook_hits), u(sc.quiet_load_ns), u(sc.command_rounds), u(sc.command_load_ns),
                u(sc.moved_load_ns), u(sc.fence_ns), u(sc.post_ns));
  trace(line);
  for (auto& c : channels_) {
    std::snprintf(line, sizeof line, "  slot %u key %llu: request head %llu tail %llu, reply head %llu tail %llu, waiters %u/%u",
                  c.index, (unsigned long long)table_->channels[c.index].key,
                  (unsigned long long)at(c.request->head).load(), (unsigned long long)at(c.request->tail).load(),
                  (unsigned long long)at(c.reply->head).load(), (unsigned long long)at(c.reply->tail).load(),
                  at(c.reply->data_bell.waiters).load(), at(c.request->space_bell.waiters).load());
    trace(line);
  }
}

void GpuInstance::monitor() {
  uint64_t polls = 0;
  // Waits until the kernel returns; an error here is a device fault. Polls
  // (1 ms, 50 µs once a stop is asked for) rather than blocking in
  // cudaStreamSynchronize: one thread per kernel parked inside the driver
  // is the suspect for a launch that hung in cudaHostRegister on the H100
  // with three persistent kernels running.
  for (;;) {
    const cudaError_t e = cudaStreamQuery(stream_);
    if (e == cudaSuccess) break;
    if (e != cudaErrorNotReady) die_on(e, "persistent kernel");
    const bool stopping = at(control_->cb.terminate_requested).load(std::memory_order_relaxed) != 0;
    usleep(stopping ? 50 : 1000);
    if (tracing() && ++polls % 250 == 0) trace_rings();
  }
  at(control_->cb.terminated).store(1, std::memory_order_release);
  exited_.store(true);
  trace("kernel exited", id_);
  if (const char* log = std::getenv("RK_ROUND_LOG"); log && *log) {
    const std::string path = std::string(log) + "." + std::to_string(id_);
    if (write_round_log(path.c_str()) != cudaSuccess) trace("round log not written", id_);
  }
  shm::Doorbell(&bell_->parked).wake_all();
  on_exit_(id_);
}

bool GpuInstance::publish_table(std::string& why) {
  if (!bridge_) at(bell_->bell.waiters).fetch_or(shm::kBellPolled, std::memory_order_relaxed);
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
  trace("bind: register", m.instance);
  pin(c.area, area_bytes, c.seg);
  trace("bind: registered", m.instance);
  c.request = reinterpret_cast<shm::RingHeader*>(c.area);
  c.reply = reinterpret_cast<shm::RingHeader*>(c.area + m.ring_bytes);
  uint32_t index = 0;
  while (index < table_->count && table_->channels[index].live) ++index;
  if (index == kMaxChannels) {
    unpin_later(c.area);
    why = "the kernel serves its maximum of " + std::to_string(kMaxChannels) + " channels";
    return Errc::limit;
  }
  c.index = index;
  DeviceChannel& d = table_->channels[index];
  d.request_ring = reinterpret_cast<uint64_t>(device_address<void>(c.request));
  d.request_data = d.request_ring + sizeof(shm::RingHeader);
  d.reply_ring = reinterpret_cast<uint64_t>(device_address<void>(c.reply));
  // Bounds from the daemon's own record, never from the client-writable header.
  d.capacity = m.capacity;
  d.max_record = m.max_record;
  // The daemon formatted the reply ring; a client that clears the feature
  // in its own ring only gets ordered replies. Staged replies are copied by
  // the bridge, never unordered.
  d.unordered_replies = !bridge_ && (at(c.reply->features).load(std::memory_order_relaxed) & shm::kRingUnorderedTail);
  // A fresh key per bind (not the daemon's session/slot pair, which repeats
  // when a slot is reused): the kernel resets its cursors on a new key.
  static uint64_t binds = 0;
  d.key = ++binds;
  if (bridge_) {
    c.mirror = bridge_->add(index, d.key, c.request, m.capacity);
    d.request_data = reinterpret_cast<uint64_t>(c.mirror);
  }
  at(d.live).store(1, std::memory_order_release);
  if (index == table_->count) at(table_->count).store(index + 1, std::memory_order_release);
  channels_.push_back(std::move(c));
  if (!publish_table(why)) return Errc::internal;
  trace("bind: table acknowledged", m.instance);
  shm::Doorbell(&bell_->parked).wake_all();  // the waker looks at the new set
  return Errc::ok;
}

Errc GpuInstance::unbind(uint64_t key, std::string& why) {
  std::lock_guard lock(mu_);
  auto it = std::find_if(channels_.begin(), channels_.end(), [&](const BoundChannel& c) { return c.key == key; });
  if (it == channels_.end()) return Errc::ok;
  if (bridge_) bridge_->remove(it->index);  // copies nothing more into its mirror
  at(table_->channels[it->index].live).store(0, std::memory_order_release);
  if (!publish_table(why)) {
    // The GPU may still read it: keep the memory pinned and mapped forever
    // rather than let it read freed pages.
    [[maybe_unused]] auto* leaked = new std::shared_ptr<MappedSegment>(std::move(it->seg));
    channels_.erase(it);
    return Errc::internal;
  }
  if (bridge_) bridge_->release(it->mirror);  // no block reads it any more
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
  // Sleeps while no client sleeps. While some do, it watches their rings'
  // indices (host memory, no PCIe) and wakes them as the GPU moves them:
  // spinning while replies keep coming (no fixed sleep on the hot path),
  // backing off with growing sleeps once nothing has moved for a while (a
  // client parked on a long-running call should not cost a core).
  constexpr uint64_t kSpinAfterEventNs = 200000;
  shm::Doorbell parked(&bell_->parked);
  uint32_t backoff_ns = 1000;
  uint64_t last_event = monotonic_ns();
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
        last_event = monotonic_ns();
        continue;
      }
      for (auto& c : channels_) {
        const uint64_t tail = at(c.reply->tail).load(std::memory_order_acquire);
        const uint64_t head = at(c.request->head).load(std::memory_order_acquire);
        if (tail != c.seen_reply_tail) {
          c.seen_reply_tail = tail;
          shm::Doorbell(&c.reply->data_bell).ring();
          last_event = monotonic_ns();
        } else if ((tail & shm::kTailUnordered) &&
                   at(c.reply->head).load(std::memory_order_relaxed) != (tail & ~shm::kTailUnordered)) {
          // An unordered reply (shm/tail_digest.h) may have woken its client
          // before its bytes landed, and the client slept again: ring on
          // every scan until it takes the reply (not an event: the scans
          // still back off).
          shm::Doorbell(&c.reply->data_bell).ring();
        }
        if (head != c.seen_request_head) {
          c.seen_request_head = head;
          shm::Doorbell(&c.request->space_bell).ring();
          last_event = monotonic_ns();
        }
      }
    }
    if (monotonic_ns() - last_event < kSpinAfterEventNs) {
      backoff_ns = 1000;
      shm::cpu_relax();
      continue;
    }
    timespec ts{0, long(backoff_ns)};
    nanosleep(&ts, nullptr);
    backoff_ns = backoff_ns * 2 > 50000 ? 50000 : backoff_ns * 2;
  }
}

}  // namespace rk::server::gpu
