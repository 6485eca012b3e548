//! Errors: every `rk_status` other than `RK_OK`, with the library's detail.
use std::ffi::CStr;
use std::fmt;

use crate::sys;

/// A specialised `Result` whose error is this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong: one variant per `rk_status` error code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// `RK_E_INVALID_ARGUMENT`: an argument was out of range or inconsistent
    /// (also: a string with an interior NUL byte).
    InvalidArgument,
    /// `RK_E_NOT_FOUND`: no such kernel, instance, or no server at the socket.
    NotFound,
    /// `RK_E_TIMEOUT`: the timeout passed first.
    Timeout,
    /// `RK_E_QUEUE_FULL`: the request ring stayed full for the whole timeout.
    QueueFull,
    /// `RK_E_TOO_LARGE`: a payload or reservation exceeds the channel's maximum.
    TooLarge,
    /// `RK_E_DISCONNECTED`: ringkerneld has gone away.
    Disconnected,
    /// `RK_E_ABI_MISMATCH`: the server does not speak this library's ABI.
    AbiMismatch,
    /// `RK_E_PERMISSION`: not allowed for this user.
    Permission,
    /// `RK_E_STATE`: wrong lifecycle state for this operation.
    State,
    /// `RK_E_MALFORMED`: message bytes do not decode.
    Malformed,
    /// `RK_E_KERNEL_FAULTED`: the kernel faulted.
    KernelFaulted,
    /// `RK_E_NO_DEVICE`: the backend or device is not available.
    NoDevice,
    /// `RK_E_INTERNAL`: an internal error of the library or the server.
    Internal,
    /// `RK_E_CORRUPT`: a peer broke the ring protocol.
    Corrupt,
    /// `RK_E_EMPTY`: nothing to read (reserved by the C ABI).
    Empty,
    /// `RK_E_LIMIT`: a configured limit (sessions, channels, bytes) was reached.
    Limit,
    /// A status code this binding does not know (from a newer library or kernel).
    Unknown(u32),
}

impl ErrorKind {
    /// The kind for a C status, or `None` for `RK_OK`.
    pub fn from_raw(status: sys::rk_status) -> Option<ErrorKind> {
        use ErrorKind::*;
        Some(match status {
            sys::RK_OK => return None,
            sys::RK_E_INVALID_ARGUMENT => InvalidArgument,
            sys::RK_E_NOT_FOUND => NotFound,
            sys::RK_E_TIMEOUT => Timeout,
            sys::RK_E_QUEUE_FULL => QueueFull,
            sys::RK_E_TOO_LARGE => TooLarge,
            sys::RK_E_DISCONNECTED => Disconnected,
            sys::RK_E_ABI_MISMATCH => AbiMismatch,
            sys::RK_E_PERMISSION => Permission,
            sys::RK_E_STATE => State,
            sys::RK_E_MALFORMED => Malformed,
            sys::RK_E_KERNEL_FAULTED => KernelFaulted,
            sys::RK_E_NO_DEVICE => NoDevice,
            sys::RK_E_INTERNAL => Internal,
            sys::RK_E_CORRUPT => Corrupt,
            sys::RK_E_EMPTY => Empty,
            sys::RK_E_LIMIT => Limit,
            sys::rk_status(other) => Unknown(other),
        })
    }

    /// The C status code of this kind.
    pub fn to_raw(self) -> sys::rk_status {
        use ErrorKind::*;
        match self {
            InvalidArgument => sys::RK_E_INVALID_ARGUMENT,
            NotFound => sys::RK_E_NOT_FOUND,
            Timeout => sys::RK_E_TIMEOUT,
            QueueFull => sys::RK_E_QUEUE_FULL,
            TooLarge => sys::RK_E_TOO_LARGE,
            Disconnected => sys::RK_E_DISCONNECTED,
            AbiMismatch => sys::RK_E_ABI_MISMATCH,
            Permission => sys::RK_E_PERMISSION,
            State => sys::RK_E_STATE,
            Malformed => sys::RK_E_MALFORMED,
            KernelFaulted => sys::RK_E_KERNEL_FAULTED,
            NoDevice => sys::RK_E_NO_DEVICE,
            Internal => sys::RK_E_INTERNAL,
            Corrupt => sys::RK_E_CORRUPT,
            Empty => sys::RK_E_EMPTY,
            Limit => sys::RK_E_LIMIT,
            Unknown(code) => sys::rk_status(code),
        }
    }

    /// The library's name for this kind (`rk_status_string`), e.g. "queue full".
    pub fn as_str(self) -> &'static str {
        // SAFETY: rk_status_string is thread-safe and returns a static,
        // NUL-terminated string, never NULL, for any value.
        let name = unsafe { CStr::from_ptr(sys::rk_status_string(self.to_raw())) };
        name.to_str().unwrap_or("unknown status")
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed call: its [`ErrorKind`] and the library's (or server's) detail.
///
/// ```no_run
/// # fn main() {
/// use ringkernel::{Client, ErrorKind, LaunchOptions};
/// let client = Client::connect(None).unwrap();
/// match client.launch("no-such-kernel", LaunchOptions::default()) {
///     Err(e) if e.kind() == ErrorKind::NotFound => eprintln!("{e}"),
///     other => panic!("{other:?}"),
/// }
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    kernel_reply: bool,
}

impl Error {
    /// An error of `kind` with a detail message.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error { kind, message: message.into(), kernel_reply: false }
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The detail message of the library or server (may be empty).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// True when this status is what a kernel replied with: the request was
    /// delivered and handled, and the kernel answered with an error.
    pub fn is_kernel_reply(&self) -> bool {
        self.kernel_reply
    }

    /// Builds the error for a failed `rk_*` call from this thread's
    /// `rk_last_error_message()`. Call it right after the failing call, on
    /// the same thread, before any other `rk_*` call.
    pub(crate) fn last(status: sys::rk_status) -> Error {
        let kind = ErrorKind::from_raw(status).unwrap_or(ErrorKind::Internal);
        // SAFETY: rk_last_error_message never returns NULL per the header;
        // the string is valid until this thread's next rk_* call, and we
        // copy it before making one.
        let message = unsafe {
            let p = sys::rk_last_error_message();
            if p.is_null() {
                String::new()
            } else {
                CStr::from_ptr(p).to_string_lossy().into_owned()
            }
        };
        Error { kind, message, kernel_reply: false }
    }

    pub(crate) fn into_kernel_reply(mut self) -> Error {
        self.kernel_reply = true;
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.message.is_empty() {
            write!(f, "{}", self.kind)
        } else {
            write!(f, "{}: {}", self.kind, self.message)
        }
    }
}

impl std::error::Error for Error {}

impl From<ErrorKind> for Error {
    fn from(kind: ErrorKind) -> Error {
        Error::new(kind, "")
    }
}

/// Turns a status into `Ok(())` or the thread's last error.
#[inline]
pub(crate) fn check(status: sys::rk_status) -> Result<()> {
    if status == sys::RK_OK {
        Ok(())
    } else {
        Err(Error::last(status))
    }
}
