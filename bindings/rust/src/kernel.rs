//! [`Kernel`]: this session's channel to a kernel instance.
use std::cell::RefCell;
use std::fmt;
use std::ptr::{self, NonNull};
use std::sync::Arc;
use std::time::Duration;

use crate::client::Session;
use crate::error::{check, Error, ErrorKind, Result};
use crate::message::{EnvelopeReservation, Message, Reservation};
use crate::sys;

/// The timeout of [`Kernel::send`], [`Kernel::receive`], [`Kernel::call`]
/// and [`Kernel::reserve`] (the library's default, 30 s).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The library's default for [`Kernel::terminate`] (5 s).
pub const DEFAULT_TERMINATE_TIMEOUT: Duration = Duration::from_secs(5);

/// Longest timeout passed to the library; longer ones are cut to this
/// (about 34 years). The C side turns milliseconds into nanoseconds in 64
/// bits, so far larger values would wrap round.
const MAX_TIMEOUT_MS: i64 = 1 << 40;

/// Milliseconds for the C ABI: sub-millisecond remainders round up (a
/// positive timeout never becomes "do not wait"), huge ones are capped.
pub(crate) fn timeout_ms(timeout: Duration) -> i64 {
    let ms = timeout.as_millis() + u128::from(timeout.subsec_nanos() % 1_000_000 != 0);
    i64::try_from(ms).unwrap_or(i64::MAX).min(MAX_TIMEOUT_MS)
}

/// A kernel instance's lifecycle state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum State {
    /// Created, not yet launched.
    Created,
    /// Launched and inactive: requests queue up unprocessed.
    Launched,
    /// Processing messages.
    Active,
    /// Paused by [`Kernel::deactivate`]: requests queue up unprocessed.
    Deactivated,
    /// Draining before exit.
    Terminating,
    /// Exited.
    Terminated,
    /// The kernel faulted.
    Faulted,
    /// A state this binding does not know (from a newer library).
    Unknown(u32),
}

impl State {
    /// The state for a C value.
    pub fn from_raw(raw: sys::rk_state) -> State {
        match raw {
            sys::RK_STATE_CREATED => State::Created,
            sys::RK_STATE_LAUNCHED => State::Launched,
            sys::RK_STATE_ACTIVE => State::Active,
            sys::RK_STATE_DEACTIVATED => State::Deactivated,
            sys::RK_STATE_TERMINATING => State::Terminating,
            sys::RK_STATE_TERMINATED => State::Terminated,
            sys::RK_STATE_FAULTED => State::Faulted,
            sys::rk_state(other) => State::Unknown(other),
        }
    }
}

/// Counters and latencies of a kernel instance ([`Kernel::metrics`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Metrics {
    /// The instance's state.
    pub state: State,
    /// Messages handled.
    pub processed: u64,
    /// Messages answered with an error status.
    pub errors: u64,
    /// Messages dropped; stays 0 (nothing is dropped silently).
    pub dropped: u64,
    /// Unread request bytes across all channels of the instance.
    pub queue_depth: u64,
    /// Shortest handler latency.
    pub latency_min: Duration,
    /// Average handler latency.
    pub latency_avg: Duration,
    /// Longest handler latency.
    pub latency_max: Duration,
    /// Age of the kernel's last heartbeat.
    pub heartbeat_age: Duration,
    /// Bumped on each activate and deactivate.
    pub epoch: u64,
    /// Channels bound to the instance (one per attached session).
    pub channels: u32,
    /// The last error status the kernel replied with, if any.
    pub last_error: Option<ErrorKind>,
}

thread_local! {
    /// Kernels whose send side this thread holds through a live
    /// reservation. The library keeps that side locked (a mutex owned by
    /// this thread) until commit or release, so a second send-side call
    /// from the same thread would deadlock; this list lets us refuse it.
    static RESERVED: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
}

pub(crate) fn hold_send_side(kernel: *const sys::rk_kernel) {
    RESERVED.with(|r| r.borrow_mut().push(kernel as usize));
}

pub(crate) fn drop_send_side(kernel: *const sys::rk_kernel) {
    RESERVED.with(|r| {
        let mut r = r.borrow_mut();
        if let Some(i) = r.iter().rposition(|&k| k == kernel as usize) {
            r.swap_remove(i);
        }
    });
}

