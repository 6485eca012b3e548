package ringkernel

// #include "shim.h"
import "C"

import (
	"context"
	"strconv"
	"sync"
	"time"
	"unsafe"
)

// State is a kernel instance's lifecycle state (rk_state).
type State int

// Lifecycle states. Launch leaves a kernel Launched (inactive); Activate
// and Deactivate move it between Active and Deactivated; Terminate ends it.
const (
	StateCreated     State = 0
	StateLaunched    State = 1
	StateActive      State = 2
	StateDeactivated State = 3
	StateTerminating State = 4
	StateTerminated  State = 5
	StateFaulted     State = 6
)

var stateNames = [...]string{"created", "launched", "active", "deactivated", "terminating", "terminated", "faulted"}

// String returns the state's lower-case name, e.g. "active".
func (s State) String() string {
	if s >= 0 && int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "state(" + strconv.Itoa(int(s)) + ")"
}

// Kernel is this session's channel to one kernel instance. Its methods may
// be called from many goroutines at once: concurrent Calls are matched to
// their replies by correlation id. Receive hands replies out in ring order
// to whichever goroutine asks, so do not mix Receive with concurrent Calls
// on one Kernel.
//
// Every method takes a context: its deadline becomes the library's timeout
// (without one, the library's default applies: 30 s for Send, Receive and
// Call, 5 s for Terminate), and cancelling it makes the method return early
// with context.Canceled. A deadline that passes yields an *Error with
// CodeTimeout (CodeQueueFull for Send), which matches both ErrTimeout (or
// ErrQueueFull) and context.DeadlineExceeded under errors.Is.
type Kernel struct {
	c      *C.rk_kernel
	id     uint32
	client *Client
	guard  guard

	msgMu sync.Mutex
	msgs  Message // sentinel of the ring of messages not yet released
}

// ID returns the kernel instance id the server assigned (stable for the
// instance's lifetime; the same through every attached channel).
func (k *Kernel) ID() uint32 { return k.id }

// Close releases this channel: messages not yet released are released
// (their Bytes must no longer be used), and the instance is terminated if
// it is private to this session; a shared instance lives on. Close waits
// for calls still running on the kernel, including Calls whose context was
// cancelled, which end at their reply or their timeout. Send and Receive
// notice Close within a few milliseconds and return ErrClosed. Closing
// twice is harmless.
func (k *Kernel) Close() error {
	if !k.guard.lockForClose() {
		return nil
	}
	defer k.guard.mu.Unlock()
	k.msgMu.Lock()
	for m := k.msgs.next; m != &k.msgs; {
		next := m.next
		m.forget()
		m = next
	}
	k.msgMu.Unlock()
	C.rk_kernel_release(k.c)
	k.c = nil
	k.client.forget(k)
	return nil
}

// control runs a control request that returns only a status.
func (k *Kernel) control(ctx context.Context, what string, op func() C.rkgo_result) error {
	_, err := await(ctx, &k.guard, what, func() (struct{}, error) {
		if r := op(); r.status != C.RK_OK {
			return struct{}{}, fail(r)
		}
		return struct{}{}, nil
	}, nil)
	return err
}

// Activate starts the kernel handling messages. It fails with ErrState
// unless the kernel is Launched or Deactivated.
func (k *Kernel) Activate(ctx context.Context) error {
	return k.control(ctx, "activate", func() C.rkgo_result { return C.rkgo_activate(k.c) })
}

// Deactivate stops the kernel handling messages; it keeps its state and
// queued requests wait until the next Activate. It fails with ErrState
// unless the kernel is Active.
func (k *Kernel) Deactivate(ctx context.Context) error {
	return k.control(ctx, "deactivate", func() C.rkgo_result { return C.rkgo_deactivate(k.c) })
}

// Terminate asks the kernel to drain and exit and waits for it, up to ctx's
// deadline (default 5 s). The handle stays open: Close it afterwards.
func (k *Kernel) Terminate(ctx context.Context) error {
	return k.control(ctx, "terminate", func() C.rkgo_result {
		return C.rkgo_terminate(k.c, C.int64_t(timeoutMS(ctx)))
	})
}

