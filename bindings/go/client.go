package ringkernel

// #cgo pkg-config: ringkernel
// #include "shim.h"
import "C"

import (
	"context"
	"strconv"
	"sync"
	"unsafe"
)

// ABIVersion is the C ABI version (RK_ABI_VERSION) this package was written
// against.
const ABIVersion = 1

// LibraryABIVersion returns the ABI version of the libringkernel actually
// loaded (rk_abi_version).
func LibraryABIVersion() uint32 { return uint32(C.rk_abi_version()) }

// Backend selects where a kernel runs.
type Backend int

// Backends, as rk_backend numbers them.
const (
	BackendAuto Backend = 0 // the server's default
	BackendCPU  Backend = 1
	BackendCUDA Backend = 2
)

// String returns "auto", "cpu" or "cuda".
func (b Backend) String() string {
	switch b {
	case BackendAuto:
		return "auto"
	case BackendCPU:
		return "cpu"
	case BackendCUDA:
		return "cuda"
	}
	return "backend(" + strconv.Itoa(int(b)) + ")"
}

// Transfer selects how a CUDA kernel's requests reach the GPU
// (docs/transfer.md). The CPU backend reads the rings in place and ignores
// it.
type Transfer int

// Transfer strategies, as rk_transfer numbers them.
const (
	TransferAuto   Transfer = 0 // the server picks per kernel
	TransferMapped Transfer = 1 // the GPU reads the session's rings across PCIe
	TransferStaged Transfer = 2 // the copy engines move whole ring spans to device memory
)

// String returns "auto", "mapped" or "staged".
func (t Transfer) String() string {
	switch t {
	case TransferAuto:
		return "auto"
	case TransferMapped:
		return "mapped"
	case TransferStaged:
		return "staged"
	}
	return "transfer(" + strconv.Itoa(int(t)) + ")"
}

// fail turns a failed rkgo_result into an *Error and frees its message.
func fail(r C.rkgo_result) *Error {
	e := &Error{Code: Code(r.status)}
	if r.error != nil {
		e.Message = C.GoString(r.error)
		C.free(unsafe.Pointer(r.error))
	}
	return e
}

// Client is a connection to ringkerneld: one session on the server. Its
// methods may be called from many goroutines at once. Close it when done:
// that releases its kernels and ends the session, which terminates the
// kernels it launched privately.
type Client struct {
	c     *C.rk_client
	guard guard

	mu      sync.Mutex
	kernels map[*Kernel]struct{} // open kernels, closed by Close
}

// Connect opens a session with ringkerneld at the Unix socket path. An empty
// path means the library's default: $RINGKERNEL_SOCKET, else
// $XDG_RUNTIME_DIR/ringkernel/default.sock, else
// /tmp/ringkernel-<uid>/default.sock.
//
// It fails with ErrNotFound when no server listens there and with
// ErrAbiMismatch when the server does not speak this ABI. Connecting is
// quick and bounded by the library's control timeout (30 s).
func Connect(path string) (*Client, error) {
	var cpath *C.char
	if path != "" {
		cpath = C.CString(path)
		defer C.free(unsafe.Pointer(cpath))
	}
	r := C.rkgo_connect(cpath)
	if r.r.status != C.RK_OK {
		return nil, fail(r.r)
	}
	return &Client{c: r.client, kernels: make(map[*Kernel]struct{})}, nil
}

// Close releases every Kernel of this client (see Kernel.Close) and ends
// the session. It waits for calls still running on the client; calls made
// afterwards fail with ErrClosed. Closing twice is harmless.
func (c *Client) Close() error {
	if !c.guard.lockForClose() {
		return nil
	}
	defer c.guard.mu.Unlock()
	c.mu.Lock()
	open := make([]*Kernel, 0, len(c.kernels))
	for k := range c.kernels {
		open = append(open, k)
	}
	c.mu.Unlock()
	for _, k := range open {
		k.Close()
	}
	C.rk_disconnect(c.c)
	c.c = nil
	return nil
}

// ServerInfo describes the server (rk_server_info).
type ServerInfo struct {
	ABIVersion     uint32  // the server's ABI
	Sessions       uint32  // connected sessions, this one included
	Instances      uint32  // kernel instances alive, over all sessions
	PID            int     // the server's process id
	DefaultBackend Backend // what BackendAuto launches on
	HasCUDA        bool    // the CUDA backend is offered
}

