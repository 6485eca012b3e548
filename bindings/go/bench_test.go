package ringkernel_test

import (
	"bytes"
	"context"
	"sort"
	"testing"
	"time"

	"ringkernel"
	"ringkernel/internal/cbaseline"
)

// BenchmarkEchoCall64 measures a 64-byte echo round trip: C (the
// baseline, rk_call from a C loop), then this binding with
// context.Background and with a cancellable context. Run with
//
//	bash run-tests.sh -run '^$' -bench EchoCall64
//
// and compare the ns/op lines of one run.
func BenchmarkEchoCall64(b *testing.B) {
	b.Run("C", func(b *testing.B) {
		e, err := cbaseline.Open(server.socket)
		if err != nil {
			b.Fatal(err)
		}
		defer e.Close()
		if err := e.Calls(1000); err != nil { // warm up
			b.Fatal(err)
		}
		b.ResetTimer()
		if err := e.Calls(b.N); err != nil {
			b.Fatal(err)
		}
	})
	goCall := func(b *testing.B, ctx context.Context) {
		c, err := ringkernel.Connect(server.socket)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		k, err := c.Launch(context.Background(), "echo", nil)
		if err != nil {
			b.Fatal(err)
		}
		if err := k.Activate(context.Background()); err != nil {
			b.Fatal(err)
		}
		payload := bytes.Repeat([]byte{0x5a}, 64)
		call := func() {
			m, err := k.Call(ctx, 1, payload)
			if err != nil {
				b.Fatal(err)
			}
			if !bytes.Equal(m.Bytes(), payload) {
				b.Fatal("echo changed the payload")
			}
			m.Release()
		}
		for i := 0; i < 1000; i++ {
			call()
		}
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			call()
		}
	}
	b.Run("Go", func(b *testing.B) { goCall(b, context.Background()) })
	b.Run("Go/timeout-ctx", func(b *testing.B) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
		defer cancel()
		goCall(b, ctx)
	})
}

// BenchmarkEchoCall64Paired runs the same round trip in alternating short
// batches (C, Go, Go with a deadline context) and reports the median ns per
// call of each, and the median of the per-round difference Go - C. On a
// busy machine the plain sub-benchmarks above drift with the load between
// them; pairing the batches cancels most of that drift. The best batch of
// each is reported too.
func BenchmarkEchoCall64Paired(b *testing.B) {
	const batch = 2000
	e, err := cbaseline.Open(server.socket)
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	c, err := ringkernel.Connect(server.socket)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	k, err := c.Launch(context.Background(), "echo", nil)
	if err != nil {
		b.Fatal(err)
	}
	if err := k.Activate(context.Background()); err != nil {
		b.Fatal(err)
	}
	payload := bytes.Repeat([]byte{0x5a}, 64)
	goBatch := func(ctx context.Context) time.Duration {
		start := time.Now()
		for i := 0; i < batch; i++ {
			m, err := k.Call(ctx, 1, payload)
			if err != nil {
				b.Fatal(err)
			}
			m.Release()
		}
		return time.Since(start)
	}
	cBatch := func() time.Duration {
		start := time.Now()
		if err := e.Calls(batch); err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	cBatch() // warm up both
	goBatch(context.Background())

	rounds := b.N/batch + 1
	var cs, gos, ctxs, diffs []float64
	b.ResetTimer()
	for r := 0; r < rounds; r++ {
		tc, tg, tx := cBatch(), goBatch(context.Background()), goBatch(ctx)
		cs = append(cs, float64(tc.Nanoseconds())/batch)
		gos = append(gos, float64(tg.Nanoseconds())/batch)
		ctxs = append(ctxs, float64(tx.Nanoseconds())/batch)
		diffs = append(diffs, float64(tg.Nanoseconds()-tc.Nanoseconds())/batch)
	}
	b.StopTimer()
	b.ReportMetric(median(cs), "c-ns/call")
	b.ReportMetric(median(gos), "go-ns/call")
	b.ReportMetric(median(ctxs), "go-ctx-ns/call")
	b.ReportMetric(median(diffs), "go-minus-c-ns/call")
	b.ReportMetric(cs[0], "c-best-ns/call") // sorted by median
	b.ReportMetric(gos[0], "go-best-ns/call")
}

func median(v []float64) float64 {
	sort.Float64s(v)
	return v[len(v)/2]
}
