//! [`Client`]: a session with ringkerneld; launching and attaching kernels.
use std::ffi::CString;
use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::ptr::{self, NonNull};
use std::sync::Arc;

use crate::error::{check, Error, ErrorKind, Result};
use crate::kernel::Kernel;
use crate::sys;

/// Where a kernel runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Backend {
    /// Whatever the server launches by default ([`ServerInfo::default_backend`]).
    #[default]
    Auto,
    /// CPU threads inside ringkerneld.
    Cpu,
    /// A CUDA device.
    Cuda,
}

impl Backend {
    /// The C value of this backend.
    pub fn to_raw(self) -> sys::rk_backend {
        match self {
            Backend::Auto => sys::RK_BACKEND_AUTO,
            Backend::Cpu => sys::RK_BACKEND_CPU,
            Backend::Cuda => sys::RK_BACKEND_CUDA,
        }
    }

    /// The backend for a C value; values this binding does not know map to
    /// [`Backend::Auto`].
    pub fn from_raw(raw: sys::rk_backend) -> Backend {
        match raw {
            sys::RK_BACKEND_CPU => Backend::Cpu,
            sys::RK_BACKEND_CUDA => Backend::Cuda,
            _ => Backend::Auto,
        }
    }
}

/// How a CUDA kernel's requests reach the GPU (`docs/transfer.md`). The
/// CPU backend reads the rings in place and ignores it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Transfer {
    /// The server picks per kernel.
    #[default]
    Auto,
    /// The GPU reads the session's rings across PCIe: lowest latency.
    Mapped,
    /// The copy engines move whole ring spans to device memory.
    Staged,
}

impl Transfer {
    /// The C value of this strategy.
    pub fn to_raw(self) -> sys::rk_transfer {
        match self {
            Transfer::Auto => sys::RK_TRANSFER_AUTO,
            Transfer::Mapped => sys::RK_TRANSFER_MAPPED,
            Transfer::Staged => sys::RK_TRANSFER_STAGED,
        }
    }

    /// The strategy for a C value; values this binding does not know map
    /// to [`Transfer::Auto`].
    pub fn from_raw(raw: sys::rk_transfer) -> Transfer {
        match raw {
            sys::RK_TRANSFER_MAPPED => Transfer::Mapped,
            sys::RK_TRANSFER_STAGED => Transfer::Staged,
            _ => Transfer::Auto,
        }
    }
}

/// How to launch a kernel: backend, sharing, geometry, ring size and
/// transfer strategy.
///
/// The default launches a private instance (released with its [`Kernel`])
/// on the server's default backend with the kernel's default geometry and
/// a 1 MiB ring each way.
///
/// ```
/// use ringkernel::{Backend, LaunchOptions};
/// let opts = LaunchOptions::new().backend(Backend::Cpu).shared("counter-0").ring_bytes(1 << 16);
/// assert_eq!(opts.instance_name(), Some("counter-0"));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LaunchOptions {
    backend: Backend,
    instance_name: Option<String>,
    grid: u32,
    block: u32,
    ring_bytes: u64,
    device: Option<u32>,
    transfer: Transfer,
}

impl LaunchOptions {
    /// The defaults (same as [`LaunchOptions::default`]).
    pub fn new() -> LaunchOptions {
        LaunchOptions::default()
    }

    /// Runs the kernel on `backend`.
    pub fn backend(mut self, backend: Backend) -> LaunchOptions {
        self.backend = backend;
        self
    }

    /// Makes the instance shared under `name`: other sessions may
    /// [`Client::attach`] to it, and it outlives this session's handle.
    pub fn shared(mut self, name: impl Into<String>) -> LaunchOptions {
        self.instance_name = Some(name.into());
        self
    }

    /// Grid size (number of blocks); 0 means the kernel's default.
    pub fn grid(mut self, grid: u32) -> LaunchOptions {
        self.grid = grid;
        self
    }

    /// Block size (threads per block); 0 means the kernel's default.
    pub fn block(mut self, block: u32) -> LaunchOptions {
        self.block = block;
        self
    }

