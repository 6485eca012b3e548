// Package ringkernel is the Go binding of RingKernel's C library
// (libringkernel.so.1): it talks to persistent GPU (or CPU) kernels hosted
// by ringkerneld through shared-memory rings.
//
// A Client is one session with the server; Launch starts a kernel (private
// to the session, or shared under a name) and returns a Kernel, this
// session's channel to it. Activate it, then Call it (request and reply,
// matched by correlation id) or Send and Receive. Replies are Messages whose
// Bytes are a zero-copy view of the ring, valid until Release.
//
//	c, err := ringkernel.Connect("")   // $RINGKERNEL_SOCKET or the default socket
//	k, err := c.Launch(ctx, "echo", nil)
//	err = k.Activate(ctx)
//	m, err := k.Call(ctx, 1, []byte("hello"))
//	fmt.Printf("%s\n", m.Bytes())
//	m.Release()
//
// # Contexts
//
// Every blocking method takes a context.Context. Its deadline becomes the
// library's timeout in milliseconds; without a deadline the library's
// default applies (30 s for Send, Receive and Call; 5 s for Terminate;
// control requests are bounded by the library's 30 s control timeout).
// Cancellation is honoured: Send and Receive wait in slices of at most
// 10 ms and check the context between them, so they never lose a message;
// Call and the control requests run the C call on a helper goroutine when
// the context can be cancelled, return as soon as it is done, and release
// whatever the abandoned call produces when it finishes. With
// context.Background the hot path is a single cgo call.
//
// A cancelled context makes a method return context.Canceled (unwrapped:
// err == context.Canceled). A deadline that passes yields an *Error with
// CodeTimeout (CodeQueueFull when Send found no ring space), which matches
// both ErrTimeout and context.DeadlineExceeded under errors.Is.
//
// # Errors
//
// Failures are *Error values carrying the library's status Code and detail
// message (for refused requests, the server's own message). Test them with
// errors.Is against the sentinels ErrNotFound, ErrTimeout, ErrQueueFull,
// ErrTooLarge, ErrDisconnected, ErrState, ErrMalformed, ErrAbiMismatch,
// ErrPermission and the others; use errors.As to read the Code and Message.
// Methods on a closed handle return ErrClosed.
//
// # Threads and memory
//
// Clients and Kernels may be used from many goroutines at once. The
// library's error detail is thread-local, so each C call and the read of
// its detail happen in one cgo call. No Go memory that holds Go pointers is
// passed to C; payload bytes given to Send and Call are copied into the
// ring before the call returns.
//
// # Building
//
// The package finds the library with pkg-config (package "ringkernel").
// For an uninstalled build tree, see run-tests.sh, which writes a private
// ringkernel.pc pointing at the tree.
package ringkernel
