package sipfront

import (
	"fmt"
	"net/netip"
	"strconv"
	"testing"
	"time"
)

// BenchmarkProxySilentPBX drives the proxy without sockets at 1,500
// INVITEs per simulated second toward a next hop that never answers:
// every 50 ms of simulated time, 75 INVITEs are handled (scan, screen,
// forward) and then the timers run (Timer A retransmissions, 408 at
// Timer B, the absorb period). Run it for at least 150,000 INVITEs
// (100 simulated seconds) so the table reaches its steady state of about
// 96,000 transactions (32 s to the 408, 32 s absorbing). Reported: wall
// time per INVITE (both cores, timers included) and the longest single
// timer run (max-tick-ms) and, once sharded, the longest the timers held
// one shard's lock (max-hold-ms; before, every reader waited on the one
// lock for the whole timer run).
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
	var longest time.Duration
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		ext := 1000 + i%5000
		req := invite("silent-"+strconv.Itoa(i), "sip:+1212555"+fmt.Sprintf("%04d", i%10000)+"@edge", "X-Extension: "+strconv.Itoa(ext)+"\r\n")
		w.handle(b.Context(), []byte(req), src, "udp")
		if i%75 == 74 {
			clock = clock.Add(50 * time.Millisecond)
			t0 := time.Now()
			p.onTick(clock)
			if d := time.Since(t0); d > longest {
				longest = d
			}
		}
	}
	b.ReportMetric(float64(longest.Microseconds())/1000, "max-tick-ms")
	reportHold(b, p)
	b.ReportMetric(float64(s.Stats().Forwarded.Load())/float64(max(s.Stats().Invites.Load(), 1)), "forwarded/invite")
}

func reportHold(b *testing.B, p *proxy) {
	b.ReportMetric(float64(p.longestHold.Microseconds())/1000, "max-hold-ms")
}
