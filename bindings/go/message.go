package ringkernel

// #include "shim.h"
import "C"

// Message is a reply received from a kernel. Its payload is not copied: it
// stays in the shared-memory ring, and the ring space goes back to the
// kernel only when the Message is released. Release every Message you get;
// a channel whose replies are never released fills up and stalls.
//
// A Message belongs to one goroutine at a time.
type Message struct {
	k        *Kernel
	m        *C.rk_message
	data     []byte
	typ      uint32
	corr     uint64
	released bool     // guarded by k.msgMu
	prev     *Message // the kernel's list of unreleased messages, guarded by k.msgMu
	next     *Message
}

// Bytes returns the payload, a view of ring memory (zero copy). It is valid
// until Release, or until the Kernel or Client is closed; copy it to keep
// it longer. It must not be written to. Nil after Release.
func (m *Message) Bytes() []byte { return m.data }

// Type returns the message type the kernel replied with (echo keeps the
// request's).
func (m *Message) Type() uint32 { return m.typ }

// Correlation returns the correlation id of the request this reply answers.
func (m *Message) Correlation() uint64 { return m.corr }

// Release gives the message's ring space back. Bytes must not be used
// afterwards. Releasing twice, or after the Kernel was closed, is harmless.
func (m *Message) Release() {
	k := m.k
	if k == nil || !k.guard.enter() {
		return // closing the kernel released it
	}
	defer k.guard.leave()
	m.release()
}

// release is Release for a caller already inside k.guard.
func (m *Message) release() {
	k := m.k
	k.msgMu.Lock()
	defer k.msgMu.Unlock()
	m.forget()
}

// forget unlinks and releases m unless it was released already. Caller
// holds k.msgMu, inside k.guard.
func (m *Message) forget() {
	if m.released {
		return
	}
	m.released = true
	m.prev.next, m.next.prev = m.next, m.prev
	m.prev, m.next = nil, nil
	m.data = nil
	C.rk_message_release(m.m)
	m.m = nil
}
