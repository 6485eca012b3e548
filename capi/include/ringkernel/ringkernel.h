/* RingKernel C ABI: talk to persistent GPU (or CPU) kernels hosted by
 * ringkerneld, through shared-memory rings.
 *
 * Plain C99, usable from C++. Every call returns an rk_status; on failure
 * rk_last_error_message() gives this thread's detail; a failed call leaves
 * its output handles NULL. Option and metrics
 * structs start with a `size` field so the ABI can grow: initialise them
 * with the matching *_init function.
 *
 * Timeouts are in milliseconds: 0 = do not wait, negative = the documented
 * default (rk_call: 30 s; rk_send / rk_receive / rk_reserve: 30 s;
 * rk_terminate: 5 s). No call blocks forever.
 *
 * Thread safety: an rk_client and its rk_kernel handles may be used from
 * many threads at once unless a function says otherwise. rk_call is safe
 * from many threads on one kernel handle: replies are matched by
 * correlation id. rk_receive hands out replies in ring order to whichever
 * thread asks. An rk_message belongs to one thread at a time.
 */
#ifndef RINGKERNEL_RINGKERNEL_H
#define RINGKERNEL_RINGKERNEL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RK_ABI_VERSION 1u

typedef enum rk_status {
  RK_OK = 0,
  RK_E_INVALID_ARGUMENT = 1,
  RK_E_NOT_FOUND = 2,
  RK_E_TIMEOUT = 3,
  RK_E_QUEUE_FULL = 4,
  RK_E_TOO_LARGE = 5,
  RK_E_DISCONNECTED = 6,
  RK_E_ABI_MISMATCH = 7,
  RK_E_PERMISSION = 8,
  RK_E_STATE = 9,          /* wrong lifecycle state for this operation */
  RK_E_MALFORMED = 10,     /* message bytes do not decode */
  RK_E_KERNEL_FAULTED = 11,
  RK_E_NO_DEVICE = 12,
  RK_E_INTERNAL = 13,
  RK_E_CORRUPT = 14,       /* a peer broke the ring protocol */
  RK_E_EMPTY = 15,         /* reserved: nothing to read (non-blocking internals) */
  RK_E_LIMIT = 16          /* a configured limit (sessions, channels, bytes) */
} rk_status;

typedef enum rk_state {
  RK_STATE_CREATED = 0,
  RK_STATE_LAUNCHED = 1,
  RK_STATE_ACTIVE = 2,
  RK_STATE_DEACTIVATED = 3,
  RK_STATE_TERMINATING = 4,
  RK_STATE_TERMINATED = 5,
  RK_STATE_FAULTED = 6
} rk_state;

typedef enum rk_backend {
  RK_BACKEND_AUTO = 0,
  RK_BACKEND_CPU = 1,
  RK_BACKEND_CUDA = 2
} rk_backend;

/* How a CUDA kernel's requests reach the GPU (docs/transfer.md). The CPU
 * backend reads the rings in place whatever is asked. */
typedef enum rk_transfer {
  RK_TRANSFER_AUTO = 0,   /* the server picks per kernel, from measurements */
  RK_TRANSFER_MAPPED = 1, /* the GPU reads the session's rings across PCIe */
  RK_TRANSFER_STAGED = 2  /* the copy engines move whole ring spans to device memory */
} rk_transfer;

typedef struct rk_client rk_client;   /* a connection (= a session) to ringkerneld */
typedef struct rk_kernel rk_kernel;   /* this session's channel to a kernel instance */
typedef struct rk_message rk_message; /* a received message, or a reservation to send */

/* ---- versions and errors --------------------------------------------------- */

/* Returns RK_ABI_VERSION of the library actually loaded. Thread-safe. */
uint32_t rk_abi_version(void);
/* Static name of a status, e.g. "queue full". Never NULL. Thread-safe. */
const char *rk_status_string(rk_status status);
/* Detail of the last failed call on this thread ("" if none). Valid until
 * this thread's next rk_* call. */
const char *rk_last_error_message(void);

/* ---- connection ------------------------------------------------------------ */

/* Connects to ringkerneld. socket_path NULL: $RINGKERNEL_SOCKET, else
 * $XDG_RUNTIME_DIR/ringkernel/default.sock, else /tmp/ringkernel-<uid>/default.sock.
 * Fails with RK_E_ABI_MISMATCH (and a message) if the server does not speak
 * this ABI. */
rk_status rk_connect(const char *socket_path, rk_client **out);
/* Closes the session: the server releases its channels and terminates its
 * private kernels. Kernel handles of this client must be released first
 * (any left are released here). NULL is ignored. Not concurrent with other
 * calls on the same client. */
void rk_disconnect(rk_client *client);

typedef struct rk_server_info {
  uint32_t size;              /* set by rk_server_info_init */
  uint32_t abi_version;       /* the server's ABI */
  uint32_t sessions;          /* connected sessions, this one included */
  uint32_t instances;         /* kernel instances alive (all sessions) */
  int32_t pid;                /* the server's process id */
  rk_backend default_backend; /* what RK_BACKEND_AUTO launches on */
  uint32_t has_cuda;          /* 1 if the CUDA backend is offered */
} rk_server_info;

void rk_server_info_init(rk_server_info *info);
/* Asks the server about itself. Thread-safe. */
rk_status rk_server_info_get(rk_client *client, rk_server_info *out);

/* ---- kernels ---------------------------------------------------------------- */

