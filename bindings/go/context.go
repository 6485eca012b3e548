package ringkernel

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// How contexts map onto the C ABI
//
// The library's blocking calls take a timeout in milliseconds and cannot be
// interrupted. Two strategies, picked per operation:
//
//   - Send and Receive wait in bounded slices (at most sliceWait each) and
//     look at ctx and at Close between them. A slice that runs out has
//     consumed nothing, so giving up loses no message and sends none twice.
//   - Call and the control requests (Launch, Activate, Terminate, ...) run
//     the C call once, with the timeout derived from ctx's deadline. When ctx
//     can be cancelled the C call runs on a helper goroutine and the method
//     returns as soon as ctx is done; the abandoned C call finishes on its
//     own (by its reply, or at its timeout), and whatever it produced (a
//     reply, a launched kernel) is released then. The request may still take
//     effect on the server, as with an abandoned HTTP request.
//
// A context without a Done channel (context.Background) skips the helper
// goroutine: the hot path is one cgo call.

// sliceWait bounds one C wait of Send and Receive, and so how late they see
// a cancelled context or a Close.
const sliceWait = 10 * time.Millisecond

// defaultWait is the library's default timeout for rk_send, rk_receive and
// rk_call, used when ctx has no deadline.
const defaultWait = 30 * time.Second

// timeoutMS returns the C timeout for ctx: -1 (the library default) without
// a deadline, else the time left in whole milliseconds, rounded up so that
// the C call does not give up before the deadline.
func timeoutMS(ctx context.Context) int64 {
	deadline, ok := ctx.Deadline()
	if !ok {
		return -1
	}
	return ceilMS(time.Until(deadline))
}

func ceilMS(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Millisecond - 1) / time.Millisecond)
}

// guard keeps a C handle alive while calls on it are in flight. Each call
// holds a read lock for as long as the library may touch the handle; Close
// takes the write lock, so it waits for those calls and then frees the
// handle with nothing else inside.
type guard struct {
	mu      sync.RWMutex
	closed  bool        // guarded by mu
	closing atomic.Bool // set before Close waits: slice loops give up early
}

// enter returns false once the handle is closed.
func (g *guard) enter() bool {
	g.mu.RLock()
	if g.closed {
		g.mu.RUnlock()
		return false
	}
	return true
}

func (g *guard) leave() { g.mu.RUnlock() }

// lockForClose waits for calls in flight and returns true with the write
// lock held if the caller should free the handle; false if it was closed
// already.
func (g *guard) lockForClose() bool {
	g.closing.Store(true)
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return false
	}
	g.closed = true
	return true
}

// pending is one C call running on a helper goroutine for await.
type pending[T any] struct {
	mu       sync.Mutex
	finished bool // guarded by mu; v and err are set
	gaveUp   bool // guarded by mu; the caller left, abandon the result
	v        T
	err      error
	done     chan struct{}
}

// await runs op, a call into the library, inside g, and returns its result,
// or the context's error as soon as ctx is done first (see the note at the
// top of this file). If the caller has left, a successful result is passed
// to abandon, still inside g; abandon must not enter g again.
func await[T any](ctx context.Context, g *guard, what string, op func() (T, error), abandon func(T)) (T, error) {
	var zero T
	if !g.enter() {
		return zero, ErrClosed
	}
	if ctx.Done() == nil {
		defer g.leave()
		return op()
	}
	if err := ctx.Err(); err != nil {
		g.leave()
		return zero, contextError(err, "before "+what)
	}
	p := &pending[T]{done: make(chan struct{})}
	go func() {
		defer g.leave()
		v, err := op()
		p.mu.Lock()
		if p.gaveUp {
			p.mu.Unlock()
			if err == nil && abandon != nil {
				abandon(v)
			}
			return
		}
		p.v, p.err, p.finished = v, err, true
		p.mu.Unlock()
		close(p.done)
	}()
	select {
	case <-p.done:
		return p.v, p.err
	case <-ctx.Done():
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.finished { // it finished just as ctx ended: keep the result
			return p.v, p.err
		}
		p.gaveUp = true
		return zero, contextError(ctx.Err(), "during "+what)
	}
}
