package ringkernel_test

import (
	"context"
	"testing"
	"time"
)

// When rk_call times out, the reply that arrives later must be released on
// arrival: the reply ring only gives space back over a prefix of released
// records, so a stashed orphan would, after about one ring's worth of
// replies, leave the kernel unable to reply at all.
func TestCall_AfterATimedOutCall_ChannelKeepsWorking(t *testing.T) {
	k := launch(t, connect(t), "echo")
	ctx := context.Background()
	if err := k.Deactivate(ctx); err != nil {
		t.Fatal(err)
	}
	tctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	_, err := k.Call(tctx, 1, []byte("late"))
	cancel()
	wantErr(t, err, context.DeadlineExceeded)
	if err := k.Activate(ctx); err != nil {
		t.Fatal(err)
	}
	payload := make([]byte, 60000)
	for i := 0; i < 100; i++ { // about 6 MiB of replies through a 1 MiB ring
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		m, err := k.Call(cctx, 1, payload)
		cancel()
		if err != nil {
			t.Fatalf("call %d after a timed-out call: %v", i, err)
		}
		m.Release()
	}
}