/// This session's channel to one kernel instance (`rk_kernel`).
///
/// A `Kernel` is `Send + Sync`, as the C ABI documents `rk_kernel` to be:
/// share one among threads (by reference, with scoped threads, or in an
/// `Arc`) and [`call`](Kernel::call) from all of them at once; replies are
/// matched to callers by correlation id.
///
/// It holds a reference on its [`crate::Client`]'s session, so it can
/// never outlive the connection. Dropping it releases the channel and
/// terminates the instance if it is private to this session. Messages and
/// reservations borrow the `Kernel`, so it cannot be dropped while one of
/// them is alive (the C ABI requires them to be released first).
pub struct Kernel {
    raw: NonNull<sys::rk_kernel>,
    id: u32,
    // Dropped after `raw` is released (see Drop): keeps rk_disconnect
    // from running while this handle exists.
    _session: Arc<Session>,
}

// SAFETY: ringkernel.h: "an rk_client and its rk_kernel handles may be used
// from many threads at once unless a function says otherwise. rk_call is
// safe from many threads on one kernel handle". rk_kernel_release is only
// called from Drop (exclusive access).
unsafe impl Send for Kernel {}
unsafe impl Sync for Kernel {}

impl Kernel {
    /// SAFETY: `raw` is a live handle of `session`, owned by the result.
    pub(crate) unsafe fn from_raw(raw: NonNull<sys::rk_kernel>, session: Arc<Session>) -> Kernel {
        let id = sys::rk_kernel_id(raw.as_ptr());
        Kernel { raw, id, _session: session }
    }

    /// The raw handle, for calls into [`crate::sys`]. It stays valid while
    /// this `Kernel` lives; do not release it.
    pub fn as_raw(&self) -> *mut sys::rk_kernel {
        self.raw.as_ptr()
    }

    /// The instance id the server assigned (stable for the instance's life).
    pub fn id(&self) -> u32 {
        self.id
    }

    /// Starts processing messages. Allowed from [`State::Launched`] and
    /// [`State::Deactivated`]; otherwise fails with [`ErrorKind::State`].
    pub fn activate(&self) -> Result<()> {
        check(unsafe { sys::rk_activate(self.as_raw()) })
    }

    /// Pauses processing; requests queue up until the next
    /// [`activate`](Kernel::activate). Allowed only from [`State::Active`];
    /// otherwise fails with [`ErrorKind::State`].
    pub fn deactivate(&self) -> Result<()> {
        check(unsafe { sys::rk_deactivate(self.as_raw()) })
    }

    /// Asks the kernel to drain and exit, and waits up to `timeout` for it
    /// (see [`DEFAULT_TERMINATE_TIMEOUT`]). Terminating twice fails with
    /// [`ErrorKind::State`].
    pub fn terminate(&self, timeout: Duration) -> Result<()> {
        check(unsafe { sys::rk_terminate(self.as_raw(), timeout_ms(timeout)) })
    }

    /// The instance's current state, as the server sees it.
    pub fn state(&self) -> Result<State> {
        let mut state = sys::RK_STATE_CREATED;
        check(unsafe { sys::rk_kernel_state(self.as_raw(), &mut state) })?;
        Ok(State::from_raw(state))
    }

    /// The instance's counters and latencies.
    pub fn metrics(&self) -> Result<Metrics> {
        let mut m = unsafe {
            let mut m = std::mem::MaybeUninit::<sys::rk_metrics>::uninit();
            sys::rk_metrics_init(m.as_mut_ptr());
            m.assume_init()
        };
        check(unsafe { sys::rk_kernel_metrics(self.as_raw(), &mut m) })?;
        Ok(Metrics {
            state: State::from_raw(m.state),
            processed: m.processed,
            errors: m.errors,
            dropped: m.dropped,
            queue_depth: m.queue_depth,
            latency_min: Duration::from_nanos(m.latency_min_ns),
            latency_avg: Duration::from_nanos(m.latency_avg_ns),
            latency_max: Duration::from_nanos(m.latency_max_ns),
            heartbeat_age: Duration::from_nanos(m.heartbeat_ns),
            epoch: m.epoch,
            channels: m.channels,
            last_error: ErrorKind::from_raw(m.last_error),
        })
    }

