//! Rust bindings to `libringkernel.so.1`: talk to persistent GPU (or CPU)
//! kernels hosted by `ringkerneld` through shared-memory rings.
//!
//! * [`Client`] is a session with the daemon; it launches kernels
//!   ([`Client::launch`]) or attaches to shared ones ([`Client::attach`]).
//! * [`Kernel`] is this session's channel to one kernel instance: its
//!   lifecycle ([`activate`](Kernel::activate), [`deactivate`](Kernel::deactivate),
//!   [`terminate`](Kernel::terminate), [`state`](Kernel::state),
//!   [`metrics`](Kernel::metrics)) and its messages ([`send`](Kernel::send),
//!   [`receive`](Kernel::receive), [`call`](Kernel::call),
//!   [`reserve`](Kernel::reserve)).
//! * [`Message`] is a reply that borrows ring memory until dropped;
//!   [`Reservation`] is request space written in place (zero copy).
//! * Every fallible call returns [`Result`], whose [`Error`] carries the
//!   C status as an [`ErrorKind`] and the library's detail message.
//! * [`sys`] holds the raw C declarations.
//!
//! ```no_run
//! use ringkernel::{Client, LaunchOptions};
//! use std::time::Duration;
//!
//! fn main() -> ringkernel::Result<()> {
//!     let client = Client::connect(None)?; // $RINGKERNEL_SOCKET or the default socket
//!     let counter = client.launch("counter", LaunchOptions::default())?;
//!     counter.activate()?;
//!     let reply = counter.call_timeout(0, &5i64.to_le_bytes(), Duration::from_secs(1))?;
//!     let total = i64::from_le_bytes(reply.payload().try_into().unwrap());
//!     assert_eq!(total, 5);
//!     Ok(())
//! }
//! ```
//!
//! # Timeouts
//!
//! Every blocking call takes a [`Duration`](std::time::Duration) in its
//! `*_timeout` form; the short form uses the library's default
//! ([`DEFAULT_TIMEOUT`], and [`DEFAULT_TERMINATE_TIMEOUT`] for terminate).
//! `Duration::ZERO` means "do not wait"; other values round up to whole
//! milliseconds. Nothing blocks forever.
//!
//! # Threads and lifetimes
//!
//! [`Client`] and [`Kernel`] are `Send + Sync`, as the C ABI documents
//! `rk_client` and `rk_kernel` to be; many threads may `call` one kernel at
//! once. A [`Message`] is `Send` but not `Sync` (one owner at a time); a
//! [`Reservation`] is neither (the reserving thread holds the channel's
//! send side until it commits or drops it).
//!
//! A `Kernel` owns a reference count on its client's session (an `Arc`),
//! rather than borrowing the `Client`: kernels can then be moved into
//! threads or stored without a lifetime, while the session still closes
//! only after its last kernel is released, as `rk_disconnect` requires.
//! Messages and reservations, which must be released before their kernel,
//! borrow it (`Message<'k>`), so the compiler enforces that order:
//!
//! ```compile_fail,E0597
//! # fn f(client: &ringkernel::Client) {
//! let reply;
//! {
//!     let kernel = client.launch("echo", Default::default()).unwrap();
//!     reply = kernel.call(0, b"hi").unwrap(); // `kernel` does not live long enough
//! }
//! drop(reply);
//! # }
//! ```
//!
//! A reservation cannot move to another thread, and a message cannot be
//! shared between threads:
//!
//! ```compile_fail,E0277
//! fn assert_send<T: Send>() {}
//! assert_send::<ringkernel::Reservation<'static>>();
//! ```
//!
//! ```compile_fail,E0277
//! fn assert_sync<T: Sync>() {}
//! assert_sync::<ringkernel::Message<'static>>();
//! ```
#![deny(missing_docs)]
#![warn(rust_2018_idioms)]

mod client;
mod error;
mod kernel;
mod message;
pub mod sys;

pub use client::{abi_version, Backend, Client, LaunchOptions, ServerInfo, Transfer};
pub use error::{Error, ErrorKind, Result};
pub use kernel::{Kernel, Metrics, State, DEFAULT_TERMINATE_TIMEOUT, DEFAULT_TIMEOUT};
pub use message::{EnvelopeReservation, Message, Reservation};

/// Largest payload one message carries with the default ring settings
/// (`RK_MAX_PAYLOAD`).
pub const MAX_PAYLOAD: usize = sys::RK_MAX_PAYLOAD as usize;

/// The ABI version this binding was written for (`RK_ABI_VERSION`).
pub const ABI_VERSION: u32 = sys::RK_ABI_VERSION;

#[cfg(test)]
mod tests {
    use super::*;

    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}

    #[test]
    fn handles_are_send_and_sync_where_the_c_abi_says_so() {
        send_sync::<Client>();
        send_sync::<Kernel>();
        send::<Message<'static>>();
        send_sync::<Error>();
    }

    #[test]
    fn timeouts_round_up_to_milliseconds_and_are_capped() {
        use std::time::Duration;
        assert_eq!(kernel::timeout_ms(Duration::ZERO), 0);
        assert_eq!(kernel::timeout_ms(Duration::from_nanos(1)), 1);
        assert_eq!(kernel::timeout_ms(Duration::from_millis(1500)), 1500);
        assert_eq!(kernel::timeout_ms(Duration::from_micros(1500)), 2);
        assert_eq!(kernel::timeout_ms(Duration::MAX), 1 << 40);
    }
}
