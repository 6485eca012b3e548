#include "capi/kernel.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>

#include "capi/call_trace.h"
#include "capi/errors.h"
#include "shm/clock.h"

namespace rk::capi {

namespace {
constexpr int64_t kDefaultTimeoutMs = 30000;
}  // namespace

Deadline deadline_for(int64_t timeout_ms) {
  return Deadline::after_ms(timeout_ms < 0 ? kDefaultTimeoutMs : timeout_ms);
}

namespace {

uint32_t slot_state(const rk_kernel* k) {
  return std::atomic_ref<uint32_t>(k->slot->state).load(std::memory_order_acquire);
}

// Why a channel no longer works, or RK_OK if it does.
rk_status channel_gone(const rk_kernel* k) {
  if (k->client->disconnected()) return fail(RK_E_DISCONNECTED, "ringkerneld has gone away");
  switch (slot_state(k)) {
    case shm::kSlotBound: return RK_OK;
    case shm::kSlotFaulted: return fail(RK_E_KERNEL_FAULTED, "the kernel faulted");
    default: return fail(RK_E_STATE, "the kernel has terminated or the channel was released");
  }
}

rk_status from_wait(Errc e, const char* what) {
  switch (e) {
    case Errc::timeout: return fail(RK_E_TIMEOUT, std::string("timed out waiting for ") + what);
    case Errc::disconnected: return fail(RK_E_DISCONNECTED, "ringkerneld has gone away");
    case Errc::queue_full: return fail(RK_E_QUEUE_FULL, "the request ring stayed full for the whole timeout");
    case Errc::corrupt: return fail(RK_E_CORRUPT, "the ring's indices are corrupt");
    default: return fail(e, std::string("waiting for ") + what + ": " + errc_string(e));
  }
}

// Wakes a kernel parked on its bell (after the record was published). A
// GPU kernel never parks there: it polls the bell to learn that an idle
// channel has work, and polls the tails of channels busy in its last 50 ms
// directly. So while this channel keeps busy the bump is skipped: it would
// only be a contended atomic, per message, on a line the GPU keeps reading
// across PCIe. Only the GPU worker sets kBellPolled, so a CPU kernel is
// always rung.
// `now` is a coarse wall-clock reading the caller already has. Two threads
// kicking at once may both ring: harmless, so a plain load and store do.
constexpr uint64_t kBellQuietNs = 10'000'000;  // well inside the GPU's hot window
void kick(rk_kernel* k, uint64_t now) {
  shm::DoorbellWord& bell = k->bell->bell;
  const uint32_t waiters = std::atomic_ref<uint32_t>(bell.waiters).load(std::memory_order_relaxed);
  if ((waiters & shm::kBellPolled) && !(waiters & shm::kBellSleeping)) {
    if (now - k->last_kick_ns.load(std::memory_order_relaxed) < kBellQuietNs) return;
    k->last_kick_ns.store(now, std::memory_order_relaxed);
  }
  shm::Doorbell(&bell).ring();
}
void kick(rk_kernel* k) { kick(k, realtime_coarse_ns()); }

// Publishes the request just written and wakes the kernel. The request
// ring's own data bell is left alone: no kernel sleeps on it (a CPU kernel
// parks on the instance's bell, which kick() rings; a GPU polls), and
// ringing it was a locked RMW per message, which also drains the store
// buffer. `now`: a coarse wall-clock reading, as for kick(). `awaited`: a
// call will wait for this request's reply (RingProducer::publish_no_wake).
void publish_request(rk_kernel* k, size_t len, uint64_t now, bool awaited) {
  k->requests.stage(len);
  k->requests.publish_no_wake(awaited, k->replies.released_position());
  k->next_request.store(k->requests.next_record(), std::memory_order_relaxed);
  kick(k, now);
}

// A reply came: a caller that waits for each reply sends its next request
// soon, where the last one ended. Asking for those lines (two: a small
// record) and the tail's line in a writable state now, while the reply is
// read and the next call set up, lets the request's stores land sooner: a
// GPU's look that leaves a fixed time after its reply then finds it more
// often. Not at publish time: the GPU's look for this request reads the
// lines after it too, and would have to take them back from this core.
void prefetch_next_request(rk_kernel* k) {
  if (std::byte* next = k->next_request.load(std::memory_order_relaxed)) {
    shm::prefetch_for_write(next);
    if (next + 64 < k->requests.buffer_end()) shm::prefetch_for_write(next + 64);
    shm::prefetch_for_write(k->requests.tail_line());
  }
}

// How long a thread waiting for a reply spins before it parks: twice the
// kernel's recent waits, within [spin_ns, kMaxReplySpinNs]. Big messages
// on a GPU take 40-100 µs; parking after the default 20 µs added a futex
// wake (and the waker's back-off) to every one of them.
constexpr uint64_t kMaxReplySpinNs = 250'000;
uint64_t reply_spin_ns(const rk_kernel* k) {
  const uint64_t base = k->client->spin_ns;
  if (k->client->spin_fixed) return base;
  const uint64_t want = std::min(2 * k->reply_wait_ns.load(std::memory_order_relaxed), kMaxReplySpinNs);
  return std::max(base, want);
}
// Moving average (1/4 weight to the newest): one slow reply does not make
// every later wait spin long. A reply slower than the longest spin counts
// as 0: spinning cannot catch it, and a kernel that is always that slow
// gets the shortest spin, not 250 µs of a core per call for nothing.
void note_reply_wait(rk_kernel* k, uint64_t ns) {
  if (ns > kMaxReplySpinNs) ns = 0;
  const uint64_t old = k->reply_wait_ns.load(std::memory_order_relaxed);
  k->reply_wait_ns.store(old ? (3 * old + ns) / 4 : ns, std::memory_order_relaxed);
}

// Returns the coarse clock reading itself, for kick(): the stamp never goes
// back, so after a backward clock step it would stand still, and kick()
// would take every message for part of one busy stretch.
uint64_t stamp(rk_kernel* k, shm::EnvelopeFields& f) {
  // Hybrid logical clock: physical time, with a logical counter to order
  // events within one clock tick.
  // The coarse clock (a few ms resolution, no vDSO time read) is enough:
  // the logical counter orders events within one tick.
  uint64_t now = realtime_coarse_ns();
  if (now > k->hlc_physical) {
    k->hlc_physical = now;
    k->hlc_logical = 0;
  } else {
    ++k->hlc_logical;
  }
  f.hlc_physical = k->hlc_physical;
  f.hlc_logical = k->hlc_logical;
  return now;
}

bool release_finished(rk_kernel* k);

// Wakes the threads waiting for the current reader's news. Caller holds
// inbox_mu, under which waiters count themselves in before they wait, so
// none is missed; with none (the usual single reader) it costs a load.
void wake_readers(rk_kernel* k) {
  if (k->arrived_waiters != 0) k->arrived.notify_all();
}

// Moves every published reply into the stash. Caller holds inbox_mu and is
// the reader. Returns how many arrived, or corrupt.
Result<size_t> pump(rk_kernel* k) {
  size_t n = 0;
  bool dropped = false;
  for (;;) {
    auto r = k->replies.peek();
    if (r.error() == Errc::empty) break;
    if (!r) return r.error();
    k->replies.advance(*r);
    auto view = shm::read_envelope(r->body);
    if (!view) {
      // Cannot belong to anyone: count it and give the space back.
      ++k->corrupt_replies;
      k->held.push_back({r->end, true});
      dropped = true;
      continue;
    }
    if (!k->abandoned.empty() && k->abandoned.erase(view->fields.correlation) != 0) {
      // Its caller timed out and left: nobody will release it.
      k->held.push_back({r->end, true});
      dropped = true;
      continue;
    }
    rk_message* m;
    if (k->spare.empty()) {
      m = new rk_message();
    } else {
      m = k->spare.back();
      k->spare.pop_back();
    }
    m->kind = rk_message::Kind::received;
    m->kernel = k;
    m->record = r->body;
    m->view = *view;
    m->ring_end = r->end;
    k->held.push_back({r->end, false});
    k->stash.push_back(m);
    ++n;
  }
  if (dropped && release_finished(k)) kick(k);  // rare: under the lock
  return n;
}

bool take(rk_kernel* k, std::optional<uint64_t> correlation, rk_message** out) {
  if (k->stash.empty()) return false;
  if (!correlation) {  // rk_receive: the oldest, the common case
    *out = k->stash.front();
    k->stash.pop_front();
    return true;
  }
  auto it = std::find_if(k->stash.begin(), k->stash.end(),
                         [&](rk_message* m) { return m->view.fields.correlation == *correlation; });
  if (it == k->stash.end()) return false;
  *out = *it;
  k->stash.erase(it);
  return true;
}

rk_status deliver(rk_message* m) {
  // An error reply carries its status; the message is still handed out.
  const uint16_t status = m->view.fields.status;
  if (status == 0) return ok();
  return fail(status_from_wire(status), std::string("the kernel replied with an error: ") +
                                            rk_status_string(status_from_wire(status)));
}

// Returns ring space up to the oldest record still held. Caller holds
// inbox_mu, and kicks the kernel when this returns true (after unlocking,
// where it can: a kick may be a futex wake): a kernel held back by the
// full reply ring may go on. Not the reply ring's space bell: no kernel
// waits on it (a CPU kernel parks on the instance's bell; a GPU polls).
bool release_finished(rk_kernel* k) {
  bool moved = false;
  uint64_t upto = 0;
  while (!k->held.empty() && k->held.front().released) {
    upto = k->held.front().end;
    k->held.pop_front();
    moved = true;
  }
  if (!moved) return false;
  // With nothing held, also give back padding the reader skipped.
  k->replies.release_to_no_wake(k->held.empty() && !k->reader_active ? k->replies.read_position() : upto);
  return true;
}

// Takes the channel's send side by the deadline. A thread that holds a
// reservation on this channel must commit or release it first.
rk_status lock_send_side(rk_kernel* k, LazyDeadline& deadline) {
  if (k->send_mu.try_lock()) return RK_OK;  // the common, uncontended case: no clock read
  if (k->reserver.load(std::memory_order_relaxed) == std::this_thread::get_id())
    return fail(RK_E_STATE, "this thread holds a reservation on the channel: commit or release it first");
  auto until = std::chrono::steady_clock::now() +
               std::chrono::nanoseconds(std::min<uint64_t>(deadline.get().remaining_ns(), uint64_t(1) << 62));
  if (!k->send_mu.try_lock_until(until))
    return fail(RK_E_TIMEOUT, "another thread held the channel's send side (a reservation) for the whole timeout");
  return RK_OK;
}

// Room for a request record of `record` bytes: at once when the ring has
// it (no clock read), else waiting for it until the deadline. Caller holds
// the send side.
Result<std::span<std::byte>> reserve_request(rk_kernel* k, size_t record, LazyDeadline& deadline) {
  auto room = k->requests.try_reserve(record);
  if (room.error() == Errc::queue_full)  // only now is there a reason to read the clock
    room = k->requests.reserve(record, deadline.get(), &k->client->stop, &k->bell->parked);
  return room;
}

// Released messages kept per channel for reuse: enough for a pipelined
// client's whole window of replies (a cap of 64 under a window of 256 made
// every fourth reply a malloc and a free).
constexpr size_t kSpareMessages = 1024;

// Marks a received message's record done, returns the space it can, and
// frees the message. Caller holds inbox_mu; true: kick, as for
// release_finished.
bool give_back(rk_kernel* k, rk_message* m) {
  for (auto& h : k->held)
    if (h.end == m->ring_end) {
      h.released = true;
      break;
    }
  const bool moved = release_finished(k);
  if (k->spare.size() < kSpareMessages) k->spare.push_back(m);  // reused by the next reply
  else delete m;
  return moved;
}

}  // namespace

rk_status bind_kernel(rk_client* c, rk::schema::Bound::Reader bound, int bell_fd, rk_kernel** out) {
  if (bell_fd < 0) return fail(RK_E_INTERNAL, "ringkerneld sent no bell descriptor");
  auto bell = shm::Segment::from_fd(bell_fd);
  if (!bell) return fail(RK_E_INTERNAL, "cannot map the kernel's bell");
  auto k = std::make_unique<rk_kernel>();
  k->client = c;
  k->id = bound.getInstanceId();
  k->bell_map = std::move(*bell);
  k->bell = reinterpret_cast<shm::KernelBell*>(static_cast<std::byte*>(k->bell_map.data()) + sizeof(shm::SegmentHeader));

  auto* base = static_cast<std::byte*>(c->segment.data());
  const auto* h = reinterpret_cast<const shm::SegmentHeader*>(base);
  const uint32_t channel = bound.getChannel();
  if (channel >= h->max_channels) return fail(RK_E_CORRUPT, "channel slot out of range");
  k->slot = reinterpret_cast<shm::ChannelSlot*>(base + h->slots_offset) + channel;
  const uint64_t size = c->segment.size();
  const shm::ChannelSlot s = *k->slot;
  if (s.request_offset + s.ring_bytes > size || s.reply_offset + s.ring_bytes > size)
    return fail(RK_E_CORRUPT, "channel rings lie outside the segment");
  auto req = shm::RingProducer::attach(base + s.request_offset, s.ring_bytes);
  auto rep = shm::RingConsumer::attach(base + s.reply_offset, s.ring_bytes);
  if (!req || !rep) return fail(RK_E_CORRUPT, "channel rings are not formatted");
  // The segment is sparse and mapped lazily: without this, the first lap
  // of each ring paid a page fault every page (shm/segment.h).
  shm::prefault(base + s.request_offset, s.ring_bytes);
  shm::prefault(base + s.reply_offset, s.ring_bytes);
  k->requests = *req;
  k->replies = *rep;
  k->max_payload = k->requests.config().max_record - shm::kEnvelopeHeaderBytes;
  {
    std::lock_guard lock(c->kernels_mu);
    c->kernels.push_back(k.get());
  }
  *out = k.release();
  return ok();
}

void wake_all_waiters(rk_kernel* k) {
  k->replies.data_bell().wake_all();
  k->requests.space_bell().wake_all();
  std::lock_guard lock(k->inbox_mu);
  k->arrived.notify_all();
}

void release_kernel(rk_kernel* k) {
  if (!k) return;
  rk_client* c = k->client;
  if (!c->disconnected()) {
    ControlCall call(c);
    call.request().initRelease().setInstanceId(k->id);
    (void)call.send();
  }
  {
    std::lock_guard lock(c->kernels_mu);
    std::erase(c->kernels, k);
  }
  for (rk_message* m : k->stash) delete m;
  for (rk_message* m : k->spare) delete m;
  delete k;
}

rk_status send_data(rk_kernel* k, uint32_t type, const void* data, size_t len, uint64_t correlation,
                    LazyDeadline& deadline, bool awaited) {
  if (len && !data) return fail(RK_E_INVALID_ARGUMENT, "data is NULL");
  if (len > k->max_payload)
    return fail(RK_E_TOO_LARGE, "payload of " + std::to_string(len) + " bytes exceeds this channel's maximum of " +
                                    std::to_string(k->max_payload));
  if (rk_status s = channel_gone(k); s != RK_OK) return s;
  if (rk_status s = lock_send_side(k, deadline); s != RK_OK) return s;
  std::lock_guard lock(k->send_mu, std::adopt_lock);
  auto room = reserve_request(k, shm::envelope_bytes_for_data(len), deadline);
  if (!room) return from_wait(room.error(), "ring space");
  shm::EnvelopeFields f;
  f.kernel = k->id;
  f.type = type;
  f.correlation = correlation;
  const uint64_t now = stamp(k, f);
  auto n = shm::write_data_envelope(*room, f, {static_cast<const std::byte*>(data), len});
  if (awaited) call_trace::written();
  publish_request(k, *n, now, awaited);
  if (awaited) call_trace::published(reinterpret_cast<uintptr_t>(room->data()));
  return ok();
}

static rk_status wait_reply_locked(rk_kernel* k, std::optional<uint64_t> correlation, LazyDeadline& deadline,
                                   rk_message** out, std::unique_lock<InboxLock>& lock);

rk_status wait_reply(rk_kernel* k, std::optional<uint64_t> correlation, LazyDeadline& deadline, rk_message** out) {
  std::unique_lock lock(k->inbox_mu);
  return wait_reply_locked(k, correlation, deadline, out, lock);
}

static rk_status wait_reply_locked(rk_kernel* k, std::optional<uint64_t> correlation, LazyDeadline& deadline,
                                   rk_message** out, std::unique_lock<InboxLock>& lock) {
  for (;;) {
    if (take(k, correlation, out)) return deliver(*out);
    if (k->client->disconnected()) return fail(RK_E_DISCONNECTED, "ringkerneld has gone away");
    if (k->reader_active) {
      // Someone else reads the ring; they wake us when anything arrives.
      auto left = std::chrono::nanoseconds(deadline.get().remaining_ns());
      std::cv_status waited = std::cv_status::timeout;
      if (left.count() != 0) {
        ++k->arrived_waiters;
        waited = k->arrived.wait_for(lock, left);
        --k->arrived_waiters;
      }
      if (waited == std::cv_status::timeout) {
        if (take(k, correlation, out)) return deliver(*out);
        if (deadline.get().passed()) return fail(RK_E_TIMEOUT, "timed out waiting for a reply");
      }
      continue;
    }
    k->reader_active = true;
    auto got = pump(k);
    if (!got) {
      k->reader_active = false;
      wake_readers(k);
      return fail(RK_E_CORRUPT, "the reply ring is corrupt");
    }
    if (*got) {
      k->reader_active = false;
      wake_readers(k);
      continue;
    }
    if (rk_status s = channel_gone(k); s != RK_OK) {
      k->reader_active = false;
      wake_readers(k);
      return s;
    }
    if (deadline.get().passed()) {
      k->reader_active = false;
      wake_readers(k);
      return fail(RK_E_TIMEOUT, "timed out waiting for a reply");
    }
    lock.unlock();
    // Before sleeping, ring the instance's `parked` bell: a GPU cannot
    // wake a futex, the worker's waker thread does it for us.
    const uint64_t waited_from = monotonic_ns();
    Errc w = k->replies.data_bell().wait(
        [k] { return k->replies.has_data() || slot_state(k) != shm::kSlotBound; }, deadline.get(), &k->client->stop,
        reply_spin_ns(k), [k] { shm::Doorbell(&k->bell->parked).ring(); });
    if (w == Errc::ok) prefetch_next_request(k);
    if (w == Errc::ok && k->replies.has_data()) note_reply_wait(k, monotonic_ns() - waited_from);
    lock.lock();
    k->reader_active = false;
    wake_readers(k);
    if (w == Errc::disconnected) return fail(RK_E_DISCONNECTED, "ringkerneld has gone away");
    // ok or timeout: go round once more to pump what came and decide.
    if (w == Errc::timeout && !k->replies.has_data()) {
      if (take(k, correlation, out)) return deliver(*out);
      return fail(RK_E_TIMEOUT, "timed out waiting for a reply");
    }
  }
}

void abandon_reply(rk_kernel* k, uint64_t correlation) {
  bool moved;
  {
    std::lock_guard lock(k->inbox_mu);
    rk_message* m = nullptr;
    if (!take(k, correlation, &m)) {
      k->abandoned.insert(correlation);
      return;
    }
    // It came after all, between the timeout and now: release it here.
    moved = give_back(k, m);
  }
  if (moved) kick(k);
}

void release_message(rk_message* m) {
  rk_kernel* k = m->kernel;
  if (m->kind != rk_message::Kind::received) {
    // An abandoned reservation: nothing was staged, so nothing is sent.
    k->reserver.store(std::thread::id(), std::memory_order_relaxed);
    k->send_mu.unlock();
    delete m;
    return;
  }
  bool moved;
  {
    std::lock_guard lock(k->inbox_mu);
    moved = give_back(k, m);
  }
  if (moved) kick(k);
}

rk_status reserve(rk_kernel* k, size_t capacity, bool envelope, rk_message** out, int64_t timeout_ms) {
  const size_t record = envelope ? capacity : shm::envelope_bytes_for_data(capacity);
  if (!envelope && capacity > k->max_payload)
    return fail(RK_E_TOO_LARGE, "reservation of " + std::to_string(capacity) + " bytes exceeds the maximum payload of " +
                                    std::to_string(k->max_payload));
  if (record > k->requests.config().max_record)
    return fail(RK_E_TOO_LARGE, "record of " + std::to_string(record) + " bytes exceeds the ring's maximum");
  if (rk_status s = channel_gone(k); s != RK_OK) return s;
  LazyDeadline deadline(timeout_ms);
  // Held until commit or release: the reservation is ours.
  if (rk_status s = lock_send_side(k, deadline); s != RK_OK) return s;
  auto room = reserve_request(k, record, deadline);
  if (!room) {
    k->send_mu.unlock();
    return from_wait(room.error(), "ring space");
  }
  k->reserver.store(std::this_thread::get_id(), std::memory_order_relaxed);
  auto* m = new rk_message();
  m->kind = envelope ? rk_message::Kind::envelope_reservation : rk_message::Kind::data_reservation;
  m->kernel = k;
  m->room = *room;
  if (envelope) std::memset(room->data(), 0, room->size());  // capnp builders need zeroed memory
  *out = m;
  return ok();
}

rk_status commit_data(rk_message* m, size_t len, uint32_t type, uint64_t correlation) {
  rk_kernel* k = m->kernel;
  if (shm::envelope_bytes_for_data(len) > m->room.size()) {
    return fail(RK_E_TOO_LARGE, "commit of " + std::to_string(len) + " bytes exceeds the reservation");
  }
  shm::EnvelopeFields f;
  f.kernel = k->id;
  f.type = type;
  f.correlation = correlation;
  const uint64_t now = stamp(k, f);
  auto n = shm::write_data_envelope_around(m->room, f, len);
  publish_request(k, *n, now, false);  // zero-copy sends are the streaming API
  k->reserver.store(std::thread::id(), std::memory_order_relaxed);
  k->send_mu.unlock();
  delete m;
  return ok();
}

rk_status commit_envelope(rk_message* m, size_t len) {
  rk_kernel* k = m->kernel;
  if (len > m->room.size() || len % 8 != 0) return fail(RK_E_INVALID_ARGUMENT, "length outside the reservation");
  auto view = shm::read_envelope(m->room.first(len));
  if (!view) return fail(RK_E_MALFORMED, "the record is not a framed single-segment Envelope");
  publish_request(k, len, realtime_coarse_ns(), false);
  k->reserver.store(std::thread::id(), std::memory_order_relaxed);
  k->send_mu.unlock();
  delete m;
  return ok();
}

rk_status kernel_op(rk_kernel* k, KernelOp op, rk_state* state_out) {
  ControlCall call(k->client);
  auto req = call.request();
  switch (op) {
    case KernelOp::activate: req.initActivate().setInstanceId(k->id); break;
    case KernelOp::deactivate: req.initDeactivate().setInstanceId(k->id); break;
    case KernelOp::status: req.initStatus().setInstanceId(k->id); break;
    case KernelOp::release: req.initRelease().setInstanceId(k->id); break;
  }
  if (rk_status s = call.send(); s != RK_OK) return s;
  if (state_out && call.reply().isState()) {
    const uint32_t state = uint32_t(call.reply().getState());
    if (!known_state(state)) return fail(RK_E_MALFORMED, "ringkerneld reported an unknown state " + std::to_string(state));
    *state_out = static_cast<rk_state>(state);
  }
  return ok();
}

rk_status terminate_kernel(rk_kernel* k, int64_t timeout_ms) {
  ControlCall call(k->client);
  auto t = call.request().initTerminate();
  t.setInstanceId(k->id);
  t.setTimeoutMs(timeout_ms);
  // The server answers when the kernel has exited or its timeout passed.
  const int64_t server_ms = timeout_ms < 0 ? 5000 : timeout_ms;
  return call.send(int(std::min<int64_t>(server_ms + kControlTimeoutMs, INT32_MAX)));
}

rk_status kernel_metrics(rk_kernel* k, rk_metrics* out) {
  ControlCall call(k->client);
  call.request().initMetrics().setInstanceId(k->id);
  if (rk_status s = call.send(); s != RK_OK) return s;
  auto m = call.reply().getMetrics();
  // Write only the fields the caller's struct has room for.
  rk_metrics full{};
  full.size = out->size;
  const uint32_t state = uint32_t(m.getState());
  if (!known_state(state)) return fail(RK_E_MALFORMED, "ringkerneld reported an unknown state " + std::to_string(state));
  full.state = static_cast<rk_state>(state);
  full.processed = m.getProcessed();
  full.errors = m.getErrors();
  full.dropped = m.getDropped();
  full.queue_depth = m.getQueueDepth();
  full.latency_min_ns = m.getLatencyMinNs();
  full.latency_avg_ns = m.getLatencyAvgNs();
  full.latency_max_ns = m.getLatencyMaxNs();
  full.heartbeat_ns = m.getHeartbeatNs();
  full.epoch = m.getEpoch();
  full.channels = m.getChannels();
  full.last_error = m.getLastError() == 0 ? RK_OK : status_from_wire(m.getLastError());
  std::memcpy(out, &full, std::min<size_t>(out->size, sizeof full));
  return ok();
}

}  // namespace rk::capi
