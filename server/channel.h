// A channel as the server sees it: one session's pair of rings to one kernel
// instance, inside that session's segment. The kernel (worker thread or GPU)
// is the only consumer of `requests` and the only producer of `replies`.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>

#include "shm/ring.h"
#include "shm/segment.h"
#include "shm/segment_layout.h"

namespace rk::server {

struct Channel {
  uint64_t session_id = 0;
  uint32_t slot = 0;
  uint32_t instance_id = 0;
  uint64_t area_offset = 0;  // the server's own record of where its rings are
  uint64_t area_bytes = 0;
  // Keeps the mapping alive while any kernel still holds this channel, so
  // a session can close at once without waiting for the kernel.
  std::shared_ptr<shm::Segment> segment;
  shm::RingConsumer requests;
  shm::RingProducer replies;
  // Set by the kernel when the client broke the ring protocol; the control
  // thread then closes the session.
  std::atomic<bool> broken{false};
  // Set by the control thread when the session goes; the kernel drops it.
  std::atomic<bool> unbound{false};

  // The client-visible slot, located from the server's own record of the
  // layout (never from the client-writable segment header).
  shm::ChannelSlot* slot_ptr = nullptr;
  shm::ChannelSlot* slot_memory() const { return slot_ptr; }
};

using ChannelPtr = std::shared_ptr<Channel>;

}  // namespace rk::server
