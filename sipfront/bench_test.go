package sipfront

import (
	"strconv"
	"testing"
)

// BenchmarkRedirect is the redirect hot path without the socket: scan,
// map, screen (full chain) and write the 302.
func BenchmarkRedirect(b *testing.B) {
	s, _ := newTestServer(b, testPolicy)
	w := s.newWorker()
	reqs := make([][]byte, 1024)
	for i := range reqs {
		reqs[i] = []byte(invite("bench-"+strconv.Itoa(i), "sip:+12125550100@edge.example", "X-Extension: 1001\r\nUser-Agent: bench\r\n"))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		resp, _ := w.handle(b.Context(), reqs[i%len(reqs)], src, "udp")
		if len(resp) == 0 {
			b.Fatal("no response")
		}
	}
}

// BenchmarkScan is the scanner alone.
func BenchmarkScan(b *testing.B) {
	raw := invite("scan-1", "sip:+12125550100@edge.example", "X-Extension: 1001\r\n")
	var m message
	b.ReportAllocs()
	for b.Loop() {
		if err := m.scan(raw, 64); err != nil {
			b.Fatal(err)
		}
	}
}
