package ringkernel_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"ringkernel"
)

// connect opens a session with the test server, closed when t ends.
func connect(t *testing.T) *ringkernel.Client {
	t.Helper()
	c, err := ringkernel.Connect(server.socket)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// launch starts a private kernel of kind, active, closed when t ends.
func launch(t *testing.T, c *ringkernel.Client, kind string) *ringkernel.Kernel {
	t.Helper()
	ctx := context.Background()
	k, err := c.Launch(ctx, kind, &ringkernel.LaunchOptions{Backend: ringkernel.BackendCPU})
	if err != nil {
		t.Fatalf("Launch(%q): %v", kind, err)
	}
	t.Cleanup(func() { k.Close() })
	if err := k.Activate(ctx); err != nil {
		t.Fatalf("Activate: %v", err)
	}
	return k
}

func delta(n int64) []byte {
	b := make([]byte, 8)
	binary.LittleEndian.PutUint64(b, uint64(n))
	return b
}

func total(t *testing.T, m *ringkernel.Message) int64 {
	t.Helper()
	if len(m.Bytes()) != 8 {
		t.Fatalf("counter replied %d bytes, want 8", len(m.Bytes()))
	}
	return int64(binary.LittleEndian.Uint64(m.Bytes()))
}

func TestConnect_NoServerAtPath_ErrNotFound(t *testing.T) {
	_, err := ringkernel.Connect(server.dir + "/nobody.sock")
	wantErr(t, err, ringkernel.ErrNotFound)
	var e *ringkernel.Error
	if !errors.As(err, &e) || e.Code != ringkernel.CodeNotFound || e.Message == "" {
		t.Fatalf("want an *Error with CodeNotFound and the library's message, got %#v", err)
	}
}

func TestServerInfo_ReportsServerABIAndPID(t *testing.T) {
	c := connect(t)
	info, err := c.ServerInfo(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.ABIVersion != ringkernel.ABIVersion || ringkernel.LibraryABIVersion() != ringkernel.ABIVersion {
		t.Errorf("ABI: server %d, library %d, want %d", info.ABIVersion, ringkernel.LibraryABIVersion(), ringkernel.ABIVersion)
	}
	if info.PID != server.cmd.Process.Pid {
		t.Errorf("PID = %d, want %d", info.PID, server.cmd.Process.Pid)
	}
	if info.Sessions < 1 || info.DefaultBackend != ringkernel.BackendCPU {
		t.Errorf("info = %+v, want at least 1 session and the CPU backend", info)
	}
}

func TestLifecycle_StatesFollowLaunchActivateDeactivateTerminate(t *testing.T) {
	c := connect(t)
	ctx := context.Background()
	k, err := c.Launch(ctx, "echo", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	step := func(name string, op func(context.Context) error, want ringkernel.State) {
		t.Helper()
		if op != nil {
			if err := op(ctx); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		}
		if s, err := k.State(ctx); err != nil || s != want {
			t.Fatalf("after %s: state %v (%v), want %v", name, s, err, want)
		}
	}
	step("launch", nil, ringkernel.StateLaunched)
	step("activate", k.Activate, ringkernel.StateActive)
	step("deactivate", k.Deactivate, ringkernel.StateDeactivated)
	step("activate again", k.Activate, ringkernel.StateActive)
	m, err := k.Metrics(ctx)
	if err != nil || m.State != ringkernel.StateActive || m.Channels != 1 || m.Dropped != 0 {
		t.Fatalf("Metrics = %+v, %v", m, err)
	}
	step("terminate", k.Terminate, ringkernel.StateTerminated)
}

func TestActivate_WhenActive_ErrState(t *testing.T) {
	k := launch(t, connect(t), "echo")
	err := k.Activate(context.Background())
	wantErr(t, err, ringkernel.ErrState)
	var e *ringkernel.Error
	if errors.As(err, &e); e.Message == "" {
		t.Errorf("want the server's message in %v", err)
	}
}

func TestDeactivate_WhenLaunched_ErrState(t *testing.T) {
	c := connect(t)
	k, err := c.Launch(context.Background(), "echo", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	wantErr(t, k.Deactivate(context.Background()), ringkernel.ErrState)
}

func TestLaunch_UnknownKind_ErrNotFound(t *testing.T) {
	_, err := connect(t).Launch(context.Background(), "no-such-kernel", nil)
	wantErr(t, err, ringkernel.ErrNotFound)
}

func TestLaunch_StagedOrMappedTransferOnCPU_ServesCalls(t *testing.T) {
	// The CPU backend reads the rings in place whatever strategy is asked.
	c := connect(t)
	ctx := context.Background()
	for _, tr := range []ringkernel.Transfer{ringkernel.TransferStaged, ringkernel.TransferMapped} {
		k, err := c.Launch(ctx, "echo", &ringkernel.LaunchOptions{Backend: ringkernel.BackendCPU, Transfer: tr})
		if err != nil {
			t.Fatalf("Launch(%v): %v", tr, err)
		}
		defer k.Close()
		if err := k.Activate(ctx); err != nil {
			t.Fatalf("Activate: %v", err)
		}
		m, err := k.Call(ctx, 5, []byte(tr.String()))
		if err != nil || string(m.Bytes()) != tr.String() {
			t.Fatalf("Call on a %v launch: %v", tr, err)
		}
		m.Release()
	}
}

func TestLaunch_UnknownTransfer_ErrInvalidArgument(t *testing.T) {
	_, err := connect(t).Launch(context.Background(), "echo", &ringkernel.LaunchOptions{Transfer: 7})
	wantErr(t, err, ringkernel.ErrInvalidArgument)
}

func TestAttach_UnknownName_ErrNotFound(t *testing.T) {
	_, err := connect(t).Attach(context.Background(), "no-such-instance")
	wantErr(t, err, ringkernel.ErrNotFound)
}

func TestEcho_Call_RepliesWithSamePayloadAndType(t *testing.T) {
	k := launch(t, connect(t), "echo")
	for _, payload := range [][]byte{[]byte("hello, ring"), nil, bytes.Repeat([]byte{0xab}, 60000)} {
		m, err := k.Call(context.Background(), 42, payload)
		if err != nil {
			t.Fatalf("Call(%d bytes): %v", len(payload), err)
		}
		if !bytes.Equal(m.Bytes(), payload) || m.Type() != 42 || m.Correlation() == 0 {
			t.Fatalf("reply: %d bytes, type %d, correlation %d; want %d bytes, type 42, a correlation id",
				len(m.Bytes()), m.Type(), m.Correlation(), len(payload))
		}
		m.Release()
		if m.Bytes() != nil {
			t.Fatal("Bytes after Release should be nil")
		}
		m.Release() // twice is harmless
	}
}

func TestCounter_Call_ReturnsRunningTotal(t *testing.T) {
	k := launch(t, connect(t), "counter")
	var want int64
	for _, d := range []int64{5, -2, 1000, 0} {
		want += d
		m, err := k.Call(context.Background(), 0, delta(d))
		if err != nil {
			t.Fatal(err)
		}
		if got := total(t, m); got != want {
			t.Fatalf("total %d after adding %d, want %d", got, d, want)
		}
		m.Release()
	}
}

func TestCounter_MalformedDelta_ErrMalformedFromKernel(t *testing.T) {
	k := launch(t, connect(t), "counter")
	m, err := k.Call(context.Background(), 7, []byte{1, 2, 3})
	if m != nil {
		t.Fatal("an error reply must not be handed out as a Message")
	}
	wantErr(t, err, ringkernel.ErrMalformed)
	var e *ringkernel.Error
	if !errors.As(err, &e) || !e.KernelReply || e.Correlation == 0 {
		t.Fatalf("want a kernel reply error with its correlation, got %#v", err)
	}
	// The channel still works afterwards.
	if m, err := k.Call(context.Background(), 0, delta(1)); err != nil {
		t.Fatal(err)
	} else {
		m.Release()
	}
}

func TestSendReceive_RepliesKeepTypeAndCorrelationInOrder(t *testing.T) {
	k := launch(t, connect(t), "echo")
	ctx := context.Background()
	for i := uint64(0); i < 10; i++ {
		if err := k.Send(ctx, uint32(100+i), []byte(fmt.Sprint("msg ", i)), 1000+i); err != nil {
			t.Fatal(err)
		}
	}
	for i := uint64(0); i < 10; i++ {
		m, err := k.Receive(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if m.Correlation() != 1000+i || m.Type() != uint32(100+i) || string(m.Bytes()) != fmt.Sprint("msg ", i) {
			t.Fatalf("reply %d: correlation %d, type %d, %q", i, m.Correlation(), m.Type(), m.Bytes())
		}
		m.Release()
	}
}

func TestReceive_NothingSent_ErrTimeoutAtDeadline(t *testing.T) {
	k := launch(t, connect(t), "echo")
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := k.Receive(ctx)
	wantErr(t, err, ringkernel.ErrTimeout)
	wantErr(t, err, context.DeadlineExceeded)
	if d := time.Since(start); d < 90*time.Millisecond || d > 2*time.Second {
		t.Fatalf("Receive gave up after %v, want about 100 ms", d)
	}
}

func TestCall_64Goroutines_EachGetsItsOwnReply(t *testing.T) {
	k := launch(t, connect(t), "echo")
	const goroutines, calls = 64, 200
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < calls; i++ {
				want := fmt.Sprintf("goroutine %d call %d", g, i)
				m, err := k.Call(context.Background(), uint32(g), []byte(want))
				if err != nil {
					errs <- err
					return
				}
				if got := string(m.Bytes()); got != want || m.Type() != uint32(g) {
					errs <- fmt.Errorf("goroutine %d got %q (type %d), want %q", g, got, m.Type(), want)
				}
				m.Release()
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func TestCounter_64GoroutinesWithDeadlines_SeeDistinctTotals(t *testing.T) {
	k := launch(t, connect(t), "counter")
	const goroutines, calls = 64, 50
	totals := make(chan int64, goroutines*calls)
	var wg sync.WaitGroup
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < calls; i++ {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				m, err := k.Call(ctx, 0, delta(1))
				cancel()
				if err != nil {
					t.Error(err)
					return
				}
				totals <- total(t, m)
				m.Release()
			}
		}()
	}
	wg.Wait()
	close(totals)
	seen := make(map[int64]bool)
	for v := range totals {
		if seen[v] || v < 1 || v > goroutines*calls {
			t.Fatalf("total %d seen twice or out of range", v)
		}
		seen[v] = true
	}
	if len(seen) != goroutines*calls {
		t.Fatalf("%d distinct totals, want %d", len(seen), goroutines*calls)
	}
}

func TestCall_DeactivatedKernel_ErrTimeoutAtContextDeadline(t *testing.T) {
	k := launch(t, connect(t), "echo")
	if err := k.Deactivate(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	m, err := k.Call(ctx, 1, []byte("nobody answers"))
	elapsed := time.Since(start)
	if m != nil {
		t.Fatal("got a reply from a deactivated kernel")
	}
	wantErr(t, err, ringkernel.ErrTimeout)
	wantErr(t, err, context.DeadlineExceeded)
	if elapsed < 190*time.Millisecond || elapsed > 2*time.Second {
		t.Fatalf("Call gave up after %v, want about 200 ms", elapsed)
	}
}

func TestCall_ContextCancelled_ReturnsContextCanceledAtOnce(t *testing.T) {
	k := launch(t, connect(t), "echo")
	if err := k.Deactivate(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	_, err := k.Call(ctx, 1, []byte("abandoned"))
	if err != context.Canceled {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("cancelled Call returned after %v", d)
	}
	// Already cancelled: no request is made.
	if _, err := k.Call(ctx, 1, nil); err != context.Canceled {
		t.Fatalf("pre-cancelled Call: %v", err)
	}
	// The abandoned call's reply arrives once the kernel runs again and is
	// released in the background; the channel keeps working.
	if err := k.Activate(context.Background()); err != nil {
		t.Fatal(err)
	}
	m, err := k.Call(context.Background(), 2, []byte("after"))
	if err != nil || string(m.Bytes()) != "after" {
		t.Fatalf("Call after a cancelled one: %v", err)
	}
	m.Release()
}

func TestReceive_ContextCancelled_ReturnsContextCanceled(t *testing.T) {
	k := launch(t, connect(t), "echo")
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	if _, err := k.Receive(ctx); err != context.Canceled {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("cancelled Receive returned after %v", d)
	}
}

func TestCallAndSend_Oversized_ErrTooLarge(t *testing.T) {
	k := launch(t, connect(t), "echo")
	big := make([]byte, 1<<20)
	_, err := k.Call(context.Background(), 1, big)
	wantErr(t, err, ringkernel.ErrTooLarge)
	wantErr(t, k.Send(context.Background(), 1, big, 1), ringkernel.ErrTooLarge)
}

func TestSend_RingStaysFull_ErrQueueFullAtDeadline(t *testing.T) {
	k := launch(t, connect(t), "echo")
	if err := k.Deactivate(context.Background()); err != nil {
		t.Fatal(err)
	}
	payload := make([]byte, 60000)
	var err error
	for i := 0; i < 100 && err == nil; i++ { // a 1 MiB ring holds fewer than 20
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		err = k.Send(ctx, 1, payload, uint64(i))
		cancel()
	}
	wantErr(t, err, ringkernel.ErrQueueFull)
	wantErr(t, err, context.DeadlineExceeded)
}

func TestAttach_SharedInstance_ReachableFromAnotherSession(t *testing.T) {
	owner, other := connect(t), connect(t)
	ctx := context.Background()
	name := fmt.Sprintf("go-shared-counter-%d", time.Now().UnixNano())
	k, err := owner.Launch(ctx, "counter", &ringkernel.LaunchOptions{InstanceName: name})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	defer k.Terminate(ctx) // a shared instance outlives its launcher's session
	if err := k.Activate(ctx); err != nil {
		t.Fatal(err)
	}
	a, err := other.Attach(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if a.ID() != k.ID() {
		t.Fatalf("attached id %d, launched id %d", a.ID(), k.ID())
	}
	for i, h := range []*ringkernel.Kernel{k, a, k} {
		m, err := h.Call(ctx, 0, delta(10))
		if err != nil {
			t.Fatal(err)
		}
		if got := total(t, m); got != int64(10*(i+1)) {
			t.Fatalf("call %d: total %d, want %d", i, got, 10*(i+1))
		}
		m.Release()
	}
}

func TestClose_UseAfterwards_ErrClosedAndHeldMessagesReleased(t *testing.T) {
	c := connect(t)
	k := launch(t, c, "echo")
	m, err := k.Call(context.Background(), 1, []byte("held"))
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Close(); err != nil {
		t.Fatal(err)
	}
	if m.Bytes() != nil {
		t.Fatal("Close should release messages still held")
	}
	m.Release() // harmless after Close
	_, err = k.Call(context.Background(), 1, nil)
	wantErr(t, err, ringkernel.ErrClosed)
	wantErr(t, k.Send(context.Background(), 1, nil, 1), ringkernel.ErrClosed)
	if err := k.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
	k2 := launch(t, c, "echo")
	c.Close()
	wantErr(t, k2.Activate(context.Background()), ringkernel.ErrClosed)
	_, err = c.Launch(context.Background(), "echo", nil)
	wantErr(t, err, ringkernel.ErrClosed)
}

func TestClose_DuringBlockedReceive_ReturnsErrClosed(t *testing.T) {
	k := launch(t, connect(t), "echo")
	done := make(chan error, 1)
	go func() {
		_, err := k.Receive(context.Background())
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	start := time.Now()
	k.Close()
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Close waited %v for a blocked Receive", d)
	}
	wantErr(t, <-done, ringkernel.ErrClosed)
}

func TestServerKilled_CallsFailWithErrDisconnected(t *testing.T) {
	d, err := startDaemon()
	if err != nil {
		t.Fatal(err)
	}
	defer d.stop() // harmless once killed
	c, err := ringkernel.Connect(d.socket)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	k, err := c.Launch(ctx, "echo", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Activate(ctx); err != nil {
		t.Fatal(err)
	}
	if m, err := k.Call(ctx, 1, []byte("alive")); err != nil {
		t.Fatal(err)
	} else {
		m.Release()
	}

	// A Receive blocked in the library when the server dies.
	blocked := make(chan error, 1)
	go func() {
		_, err := k.Receive(ctx)
		blocked <- err
	}()
	time.Sleep(50 * time.Millisecond)
	d.kill()
	select {
	case err := <-blocked:
		wantErr(t, err, ringkernel.ErrDisconnected)
	case <-time.After(5 * time.Second):
		t.Fatal("blocked Receive did not notice the server's death")
	}
	_, err = k.Call(ctx, 1, []byte("dead"))
	wantErr(t, err, ringkernel.ErrDisconnected)
	wantErr(t, k.Activate(ctx), ringkernel.ErrDisconnected)
	_, err = c.ServerInfo(ctx)
	wantErr(t, err, ringkernel.ErrDisconnected)

	closed := make(chan struct{})
	go func() { c.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close hung after the server died")
	}
}
