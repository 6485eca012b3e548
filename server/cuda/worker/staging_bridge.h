// The staged transfer strategy's bridge (docs/transfer.md): a host thread
// that watches the request rings of one kernel's channels (host memory: no
// PCIe) and moves every new span of records, whole, into a device-memory
// mirror of the ring (cudaMemcpyBatchAsync, one call per pass and copy
// stream), then posts the span's end to the channel's owning block with a
// stream-ordered write (cuStreamBatchMemOp, whose writes fence after the
// copies). The kernel then reads requests from device memory instead of
// across PCIe; replies still go straight into the client's reply ring.
//
// The mirror has the ring's geometry (same capacity, same offsets), so the
// kernel's cursor and the request head it publishes mean the same in both:
// a client reuses ring space only after the kernel consumed it, long after
// the copy, and the mirror never holds more than the ring does. While the
// kernel is active there is no fixed poll: the thread spins while spans
// keep coming and then sleeps on the instance's bell, which clients ring
// after every publish. An inactive kernel gets no posts (run()).
#pragma once
#include <cuda_runtime.h>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "server/control_block.h"
#include "shm/doorbell.h"
#include "shm/ring_layout.h"
#include "shm/segment_layout.h"

namespace rk::server::gpu {

class StagingBridge {
 public:
  // Whether this device can post the stream-ordered 64-bit writes the
  // bridge relies on; `why` says what is missing if not.
  static bool supported(int device, std::string& why);

  // `control`: the kernel's command words (host memory; posts wait for
  // `active`). `pending`: device address of the post words (one per slot).
  StagingBridge(int device, const ControlBlock* control, shm::KernelBell* bell, uint64_t* pending);
  ~StagingBridge();  // stops the thread, then frees every mirror
  StagingBridge(const StagingBridge&) = delete;
  StagingBridge& operator=(const StagingBridge&) = delete;

  // Starts staging a channel: allocates its mirror and posts its starting
  // position (so a slot's older word is never taken for this channel).
  // Returns the mirror's device address.
  uint8_t* add(uint32_t slot, uint64_t key, shm::RingHeader* request, uint64_t capacity);
  // Stops staging `slot`; when it returns no copy for it is in flight. The
  // mirror stays allocated until release() (the GPU may still read it).
  uint8_t* remove(uint32_t slot);
  // Frees a removed channel's mirror, once the kernel no longer reads it.
  void release(uint8_t* mirror);

  uint64_t spans() const { return spans_.load(std::memory_order_relaxed); }
  uint64_t bytes() const { return bytes_.load(std::memory_order_relaxed); }

 private:
  struct Channel {
    uint32_t slot;
    uint64_t key;
    shm::RingHeader* request;  // host address
    const uint8_t* ring;       // host address of its buffer
    uint8_t* mirror;           // device address
    uint64_t capacity;
    uint64_t copied;           // ring position copied (and posted) up to
    bool broken;               // its tail made no sense: posted, not copied
  };

  struct Post {
    uint32_t slot;
    uint64_t key, tail;
  };
  // What one pass over the channels moves: every new span (one or two
  // copies each, as a span may wrap; never one per record), then every
  // span's end posted.
  struct Round {
    std::vector<void*> dsts;
    std::vector<const void*> srcs;
    std::vector<size_t> sizes;
    std::vector<Post> posts;
    uint64_t bytes = 0;
    void copy(void* to, const void* from, size_t n) {
      dsts.push_back(to);
      srcs.push_back(from);
      sizes.push_back(n);
    }
    void clear() {
      dsts.clear();
      srcs.clear();
      sizes.clear();
      posts.clear();
      bytes = 0;
    }
  };

  void run();
  bool any_moved();
  // Adds channel c's span [copied, tail) to the round.
  void gather(Channel& c, uint64_t tail, Round& r);
  // Enqueues the round's copies and posts on `stream`.
  void submit(Round& r, cudaStream_t stream);
  // A channel's copies and posts always go on the same stream (its posts
  // must land in order); channels spread over kCopyStreams, so that one
  // stream's fenced posts do not hold up the others' copies.
  static constexpr uint32_t kCopyStreams = 4;
  cudaStream_t stream_of(uint32_t slot) const { return streams_[slot % kCopyStreams]; }
  void post(uint32_t slot, uint64_t key, uint64_t tail);

  int device_;
  const ControlBlock* control_;
  shm::KernelBell* bell_;
  uint64_t* pending_;
  cudaStream_t streams_[kCopyStreams] = {};
  std::mutex mu_;  // guards channels_ and the stream's use
  std::vector<Channel> channels_;
  Round rounds_[kCopyStreams];  // the bridge thread's, one per stream, reused
  shm::WaitStop stop_;
  std::atomic<uint64_t> spans_{0}, bytes_{0};
  std::thread thread_;
};

}  // namespace rk::server::gpu
