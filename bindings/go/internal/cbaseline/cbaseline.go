// Package cbaseline runs the echo round trip in plain C, against the same
// library, as the baseline that the binding's benchmarks print beside
// their own figures. It is used by the benchmarks only.
package cbaseline

// #cgo pkg-config: ringkernel
// #include <stdlib.h>
// #include <string.h>
// #include <ringkernel/ringkernel.h>
//
// typedef struct bench { rk_client *client; rk_kernel *echo; } bench;
//
// static rk_status bench_open(const char *socket_path, bench *b) {
//   memset(b, 0, sizeof *b);
//   rk_status s = rk_connect(socket_path, &b->client);
//   if (s == RK_OK) s = rk_launch(b->client, "echo", NULL, &b->echo);
//   if (s == RK_OK) s = rk_activate(b->echo);
//   return s;
// }
//
// // n calls of a 64-byte echo, each reply checked and released; what a C
// // caller of rk_call does.
// static rk_status bench_calls(bench *b, long n) {
//   unsigned char payload[64];
//   memset(payload, 0x5a, sizeof payload);
//   for (long i = 0; i < n; i++) {
//     rk_message *reply = NULL;
//     rk_status s = rk_call(b->echo, 1, payload, sizeof payload, &reply, -1);
//     if (s != RK_OK) return s;
//     size_t len = 0;
//     const void *data = rk_message_data(reply, &len);
//     if (len != sizeof payload || memcmp(data, payload, len) != 0) s = RK_E_MALFORMED;
//     rk_message_release(reply);
//     if (s != RK_OK) return s;
//   }
//   return RK_OK;
// }
//
// static void bench_close(bench *b) {
//   rk_kernel_release(b->echo);
//   rk_disconnect(b->client);
// }
import "C"

import (
	"fmt"
	"unsafe"
)

// Echo is a C client with an active private echo kernel.
type Echo struct{ b *C.bench }

// Open connects to the server at socket and launches an echo kernel.
func Open(socket string) (*Echo, error) {
	path := C.CString(socket)
	defer C.free(unsafe.Pointer(path))
	b := (*C.bench)(C.calloc(1, C.sizeof_bench))
	if s := C.bench_open(path, b); s != C.RK_OK {
		C.bench_close(b)
		C.free(unsafe.Pointer(b))
		return nil, fmt.Errorf("cbaseline: open: %s", C.GoString(C.rk_status_string(s)))
	}
	return &Echo{b}, nil
}

// Calls makes n 64-byte echo calls from C.
func (e *Echo) Calls(n int) error {
	if s := C.bench_calls(e.b, C.long(n)); s != C.RK_OK {
		return fmt.Errorf("cbaseline: call: %s", C.GoString(C.rk_status_string(s)))
	}
	return nil
}

// Close releases the kernel and the session.
func (e *Echo) Close() {
	C.bench_close(e.b)
	C.free(unsafe.Pointer(e.b))
}