    /// Sends `payload` as a Data message of type `msg_type`, waiting up to
    /// [`DEFAULT_TIMEOUT`] for ring space. See [`send_timeout`](Kernel::send_timeout).
    pub fn send(&self, msg_type: u32, payload: &[u8], correlation: u64) -> Result<()> {
        self.send_raw(msg_type, payload, correlation, -1)
    }

    /// Sends `payload` as a Data message of type `msg_type` with your own
    /// `correlation` id; the reply carries it back ([`Kernel::receive`]).
    /// Waits up to `timeout` for ring space, then fails with
    /// [`ErrorKind::QueueFull`]. A payload over the channel's maximum fails
    /// with [`ErrorKind::TooLarge`].
    ///
    /// Do not mix your own correlation ids with [`call`](Kernel::call)s on
    /// the same handle unless they cannot collide: `call` numbers its
    /// requests 1, 2, 3, …
    pub fn send_timeout(&self, msg_type: u32, payload: &[u8], correlation: u64, timeout: Duration) -> Result<()> {
        self.send_raw(msg_type, payload, correlation, timeout_ms(timeout))
    }

    fn send_raw(&self, msg_type: u32, payload: &[u8], correlation: u64, ms: i64) -> Result<()> {
        self.check_send_side()?;
        check(unsafe {
            sys::rk_send(self.as_raw(), msg_type, payload.as_ptr().cast(), payload.len(), correlation, ms)
        })
    }

