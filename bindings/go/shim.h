/* shim.h: small C wrappers that the Go package calls instead of the bare
 * rk_* functions.
 *
 * Why they exist: rk_last_error_message() is thread-local and valid only
 * until the thread's next rk_* call, while a goroutine may move to another
 * OS thread between two cgo calls. Each wrapper therefore makes the rk_*
 * call and copies the error detail (malloc'd, freed by Go) in one cgo call,
 * on one thread. They also gather a reply's data pointer, length, type and
 * correlation in the same call, so the hot path costs one crossing, and
 * they keep every out-parameter in C memory: no Go pointer is handed to
 * the library except payload bytes, which rk_send copies into the ring and
 * does not keep.
 */
#ifndef RINGKERNEL_GO_SHIM_H
#define RINGKERNEL_GO_SHIM_H

#include <stdlib.h>
#include <string.h>

#include <ringkernel/ringkernel.h>

/* The status of a call, and a malloc'd copy of the thread's error detail
 * when it failed (NULL on success). */
typedef struct rkgo_result {
  rk_status status;
  char *error;
} rkgo_result;

static inline rkgo_result rkgo_result_of(rk_status s) {
  rkgo_result r;
  r.status = s;
  r.error = s == RK_OK ? NULL : strdup(rk_last_error_message());
  return r;
}

/* ---- client ---------------------------------------------------------------- */

typedef struct rkgo_client_result {
  rkgo_result r;
  rk_client *client;
} rkgo_client_result;

static inline rkgo_client_result rkgo_connect(const char *socket_path) {
  rkgo_client_result out;
  out.client = NULL;
  out.r = rkgo_result_of(rk_connect(socket_path, &out.client));
  return out;
}

typedef struct rkgo_info_result {
  rkgo_result r;
  rk_server_info info;
} rkgo_info_result;

static inline rkgo_info_result rkgo_server_info(rk_client *client) {
  rkgo_info_result out;
  rk_server_info_init(&out.info);
  out.r = rkgo_result_of(rk_server_info_get(client, &out.info));
  return out;
}

/* ---- kernels ---------------------------------------------------------------- */

typedef struct rkgo_kernel_result {
  rkgo_result r;
  rk_kernel *kernel;
  uint32_t id;
} rkgo_kernel_result;

/* instance_name NULL: private; device -1: any. */
static inline rkgo_kernel_result rkgo_launch(rk_client *client, const char *kind, rk_backend backend,
                                             const char *instance_name, uint32_t grid, uint32_t block,
                                             uint64_t ring_bytes, int32_t device, rk_transfer transfer) {
  rk_launch_options o;
  rk_launch_options_init(&o);
  o.backend = backend;
  o.instance_name = instance_name;
  o.grid = grid;
  o.block = block;
  o.ring_bytes = ring_bytes;
  o.device = device;
  o.transfer = transfer;
  rkgo_kernel_result out;
  out.kernel = NULL;
  out.r = rkgo_result_of(rk_launch(client, kind, &o, &out.kernel));
  out.id = rk_kernel_id(out.kernel);
  return out;
}

static inline rkgo_kernel_result rkgo_attach(rk_client *client, const char *instance_name) {
  rkgo_kernel_result out;
  out.kernel = NULL;
  out.r = rkgo_result_of(rk_attach(client, instance_name, &out.kernel));
  out.id = rk_kernel_id(out.kernel);
  return out;
}

static inline rkgo_result rkgo_activate(rk_kernel *k) { return rkgo_result_of(rk_activate(k)); }
static inline rkgo_result rkgo_deactivate(rk_kernel *k) { return rkgo_result_of(rk_deactivate(k)); }
static inline rkgo_result rkgo_terminate(rk_kernel *k, int64_t timeout_ms) {
  return rkgo_result_of(rk_terminate(k, timeout_ms));
}

typedef struct rkgo_state_result {
  rkgo_result r;
  rk_state state;
} rkgo_state_result;

static inline rkgo_state_result rkgo_state(rk_kernel *k) {
  rkgo_state_result out;
  out.state = RK_STATE_CREATED;
  out.r = rkgo_result_of(rk_kernel_state(k, &out.state));
  return out;
}

typedef struct rkgo_metrics_result {
  rkgo_result r;
  rk_metrics metrics;
} rkgo_metrics_result;

static inline rkgo_metrics_result rkgo_metrics(rk_kernel *k) {
  rkgo_metrics_result out;
  rk_metrics_init(&out.metrics);
  out.r = rkgo_result_of(rk_kernel_metrics(k, &out.metrics));
  return out;
}

/* ---- messages ---------------------------------------------------------------- */

/* A reply as Go sees it. On success `message` holds the reply (release it
 * with rk_message_release) and the other fields describe it. When the
 * kernel answered with an error status, the reply has already been
 * released here: only its type and correlation are kept, with
 * `kernel_reply` set. */
typedef struct rkgo_reply {
  rkgo_result r;
  rk_message *message;
  const void *data;
  size_t len;
  uint32_t type;
  uint64_t correlation;
  int kernel_reply;
} rkgo_reply;

static inline rkgo_reply rkgo_reply_of(rk_status s, rk_message *m) {
  rkgo_reply out;
  memset(&out, 0, sizeof out);
  out.r = rkgo_result_of(s);
  if (m == NULL) return out;
  out.type = rk_message_type(m);
  out.correlation = rk_message_correlation(m);
  out.kernel_reply = 1;
  if (s != RK_OK) {
    rk_message_release(m);
    return out;
  }
  out.message = m;
  out.data = rk_message_data(m, &out.len);
  return out;
}

static inline rkgo_result rkgo_send(rk_kernel *k, uint32_t type, const void *data, size_t len,
                                    uint64_t correlation, int64_t timeout_ms) {
  return rkgo_result_of(rk_send(k, type, data, len, correlation, timeout_ms));
}

static inline rkgo_reply rkgo_receive(rk_kernel *k, int64_t timeout_ms) {
  rk_message *m = NULL;
  rk_status s = rk_receive(k, &m, timeout_ms);
  return rkgo_reply_of(s, m);
}

static inline rkgo_reply rkgo_call(rk_kernel *k, uint32_t type, const void *data, size_t len,
                                   int64_t timeout_ms) {
  rk_message *m = NULL;
  rk_status s = rk_call(k, type, data, len, &m, timeout_ms);
  return rkgo_reply_of(s, m);
}

#endif /* RINGKERNEL_GO_SHIM_H */