typedef struct rk_launch_options {
  uint32_t size;              /* sizeof(rk_launch_options), set by rk_launch_options_init */
  rk_backend backend;         /* RK_BACKEND_AUTO | RK_BACKEND_CPU | RK_BACKEND_CUDA */
  const char *instance_name;  /* NULL: private to the session; else shared by this name */
  uint32_t grid, block;       /* 0: kernel default */
  uint64_t ring_bytes;        /* per-direction ring buffer bytes, power of two; 0: server default (1 MiB) */
  int32_t device;             /* -1: any */
  rk_transfer transfer;       /* RK_TRANSFER_AUTO from rk_launch_options_init (it zeroes the struct; always use it) */
} rk_launch_options;

void rk_launch_options_init(rk_launch_options *options);

/* Launches kernel `kernel` (a registered name such as "echo") in state
 * Launched (inactive) and binds a channel to it. options NULL: defaults. */
rk_status rk_launch(rk_client *client, const char *kernel, const rk_launch_options *options,
                    rk_kernel **out);
/* Binds a channel to a shared instance launched by any session. */
rk_status rk_attach(rk_client *client, const char *instance_name, rk_kernel **out);
rk_status rk_activate(rk_kernel *kernel);
rk_status rk_deactivate(rk_kernel *kernel);
/* Asks the kernel to drain and exit; waits up to timeout_ms (negative: 5 s). */
rk_status rk_terminate(rk_kernel *kernel, int64_t timeout_ms);
/* Detaches this handle's channel; terminates the kernel only if it is
 * private to this session. Outstanding messages must be released first.
 * NULL is ignored. */
void rk_kernel_release(rk_kernel *kernel);
rk_status rk_kernel_state(rk_kernel *kernel, rk_state *out);
/* Kernel instance id assigned by the server (stable for its lifetime). */
uint32_t rk_kernel_id(const rk_kernel *kernel);

typedef struct rk_metrics {
  uint32_t size;              /* set by rk_metrics_init; fields past it are not written */
  rk_state state;
  uint64_t processed;         /* messages handled */
  uint64_t errors;            /* messages answered with an error status */
  uint64_t dropped;           /* must stay 0: nothing is dropped silently */
  uint64_t queue_depth;       /* unread request bytes across all channels */
  uint64_t latency_min_ns;    /* handler latency */
  uint64_t latency_avg_ns;
  uint64_t latency_max_ns;
  uint64_t heartbeat_ns;      /* age of the kernel's last heartbeat */
  uint64_t epoch;             /* bumped on each activate / deactivate */
  uint32_t channels;          /* channels bound to the instance */
  rk_status last_error;
} rk_metrics;

void rk_metrics_init(rk_metrics *metrics);
rk_status rk_kernel_metrics(rk_kernel *kernel, rk_metrics *out);

/* ---- messages ---------------------------------------------------------------- */

/* Largest payload one message can carry with the default ring settings. */
#define RK_MAX_PAYLOAD 65536u

/* Sends `len` bytes as a Data payload with message type `type`. Waits up
 * to timeout_ms for ring space, then fails with RK_E_QUEUE_FULL. */
rk_status rk_send(rk_kernel *kernel, uint32_t type, const void *data, size_t len,
                  uint64_t correlation, int64_t timeout_ms);
/* Takes the next reply of this channel, waiting up to timeout_ms. The
 * message points into the ring (zero copy) until rk_message_release. */
rk_status rk_receive(rk_kernel *kernel, rk_message **out, int64_t timeout_ms);
/* Sends a request and waits for the reply with the same correlation id. An
 * error reply from the kernel is returned as its status, with the reply
 * still handed out in *reply (release it). */
rk_status rk_call(rk_kernel *kernel, uint32_t type, const void *data, size_t len,
                  rk_message **reply, int64_t timeout_ms);

/* Zero-copy send: reserve space for a payload of up to `capacity` bytes,
 * write it at *payload, then rk_commit. Between the two, this thread holds
 * the channel's send side. A reservation dropped with rk_message_release is
 * abandoned (nothing is sent). */
rk_status rk_reserve(rk_kernel *kernel, size_t capacity, void **payload, rk_message **out,
                     int64_t timeout_ms);
rk_status rk_commit(rk_message *reservation, size_t len, uint32_t type, uint64_t correlation);

/* Payload bytes of a received message (Data payloads; for typed payloads
 * the whole Cap'n Proto message, see rk_message_capnp). */
const void *rk_message_data(const rk_message *message, size_t *len);
uint32_t rk_message_type(const rk_message *message);
uint64_t rk_message_correlation(const rk_message *message);
/* RK_OK, or the error status the kernel replied with. */
rk_status rk_message_status(const rk_message *message);
/* The whole framed Cap'n Proto Envelope as it lies in the ring. */
const void *rk_message_capnp(const rk_message *message, size_t *len);
/* Returns the ring space to the kernel. NULL is ignored. */
void rk_message_release(rk_message *message);

/* Typed payloads, zero copy: reserve a whole ring record of up to
 * `capacity` bytes (zeroed), build a framed single-segment Cap'n Proto
 * Envelope in it (e.g. with capnp::FlatMessageBuilder; ringkernel.hpp does
 * this), then commit its length. The library checks the framing before it
 * publishes; a record that does not frame is refused with RK_E_MALFORMED. */
rk_status rk_reserve_envelope(rk_kernel *kernel, size_t capacity, void **record, rk_message **out,
                              int64_t timeout_ms);
rk_status rk_commit_envelope(rk_message *reservation, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* RINGKERNEL_RINGKERNEL_H */
