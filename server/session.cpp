#include "server/session.h"

#include <unistd.h>

#include <algorithm>
#include <cstring>

namespace rk::server {

namespace {
uint64_t page_align(uint64_t v) { return (v + shm::kSegmentPage - 1) & ~(shm::kSegmentPage - 1); }
constexpr uint32_t kDefaultMaxRecord = 65792;  // 64 KiB payload + envelope
}  // namespace

shm::RingConfig ring_config_for(uint64_t ring_bytes) {
  shm::RingConfig c;
  c.capacity = ring_bytes ? ring_bytes : (1u << 20);
  const uint64_t half = c.capacity / 2;
  const uint64_t fit = half > 16 ? ((half - shm::kRecordHeaderBytes) & ~uint64_t{7}) : 0;
  c.max_record = uint32_t(std::min<uint64_t>(kDefaultMaxRecord, fit));
  return c;
}

Result<std::unique_ptr<Session>> Session::create(uint64_t id, int fd, const ucred& peer,
                                                 const SessionLimits& limits) {
  // An anonymous memfd with its size sealed, handed to the client only as a
  // descriptor with the welcome: no name anyone else could open, and a
  // client that ftruncate()s it gets EPERM instead of shrinking the pages
  // under our mapping (which would SIGBUS the daemon on its next access).
  auto seg = shm::Segment::create_sealed(limits.segment_bytes);
  if (!seg) return seg.error();
  std::unique_ptr<Session> s(new Session());
  s->id_ = id;
  s->fd_ = fd;
  s->peer_ = peer;
  s->segment_ = std::make_shared<shm::Segment>(std::move(*seg));
  s->max_channels_ = limits.max_channels;
  auto* h = static_cast<shm::SegmentHeader*>(s->segment_->data());
  h->max_channels = limits.max_channels;
  h->slots_offset = s->slots_offset_ = sizeof(shm::SegmentHeader);
  h->data_offset = page_align(h->slots_offset + uint64_t(limits.max_channels) * sizeof(shm::ChannelSlot));
  s->next_free_ = h->data_offset;
  s->slots_.resize(limits.max_channels);
  return s;
}

Session::~Session() {
  for (auto& ch : slots_)
    if (ch) ch->unbound.store(true, std::memory_order_release);
  if (fd_ >= 0) close(fd_);
}

Result<ChannelPtr> Session::open_channel(uint32_t instance_id, const shm::RingConfig& rings) {
  if (Errc e = shm::validate_ring_config(rings); e != Errc::ok) return e;
  auto free_slot = std::find(slots_.begin(), slots_.end(), nullptr);
  if (free_slot == slots_.end()) return Errc::limit;
  const uint32_t slot = uint32_t(free_slot - slots_.begin());

  // Two rings, each page aligned so a GPU worker can register them alone.
  const uint64_t one = page_align(shm::ring_bytes(rings.capacity));
  uint64_t offset = UINT64_MAX;
  // An area is reused only once no kernel holds its old channel any more
  // (the kernel drops it at its next iteration), so nobody reads rings
  // being reformatted.
  auto reuse = std::find_if(free_areas_.begin(), free_areas_.end(), [&](const Area& a) {
    return a.bytes == 2 * one && a.previous.use_count() == 1;
  });
  if (reuse != free_areas_.end()) {
    offset = reuse->offset;
    free_areas_.erase(reuse);
  } else if (next_free_ + 2 * one <= segment_->size()) {
    offset = next_free_;
    next_free_ += 2 * one;
  } else {
    return Errc::limit;
  }

  auto* base = static_cast<std::byte*>(segment_->data());
  std::memset(base + offset, 0, 2 * one);  // reused areas hold old records
  // Each ring takes the features of its direction (shm/tail_digest.h).
  shm::RingConfig requests = rings, replies = rings;
  requests.features &= shm::kRingTailDigest;
  replies.features &= shm::kRingUnorderedTail;
  if (Errc e = shm::format_ring(base + offset, requests); e != Errc::ok) return e;
  if (Errc e = shm::format_ring(base + offset + one, replies); e != Errc::ok) return e;

  auto ch = std::make_shared<Channel>();
  ch->session_id = id_;
  ch->slot = slot;
  ch->instance_id = instance_id;
  ch->segment = segment_;
  ch->slot_ptr = reinterpret_cast<shm::ChannelSlot*>(base + slots_offset_) + slot;
  ch->area_offset = offset;
  ch->area_bytes = 2 * one;
  auto req = shm::RingConsumer::attach(base + offset, one);
  auto rep = shm::RingProducer::attach(base + offset + one, one);
  if (!req || !rep) return Errc::internal;
  ch->requests = *req;
  ch->replies = *rep;

  shm::ChannelSlot* s = ch->slot_memory();
  s->instance_id = instance_id;
  s->request_offset = offset;
  s->reply_offset = offset + one;
  s->ring_bytes = one;
  s->generation += 1;
  std::atomic_ref<uint32_t>(s->state).store(shm::kSlotBound, std::memory_order_release);
  slots_[slot] = ch;
  return ch;
}

void Session::mark_channel(const ChannelPtr& ch, shm::ChannelSlotState state) {
  std::atomic_ref<uint32_t>(ch->slot_memory()->state).store(state, std::memory_order_release);
  // A client parked for a reply re-checks the slot when woken.
  ch->replies.data_bell().wake_all();
}

void Session::close_channel(const ChannelPtr& ch, shm::ChannelSlotState final_state) {
  if (ch->slot >= slots_.size() || slots_[ch->slot] != ch) return;
  ch->unbound.store(true, std::memory_order_release);
  mark_channel(ch, final_state);
  // Offsets from our own record of the channel, never from the segment.
  free_areas_.push_back(Area{ch->area_offset, ch->area_bytes, ch});
  slots_[ch->slot] = nullptr;
}

ChannelPtr Session::channel_for(uint32_t instance_id) const {
  for (const auto& ch : slots_)
    if (ch && ch->instance_id == instance_id) return ch;
  return nullptr;
}

std::vector<ChannelPtr> Session::channels() const {
  std::vector<ChannelPtr> out;
  for (const auto& ch : slots_)
    if (ch) out.push_back(ch);
  return out;
}

}  // namespace rk::server
