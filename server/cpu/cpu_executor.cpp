#include "server/cpu/cpu_executor.h"

#include <algorithm>
#include <exception>

#include "server/cpu/dispatch.h"
#include "shm/clock.h"

namespace rk::server::cpu {

namespace {

template <class T>
std::atomic_ref<T> at(T& field) { return std::atomic_ref<T>(field); }

// Messages served from one channel before moving to the next, so one busy
// client cannot starve the others of a shared kernel.
constexpr size_t kBurst = 32;

}  // namespace

CpuExecutor::CpuExecutor(const LaunchSpec& spec) : spec_(spec), state_(spec.def->state_bytes) {
  cb_.latency_min_ns = UINT64_MAX;
  thread_ = std::thread([this] { run(); });
}

CpuExecutor::~CpuExecutor() {
  request_terminate();
  if (thread_.joinable()) thread_.join();
}

void CpuExecutor::poke() {
  host_epoch_.fetch_add(1, std::memory_order_release);
  at(cb_.epoch).store(host_epoch_.load(std::memory_order_relaxed), std::memory_order_relaxed);
  shm::Doorbell(&spec_.bell->bell).wake_all();
}

Errc CpuExecutor::bind(ChannelPtr channel, std::string&) {
  {
    std::lock_guard lock(mu_);
    pending_.push_back(std::move(channel));
  }
  poke();
  return Errc::ok;
}

void CpuExecutor::unbind(const ChannelPtr& channel) {
  {
    std::lock_guard lock(mu_);
    std::erase(pending_, channel);
  }
  poke();
}

void CpuExecutor::set_active(bool active) {
  at(cb_.active).store(active ? 1 : 0, std::memory_order_release);
  poke();
}

void CpuExecutor::request_terminate() {
  at(cb_.terminate_requested).store(1, std::memory_order_release);
  poke();
}

Telemetry CpuExecutor::telemetry() const {
  auto& cb = const_cast<ControlBlock&>(cb_);
  Telemetry t;
  t.processed = at(cb.processed).load(std::memory_order_relaxed);
  t.errors = at(cb.errors).load(std::memory_order_relaxed);
  t.dropped = at(cb.dropped).load(std::memory_order_relaxed);
  uint64_t handled = at(cb.latency_samples).load(std::memory_order_relaxed);
  uint64_t mn = at(cb.latency_min_ns).load(std::memory_order_relaxed);
  t.latency_min_ns = mn == UINT64_MAX ? 0 : mn;
  t.latency_max_ns = at(cb.latency_max_ns).load(std::memory_order_relaxed);
  t.latency_sum_ns = at(cb.latency_sum_ns).load(std::memory_order_relaxed);
  t.latency_samples = handled;
  t.latency_avg_ns = handled ? t.latency_sum_ns / handled : 0;
  t.has_latency_buckets = true;
  t.latency_buckets = latency_.load();
  uint64_t hb = at(cb.heartbeat_ns).load(std::memory_order_relaxed);
  uint64_t now = monotonic_ns();
  t.heartbeat_age_ns = hb && now > hb ? now - hb : 0;
  t.backpressure = at(cb.backpressure).load(std::memory_order_relaxed);
  t.epoch = at(cb.epoch).load(std::memory_order_relaxed);
  t.last_error = at(cb.last_error).load(std::memory_order_relaxed);
  t.terminated = at(cb.terminated).load(std::memory_order_acquire) != 0;
  t.faulted = at(cb.faulted).load(std::memory_order_acquire) != 0;
  t.parked = at(cb.parked).load(std::memory_order_relaxed) != 0;
  return t;
}

std::string CpuExecutor::fault_message() const {
  if (!at(const_cast<uint32_t&>(cb_.terminated)).load(std::memory_order_acquire)) return {};
  return fault_;  // written before `terminated` was released
}

void CpuExecutor::refresh_channels() {
  uint64_t want = host_epoch_.load(std::memory_order_acquire);
  if (want == at(cb_.seen_epoch).load(std::memory_order_relaxed)) return;
  std::lock_guard lock(mu_);
  channels_ = pending_;
  at(cb_.seen_epoch).store(want, std::memory_order_relaxed);
}

bool CpuExecutor::any_work() const {
  for (const auto& ch : channels_)
    if (!ch->broken.load(std::memory_order_relaxed) && ch->requests.has_data() &&
        (ch->replies.would_fit(ch->replies.config().max_record) ||
         ch->replies.check_consumer() == Errc::corrupt))  // serve() closes it
      return true;
  return false;
}

size_t CpuExecutor::serve(Channel& ch) {
  if (ch.broken.load(std::memory_order_relaxed)) return 0;
  const uint32_t max_reply = ch.replies.config().max_record;
  size_t done = 0;
  uint64_t t_prev = 0;  // end of the previous timed message
  while (done < kBurst) {
    if (!ch.replies.would_fit(max_reply)) {
      if (ch.replies.check_consumer() == Errc::corrupt) {  // the client broke its reply ring's head
        ch.broken.store(true, std::memory_order_release);
        spec_.wake_control();
        break;
      }
      // The client is not reading its replies: hold its requests in the
      // ring (nothing dropped) and serve the other channels.
      if (ch.requests.has_data()) at(cb_.backpressure).fetch_add(1, std::memory_order_relaxed);
      break;
    }
    auto rec = ch.requests.peek();
    if (rec.error() == Errc::empty) break;
    if (!rec) {  // corrupt: the client broke the protocol; its session will be closed
      ch.broken.store(true, std::memory_order_release);
      spec_.wake_control();
      break;
    }
    auto room = ch.replies.try_reserve(max_reply);
    if (!room) break;
    // Handler latency is sampled (one message in 8, and every message of a
    // burst after the first): two clock reads would cost more than the
    // echo handler itself.
    const bool timed = t_prev != 0 || (cb_.processed & 7) == 0;
    const uint64_t t0 = t_prev ? t_prev : (timed ? monotonic_ns() : 0);
    Dispatched d = dispatch(*spec_.def, spec_.instance_id, state_, rec->body, *room);
    t_prev = timed ? monotonic_ns() : 0;
    const uint64_t dt = t_prev - t0;
    ch.replies.stage(d.reply_bytes);
    ch.requests.advance(*rec);
    ++done;
    at(cb_.processed).store(cb_.processed + 1, std::memory_order_relaxed);
    if (timed) {
      at(cb_.latency_samples).store(cb_.latency_samples + 1, std::memory_order_relaxed);
      at(cb_.latency_sum_ns).store(cb_.latency_sum_ns + dt, std::memory_order_relaxed);
      if (dt < cb_.latency_min_ns) at(cb_.latency_min_ns).store(dt, std::memory_order_relaxed);
      if (dt > cb_.latency_max_ns) at(cb_.latency_max_ns).store(dt, std::memory_order_relaxed);
      latency_.record(dt);
    }
    if (d.status != Errc::ok) {
      at(cb_.errors).store(cb_.errors + 1, std::memory_order_relaxed);
      at(cb_.last_error).store(uint16_t(d.status), std::memory_order_relaxed);
    }
  }
  if (done) {
    // One index store each way for the whole burst.
    ch.requests.release();
    ch.replies.publish();
  }
  return done;
}

void CpuExecutor::refuse_pending(Channel& ch, Errc why) {
  if (ch.broken.load(std::memory_order_relaxed)) return;
  const uint32_t max_reply = ch.replies.config().max_record;
  // At most one ring's worth: a client still sending cannot keep us here.
  const uint64_t most = ch.requests.config().capacity / shm::kRecordHeaderBytes;
  for (uint64_t n = 0; n < most; ++n) {
    auto rec = ch.requests.peek();
    if (!rec) break;
    auto room = ch.replies.try_reserve(max_reply);
    if (!room) {
      // No room to say so: count it, never lose it silently.
      at(cb_.dropped).store(cb_.dropped + 1, std::memory_order_relaxed);
    } else {
      ch.replies.stage(write_error_reply(spec_.instance_id, rec->body, *room, why));
    }
    ch.requests.advance(*rec);
    at(cb_.errors).store(cb_.errors + 1, std::memory_order_relaxed);
  }
  ch.requests.release();
  ch.replies.publish();
}

void CpuExecutor::run() {
  shm::Doorbell bell(&spec_.bell->bell);
  Errc exit_reason = Errc::ok;
  uint32_t rounds = 0;
  for (;;) {
    refresh_channels();
    // The heartbeat proves the loop turns; a clock read every 64 rounds (and
    // at every park, below) is enough for that.
    if ((rounds++ & 63) == 0) at(cb_.heartbeat_ns).store(monotonic_ns(), std::memory_order_relaxed);
    const bool active = at(cb_.active).load(std::memory_order_acquire) != 0;
    if (at(cb_.terminate_requested).load(std::memory_order_acquire)) {
      exit_reason = Errc::state;
      break;
    }
    size_t done = 0;
    if (active && !channels_.empty()) {
      const size_t n = channels_.size();
      try {
        for (size_t i = 0; i < n; ++i) done += serve(*channels_[(next_channel_ + i) % n]);
      } catch (const std::exception& e) {
        fault_ = std::string("handler threw: ") + e.what();
        exit_reason = Errc::kernel_faulted;
        break;
      } catch (...) {
        fault_ = "handler threw a non-standard exception";
        exit_reason = Errc::kernel_faulted;
        break;
      }
      next_channel_ = (next_channel_ + 1) % n;
    }
    if (done != 0) continue;
    // Idle: park on the instance's bell until a client publishes, a reply
    // ring drains, or the host changes something.
    const uint64_t seen = at(cb_.seen_epoch).load(std::memory_order_relaxed);
    at(cb_.parked).store(1, std::memory_order_relaxed);  // parked: not hung, whatever the heartbeat's age
    (void)bell.wait(
        [&] {
          return host_epoch_.load(std::memory_order_acquire) != seen ||
                 (at(cb_.active).load(std::memory_order_relaxed) && any_work());
        },
        Deadline::never());
    at(cb_.parked).store(0, std::memory_order_relaxed);
  }

  // Drain: an active kernel finishes what is queued; whatever remains (an
  // inactive kernel's queue, or everything after a fault) gets an error reply.
  const bool active = at(cb_.active).load(std::memory_order_acquire) != 0;
  if (exit_reason == Errc::kernel_faulted) at(cb_.faulted).store(1, std::memory_order_relaxed);
  // Bounded: a client that keeps sending cannot keep the kernel alive.
  const Deadline drain_until = Deadline::after_ms(1000);
  for (auto& ch : channels_) {
    if (active && exit_reason != Errc::kernel_faulted) {
      try {
        while (!drain_until.passed() && serve(*ch) != 0) {
        }
      } catch (...) {
      }
    }
    refuse_pending(*ch, exit_reason);
  }
  channels_.clear();
  at(cb_.terminated).store(1, std::memory_order_release);
  spec_.wake_control();
}

Result<std::unique_ptr<Executor>> CpuBackend::launch(const LaunchSpec& spec, std::string& why) {
  if (spec.def == nullptr || spec.bell == nullptr) {
    why = "internal: incomplete launch spec";
    return Errc::internal;
  }
  return std::unique_ptr<Executor>(std::make_unique<CpuExecutor>(spec));
}

}  // namespace rk::server::cpu