// State asks the server for the instance's lifecycle state.
func (k *Kernel) State(ctx context.Context) (State, error) {
	return await(ctx, &k.guard, "state", func() (State, error) {
		r := C.rkgo_state(k.c)
		if r.r.status != C.RK_OK {
			return 0, fail(r.r)
		}
		return State(r.state), nil
	}, nil)
}

// Metrics are a kernel instance's counters (rk_metrics).
type Metrics struct {
	State      State
	Processed  uint64        // messages handled
	Errors     uint64        // messages answered with an error status
	Dropped    uint64        // must stay 0: nothing is dropped silently
	QueueDepth uint64        // unread request bytes across all channels
	LatencyMin time.Duration // handler latency
	LatencyAvg time.Duration
	LatencyMax time.Duration
	Heartbeat  time.Duration // age of the kernel's last heartbeat
	Epoch      uint64        // bumped on each activate / deactivate
	Channels   uint32        // channels bound to the instance
	LastError  Code
}

// Metrics asks the server for the instance's counters.
func (k *Kernel) Metrics(ctx context.Context) (Metrics, error) {
	return await(ctx, &k.guard, "metrics", func() (Metrics, error) {
		r := C.rkgo_metrics(k.c)
		if r.r.status != C.RK_OK {
			return Metrics{}, fail(r.r)
		}
		m := &r.metrics
		return Metrics{
			State:      State(m.state),
			Processed:  uint64(m.processed),
			Errors:     uint64(m.errors),
			Dropped:    uint64(m.dropped),
			QueueDepth: uint64(m.queue_depth),
			LatencyMin: time.Duration(m.latency_min_ns),
			LatencyAvg: time.Duration(m.latency_avg_ns),
			LatencyMax: time.Duration(m.latency_max_ns),
			Heartbeat:  time.Duration(m.heartbeat_ns),
			Epoch:      uint64(m.epoch),
			Channels:   uint32(m.channels),
			LastError:  Code(m.last_error),
		}, nil
	}, nil)
}

// Send queues data as a Data payload with message type typ and the given
// correlation id, waiting for ring space until ctx's deadline (else 30 s);
// a ring that stays full fails with ErrQueueFull. data is copied into the
// ring before Send returns. Payloads over the channel's maximum (64 KiB
// with default rings) fail with ErrTooLarge. Replies come back through
// Receive.
func (k *Kernel) Send(ctx context.Context, typ uint32, data []byte, correlation uint64) error {
	if !k.guard.enter() {
		return ErrClosed
	}
	defer k.guard.leave()
	var p unsafe.Pointer
	if len(data) > 0 {
		p = unsafe.Pointer(&data[0])
	}
	return k.sliced(ctx, "send", func(ms int64) (bool, error) {
		r := C.rkgo_send(k.c, C.uint32_t(typ), p, C.size_t(len(data)), C.uint64_t(correlation), C.int64_t(ms))
		switch r.status {
		case C.RK_OK:
			return true, nil
		case C.RK_E_QUEUE_FULL, C.RK_E_TIMEOUT:
			return false, fail(r)
		}
		return true, fail(r)
	})
}

// Receive takes the next reply of this channel, in ring order, waiting
// until ctx's deadline (else 30 s); none in time fails with ErrTimeout.
// When the kernel answered with an error status, Receive returns an *Error
// with KernelReply set and the reply's Type and Correlation.
func (k *Kernel) Receive(ctx context.Context) (*Message, error) {
	if !k.guard.enter() {
		return nil, ErrClosed
	}
	defer k.guard.leave()
	var m *Message
	err := k.sliced(ctx, "receive", func(ms int64) (bool, error) {
		r := C.rkgo_receive(k.c, C.int64_t(ms))
		if r.r.status == C.RK_E_TIMEOUT {
			return false, fail(r.r)
		}
		var err error
		m, err = k.adopt(&r)
		return true, err
	})
	return m, err
}