    /// Bytes of each ring (requests and replies), a power of two in
    /// [4 KiB, 64 MiB]; 0 means the server's default (1 MiB).
    pub fn ring_bytes(mut self, bytes: u64) -> LaunchOptions {
        self.ring_bytes = bytes;
        self
    }

    /// Runs on device number `device` of the backend (default: any).
    pub fn device(mut self, device: u32) -> LaunchOptions {
        self.device = Some(device);
        self
    }

    /// How requests reach a CUDA kernel (default [`Transfer::Auto`]); the
    /// CPU backend accepts any value and ignores it.
    pub fn transfer(mut self, transfer: Transfer) -> LaunchOptions {
        self.transfer = transfer;
        self
    }

    /// The shared instance name, if any.
    pub fn instance_name(&self) -> Option<&str> {
        self.instance_name.as_deref()
    }
}

/// What the server says about itself ([`Client::server_info`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerInfo {
    /// The ABI version the server speaks.
    pub abi_version: u32,
    /// Sessions connected to the server, this one included.
    pub sessions: u32,
    /// Kernel instances alive, across all sessions.
    pub instances: u32,
    /// The server's process id.
    pub pid: u32,
    /// What [`Backend::Auto`] launches on.
    pub default_backend: Backend,
    /// Whether the server offers the CUDA backend.
    pub has_cuda: bool,
}

/// The `rk_client` handle; disconnects when the last owner lets go.
pub(crate) struct Session {
    raw: NonNull<sys::rk_client>,
}

// SAFETY: the header documents rk_client as usable from many threads at
// once. The one exception, rk_disconnect, runs in Drop, which only the
// last owner of the Arc<Session> reaches: no other call can be in flight.
unsafe impl Send for Session {}
unsafe impl Sync for Session {}

impl Session {
    pub(crate) fn as_ptr(&self) -> *mut sys::rk_client {
        self.raw.as_ptr()
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // Every Kernel holds an Arc<Session>, so all kernel handles of this
        // client have been released by now, as rk_disconnect requires.
        unsafe { sys::rk_disconnect(self.raw.as_ptr()) }
    }
}

/// A connection (a session) to ringkerneld.
///
/// `Client` is `Send + Sync`: share it by reference or in an `Arc` and
/// launch from many threads. Each [`Kernel`] keeps the session alive (it
/// holds a reference count on it), so a kernel can never outlive its
/// connection; the session closes when the `Client` *and* all its kernels
/// are dropped. Closing the session releases its channels and terminates
/// the kernels private to it.
///
/// ```no_run
/// # fn main() -> ringkernel::Result<()> {
/// use ringkernel::{Client, LaunchOptions};
/// let client = Client::connect(None)?;
/// let echo = client.launch("echo", LaunchOptions::default())?;
/// echo.activate()?;
/// let reply = echo.call(7, b"hello")?;
/// assert_eq!(reply.payload(), b"hello");
/// # Ok(()) }
/// ```
pub struct Client {
    session: Arc<Session>,
}

impl Client {
    /// Connects to ringkerneld at `path`, or with `None` at the default
    /// socket: `$RINGKERNEL_SOCKET`, else
    /// `$XDG_RUNTIME_DIR/ringkernel/default.sock`, else
    /// `/tmp/ringkernel-<uid>/default.sock`.
    ///
    /// Fails with [`ErrorKind::NotFound`] when nothing listens there and
    /// [`ErrorKind::AbiMismatch`] when the server speaks another ABI.
    pub fn connect(path: Option<&Path>) -> Result<Client> {
        let path = path.map(|p| cstring(p.as_os_str().as_bytes(), "socket path")).transpose()?;
        let mut raw = ptr::null_mut();
        check(unsafe { sys::rk_connect(path.as_ref().map_or(ptr::null(), |p| p.as_ptr()), &mut raw) })?;
        let raw = NonNull::new(raw).ok_or_else(|| Error::new(ErrorKind::Internal, "rk_connect returned no client"))?;
        Ok(Client { session: Arc::new(Session { raw }) })
    }

