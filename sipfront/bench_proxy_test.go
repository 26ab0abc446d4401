package sipfront

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"testing"
	"time"
)

// BenchmarkProxySilentPBX drives the proxy without sockets at 1,500
// INVITEs per simulated second toward a next hop that never answers:
// every 50 ms of simulated time, 75 INVITEs are handled (scan, screen,
// forward) and then the timers run (Timer A retransmissions, 408 at
// Timer B, Timer G: this caller never ACKs, the worst case, and the
// absorb period). Run it for 150,000 INVITEs (100 simulated seconds) so
// the table reaches its steady state of about 96,000 transactions (32 s
// to the 408, 32 s absorbing). Reported: wall time per INVITE (timers
// included), and the median and 99th percentile of how long the timers
// hold a lock readers need (p50-hold-ms, p99-hold-ms): the whole timer
// run under the one proxy lock before the table was sharded, one shard's
// share since. Medians, since on a shared machine the maximum is the
// scheduler's, not the code's.
func BenchmarkProxySilentPBX(b *testing.B) {
	eng, cfg := newEngine(b, fmt.Sprintf(proxyPolicy, 5070, "sip:127.0.0.1:5080")+"allow_unknown_tenants: true\n")
	s, err := New(Options{Config: &cfg.SIP, Engine: eng})
	if err != nil {
		b.Fatal(err)
	}
	p := s.proxy
	self := netip.MustParseAddrPort("127.0.0.1:5070")
	p.self["udp"], p.ours[self] = self, true
	p.ready.Store(true)
	p.sendFn = func(flow, []byte) error { return nil }
	clock := time.Now()
	p.now = func() time.Time { return clock }
	w := s.newWorker()
	var ticks []time.Duration
	holds := startHolds(p)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		ext := 1000 + i%5000
		req := invite("silent-"+strconv.Itoa(i), "sip:+1212555"+fmt.Sprintf("%04d", i%10000)+"@edge", "X-Extension: "+strconv.Itoa(ext)+"\r\n")
		w.handle(b.Context(), []byte(req), src, "udp")
		if i%75 == 74 {
			clock = clock.Add(50 * time.Millisecond)
			t0 := time.Now()
			p.onTick(clock)
			ticks = append(ticks, time.Since(t0))
		}
	}
	b.StopTimer()
	hs := holds()
	if hs == nil {
		hs = ticks // one lock: the whole run holds it
	}
	b.ReportMetric(quantileMS(ticks, 0.5), "p50-tick-ms")
	b.ReportMetric(quantileMS(hs, 0.5), "p50-hold-ms")
	b.ReportMetric(quantileMS(hs, 0.99), "p99-hold-ms")
	b.ReportMetric(float64(s.Stats().Forwarded.Load())/float64(max(s.Stats().Invites.Load(), 1)), "forwarded/invite")
}

// startHolds makes the proxy record its shard-lock holds.
func startHolds(p *proxy) func() []time.Duration {
	var hs []time.Duration
	p.holds = &hs
	return func() []time.Duration { return hs }
}

func quantileMS(ds []time.Duration, q float64) float64 {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return float64(s[int(q*float64(len(s)-1))].Microseconds()) / 1000
}
