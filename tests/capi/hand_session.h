// A session driven by hand, for hostile-client tests: it speaks the control
// protocol itself (RawControl), maps its segment, attaches one channel to a
// shared instance and can then write anything into its own rings through
// its own mapping, which libringkernel would never do.
#pragma once
#include <unistd.h>

#include <capnp/message.h>
#include <ringkernel/ringkernel.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

#include "rk_schema/control.capnp.h"
#include "shm/doorbell.h"
#include "shm/envelope.h"
#include "shm/ring.h"
#include "shm/segment.h"
#include "shm/segment_layout.h"
#include "tests/capi/daemon.h"
#include "tests/capi/raw_control.h"

namespace rk::test {

// Hello, the segment mapped from the descriptor, one channel attached to a
// shared instance, and its bell. Closing it (the destructor) ends the session.
class HandSession {
 public:
  explicit HandSession(const Daemon& daemon) : raw_(daemon.socket_path()) {}
  HandSession(const HandSession&) = delete;
  HandSession& operator=(const HandSession&) = delete;

  // Empty on success, else what went wrong. Every exchange is bounded.
  std::string open(const std::string& instance) {
    if (!raw_.connected()) return "cannot connect";
    if (raw_.hello(RK_ABI_VERSION) != Errc::ok || raw_.reply().getStatus() != 0) return "hello refused";
    seg_fd_ = raw_.take_fd();
    if (seg_fd_ < 0) return "no segment descriptor with the welcome";
    auto seg = shm::Segment::from_fd(::dup(seg_fd_));
    if (!seg) return "cannot map the segment";
    segment_ = std::move(*seg);
    {
      capnp::MallocMessageBuilder m;
      m.initRoot<rk::schema::Request>().setSegmentMapped();
      if (raw_.exchange(m) != Errc::ok) return "segmentMapped failed";
    }
    capnp::MallocMessageBuilder m;
    m.initRoot<rk::schema::Request>().initAttach().setInstanceName(instance);
    if (raw_.exchange(m) != Errc::ok || raw_.reply().getStatus() != 0 || !raw_.reply().isBound())
      return "attach refused";
    const uint32_t channel = raw_.reply().getBound().getChannel();
    auto bell = shm::Segment::from_fd(raw_.take_fd());
    if (!bell) return "no bell";
    bell_map_ = std::move(*bell);
    auto* base = static_cast<std::byte*>(segment_.data());
    const auto* h = reinterpret_cast<const shm::SegmentHeader*>(base);
    slot_ = *(reinterpret_cast<const shm::ChannelSlot*>(base + h->slots_offset) + channel);
    return {};
  }
  shm::RingHeader* requests() {
    return reinterpret_cast<shm::RingHeader*>(static_cast<std::byte*>(segment_.data()) + slot_.request_offset);
  }
  shm::RingHeader* replies() {
    return reinterpret_cast<shm::RingHeader*>(static_cast<std::byte*>(segment_.data()) + slot_.reply_offset);
  }
  std::byte* request_buffer() { return reinterpret_cast<std::byte*>(requests() + 1); }
  uint64_t ring_bytes() const { return slot_.ring_bytes; }
  void ring_kernel() {
    auto* bell = reinterpret_cast<shm::KernelBell*>(static_cast<std::byte*>(bell_map_.data()) +
                                                    sizeof(shm::SegmentHeader));
    shm::Doorbell(&bell->bell).ring();
  }
  // Publishes one well-formed echo request the proper way.
  bool send_valid(uint64_t correlation) {
    auto p = shm::RingProducer::attach(requests(), ring_bytes());
    if (!p) return false;
    auto room = p->try_reserve(shm::envelope_bytes_for_data(8));
    if (!room) return false;
    shm::EnvelopeFields f;
    f.type = 1;
    f.correlation = correlation;
    const uint64_t body = 0x1122334455667788ull;
    auto n = shm::write_data_envelope(*room, f, {reinterpret_cast<const std::byte*>(&body), sizeof body});
    if (!n) return false;
    p->commit(*n);
    ring_kernel();
    return true;
  }
  RawControl& raw() { return raw_; }
  int segment_fd() const { return seg_fd_; }
  ~HandSession() {
    if (seg_fd_ >= 0) ::close(seg_fd_);
  }

 private:
  RawControl raw_;
  int seg_fd_ = -1;
  shm::Segment segment_;
  shm::Segment bell_map_;
  shm::ChannelSlot slot_{};
};

// Publishes `v` as a ring's tail (release), whatever it is.
inline void store_tail(shm::RingHeader* h, uint64_t v) {
  std::atomic_ref<uint64_t>(h->tail).store(v, std::memory_order_release);
}

}  // namespace rk::test
