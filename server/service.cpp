#include "server/service.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>

#include "kernels/registry.h"
#include "ringkernel/ringkernel.h"
#include "schema/wire.h"
#include "shm/clock.h"

namespace rk::server {

using rk::schema::KernelState;

void fail(rk::schema::Reply::Builder out, Errc code, const std::string& message) {
  out.setStatus(uint16_t(code));
  out.setMessage(message);
  out.setNone();
}

namespace {

rk::schema::Backend backend_enum(const std::string& name) {
  return name == "cuda" ? rk::schema::Backend::CUDA : rk::schema::Backend::CPU;
}

bool valid_ring_bytes(uint64_t v) {
  return v == 0 || (v >= 4096 && v <= (64ull << 20) && (v & (v - 1)) == 0);
}

}  // namespace

// The kernel owns the consumer object; the control thread only looks.
uint64_t queued_bytes(const Channel& ch) {
  auto* h = reinterpret_cast<shm::RingHeader*>(static_cast<std::byte*>(ch.segment->data()) + ch.area_offset);
  uint64_t tail = std::atomic_ref<uint64_t>(h->tail).load(std::memory_order_relaxed);
  uint64_t head = std::atomic_ref<uint64_t>(h->head).load(std::memory_order_relaxed);
  uint64_t d = tail - head;
  return d > ch.requests.config().capacity ? 0 : d;
}

Service::Service(ServiceOptions options, std::map<std::string, std::unique_ptr<Backend>> backends,
                 ControlWake wake_control)
    : options_(std::move(options)),
      backends_(std::move(backends)),
      wake_control_(std::move(wake_control)),
      start_time_s_(uint64_t(std::time(nullptr))) {}

Service::~Service() { shutdown(); }

Session& Service::add_session(std::unique_ptr<Session> session) {
  Session& ref = *session;
  sessions_[ref.id()] = std::move(session);
  return ref;
}

Session* Service::session_by_id(uint64_t id) {
  auto it = sessions_.find(id);
  return it == sessions_.end() ? nullptr : it->second.get();
}

void Service::unbind(KernelInstance& k, const ChannelPtr& ch) {
  if (k.executor) k.executor->unbind(ch);
  std::erase(k.channels, ch);
}

void Service::close_session(uint64_t session_id) {
  auto it = sessions_.find(session_id);
  if (it == sessions_.end()) return;
  Session& s = *it->second;
  std::vector<uint32_t> touched;
  for (const ChannelPtr& ch : s.channels()) {
    KernelInstance* k = registry_.find(ch->instance_id);
    if (!k) continue;
    unbind(*k, ch);
    touched.push_back(k->id);
    end_if_private(*k, session_id);
  }
  std::erase_if(deferred_, [&](const DeferredTerminate& d) { return d.session_id == session_id; });
  spdlog::debug("session {} closed (pid {}, uid {})", session_id, s.peer().pid, s.peer().uid);
  sessions_.erase(it);  // closes the socket; kernels drop the segment at their next iteration
  for (uint32_t id : touched) remove_if_unused(id);
}

void Service::end_if_private(KernelInstance& k, uint64_t session_id) {
  // Private kernels die with their session (or its release); shared ones live on.
  if (k.shared() || k.owner_session != session_id || k.finished() || !k.executor) return;
  if (k.state == KernelState::TERMINATING) return;
  k.state = KernelState::TERMINATING;
  k.executor->request_terminate();
}

void Service::remove_if_unused(uint32_t id) {
  KernelInstance* k = registry_.find(id);
  if (k && k->finished() && k->channels.empty()) registry_.remove(id);
}

bool Service::handle(Session& s, rk::schema::Request::Reader req, capnp::MessageBuilder& message, int& pass_fd) {
  pass_fd = -1;
  Reply out = message.initRoot<rk::schema::Reply>();
  out.setStatus(0);
  out.setNone();
  using W = rk::schema::Request::Which;
  if (req.which() != W::HELLO && !s.hello_done()) {
    fail(out, Errc::state, "the first request of a session must be hello");
    return true;
  }
  switch (req.which()) {
    case W::HELLO:
      on_hello(s, req.getHello(), out);
      if (out.getStatus() == 0) pass_fd = s.segment().fd();
      return true;
    case W::SEGMENT_MAPPED: (void)s.segment().unlink(); return true;
    case W::LAUNCH: on_launch(s, req.getLaunch(), out, pass_fd); return true;
    case W::ATTACH: on_attach(s, req.getAttach(), out, pass_fd); return true;
    case W::ACTIVATE: on_activate(s, req.getActivate().getInstanceId(), true, out); return true;
    case W::DEACTIVATE: on_activate(s, req.getDeactivate().getInstanceId(), false, out); return true;
    case W::TERMINATE: return on_terminate(s, req.getTerminate(), out);
    case W::RELEASE: on_release(s, req.getRelease().getInstanceId(), out); return true;
    case W::STATUS: on_status(s, req.getStatus().getInstanceId(), out); return true;
    case W::METRICS: on_metrics(s, req.getMetrics().getInstanceId(), out); return true;
    case W::LIST: on_list(s, out); return true;
    case W::SERVER_INFO: on_server_info(out); return true;
  }
  fail(out, Errc::invalid_argument, "unknown request (newer client?)");
  return true;
}

void Service::on_hello(Session& s, rk::schema::Hello::Reader req, Reply out) {
  if (s.hello_done()) return fail(out, Errc::state, "hello sent twice");
  if (req.getAbiVersion() != RK_ABI_VERSION)
    return fail(out, Errc::abi_mismatch,
                "client ABI version " + std::to_string(req.getAbiVersion()) + " is not supported; ringkerneld " +
                    options_.version + " speaks ABI " + std::to_string(RK_ABI_VERSION));
  if (req.getProtocolVersion() != wire::kProtocolVersion)
    return fail(out, Errc::abi_mismatch,
                "control protocol " + std::to_string(req.getProtocolVersion()) + " is not supported (server: " +
                    std::to_string(wire::kProtocolVersion) + ")");
  s.set_hello_done();
  auto w = out.initWelcome();
  w.setAbiVersion(RK_ABI_VERSION);
  w.setProtocolVersion(wire::kProtocolVersion);
  w.setSessionId(s.id());
  w.setSegmentName(s.segment().name());
  w.setSegmentBytes(s.segment().size());
  w.setServerVersion(options_.version);
  spdlog::debug("session {}: hello from pid {} uid {} ({})", s.id(), s.peer().pid, s.peer().uid,
                req.getClientName().cStr());
}

void Service::bind(Session& s, KernelInstance& k, Reply out, int& pass_fd) {
  if (s.channel_for(k.id)) return fail(out, Errc::invalid_argument, "this session is already bound to that instance");
  shm::RingConfig rings = ring_config_for(k.ring_bytes);
  // A GPU reads the requests and writes the replies across PCIe: the tail
  // digest saves a round trip per small request and a fence per small
  // reply (shm/tail_digest.h).
  if (k.backend == "cuda") rings.features |= shm::kRingTailDigest | shm::kRingUnorderedTail;
  auto ch = s.open_channel(k.id, rings);
  if (!ch)
    return fail(out, ch.error(),
                ch.error() == Errc::limit ? "session limit reached: no free channel slot or segment space"
                                          : "cannot create the channel's rings");
  if (k.executor) {
    std::string why;
    if (Errc e = k.executor->bind(*ch, why); e != Errc::ok) {
      s.close_channel(*ch, shm::kSlotClosed);
      return fail(out, e, "the kernel cannot serve another channel: " + why);
    }
  }
  k.channels.push_back(*ch);
  auto b = out.initBound();
  b.setInstanceId(k.id);
  b.setChannel((*ch)->slot);
  b.setState(k.state);
  b.setBackend(backend_enum(k.backend));
  b.setDevice(k.device);
  b.setKernel(k.def->name);
  pass_fd = k.bell_segment.fd();
}

Result<KernelInstance*> Service::start_instance(const InstanceRequest& r, uint64_t owner_session, uid_t owner_uid,
                                                std::string& why) {
  std::string backend_name = r.backend == "auto" || r.backend.empty() ? options_.default_backend : r.backend;
  auto backend = backends_.find(backend_name);
  if (backend == backends_.end()) {
    why = "backend '" + backend_name + "' is not available on this server";
    return Errc::no_device;
  }
  const KernelDef* def = backend->second->find_kernel(r.kernel);
  if (!def) {
    why = "unknown kernel '" + r.kernel + "'";
    return Errc::not_found;
  }
  if (!r.name.empty() && registry_.find_shared(r.name)) {
    why = "an instance named '" + r.name + "' already exists";
    return Errc::invalid_argument;
  }
  if (!valid_ring_bytes(r.ring_bytes)) {
    why = "ring_bytes must be 0 or a power of two in [4 KiB, 64 MiB]";
    return Errc::invalid_argument;
  }

  // Only ever shared as a descriptor, sealed against a client shrinking it.
  auto bell = shm::Segment::create_sealed(shm::kKernelBellBytes);
  if (!bell) {
    why = "cannot create the kernel's bell page";
    return bell.error();
  }

  auto k = std::make_unique<KernelInstance>();
  k->id = registry_.next_id();
  k->def = def;
  k->instance_name = r.name;
  k->owner_session = owner_session;
  k->owner_uid = owner_uid;
  k->backend = backend_name;
  k->device = r.device;
  k->ring_bytes = r.ring_bytes ? r.ring_bytes : options_.default_ring_bytes;
  k->bell_segment = std::move(*bell);
  k->bell = reinterpret_cast<shm::KernelBell*>(static_cast<std::byte*>(k->bell_segment.data()) +
                                               sizeof(shm::SegmentHeader));

  LaunchSpec spec;
  spec.def = def;
  spec.instance_id = k->id;
  spec.grid = r.grid;
  spec.block = r.block;
  spec.device = r.device;
  spec.transfer = r.transfer;
  spec.bell = k->bell;
  spec.bell_fd = k->bell_segment.fd();
  spec.wake_control = wake_control_;
  auto exec = backend->second->launch(spec, why);
  if (!exec) {
    why = "launch of '" + r.kernel + "' failed: " + why;
    return exec.error();
  }
  k->executor = std::move(*exec);
  k->state = KernelState::LAUNCHED;
  return &registry_.add(std::move(k));
}

void Service::on_launch(Session& s, rk::schema::Launch::Reader req, Reply out, int& pass_fd) {
  InstanceRequest r;
  r.kernel = req.getKernel();
  r.name = req.getInstanceName();
  if (req.getBackend() == rk::schema::Backend::CPU) r.backend = "cpu";
  if (req.getBackend() == rk::schema::Backend::CUDA) r.backend = "cuda";
  r.device = req.getDevice();
  r.ring_bytes = req.getRingBytes();
  r.grid = req.getGrid();
  r.block = req.getBlock();
  const auto transfer = static_cast<uint16_t>(req.getTransfer());
  if (transfer > static_cast<uint16_t>(Transfer::staged)) return fail(out, Errc::invalid_argument, "unknown transfer strategy");
  r.transfer = static_cast<Transfer>(transfer);
  std::string why;
  auto started = start_instance(r, s.id(), s.peer().uid, why);
  if (!started) return fail(out, started.error(), why);
  KernelInstance& ref = **started;
  bind(s, ref, out, pass_fd);
  if (out.getStatus() != 0) {  // no channel: undo the launch
    ref.executor.reset();
    registry_.remove(ref.id);
    return;
  }
  spdlog::info("session {}: launched {} #{}{} on {}", s.id(), r.kernel, ref.id,
               r.name.empty() ? "" : " as '" + r.name + "'", ref.backend);
}

Errc Service::launch_shared(const InstanceRequest& r, bool activate, std::string& why) {
  if (r.name.empty()) {
    why = "a kernel launched at start needs a name";
    return Errc::invalid_argument;
  }
  // Owned by no session and by the daemon's user: it lives until terminated.
  auto started = start_instance(r, 0, geteuid(), why);
  if (!started) return started.error();
  KernelInstance& k = **started;
  if (activate) {
    k.executor->set_active(true);
    k.state = KernelState::ACTIVE;
  }
  spdlog::info("launched {} #{} as '{}' on {}{}", r.kernel, k.id, r.name, k.backend, activate ? ", active" : "");
  return Errc::ok;
}

void Service::on_attach(Session& s, rk::schema::Attach::Reader req, Reply out, int& pass_fd) {
  const std::string name = req.getInstanceName();
  KernelInstance* k = registry_.find_shared(name);
  if (!k) return fail(out, Errc::not_found, "no shared instance named '" + name + "'");
  if (k->finished()) return fail(out, Errc::state, "instance '" + name + "' has terminated");
  bind(s, *k, out, pass_fd);
}

KernelInstance* Service::bound_instance(Session& s, uint32_t id, Reply out) {
  KernelInstance* k = registry_.find(id);
  if (!k || !s.channel_for(id)) {
    fail(out, Errc::not_found, "kernel instance #" + std::to_string(id) + " is not bound to this session");
    return nullptr;
  }
  return k;
}

bool Service::may_control(const Session& s, const KernelInstance& k, Reply out) {
  if (s.peer().uid == k.owner_uid || s.peer().uid == 0) return true;
  fail(out, Errc::permission, "only the launching user may control instance #" + std::to_string(k.id));
  return false;
}

void Service::on_activate(Session& s, uint32_t id, bool active, Reply out) {
  KernelInstance* k = bound_instance(s, id, out);
  if (!k || !may_control(s, *k, out)) return;
  if (k->state == KernelState::FAULTED) return fail(out, Errc::kernel_faulted, "kernel faulted: " + k->fault);
  const bool ok = active ? (k->state == KernelState::LAUNCHED || k->state == KernelState::DEACTIVATED)
                         : k->state == KernelState::ACTIVE;
  if (!ok)
    return fail(out, Errc::state, std::string(active ? "activate" : "deactivate") + " is not allowed in state " +
                                      std::to_string(unsigned(k->state)));
  k->executor->set_active(active);
  k->state = active ? KernelState::ACTIVE : KernelState::DEACTIVATED;
  out.setState(k->state);
}

bool Service::on_terminate(Session& s, rk::schema::Terminate::Reader req, Reply out) {
  KernelInstance* k = bound_instance(s, req.getInstanceId(), out);
  if (!k || !may_control(s, *k, out)) return true;
  if (k->state == KernelState::TERMINATED) return fail(out, Errc::state, "already terminated"), true;
  if (k->state == KernelState::FAULTED) return fail(out, Errc::kernel_faulted, "kernel faulted: " + k->fault), true;
  if (k->state != KernelState::TERMINATING) {
    k->state = KernelState::TERMINATING;
    k->executor->request_terminate();
  }
  // Clamped: a client's number must not overflow our clock arithmetic.
  const int64_t t = req.getTimeoutMs() < 0 ? options_.terminate_timeout_ms
                                           : std::min<int64_t>(req.getTimeoutMs(), 3600 * 1000);
  deferred_.push_back({s.id(), k->id, monotonic_ns() + uint64_t(t) * 1000000ull});
  scan();  // it may already be done
  return false;
}

void Service::answer_terminate(const DeferredTerminate& d, Errc status, const std::string& message) {
  capnp::MallocMessageBuilder m;
  auto out = m.initRoot<rk::schema::Reply>();
  if (status != Errc::ok) fail(out, status, message);
  else out.setState(KernelState::TERMINATED);
  // A session that cannot take its reply is gone or stuck: close it, but
  // later — the caller is walking deferred_, which close_session edits.
  if (Session* s = session_by_id(d.session_id); s && wire::send_message(s->fd(), m) != Errc::ok)
    to_close_.push_back(d.session_id);
}

void Service::on_release(Session& s, uint32_t id, Reply out) {
  KernelInstance* k = bound_instance(s, id, out);
  if (!k) return;
  ChannelPtr ch = s.channel_for(id);
  unbind(*k, ch);
  s.close_channel(ch, shm::kSlotClosed);
  end_if_private(*k, s.id());
  remove_if_unused(id);
}

void Service::on_status(Session& s, uint32_t id, Reply out) {
  KernelInstance* k = bound_instance(s, id, out);
  if (k) out.setState(k->state);
}

void Service::on_metrics(Session& s, uint32_t id, Reply out) {
  KernelInstance* k = bound_instance(s, id, out);
  if (!k) return;
  auto m = out.initMetrics();
  m.setState(k->state);
  m.setChannels(uint32_t(k->channels.size()));
  uint64_t depth = 0;
  for (const auto& ch : k->channels) depth += queued_bytes(*ch);
  m.setQueueDepth(depth);
  // A finished kernel keeps reporting what it did (and what it dropped).
  const Telemetry t = k->executor ? k->executor->telemetry() : k->final_telemetry;
  m.setProcessed(t.processed);
  m.setErrors(t.errors);
  m.setDropped(t.dropped);
  m.setLatencyMinNs(t.latency_min_ns);
  m.setLatencyAvgNs(t.latency_avg_ns);
  m.setLatencyMaxNs(t.latency_max_ns);
  m.setHeartbeatNs(t.heartbeat_age_ns);
  m.setLastError(t.last_error);
  m.setEpoch(t.epoch);
  m.setLastErrorMessage(k->fault);
}

void Service::on_list(Session& s, Reply out) {
  std::vector<KernelInstance*> visible;
  for (auto& [id, k] : registry_.all())
    if (k->shared() || k->owner_session == s.id()) visible.push_back(k.get());
  auto list = out.initInstances(uint32_t(visible.size()));
  for (uint32_t i = 0; i < visible.size(); ++i) {
    KernelInstance& k = *visible[i];
    auto e = list[i];
    e.setInstanceId(k.id);
    e.setKernel(k.def->name);
    e.setInstanceName(k.instance_name);
    e.setState(k.state);
    e.setBackend(backend_enum(k.backend));
    e.setDevice(k.device);
    e.setChannels(uint32_t(k.channels.size()));
    e.setProcessed(k.executor ? k.executor->telemetry().processed : k.final_telemetry.processed);
    e.setOwnerSession(k.shared() ? 0 : k.owner_session);
  }
}

void Service::on_server_info(Reply out) {
  auto i = out.initServer();
  i.setVersion(options_.version);
  i.setAbiVersion(RK_ABI_VERSION);
  i.setSessions(uint32_t(sessions_.size()));
  i.setInstances(uint32_t(registry_.all().size()));
  auto names = i.initBackends(uint32_t(backends_.size()));
  uint32_t n = 0;
  for (const auto& [name, b] : backends_) names.set(n++, name);
  i.setDefaultBackend(options_.default_backend);
  i.setPid(int32_t(getpid()));
}

void Service::finish_instance(KernelInstance& k) {
  k.final_telemetry = k.executor->telemetry();
  const bool faulted = k.final_telemetry.faulted;
  k.fault = k.executor->fault_message();
  k.executor.reset();  // joins the worker, which has left its loop
  k.state = faulted ? KernelState::FAULTED : KernelState::TERMINATED;
  if (faulted) ++kernel_faults_;
  registry_.forget_name(k);
  for (const ChannelPtr& ch : k.channels) Session::mark_channel(ch, faulted ? shm::kSlotFaulted : shm::kSlotClosed);
  if (faulted) spdlog::warn("kernel #{} ({}) faulted: {}", k.id, k.def->name, k.fault);
  else spdlog::info("kernel #{} ({}) terminated", k.id, k.def->name);
}

void Service::scan() {
  std::vector<uint32_t> done;
  for (auto& [id, k] : registry_.all())
    if (k->executor && k->executor->telemetry().terminated) {
      finish_instance(*k);
      done.push_back(id);
    }
  for (uint32_t id : done) {
    KernelInstance* k = registry_.find(id);
    const bool faulted = k && k->state == KernelState::FAULTED;
    const std::string why = k ? k->fault : std::string();
    for (auto it = deferred_.begin(); it != deferred_.end();) {
      if (it->instance_id != id) { ++it; continue; }
      answer_terminate(*it, faulted ? Errc::kernel_faulted : Errc::ok, "kernel faulted: " + why);
      it = deferred_.erase(it);
    }
    remove_if_unused(id);
  }
  close_pending();
  // A session whose client broke its ring protocol is closed; everyone else
  // keeps going.
  std::vector<uint64_t> broken;
  for (auto& [sid, s] : sessions_)
    for (const ChannelPtr& ch : s->channels())
      if (ch->broken.load(std::memory_order_acquire)) {
        broken.push_back(sid);
        break;
      }
  for (uint64_t sid : broken) {
    spdlog::warn("session {} corrupted its rings; closing it", sid);
    close_session(sid);
  }
}

uint64_t Service::next_deadline_ns() const {
  uint64_t next = UINT64_MAX;
  for (const auto& d : deferred_) next = std::min(next, d.deadline_ns);
  return next;
}

void Service::expire_deadlines() {
  const uint64_t now = monotonic_ns();
  for (auto it = deferred_.begin(); it != deferred_.end();) {
    if (it->deadline_ns > now) { ++it; continue; }
    answer_terminate(*it, Errc::timeout, "kernel did not exit within the termination timeout; it is still terminating");
    it = deferred_.erase(it);
  }
  close_pending();
}

void Service::close_pending() {
  std::vector<uint64_t> ids;
  ids.swap(to_close_);
  for (uint64_t id : ids) close_session(id);
}

void Service::shutdown() {
  for (auto& [id, k] : registry_.all())
    if (k->executor) k->executor->request_terminate();
  const uint64_t deadline = monotonic_ns() + uint64_t(options_.terminate_timeout_ms) * 1000000ull;
  for (auto& [id, k] : registry_.all()) {
    while (k->executor && !k->executor->telemetry().terminated && monotonic_ns() < deadline) usleep(1000);
    if (k->executor && k->executor->telemetry().terminated) finish_instance(*k);
    else if (k->executor) spdlog::error("kernel #{} did not stop within the timeout", id);
  }
  deferred_.clear();
  sessions_.clear();
}

}  // namespace rk::server
