package ringkernel

import (
	"context"
	"errors"
	"strconv"
)

// Code is a status code of the C ABI (rk_status). The zero value is OK.
type Code int

// The status codes of ringkernel.h, with the same numbers.
const (
	CodeOK              Code = 0
	CodeInvalidArgument Code = 1
	CodeNotFound        Code = 2
	CodeTimeout         Code = 3
	CodeQueueFull       Code = 4
	CodeTooLarge        Code = 5
	CodeDisconnected    Code = 6
	CodeAbiMismatch     Code = 7
	CodePermission      Code = 8
	CodeState           Code = 9  // wrong lifecycle state for the operation
	CodeMalformed       Code = 10 // message bytes do not decode
	CodeKernelFaulted   Code = 11
	CodeNoDevice        Code = 12
	CodeInternal        Code = 13
	CodeCorrupt         Code = 14 // a peer broke the ring protocol
	CodeEmpty           Code = 15 // reserved by the library
	CodeLimit           Code = 16 // a configured limit (sessions, channels, bytes)
)

// codeNames are rk_status_string's names, kept here so that String needs no cgo call.
var codeNames = [...]string{
	CodeOK:              "ok",
	CodeInvalidArgument: "invalid argument",
	CodeNotFound:        "not found",
	CodeTimeout:         "timed out",
	CodeQueueFull:       "queue full",
	CodeTooLarge:        "message too large",
	CodeDisconnected:    "disconnected",
	CodeAbiMismatch:     "ABI version mismatch",
	CodePermission:      "permission denied",
	CodeState:           "wrong kernel state",
	CodeMalformed:       "malformed message",
	CodeKernelFaulted:   "kernel faulted",
	CodeNoDevice:        "no usable device",
	CodeInternal:        "internal error",
	CodeCorrupt:         "ring corrupted by peer",
	CodeEmpty:           "empty",
	CodeLimit:           "limit reached",
}

// String returns the code's name as rk_status_string gives it, e.g. "queue full".
func (c Code) String() string {
	if c >= 0 && int(c) < len(codeNames) {
		return codeNames[c]
	}
	return "status " + strconv.Itoa(int(c))
}

// Sentinel errors, one per status code. Every *Error returned by this
// package matches the sentinel of its Code under errors.Is:
//
//	if errors.Is(err, ringkernel.ErrTimeout) { ... }
var (
	ErrInvalidArgument = errors.New("ringkernel: invalid argument")
	ErrNotFound        = errors.New("ringkernel: not found")
	ErrTimeout         = errors.New("ringkernel: timed out")
	ErrQueueFull       = errors.New("ringkernel: queue full")
	ErrTooLarge        = errors.New("ringkernel: message too large")
	ErrDisconnected    = errors.New("ringkernel: disconnected")
	ErrAbiMismatch     = errors.New("ringkernel: ABI version mismatch")
	ErrPermission      = errors.New("ringkernel: permission denied")
	ErrState           = errors.New("ringkernel: wrong kernel state")
	ErrMalformed       = errors.New("ringkernel: malformed message")
	ErrKernelFaulted   = errors.New("ringkernel: kernel faulted")
	ErrNoDevice        = errors.New("ringkernel: no usable device")
	ErrInternal        = errors.New("ringkernel: internal error")
	ErrCorrupt         = errors.New("ringkernel: ring corrupted by peer")
	ErrLimit           = errors.New("ringkernel: limit reached")
)

// ErrClosed is returned by methods of a Client or Kernel after Close. It is
// not a library status: the handle no longer exists on the C side.
var ErrClosed = errors.New("ringkernel: use of closed handle")

var sentinels = map[Code]error{
	CodeInvalidArgument: ErrInvalidArgument,
	CodeNotFound:        ErrNotFound,
	CodeTimeout:         ErrTimeout,
	CodeQueueFull:       ErrQueueFull,
	CodeTooLarge:        ErrTooLarge,
	CodeDisconnected:    ErrDisconnected,
	CodeAbiMismatch:     ErrAbiMismatch,
	CodePermission:      ErrPermission,
	CodeState:           ErrState,
	CodeMalformed:       ErrMalformed,
	CodeKernelFaulted:   ErrKernelFaulted,
	CodeNoDevice:        ErrNoDevice,
	CodeInternal:        ErrInternal,
	CodeCorrupt:         ErrCorrupt,
	CodeLimit:           ErrLimit,
}

// Error is a failure reported by the library or the server: the status code
// and the detail message (rk_last_error_message, which carries the server's
// own message for refused control requests).
//
// Use errors.Is with the sentinels (ErrNotFound, ErrTimeout, ...) to test the
// kind, and errors.As to reach the fields.
type Error struct {
	Code    Code
	Message string

	// KernelReply is true when the kernel itself answered with an error
	// status; Type and Correlation are then those of its reply (the reply
	// has been released).
	KernelReply bool
	Type        uint32
	Correlation uint64

	// ctx is the context error that ended the wait, if any: a Timeout that
	// came from the context's deadline also matches context.DeadlineExceeded.
	ctx error
}

// Error returns "ringkernel: <code name>: <message>".
func (e *Error) Error() string {
	if e.Message == "" {
		return "ringkernel: " + e.Code.String()
	}
	return "ringkernel: " + e.Code.String() + ": " + e.Message
}

// Unwrap returns the sentinel of e's Code (ErrNotFound, ...), or nil for a
// code without one.
func (e *Error) Unwrap() error { return sentinels[e.Code] }

// Is reports whether target is an *Error with the same Code, or the context
// error (context.DeadlineExceeded) that ended the wait. The sentinels match
// through Unwrap.
func (e *Error) Is(target error) bool {
	if e.ctx != nil && target == e.ctx {
		return true
	}
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// contextError is what a method returns when ctx ended before the work
// did: context.Canceled as it is, and a passed deadline as a Timeout that
// also matches context.DeadlineExceeded.
func contextError(err error, what string) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return &Error{Code: CodeTimeout, Message: "context deadline exceeded " + what, ctx: context.DeadlineExceeded}
	}
	return err
}