    /// Launches a kernel registered under `kernel` (for example `"echo"`),
    /// inactive ([`crate::State::Launched`]), and binds a channel to it.
    ///
    /// Fails with [`ErrorKind::NotFound`] for an unknown kernel and
    /// [`ErrorKind::NoDevice`] when the backend is not offered.
    pub fn launch(&self, kernel: &str, options: LaunchOptions) -> Result<Kernel> {
        let kernel = cstring(kernel.as_bytes(), "kernel name")?;
        let name = options.instance_name.as_deref().map(|n| cstring(n.as_bytes(), "instance name")).transpose()?;
        let mut o = unsafe {
            let mut o = std::mem::MaybeUninit::<sys::rk_launch_options>::uninit();
            sys::rk_launch_options_init(o.as_mut_ptr());
            o.assume_init()
        };
        o.backend = options.backend.to_raw();
        o.instance_name = name.as_ref().map_or(ptr::null(), |n| n.as_ptr());
        o.grid = options.grid;
        o.block = options.block;
        o.ring_bytes = options.ring_bytes;
        o.transfer = options.transfer.to_raw();
        o.device = match options.device {
            None => -1,
            Some(d) => i32::try_from(d).map_err(|_| Error::new(ErrorKind::InvalidArgument, "device number out of range"))?,
        };
        let mut raw = ptr::null_mut();
        check(unsafe { sys::rk_launch(self.session.as_ptr(), kernel.as_ptr(), &o, &mut raw) })?;
        self.bound(raw)
    }

    /// Binds a channel to the shared instance `name` (launched by any
    /// session with [`LaunchOptions::shared`]).
    ///
    /// Fails with [`ErrorKind::NotFound`] when there is none and
    /// [`ErrorKind::State`] when it has terminated.
    pub fn attach(&self, name: &str) -> Result<Kernel> {
        let name = cstring(name.as_bytes(), "instance name")?;
        let mut raw = ptr::null_mut();
        check(unsafe { sys::rk_attach(self.session.as_ptr(), name.as_ptr(), &mut raw) })?;
        self.bound(raw)
    }

    /// Asks the server about itself.
    pub fn server_info(&self) -> Result<ServerInfo> {
        let mut info = unsafe {
            let mut i = std::mem::MaybeUninit::<sys::rk_server_info>::uninit();
            sys::rk_server_info_init(i.as_mut_ptr());
            i.assume_init()
        };
        check(unsafe { sys::rk_server_info_get(self.session.as_ptr(), &mut info) })?;
        Ok(ServerInfo {
            abi_version: info.abi_version,
            sessions: info.sessions,
            instances: info.instances,
            pid: info.pid as u32,
            default_backend: Backend::from_raw(info.default_backend),
            has_cuda: info.has_cuda != 0,
        })
    }

    /// The raw handle, for calls into [`crate::sys`]. It stays valid while
    /// this `Client` (or any of its kernels) lives; do not disconnect it.
    pub fn as_raw(&self) -> *mut sys::rk_client {
        self.session.as_ptr()
    }

    fn bound(&self, raw: *mut sys::rk_kernel) -> Result<Kernel> {
        let raw = NonNull::new(raw).ok_or_else(|| Error::new(ErrorKind::Internal, "the library returned no kernel handle"))?;
        // SAFETY: a fresh handle from rk_launch/rk_attach of this session.
        Ok(unsafe { Kernel::from_raw(raw, Arc::clone(&self.session)) })
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client").field("raw", &self.session.raw).finish()
    }
}

/// The ABI version of the library actually loaded (`rk_abi_version`).
pub fn abi_version() -> u32 {
    unsafe { sys::rk_abi_version() }
}

fn cstring(bytes: &[u8], what: &str) -> Result<CString> {
    CString::new(bytes).map_err(|_| Error::new(ErrorKind::InvalidArgument, format!("{what} contains a NUL byte")))
}
