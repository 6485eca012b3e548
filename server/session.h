// One client connection = one session: its peer credentials, its segment,
// and the channels it has bound to kernel instances.
#pragma once
#include <sys/socket.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "server/channel.h"
#include "shm/result.h"

namespace rk::server {

struct SessionLimits {
  uint64_t segment_bytes = 64ull << 20;  // sparse: pages cost only when touched
  uint32_t max_channels = 64;
};

// Ring settings for a channel: default 1 MiB per direction; the largest
// record shrinks with small rings so that two always fit.
shm::RingConfig ring_config_for(uint64_t ring_bytes);

class Session {
 public:
  // Creates the session's segment: a sealed anonymous memfd (see
  // shm::Segment::create_sealed), shared with the client as a descriptor.
  static Result<std::unique_ptr<Session>> create(uint64_t id, int fd, const ucred& peer,
                                                 const SessionLimits& limits);
  ~Session();

  uint64_t id() const { return id_; }
  int fd() const { return fd_; }
  const ucred& peer() const { return peer_; }
  shm::Segment& segment() { return *segment_; }
  bool hello_done() const { return hello_done_; }
  void set_hello_done() { hello_done_ = true; }

  // Allocates a slot and two rings for a channel to `instance_id`.
  // Errc::limit when the slots or the segment's bytes run out.
  Result<ChannelPtr> open_channel(uint32_t instance_id, const shm::RingConfig& rings);
  // Marks the slot closed/faulted for the client and forgets the channel;
  // its rings' memory is reused by later channels of the same size.
  void close_channel(const ChannelPtr& channel, shm::ChannelSlotState final_state);
  // Tells the client the kernel behind the channel is gone (slot state) and
  // wakes any thread of it waiting for a reply. The binding stays.
  static void mark_channel(const ChannelPtr& channel, shm::ChannelSlotState state);
  // The channel bound to an instance, or null.
  ChannelPtr channel_for(uint32_t instance_id) const;
  std::vector<ChannelPtr> channels() const;

 private:
  Session() = default;
  struct Area {
    uint64_t offset, bytes;
    ChannelPtr previous;  // the channel that used it last
  };
  uint64_t id_ = 0;
  int fd_ = -1;
  ucred peer_{};
  bool hello_done_ = false;
  std::shared_ptr<shm::Segment> segment_;
  uint32_t max_channels_ = 0;
  uint64_t slots_offset_ = 0;  // our copy: the client can rewrite the header
  std::vector<ChannelPtr> slots_;  // index = slot; null = free
  std::vector<Area> free_areas_;
  uint64_t next_free_ = 0;
};

}  // namespace rk::server