// Call sends data as a request with message type typ and waits for the
// reply with the same correlation id (chosen by the library), until ctx's
// deadline (else 30 s). Safe from many goroutines at once. If the kernel
// answers with an error status, Call returns an *Error with KernelReply
// set (e.g. ErrMalformed). Release the returned Message when done.
//
// A Call whose ctx is cancelled returns context.Canceled at once; its
// request may still reach the kernel, and its late reply is released when
// it arrives (or the library's wait times out). data may be reused as soon
// as Call returns: with a cancellable ctx, Call sends a copy.
func (k *Kernel) Call(ctx context.Context, typ uint32, data []byte) (*Message, error) {
	if ctx.Done() == nil { // cannot be cancelled: no helper goroutine, no closure
		if !k.guard.enter() {
			return nil, ErrClosed
		}
		defer k.guard.leave()
		return k.call(ctx, typ, data)
	}
	if len(data) > 0 {
		// The C call may outlive this method if ctx ends first: give it a
		// copy, so that the caller may reuse data as soon as Call returns.
		data = append([]byte(nil), data...)
	}
	return await(ctx, &k.guard, "call", func() (*Message, error) {
		return k.call(ctx, typ, data)
	}, (*Message).release)
}

// call is one rk_call with the timeout from ctx. Runs inside k.guard.
func (k *Kernel) call(ctx context.Context, typ uint32, data []byte) (*Message, error) {
	var p unsafe.Pointer
	if len(data) > 0 {
		p = unsafe.Pointer(&data[0])
	}
	ms := timeoutMS(ctx)
	r := C.rkgo_call(k.c, C.uint32_t(typ), p, C.size_t(len(data)), C.int64_t(ms))
	m, err := k.adopt(&r)
	if e, ok := err.(*Error); ok && ms >= 0 && (e.Code == CodeTimeout || e.Code == CodeQueueFull) {
		e.ctx = context.DeadlineExceeded // the C timeout was ctx's deadline
	}
	return m, err
}

// sliced calls try with waits of at most sliceWait until it reports a final
// result, ctx ends, the kernel is being closed, or the time runs out (ctx's
// deadline, else the library default). Runs inside k.guard.
func (k *Kernel) sliced(ctx context.Context, what string, try func(ms int64) (final bool, err error)) error {
	deadline, hasDeadline := ctx.Deadline()
	if !hasDeadline {
		deadline = time.Now().Add(defaultWait)
	}
	for {
		if err := ctx.Err(); err != nil {
			return contextError(err, "during "+what)
		}
		if k.guard.closing.Load() {
			return ErrClosed
		}
		left := time.Until(deadline)
		wait := left
		if wait > sliceWait {
			wait = sliceWait
		}
		final, err := try(ceilMS(wait))
		if final {
			return err
		}
		if left <= sliceWait {
			if e, ok := err.(*Error); ok && hasDeadline {
				e.ctx = context.DeadlineExceeded
			}
			return err
		}
	}
}

// adopt turns a reply from the shim into a Message tracked by k, or into an
// error. Runs inside k.guard.
func (k *Kernel) adopt(r *C.rkgo_reply) (*Message, error) {
	if r.r.status != C.RK_OK {
		e := fail(r.r)
		if r.kernel_reply != 0 {
			e.KernelReply, e.Type, e.Correlation = true, uint32(r._type), uint64(r.correlation)
		}
		return nil, e
	}
	m := &Message{
		k:    k,
		m:    r.message,
		data: unsafe.Slice((*byte)(r.data), int(r.len)),
		typ:  uint32(r._type),
		corr: uint64(r.correlation),
	}
	k.msgMu.Lock()
	m.prev, m.next = k.msgs.prev, &k.msgs
	k.msgs.prev.next = m
	k.msgs.prev = m
	k.msgMu.Unlock()
	return m, nil
}
