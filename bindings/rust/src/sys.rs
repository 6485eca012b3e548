//! Raw declarations of `ringkernel/ringkernel.h`, one to one.
//!
//! Everything here is `unsafe` to call and follows the C header's rules
//! (which this module's items repeat briefly); the safe API of this crate
//! is built on it. The layout test (`tests/layout.rs`) compiles a C
//! program against the real header and checks that every struct size,
//! field offset, enum value and constant below matches it.
//!
//! C enums are declared as `#[repr(transparent)]` newtypes over their
//! underlying integer (`u32` for these enums, which have no negative
//! values), with the enumerators as associated and free constants. A Rust
//! `enum` would make any value the library hands back that this binding
//! does not know (for instance a status added by a newer library, or one a
//! kernel replied with) undefined behaviour; a newtype makes it just a
//! number.
#![allow(non_camel_case_types)]

use std::os::raw::{c_char, c_void};

/// `RK_ABI_VERSION`: the ABI this binding was written against.
pub const RK_ABI_VERSION: u32 = 1;
/// `RK_MAX_PAYLOAD`: largest payload one message carries with the default ring settings.
pub const RK_MAX_PAYLOAD: u32 = 65536;

macro_rules! c_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $value:expr,)* }) => {
        $(#[$doc])*
        #[repr(transparent)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub struct $name(pub u32);
        impl $name {
            $($(#[$vdoc])* pub const $variant: $name = $name($value);)*
            /// Every enumerator the header declares, with its C name.
            pub const ALL: &'static [(&'static str, $name)] = &[$((stringify!($variant), $name($value)),)*];
        }
        $($(#[$vdoc])* pub const $variant: $name = $name::$variant;)*
    };
}

c_enum! {
    /// `rk_status`: the result of every call. `RK_OK` is 0; errors follow.
    rk_status {
        /// Success.
        RK_OK = 0,
        /// An argument was NULL, out of range or inconsistent.
        RK_E_INVALID_ARGUMENT = 1,
        /// No such kernel, instance or server.
        RK_E_NOT_FOUND = 2,
        /// The timeout passed first.
        RK_E_TIMEOUT = 3,
        /// The request ring stayed full for the whole timeout.
        RK_E_QUEUE_FULL = 4,
        /// A payload or reservation exceeds the channel's maximum.
        RK_E_TOO_LARGE = 5,
        /// ringkerneld has gone away.
        RK_E_DISCONNECTED = 6,
        /// The server does not speak this ABI.
        RK_E_ABI_MISMATCH = 7,
        /// Not allowed for this user.
        RK_E_PERMISSION = 8,
        /// Wrong lifecycle state for this operation.
        RK_E_STATE = 9,
        /// Message bytes do not decode.
        RK_E_MALFORMED = 10,
        /// The kernel faulted.
        RK_E_KERNEL_FAULTED = 11,
        /// The backend or device is not available.
        RK_E_NO_DEVICE = 12,
        /// An internal error of the library or server.
        RK_E_INTERNAL = 13,
        /// A peer broke the ring protocol.
        RK_E_CORRUPT = 14,
        /// Reserved: nothing to read (non-blocking internals).
        RK_E_EMPTY = 15,
        /// A configured limit (sessions, channels, bytes).
        RK_E_LIMIT = 16,
    }
}

c_enum! {
    /// `rk_state`: a kernel instance's lifecycle state.
    rk_state {
        /// Created, not yet launched.
        RK_STATE_CREATED = 0,
        /// Launched, inactive.
        RK_STATE_LAUNCHED = 1,
        /// Processing messages.
        RK_STATE_ACTIVE = 2,
        /// Paused: messages queue up.
        RK_STATE_DEACTIVATED = 3,
        /// Draining before exit.
        RK_STATE_TERMINATING = 4,
        /// Exited.
        RK_STATE_TERMINATED = 5,
        /// Faulted.
        RK_STATE_FAULTED = 6,
    }
}

c_enum! {
    /// `rk_backend`: where a kernel runs.
    rk_backend {
        /// The server's default.
        RK_BACKEND_AUTO = 0,
        /// CPU threads.
        RK_BACKEND_CPU = 1,
        /// A CUDA device.
        RK_BACKEND_CUDA = 2,
    }
}

c_enum! {
    /// `rk_transfer`: how a CUDA kernel's requests reach the GPU.
    rk_transfer {
        /// The server picks per kernel.
        RK_TRANSFER_AUTO = 0,
        /// The GPU reads the session's rings across PCIe.
        RK_TRANSFER_MAPPED = 1,
        /// The copy engines move whole ring spans to device memory.
        RK_TRANSFER_STAGED = 2,
    }
}

/// `rk_client`: a connection (= a session) to ringkerneld. Opaque.
#[repr(C)]
pub struct rk_client {
    _opaque: [u8; 0],
    _not_send_sync: core::marker::PhantomData<(*mut u8, core::marker::PhantomPinned)>,
}

/// `rk_kernel`: this session's channel to a kernel instance. Opaque.
#[repr(C)]
pub struct rk_kernel {
    _opaque: [u8; 0],
    _not_send_sync: core::marker::PhantomData<(*mut u8, core::marker::PhantomPinned)>,
}

/// `rk_message`: a received message, or a reservation to send. Opaque.
#[repr(C)]
pub struct rk_message {
    _opaque: [u8; 0],
    _not_send_sync: core::marker::PhantomData<(*mut u8, core::marker::PhantomPinned)>,
}

/// `rk_server_info`: what the server says about itself. Initialise with
/// [`rk_server_info_init`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct rk_server_info {
    /// Set by `rk_server_info_init`.
    pub size: u32,
    /// The server's ABI.
    pub abi_version: u32,
    /// Connected sessions, this one included.
    pub sessions: u32,
    /// Kernel instances alive (all sessions).
    pub instances: u32,
    /// The server's process id.
    pub pid: i32,
    /// What `RK_BACKEND_AUTO` launches on.
    pub default_backend: rk_backend,
    /// 1 if the CUDA backend is offered.
    pub has_cuda: u32,
}

impl Default for rk_backend {
    fn default() -> Self {
        RK_BACKEND_AUTO
    }
}
impl Default for rk_transfer {
    fn default() -> Self {
        RK_TRANSFER_AUTO
    }
}
impl Default for rk_state {
    fn default() -> Self {
        RK_STATE_CREATED
    }
}
impl Default for rk_status {
    fn default() -> Self {
        RK_OK
    }
}

/// `rk_launch_options`. Initialise with [`rk_launch_options_init`].
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct rk_launch_options {
    /// `sizeof(rk_launch_options)`, set by `rk_launch_options_init`.
    pub size: u32,
    /// `RK_BACKEND_AUTO | RK_BACKEND_CPU | RK_BACKEND_CUDA`.
    pub backend: rk_backend,
    /// NULL: private to the session; else shared by this name.
    pub instance_name: *const c_char,
    /// 0: kernel default.
    pub grid: u32,
    /// 0: kernel default.
    pub block: u32,
    /// Per-direction ring buffer bytes, a power of two; 0: server default (1 MiB).
    pub ring_bytes: u64,
    /// -1: any.
    pub device: i32,
    /// `RK_TRANSFER_AUTO | RK_TRANSFER_MAPPED | RK_TRANSFER_STAGED`; the CPU backend ignores it.
    pub transfer: rk_transfer,
}

/// `rk_metrics`. Initialise with [`rk_metrics_init`]; fields past `size`
/// are not written.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct rk_metrics {
    /// Set by `rk_metrics_init`.
    pub size: u32,
    /// The instance's state.
    pub state: rk_state,
    /// Messages handled.
    pub processed: u64,
    /// Messages answered with an error status.
    pub errors: u64,
    /// Must stay 0: nothing is dropped silently.
    pub dropped: u64,
    /// Unread request bytes across all channels.
    pub queue_depth: u64,
    /// Handler latency, minimum.
    pub latency_min_ns: u64,
    /// Handler latency, average.
    pub latency_avg_ns: u64,
    /// Handler latency, maximum.
    pub latency_max_ns: u64,
    /// Age of the kernel's last heartbeat.
    pub heartbeat_ns: u64,
    /// Bumped on each activate / deactivate.
    pub epoch: u64,
    /// Channels bound to the instance.
    pub channels: u32,
    /// The last error status the kernel replied with.
    pub last_error: rk_status,
}

