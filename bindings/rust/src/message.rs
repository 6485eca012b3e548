//! Zero-copy messages: replies that borrow ring memory, and reservations
//! to write requests in place.
use std::fmt;
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::slice;

use crate::error::{Error, ErrorKind, Result};
use crate::kernel::{drop_send_side, hold_send_side, Kernel};
use crate::sys;

/// A reply received from a kernel, pointing into the reply ring (no copy).
///
/// The ring space goes back to the kernel when the `Message` is dropped, so
/// drop it soon: a reply ring full of held messages stalls the kernel. It
/// borrows its [`Kernel`], which therefore outlives it.
///
/// `Message` is `Send` (release it on any thread) but not `Sync`: the C
/// ABI lets an `rk_message` belong to one thread at a time.
pub struct Message<'k> {
    raw: NonNull<sys::rk_message>,
    _kernel: PhantomData<&'k Kernel>,
}

// SAFETY: ringkernel.h: "An rk_message belongs to one thread at a time";
// moving the owner to another thread, which then reads and releases it, is
// that. Not Sync: no shared use from two threads.
unsafe impl Send for Message<'_> {}

impl<'k> Message<'k> {
    /// SAFETY: `raw` is a received message of a kernel that lives for `'k`;
    /// the result owns it.
    pub(crate) unsafe fn from_raw(raw: NonNull<sys::rk_message>) -> Message<'k> {
        Message { raw, _kernel: PhantomData }
    }

    /// The payload bytes (for typed payloads, the whole Cap'n Proto
    /// message), in ring memory.
    pub fn payload(&self) -> &[u8] {
        let mut len = 0usize;
        let p = unsafe { sys::rk_message_data(self.raw.as_ptr(), &mut len) };
        // SAFETY: the library hands out `len` readable bytes that stay put
        // until the message is released, which needs `self` by value.
        unsafe { bytes(p.cast(), len) }
    }

    /// The whole framed Cap'n Proto `Envelope` as it lies in the ring
    /// (header fields and payload), for decoding typed payloads.
    pub fn envelope(&self) -> &[u8] {
        let mut len = 0usize;
        let p = unsafe { sys::rk_message_capnp(self.raw.as_ptr(), &mut len) };
        // SAFETY: as in `payload`.
        unsafe { bytes(p.cast(), len) }
    }

    /// The message type the kernel replied with (echo returns the request's).
    pub fn msg_type(&self) -> u32 {
        unsafe { sys::rk_message_type(self.raw.as_ptr()) }
    }

    /// The correlation id: that of the request this replies to.
    pub fn correlation(&self) -> u64 {
        unsafe { sys::rk_message_correlation(self.raw.as_ptr()) }
    }

    /// `Ok(())`, or the error status the kernel replied with (an `Error`
    /// whose [`is_kernel_reply`](Error::is_kernel_reply) is true).
    pub fn status(&self) -> Result<()> {
        match ErrorKind::from_raw(unsafe { sys::rk_message_status(self.raw.as_ptr()) }) {
            None => Ok(()),
            Some(kind) => Err(Error::new(kind, format!("the kernel replied with an error: {kind}")).into_kernel_reply()),
        }
    }

    /// The raw handle, for calls into [`crate::sys`]. Valid until this
    /// `Message` is dropped; do not release it.
    pub fn as_raw(&self) -> *mut sys::rk_message {
        self.raw.as_ptr()
    }
}

impl Drop for Message<'_> {
    fn drop(&mut self) {
        unsafe { sys::rk_message_release(self.raw.as_ptr()) }
    }
}

impl fmt::Debug for Message<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Message")
            .field("msg_type", &self.msg_type())
            .field("correlation", &self.correlation())
            .field("status", &self.status().err().map(|e| e.kind()))
            .field("len", &self.payload().len())
            .finish()
    }
}

/// Reserved space in a kernel's request ring, written in place and sent
/// with [`commit`](Reservation::commit); dropping it uncommitted abandons
/// it (nothing is sent). Made by [`Kernel::reserve`].
///
/// ```no_run
/// # fn demo(kernel: &ringkernel::Kernel) -> ringkernel::Result<()> {
/// let mut r = kernel.reserve(5)?;
/// r.as_mut_slice().copy_from_slice(b"hello");
/// r.commit(5, 0, 42)?;
/// # Ok(()) }
/// ```
///
/// Neither `Send` nor `Sync`: while it lives, the thread that reserved
/// holds the channel's send side (a lock the library releases on commit or
/// drop, and only the locking thread may release it).
pub struct Reservation<'k> {
    inner: RawReservation<'k>,
}

/// A whole ring record reserved for a typed payload: build a framed
/// single-segment Cap'n Proto `Envelope` in the zeroed bytes of
/// [`as_mut_slice`](EnvelopeReservation::as_mut_slice), then
/// [`commit`](EnvelopeReservation::commit) its length. The library checks
/// the framing before it publishes. Dropping it uncommitted abandons it.
/// Made by [`Kernel::reserve_envelope`]; neither `Send` nor `Sync`, like
/// [`Reservation`].
pub struct EnvelopeReservation<'k> {
    inner: RawReservation<'k>,
}

/// What both reservations share. The raw pointer fields make it neither
/// Send nor Sync, which is what the library's lock requires.
struct RawReservation<'k> {
    raw: NonNull<sys::rk_message>,
    data: NonNull<u8>,
    capacity: usize,
    kernel: &'k Kernel,
}