// ServerInfo asks the server about itself.
func (c *Client) ServerInfo(ctx context.Context) (ServerInfo, error) {
	return await(ctx, &c.guard, "server info", func() (ServerInfo, error) {
		r := C.rkgo_server_info(c.c)
		if r.r.status != C.RK_OK {
			return ServerInfo{}, fail(r.r)
		}
		return ServerInfo{
			ABIVersion:     uint32(r.info.abi_version),
			Sessions:       uint32(r.info.sessions),
			Instances:      uint32(r.info.instances),
			PID:            int(r.info.pid),
			DefaultBackend: Backend(r.info.default_backend),
			HasCUDA:        r.info.has_cuda != 0,
		}, nil
	}, nil)
}

// LaunchOptions tunes Launch. The zero value (or a nil pointer) asks for
// the defaults.
type LaunchOptions struct {
	// Backend to run on; BackendAuto: the server's default.
	Backend Backend
	// InstanceName, if set, makes the instance shared under that name:
	// other sessions reach it with Attach. Empty: private to this session.
	InstanceName string
	// Grid and Block size the launch; 0: the kernel's default.
	Grid, Block uint32
	// RingBytes is the size of each direction's ring, a power of two;
	// 0: the server's default (1 MiB).
	RingBytes uint64
	// Device is the GPU ordinal to launch on; nil: any device.
	Device *int
	// Transfer is how requests reach a CUDA kernel; TransferAuto: the
	// server picks. Values other than the constants fail with
	// ErrInvalidArgument.
	Transfer Transfer
}

// Launch starts kernel kind (a registered name such as "echo" or
// "counter") in state Launched, which is inactive: call Activate before
// sending to it. The returned Kernel is this session's channel to it.
//
// Unknown kinds fail with ErrNotFound. If ctx ends first, Launch returns
// its error and the kernel, once launched, is released again.
func (c *Client) Launch(ctx context.Context, kind string, opts *LaunchOptions) (*Kernel, error) {
	var o LaunchOptions
	if opts != nil {
		o = *opts
	}
	device := -1
	if o.Device != nil {
		device = *o.Device
	}
	return await(ctx, &c.guard, "launch", func() (*Kernel, error) {
		ckind := C.CString(kind)
		defer C.free(unsafe.Pointer(ckind))
		var cname *C.char
		if o.InstanceName != "" {
			cname = C.CString(o.InstanceName)
			defer C.free(unsafe.Pointer(cname))
		}
		r := C.rkgo_launch(c.c, ckind, C.rk_backend(o.Backend), cname, C.uint32_t(o.Grid), C.uint32_t(o.Block),
			C.uint64_t(o.RingBytes), C.int32_t(device), C.rk_transfer(o.Transfer))
		return c.adopt(r)
	}, closeKernel)
}

// Attach binds a channel to the shared instance called name, launched by
// any session with LaunchOptions.InstanceName. Unknown names fail with
// ErrNotFound.
func (c *Client) Attach(ctx context.Context, name string) (*Kernel, error) {
	return await(ctx, &c.guard, "attach", func() (*Kernel, error) {
		cname := C.CString(name)
		defer C.free(unsafe.Pointer(cname))
		return c.adopt(C.rkgo_attach(c.c, cname))
	}, closeKernel)
}

// adopt wraps a new C kernel handle. Runs inside c.guard.
func (c *Client) adopt(r C.rkgo_kernel_result) (*Kernel, error) {
	if r.r.status != C.RK_OK {
		return nil, fail(r.r)
	}
	k := &Kernel{c: r.kernel, id: uint32(r.id), client: c}
	k.msgs.next, k.msgs.prev = &k.msgs, &k.msgs
	c.mu.Lock()
	c.kernels[k] = struct{}{}
	c.mu.Unlock()
	return k, nil
}

func (c *Client) forget(k *Kernel) {
	c.mu.Lock()
	delete(c.kernels, k)
	c.mu.Unlock()
}

// closeKernel releases a kernel whose Launch or Attach was abandoned.
func closeKernel(k *Kernel) { k.Close() }