    /// Takes the next reply of this channel, waiting up to
    /// [`DEFAULT_TIMEOUT`]. See [`receive_timeout`](Kernel::receive_timeout).
    pub fn receive(&self) -> Result<Message<'_>> {
        self.receive_raw(-1)
    }

    /// Takes the next reply of this channel in ring order, waiting up to
    /// `timeout` ([`ErrorKind::Timeout`]; `Duration::ZERO` does not wait).
    ///
    /// An error reply of the kernel is returned as `Ok`: check
    /// [`Message::status`] (its correlation id tells which request failed).
    /// Replies that a concurrent [`call`](Kernel::call) waits for may be
    /// taken by `receive` too: use one style per handle.
    pub fn receive_timeout(&self, timeout: Duration) -> Result<Message<'_>> {
        self.receive_raw(timeout_ms(timeout))
    }

    fn receive_raw(&self, ms: i64) -> Result<Message<'_>> {
        let mut out = ptr::null_mut();
        let status = unsafe { sys::rk_receive(self.as_raw(), &mut out, ms) };
        match NonNull::new(out) {
            // SAFETY: a message of this kernel, ours until released.
            Some(m) => Ok(unsafe { Message::from_raw(m) }),
            None => Err(Error::last(if status == sys::RK_OK { sys::RK_E_INTERNAL } else { status })),
        }
    }

    /// Sends a request and waits up to [`DEFAULT_TIMEOUT`] for its reply.
    /// See [`call_timeout`](Kernel::call_timeout).
    pub fn call(&self, msg_type: u32, payload: &[u8]) -> Result<Message<'_>> {
        self.call_raw(msg_type, payload, -1)
    }

    /// Sends a request of type `msg_type` and waits for the reply with the
    /// same correlation id; `timeout` bounds the whole round trip. Safe
    /// from many threads at once on one `Kernel`.
    ///
    /// If the kernel answers with an error status, the reply is released
    /// and the status returned as an [`Error`] whose
    /// [`is_kernel_reply`](Error::is_kernel_reply) is true.
    pub fn call_timeout(&self, msg_type: u32, payload: &[u8], timeout: Duration) -> Result<Message<'_>> {
        self.call_raw(msg_type, payload, timeout_ms(timeout))
    }

    fn call_raw(&self, msg_type: u32, payload: &[u8], ms: i64) -> Result<Message<'_>> {
        self.check_send_side()?;
        let mut out = ptr::null_mut();
        let status = unsafe { sys::rk_call(self.as_raw(), msg_type, payload.as_ptr().cast(), payload.len(), &mut out, ms) };
        if status == sys::RK_OK {
            if let Some(m) = NonNull::new(out) {
                // SAFETY: a message of this kernel, ours until released.
                return Ok(unsafe { Message::from_raw(m) });
            }
        }
        let err = Error::last(if status == sys::RK_OK { sys::RK_E_INTERNAL } else { status });
        if !out.is_null() {
            // An error reply: handed out even so, and ours to release.
            unsafe { sys::rk_message_release(out) };
            return Err(err.into_kernel_reply());
        }
        Err(err)
    }

    /// Reserves ring space for a payload of up to `capacity` bytes, waiting
    /// up to [`DEFAULT_TIMEOUT`]. See [`reserve_timeout`](Kernel::reserve_timeout).
    pub fn reserve(&self, capacity: usize) -> Result<Reservation<'_>> {
        self.reserve_raw(capacity, -1)
    }

    /// Reserves space in the request ring for a Data payload of up to
    /// `capacity` bytes, waiting up to `timeout` ([`ErrorKind::QueueFull`]).
    /// Write the payload in place with [`Reservation::as_mut_slice`], then
    /// [`Reservation::commit`]: no copy is made.
    ///
    /// Until the reservation is committed or dropped, this thread holds the
    /// channel's send side: other threads' sends wait, and sends from this
    /// thread on this kernel fail with [`ErrorKind::State`] instead of
    /// deadlocking.
    pub fn reserve_timeout(&self, capacity: usize, timeout: Duration) -> Result<Reservation<'_>> {
        self.reserve_raw(capacity, timeout_ms(timeout))
    }

    fn reserve_raw(&self, capacity: usize, ms: i64) -> Result<Reservation<'_>> {
        self.check_send_side()?;
        let mut data = ptr::null_mut();
        let mut out = ptr::null_mut();
        check(unsafe { sys::rk_reserve(self.as_raw(), capacity, &mut data, &mut out, ms) })?;
        // SAFETY: a fresh reservation of `capacity` bytes at `data` on this kernel.
        unsafe { Reservation::from_raw(self, out, data.cast(), capacity) }
    }

    /// Reserves a record for a typed payload, waiting up to
    /// [`DEFAULT_TIMEOUT`]. See [`reserve_envelope_timeout`](Kernel::reserve_envelope_timeout).
    pub fn reserve_envelope(&self, capacity: usize) -> Result<EnvelopeReservation<'_>> {
        self.reserve_envelope_raw(capacity, -1)
    }

    /// Reserves a whole zeroed ring record of up to `capacity` bytes for a
    /// typed payload: a framed single-segment Cap'n Proto `Envelope` you
    /// build in place ([`EnvelopeReservation`]). Waits up to `timeout` for
    /// ring space. The same send-side rule as
    /// [`reserve_timeout`](Kernel::reserve_timeout) applies.
    pub fn reserve_envelope_timeout(&self, capacity: usize, timeout: Duration) -> Result<EnvelopeReservation<'_>> {
        self.reserve_envelope_raw(capacity, timeout_ms(timeout))
    }

    fn reserve_envelope_raw(&self, capacity: usize, ms: i64) -> Result<EnvelopeReservation<'_>> {
        self.check_send_side()?;
        let mut data = ptr::null_mut();
        let mut out = ptr::null_mut();
        check(unsafe { sys::rk_reserve_envelope(self.as_raw(), capacity, &mut data, &mut out, ms) })?;
        // SAFETY: a fresh reservation of `capacity` bytes at `data` on this kernel.
        unsafe { EnvelopeReservation::from_raw(self, out, data.cast(), capacity) }
    }

    /// Refuses a send-side call that would deadlock on this thread's own
    /// reservation.
    #[inline]
    fn check_send_side(&self) -> Result<()> {
        let me = self.raw.as_ptr() as usize;
        let held = RESERVED.with(|r| {
            let r = r.borrow();
            !r.is_empty() && r.contains(&me)
        });
        if held {
            return Err(Error::new(
                ErrorKind::State,
                "this thread holds a reservation on this kernel: commit or drop it before sending again",
            ));
        }
        Ok(())
    }
}

impl Drop for Kernel {
    fn drop(&mut self) {
        // No message or reservation is alive: they borrow self.
        unsafe { sys::rk_kernel_release(self.raw.as_ptr()) }
    }
}

impl fmt::Debug for Kernel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Kernel").field("id", &self.id).finish()
    }
}
