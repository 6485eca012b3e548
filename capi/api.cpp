// The exported C entry points: argument checks, then the C++ underneath.
// No exception crosses this line.
#include <cstring>
#include <exception>

#include "capi/call_trace.h"
#include "capi/client.h"
#include "capi/errors.h"
#include "capi/kernel.h"
#include "ringkernel/ringkernel.h"

using namespace rk::capi;

namespace {

// Runs f, turning any escaped exception into RK_E_INTERNAL.
template <class F>
rk_status guarded(F&& f) noexcept {
  try {
    return f();
  } catch (const std::bad_alloc&) {
    return fail(RK_E_INTERNAL, "out of memory");
  } catch (const std::exception& e) {
    return fail(RK_E_INTERNAL, std::string("internal error: ") + e.what());
  } catch (...) {
    return fail(RK_E_INTERNAL, "internal error");
  }
}

rk_status bind_reply(rk_client* c, ControlCall& call, rk_kernel** out) {
  if (rk_status s = call.send(); s != RK_OK) return s;
  return bind_kernel(c, call.reply().getBound(), call.take_fd(), out);
}

}  // namespace

extern "C" {

uint32_t rk_abi_version(void) { return RK_ABI_VERSION; }

const char* rk_status_string(rk_status s) {
  if (s == RK_OK) return "ok";
  return rk::errc_string(static_cast<rk::Errc>(s));
}

const char* rk_last_error_message(void) { return last_message(); }

rk_status rk_connect(const char* socket_path, rk_client** out) {
  return guarded([&] { return connect_client(socket_path, out); });
}

void rk_disconnect(rk_client* client) {
  try {
    disconnect_client(client);
  } catch (...) {
  }
}

void rk_server_info_init(rk_server_info* i) {
  if (!i) return;
  std::memset(i, 0, sizeof *i);
  i->size = sizeof *i;
}

rk_status rk_server_info_get(rk_client* client, rk_server_info* out) {
  if (!client || !out || out->size < sizeof(uint32_t) * 2)
    return fail(RK_E_INVALID_ARGUMENT, "client and an initialised rk_server_info are required");
  return guarded([&] {
    ControlCall call(client);
    call.request().setServerInfo();
    if (rk_status s = call.send(); s != RK_OK) return s;
    auto r = call.reply().getServer();
    rk_server_info full{};
    full.size = out->size;
    full.abi_version = r.getAbiVersion();
    full.sessions = r.getSessions();
    full.instances = r.getInstances();
    full.pid = r.getPid();
    full.default_backend = r.getDefaultBackend() == "cuda" ? RK_BACKEND_CUDA : RK_BACKEND_CPU;
    for (auto b : r.getBackends())
      if (b == "cuda") full.has_cuda = 1;
    std::memcpy(out, &full, std::min<size_t>(out->size, sizeof full));
    return ok();
  });
}

void rk_launch_options_init(rk_launch_options* o) {
  if (!o) return;
  std::memset(o, 0, sizeof *o);
  o->size = sizeof *o;
  o->backend = RK_BACKEND_AUTO;
  o->device = -1;
}

rk_status rk_launch(rk_client* client, const char* kernel, const rk_launch_options* options, rk_kernel** out) {
  if (!client || !kernel || !out) return fail(RK_E_INVALID_ARGUMENT, "client, kernel and out must not be NULL");
  *out = nullptr;
  rk_launch_options o;
  rk_launch_options_init(&o);
  if (options) {
    if (options->size < offsetof(rk_launch_options, device) + sizeof(int32_t) && options->size != 0)
      return fail(RK_E_INVALID_ARGUMENT, "rk_launch_options.size is too small: call rk_launch_options_init");
    std::memcpy(&o, options, std::min<size_t>(options->size ? options->size : sizeof o, sizeof o));
  }
  // Read as an integer: a value outside the enum is the caller's bug, and
  // loading it as an rk_transfer would be undefined behaviour in C++.
  uint32_t transfer = 0;
  static_assert(sizeof transfer == sizeof o.transfer);
  std::memcpy(&transfer, &o.transfer, sizeof transfer);
  if (transfer > RK_TRANSFER_STAGED) return fail(RK_E_INVALID_ARGUMENT, "unknown rk_transfer value");
  return guarded([&] {
    ControlCall call(client);
    auto l = call.request().initLaunch();
    l.setKernel(kernel);
    if (o.instance_name) l.setInstanceName(o.instance_name);
    l.setBackend(static_cast<rk::schema::Backend>(o.backend));
    l.setGrid(o.grid);
    l.setBlock(o.block);
    l.setRingBytes(o.ring_bytes);
    l.setDevice(o.device);
    l.setTransfer(static_cast<rk::schema::Transfer>(transfer));
    return bind_reply(client, call, out);
  });
}

rk_status rk_attach(rk_client* client, const char* instance_name, rk_kernel** out) {
  if (!client || !instance_name || !out) return fail(RK_E_INVALID_ARGUMENT, "arguments must not be NULL");
  *out = nullptr;
  return guarded([&] {
    ControlCall call(client);
    call.request().initAttach().setInstanceName(instance_name);
    return bind_reply(client, call, out);
  });
}

rk_status rk_activate(rk_kernel* k) {
  if (!k) return fail(RK_E_INVALID_ARGUMENT, "kernel is NULL");
  return guarded([&] { return kernel_op(k, KernelOp::activate); });
}

rk_status rk_deactivate(rk_kernel* k) {
  if (!k) return fail(RK_E_INVALID_ARGUMENT, "kernel is NULL");
  return guarded([&] { return kernel_op(k, KernelOp::deactivate); });
}

rk_status rk_terminate(rk_kernel* k, int64_t timeout_ms) {
  if (!k) return fail(RK_E_INVALID_ARGUMENT, "kernel is NULL");
  return guarded([&] { return terminate_kernel(k, timeout_ms); });
}

void rk_kernel_release(rk_kernel* k) {
  try {
    release_kernel(k);
  } catch (...) {
  }
}

rk_status rk_kernel_state(rk_kernel* k, rk_state* out) {
  if (!k || !out) return fail(RK_E_INVALID_ARGUMENT, "arguments must not be NULL");
  return guarded([&] { return kernel_op(k, KernelOp::status, out); });
}

uint32_t rk_kernel_id(const rk_kernel* k) { return k ? k->id : 0; }

void rk_metrics_init(rk_metrics* m) {
  if (!m) return;
  std::memset(m, 0, sizeof *m);
  m->size = sizeof *m;
}

rk_status rk_kernel_metrics(rk_kernel* k, rk_metrics* out) {
  if (!k || !out) return fail(RK_E_INVALID_ARGUMENT, "arguments must not be NULL");
  if (out->size < sizeof(uint32_t) * 2) return fail(RK_E_INVALID_ARGUMENT, "rk_metrics.size not set: call rk_metrics_init");
  return guarded([&] { return kernel_metrics(k, out); });
}

rk_status rk_send(rk_kernel* k, uint32_t type, const void* data, size_t len, uint64_t correlation, int64_t timeout_ms) {
  if (!k) return fail(RK_E_INVALID_ARGUMENT, "kernel is NULL");
  return guarded([&] {
    LazyDeadline deadline(timeout_ms);
    return send_data(k, type, data, len, correlation, deadline, false);
  });
}

rk_status rk_receive(rk_kernel* k, rk_message** out, int64_t timeout_ms) {
  if (!k || !out) return fail(RK_E_INVALID_ARGUMENT, "arguments must not be NULL");
  *out = nullptr;
  return guarded([&] {
    LazyDeadline deadline(timeout_ms);
    return wait_reply(k, std::nullopt, deadline, out);
  });
}

rk_status rk_call(rk_kernel* k, uint32_t type, const void* data, size_t len, rk_message** reply, int64_t timeout_ms) {
  if (!k || !reply) return fail(RK_E_INVALID_ARGUMENT, "arguments must not be NULL");
  *reply = nullptr;
  return guarded([&] {
    // One deadline for both halves: the caller's timeout bounds the whole call.
    LazyDeadline deadline(timeout_ms);
    call_trace::enter();
    const uint64_t correlation = k->next_correlation.fetch_add(1, std::memory_order_relaxed);
    if (rk_status s = send_data(k, type, data, len, correlation, deadline, true); s != RK_OK) return s;
    rk_status s = wait_reply(k, correlation, deadline, reply);
    call_trace::replied();
    if (s == RK_E_TIMEOUT) abandon_reply(k, correlation);  // its late reply must not pin the ring
    return s;
  });
}

rk_status rk_reserve(rk_kernel* k, size_t capacity, void** payload, rk_message** out, int64_t timeout_ms) {
  if (!k || !payload || !out) return fail(RK_E_INVALID_ARGUMENT, "arguments must not be NULL");
  *payload = nullptr;
  *out = nullptr;
  return guarded([&] {
    rk_status s = reserve(k, capacity, false, out, timeout_ms);
    if (s == RK_OK) *payload = (*out)->room.data() + rk::shm::kEnvelopeHeaderBytes;
    return s;
  });
}

rk_status rk_commit(rk_message* m, size_t len, uint32_t type, uint64_t correlation) {
  if (!m || m->kind != rk_message::Kind::data_reservation)
    return fail(RK_E_INVALID_ARGUMENT, "not a reservation from rk_reserve");
  return guarded([&] { return commit_data(m, len, type, correlation); });
}

rk_status rk_reserve_envelope(rk_kernel* k, size_t capacity, void** record, rk_message** out, int64_t timeout_ms) {
  if (!k || !record || !out) return fail(RK_E_INVALID_ARGUMENT, "arguments must not be NULL");
  *record = nullptr;
  *out = nullptr;
  return guarded([&] {
    rk_status s = reserve(k, capacity, true, out, timeout_ms);
    if (s == RK_OK) *record = (*out)->room.data();
    return s;
  });
}

rk_status rk_commit_envelope(rk_message* m, size_t len) {
  if (!m || m->kind != rk_message::Kind::envelope_reservation)
    return fail(RK_E_INVALID_ARGUMENT, "not a reservation from rk_reserve_envelope");
  return guarded([&] { return commit_envelope(m, len); });
}

const void* rk_message_data(const rk_message* m, size_t* len) {
  if (!m) {
    if (len) *len = 0;
    return nullptr;
  }
  if (m->view.kind == rk::shm::EnvelopeView::Payload::data) {
    if (len) *len = m->view.payload.size();
    return m->view.payload.data();
  }
  if (len) *len = m->record.size();  // typed payload: the whole message
  return m->record.data();
}

uint32_t rk_message_type(const rk_message* m) { return m ? m->view.fields.type : 0; }
uint64_t rk_message_correlation(const rk_message* m) { return m ? m->view.fields.correlation : 0; }
rk_status rk_message_status(const rk_message* m) { return m ? status_from_wire(m->view.fields.status) : RK_E_INVALID_ARGUMENT; }

const void* rk_message_capnp(const rk_message* m, size_t* len) {
  if (len) *len = m ? m->record.size() : 0;
  return m ? m->record.data() : nullptr;
}

void rk_message_release(rk_message* m) {
  if (!m) return;
  try {
    release_message(m);
  } catch (...) {
  }
}

}  // extern "C"