impl<'k> RawReservation<'k> {
    /// SAFETY: `raw` is a reservation just made on this thread for `kernel`
    /// with `capacity` writable bytes at `data`.
    unsafe fn new(kernel: &'k Kernel, raw: *mut sys::rk_message, data: *mut u8, capacity: usize) -> Result<Self> {
        match (NonNull::new(raw), NonNull::new(data)) {
            (Some(raw), Some(data)) => {
                hold_send_side(kernel.as_raw());
                Ok(RawReservation { raw, data, capacity, kernel })
            }
            (Some(raw), None) => {
                sys::rk_message_release(raw.as_ptr());
                Err(Error::new(ErrorKind::Internal, "the library reserved no memory"))
            }
            _ => Err(Error::new(ErrorKind::Internal, "the library returned no reservation")),
        }
    }

    fn as_slice(&self) -> &[u8] {
        // SAFETY: `capacity` bytes at `data` are ours until commit or release.
        unsafe { slice::from_raw_parts(self.data.as_ptr(), self.capacity) }
    }

    fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as above, and &mut self makes the access exclusive.
        unsafe { slice::from_raw_parts_mut(self.data.as_ptr(), self.capacity) }
    }

    /// Runs a commit call; on success the library has freed the
    /// reservation, so it must not be released again.
    fn commit(self, f: impl FnOnce(*mut sys::rk_message) -> sys::rk_status) -> Result<()> {
        let status = f(self.raw.as_ptr());
        if status != sys::RK_OK {
            // Read the detail before Drop makes another rk_* call.
            return Err(Error::last(status));
        }
        drop_send_side(self.kernel.as_raw());
        std::mem::forget(self);
        Ok(())
    }
}

impl Drop for RawReservation<'_> {
    fn drop(&mut self) {
        // Abandon: nothing is sent, the send side is let go.
        unsafe { sys::rk_message_release(self.raw.as_ptr()) };
        drop_send_side(self.kernel.as_raw());
    }
}

impl<'k> Reservation<'k> {
    /// SAFETY: see `RawReservation::new`.
    pub(crate) unsafe fn from_raw(
        kernel: &'k Kernel,
        raw: *mut sys::rk_message,
        data: *mut u8,
        capacity: usize,
    ) -> Result<Reservation<'k>> {
        Ok(Reservation { inner: RawReservation::new(kernel, raw, data, capacity)? })
    }

    /// The number of bytes reserved.
    pub fn capacity(&self) -> usize {
        self.inner.capacity
    }

    /// The reserved payload bytes, in ring memory.
    pub fn as_slice(&self) -> &[u8] {
        self.inner.as_slice()
    }

    /// The reserved payload bytes, to write the payload in place. Their
    /// contents start out unspecified (old ring data).
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        self.inner.as_mut_slice()
    }

    /// Sends the first `len` bytes as a Data message of type `msg_type`
    /// with correlation id `correlation`. `len` over
    /// [`capacity`](Reservation::capacity) fails with
    /// [`ErrorKind::TooLarge`] (the reservation is then abandoned).
    pub fn commit(self, len: usize, msg_type: u32, correlation: u64) -> Result<()> {
        if len > self.inner.capacity {
            return Err(Error::new(
                ErrorKind::TooLarge,
                format!("commit of {len} bytes exceeds the reservation of {}", self.inner.capacity),
            ));
        }
        self.inner.commit(|raw| unsafe { sys::rk_commit(raw, len, msg_type, correlation) })
    }
}

impl<'k> EnvelopeReservation<'k> {
    /// SAFETY: see `RawReservation::new`.
    pub(crate) unsafe fn from_raw(
        kernel: &'k Kernel,
        raw: *mut sys::rk_message,
        data: *mut u8,
        capacity: usize,
    ) -> Result<EnvelopeReservation<'k>> {
        Ok(EnvelopeReservation { inner: RawReservation::new(kernel, raw, data, capacity)? })
    }

    /// The number of bytes reserved.
    pub fn capacity(&self) -> usize {
        self.inner.capacity
    }

    /// The reserved record, in ring memory.
    pub fn as_slice(&self) -> &[u8] {
        self.inner.as_slice()
    }

    /// The reserved record (zeroed), to build the framed `Envelope` in.
    /// It starts 8-byte aligned, as Cap'n Proto builders need.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        self.inner.as_mut_slice()
    }

    /// Publishes the first `len` bytes (a multiple of 8) as one record.
    /// Fails with [`ErrorKind::Malformed`] when they are not a framed
    /// single-segment `Envelope`, and [`ErrorKind::InvalidArgument`] when
    /// `len` lies outside the reservation; the reservation is then abandoned.
    pub fn commit(self, len: usize) -> Result<()> {
        if len > self.inner.capacity {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("commit of {len} bytes exceeds the reservation of {}", self.inner.capacity),
            ));
        }
        self.inner.commit(|raw| unsafe { sys::rk_commit_envelope(raw, len) })
    }
}

impl fmt::Debug for Reservation<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reservation").field("kernel", &self.inner.kernel.id()).field("capacity", &self.inner.capacity).finish()
    }
}

impl fmt::Debug for EnvelopeReservation<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnvelopeReservation")
            .field("kernel", &self.inner.kernel.id())
            .field("capacity", &self.inner.capacity)
            .finish()
    }
}

/// SAFETY: `p` points at `len` readable bytes (or `len` is 0) that live as
/// long as the returned borrow.
unsafe fn bytes<'a>(p: *const u8, len: usize) -> &'a [u8] {
    if p.is_null() || len == 0 {
        &[]
    } else {
        slice::from_raw_parts(p, len)
    }
}
