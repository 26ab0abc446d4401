package pipeline

import (
	"context"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/store"
)

// BenchmarkHeldCall reports the heap detection keeps per call let
// through and not yet ended (b.N calls held at once; live heap after a
// forced GC, less the pipeline's own before the calls): what a redirect
// server pays per call in its call_setup_s window besides the engine's
// call table.
//
//	go test -run '^$' -bench HeldCall -benchtime 200000x ./detect/pipeline
func BenchmarkHeldCall(b *testing.B) {
	p, det := testPipeline(b, "")
	defer p.Close()
	rec := p.Tee(nopRecorder{})
	t0 := time.Now().UTC().Truncate(time.Second)
	ids := make([]string, b.N)
	for i := range ids {
		ids[i] = "c5f1e0b2-9a3d-4e7f-8b6a-" + strconv.Itoa(1e11+i) // 36 bytes, as a UUID
	}
	ds := make([]store.Decision, 20000)
	for i := range ds {
		// Numbers, tenant and extension strings of their own, as a
		// decoded SIP request has.
		ds[i] = store.Decision{Tenant: string([]byte("acme")), Extension: strconv.Itoa(1000 + i%500),
			Caller: "+1212555" + strconv.Itoa(1000+i%9000), Callee: "+1646555" + strconv.Itoa(1000+i%9000), Direction: "outbound",
			SourceIP: "192.0.2." + strconv.Itoa(i%250), Enforced: "allow"}
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d := ds[i%len(ds)]
		d.CallID, d.Time = ids[i], t0.Add(time.Duration(i)*time.Millisecond)
		rec.Decision(d)
		if i%20000 == 19999 {
			if _, _, err := p.SubmitWait(context.Background(), nil); err != nil {
				b.Fatal(err)
			}
		}
	}
	if _, _, err := p.SubmitWait(context.Background(), nil); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	runtime.GC()
	runtime.ReadMemStats(&after)
	if det.Running() != b.N {
		b.Fatalf("running %d; want %d", det.Running(), b.N)
	}
	b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/float64(b.N), "heapB/call")
	runtime.KeepAlive(ids)
}

// BenchmarkTeeDelay reports how long a screened call takes to reach the
// detectors (tee → taken by the run goroutine) when calls come one at a
// time, b.N calls 0.5–10.5 ms apart: the delay the tick-or-batch queue
// adds to a start-time finding (at most teeTick when fewer than teeKick
// calls wait).
//
//	go test -run '^$' -bench TeeDelay -benchtime 1000x ./detect/pipeline
func BenchmarkTeeDelay(b *testing.B) {
	p, _ := testPipeline(b, "")
	defer p.Close()
	rec := p.Tee(nopRecorder{})
	t0 := time.Now().UTC().Truncate(time.Second)
	delays := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d := store.Decision{CallID: "delay-" + strconv.Itoa(i), Tenant: "acme", Extension: "1001", Caller: "+12125550100",
			Callee: "+16465550100", Direction: "outbound", SourceIP: "192.0.2.1", Enforced: "allow", Time: t0.Add(time.Duration(i) * time.Millisecond)}
		start := time.Now()
		rec.Decision(d)
		for p.teeTaken.Load() < int64(i+1) {
			time.Sleep(20 * time.Microsecond)
		}
		delays = append(delays, time.Since(start))
		// A random gap, so that calls meet the tick at every phase.
		time.Sleep(time.Duration(500+rand.IntN(10000)) * time.Microsecond)
	}
	b.StopTimer()
	slices.Sort(delays)
	ms := func(q float64) float64 { return float64(delays[int(q*float64(len(delays)-1))]) / 1e6 }
	b.ReportMetric(ms(0.5), "p50-ms")
	b.ReportMetric(ms(0.99), "p99-ms")
	b.ReportMetric(ms(1), "max-ms")
}
