package ringkernel_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log"
	"time"

	"ringkernel"
)

// Launch a private echo kernel and call it once. Connect("") finds the
// server through $RINGKERNEL_SOCKET or the default socket path.
func Example() {
	ctx := context.Background()
	c, err := ringkernel.Connect("")
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	k, err := c.Launch(ctx, "echo", nil)
	if err != nil {
		log.Fatal(err)
	}
	defer k.Close()
	if err := k.Activate(ctx); err != nil {
		log.Fatal(err)
	}

	m, err := k.Call(ctx, 1, []byte("hello, ring"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s (type %d)\n", m.Bytes(), m.Type())
	m.Release()
	// Output: hello, ring (type 1)
}

// The counter kernel keeps a running total: each request carries an int64
// delta, little-endian, and the reply the total after adding it.
func ExampleKernel_Call_counter() {
	ctx := context.Background()
	c, err := ringkernel.Connect("")
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	k, err := c.Launch(ctx, "counter", &ringkernel.LaunchOptions{Backend: ringkernel.BackendCPU})
	if err != nil {
		log.Fatal(err)
	}
	if err := k.Activate(ctx); err != nil {
		log.Fatal(err)
	}

	for _, delta := range []int64{5, 10, -3} {
		req := binary.LittleEndian.AppendUint64(nil, uint64(delta))
		m, err := k.Call(ctx, 0, req)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(int64(binary.LittleEndian.Uint64(m.Bytes())))
		m.Release()
	}
	// Output:
	// 5
	// 15
	// 12
}

// Send and Receive decouple requests from replies: the caller picks the
// correlation ids, and replies come back in ring order.
func ExampleKernel_Send() {
	ctx := context.Background()
	c, err := ringkernel.Connect("")
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	k, err := c.Launch(ctx, "echo", nil)
	if err != nil {
		log.Fatal(err)
	}
	if err := k.Activate(ctx); err != nil {
		log.Fatal(err)
	}

	for i, word := range []string{"one", "two", "three"} {
		if err := k.Send(ctx, 7, []byte(word), uint64(100+i)); err != nil {
			log.Fatal(err)
		}
	}
	for i := 0; i < 3; i++ {
		m, err := k.Receive(ctx)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%d: %s\n", m.Correlation(), m.Bytes())
		m.Release()
	}
	// Output:
	// 100: one
	// 101: two
	// 102: three
}

// A context deadline becomes the library's timeout. A kernel that is not
// active does not answer, so the call times out; the error matches both
// ErrTimeout and context.DeadlineExceeded.
func ExampleKernel_Call_deadline() {
	ctx := context.Background()
	c, err := ringkernel.Connect("")
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	k, err := c.Launch(ctx, "echo", nil) // launched, not yet active
	if err != nil {
		log.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	_, err = k.Call(ctx, 1, []byte("anyone there?"))
	fmt.Println(errors.Is(err, ringkernel.ErrTimeout), errors.Is(err, context.DeadlineExceeded))
	// Output: true true
}

// Errors carry the library's status code and message; errors.Is tests the
// kind and errors.As reaches the details.
func ExampleError() {
	c, err := ringkernel.Connect("")
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	_, err = c.Launch(context.Background(), "no-such-kernel", nil)
	var e *ringkernel.Error
	if errors.As(err, &e) {
		fmt.Println(errors.Is(err, ringkernel.ErrNotFound), e.Code)
	}
	// Output: true not found
}

// A kernel launched with an InstanceName is shared: any session can
// Attach to it by that name and talk to the same instance.
func ExampleClient_Attach() {
	ctx := context.Background()
	owner, err := ringkernel.Connect("")
	if err != nil {
		log.Fatal(err)
	}
	defer owner.Close()
	k, err := owner.Launch(ctx, "echo", &ringkernel.LaunchOptions{InstanceName: "example-shared-echo"})
	if err != nil {
		log.Fatal(err)
	}
	defer k.Terminate(ctx) // shared instances outlive the launching session
	if err := k.Activate(ctx); err != nil {
		log.Fatal(err)
	}

	other, err := ringkernel.Connect("")
	if err != nil {
		log.Fatal(err)
	}
	defer other.Close()
	a, err := other.Attach(ctx, "example-shared-echo")
	if err != nil {
		log.Fatal(err)
	}
	m, err := a.Call(ctx, 1, []byte("via another session"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s, same instance: %v\n", m.Bytes(), a.ID() == k.ID())
	m.Release()
	// Output: via another session, same instance: true
}