extern "C" {
    /// Returns `RK_ABI_VERSION` of the library actually loaded. Thread-safe.
    pub fn rk_abi_version() -> u32;
    /// Static name of a status, e.g. "queue full". Never NULL. Thread-safe.
    pub fn rk_status_string(status: rk_status) -> *const c_char;
    /// Detail of the last failed call on this thread ("" if none). Valid
    /// until this thread's next `rk_*` call.
    pub fn rk_last_error_message() -> *const c_char;

    /// Connects to ringkerneld. `socket_path` NULL: `$RINGKERNEL_SOCKET`,
    /// else `$XDG_RUNTIME_DIR/ringkernel/default.sock`, else
    /// `/tmp/ringkernel-<uid>/default.sock`.
    pub fn rk_connect(socket_path: *const c_char, out: *mut *mut rk_client) -> rk_status;
    /// Closes the session. Kernel handles must be released first. NULL is
    /// ignored. Not concurrent with other calls on the same client.
    pub fn rk_disconnect(client: *mut rk_client);

    /// Zeroes `info` and sets its `size`.
    pub fn rk_server_info_init(info: *mut rk_server_info);
    /// Asks the server about itself. Thread-safe.
    pub fn rk_server_info_get(client: *mut rk_client, out: *mut rk_server_info) -> rk_status;

    /// Sets defaults and `size`.
    pub fn rk_launch_options_init(options: *mut rk_launch_options);
    /// Launches kernel `kernel` in state Launched and binds a channel to it.
    /// `options` NULL: defaults.
    pub fn rk_launch(
        client: *mut rk_client,
        kernel: *const c_char,
        options: *const rk_launch_options,
        out: *mut *mut rk_kernel,
    ) -> rk_status;
    /// Binds a channel to a shared instance launched by any session.
    pub fn rk_attach(client: *mut rk_client, instance_name: *const c_char, out: *mut *mut rk_kernel) -> rk_status;
    /// Activates the instance.
    pub fn rk_activate(kernel: *mut rk_kernel) -> rk_status;
    /// Deactivates the instance.
    pub fn rk_deactivate(kernel: *mut rk_kernel) -> rk_status;
    /// Asks the kernel to drain and exit; waits up to `timeout_ms` (negative: 5 s).
    pub fn rk_terminate(kernel: *mut rk_kernel, timeout_ms: i64) -> rk_status;
    /// Detaches this handle's channel; terminates the kernel if private.
    /// Outstanding messages must be released first. NULL is ignored.
    pub fn rk_kernel_release(kernel: *mut rk_kernel);
    /// The instance's state.
    pub fn rk_kernel_state(kernel: *mut rk_kernel, out: *mut rk_state) -> rk_status;
    /// Kernel instance id assigned by the server.
    pub fn rk_kernel_id(kernel: *const rk_kernel) -> u32;

    /// Zeroes `metrics` and sets its `size`.
    pub fn rk_metrics_init(metrics: *mut rk_metrics);
    /// The instance's metrics.
    pub fn rk_kernel_metrics(kernel: *mut rk_kernel, out: *mut rk_metrics) -> rk_status;

    /// Sends `len` bytes as a Data payload; waits up to `timeout_ms` for
    /// ring space, then fails with `RK_E_QUEUE_FULL`.
    pub fn rk_send(
        kernel: *mut rk_kernel,
        r#type: u32,
        data: *const c_void,
        len: usize,
        correlation: u64,
        timeout_ms: i64,
    ) -> rk_status;
    /// Takes the next reply of this channel, waiting up to `timeout_ms`.
    pub fn rk_receive(kernel: *mut rk_kernel, out: *mut *mut rk_message, timeout_ms: i64) -> rk_status;
    /// Sends a request and waits for the reply with the same correlation id.
    /// An error reply is returned as its status, with the reply still
    /// handed out in `*reply` (release it).
    pub fn rk_call(
        kernel: *mut rk_kernel,
        r#type: u32,
        data: *const c_void,
        len: usize,
        reply: *mut *mut rk_message,
        timeout_ms: i64,
    ) -> rk_status;

    /// Reserves space for a payload of up to `capacity` bytes. Until
    /// `rk_commit` or `rk_message_release`, this thread holds the
    /// channel's send side.
    pub fn rk_reserve(
        kernel: *mut rk_kernel,
        capacity: usize,
        payload: *mut *mut c_void,
        out: *mut *mut rk_message,
        timeout_ms: i64,
    ) -> rk_status;
    /// Publishes `len` bytes of a reservation.
    pub fn rk_commit(reservation: *mut rk_message, len: usize, r#type: u32, correlation: u64) -> rk_status;

    /// Payload bytes of a received message.
    pub fn rk_message_data(message: *const rk_message, len: *mut usize) -> *const c_void;
    /// Message type.
    pub fn rk_message_type(message: *const rk_message) -> u32;
    /// Correlation id.
    pub fn rk_message_correlation(message: *const rk_message) -> u64;
    /// `RK_OK`, or the error status the kernel replied with.
    pub fn rk_message_status(message: *const rk_message) -> rk_status;
    /// The whole framed Cap'n Proto Envelope as it lies in the ring.
    pub fn rk_message_capnp(message: *const rk_message, len: *mut usize) -> *const c_void;
    /// Returns the ring space (or abandons a reservation). NULL is ignored.
    pub fn rk_message_release(message: *mut rk_message);

    /// Reserves a whole zeroed ring record of up to `capacity` bytes for a
    /// framed single-segment Cap'n Proto Envelope.
    pub fn rk_reserve_envelope(
        kernel: *mut rk_kernel,
        capacity: usize,
        record: *mut *mut c_void,
        out: *mut *mut rk_message,
        timeout_ms: i64,
    ) -> rk_status;
    /// Publishes `len` bytes of an envelope reservation (checked framing).
    pub fn rk_commit_envelope(reservation: *mut rk_message, len: usize) -> rk_status;
}
