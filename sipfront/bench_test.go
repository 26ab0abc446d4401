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

// BenchmarkRedirectACK is the ACK a caller sends for the 302: scanned,
// checked and dropped (half the datagrams of a redirected call).
func BenchmarkRedirectACK(b *testing.B) {
	s, _ := newTestServer(b, testPolicy)
	w := s.newWorker()
	reqs := make([][]byte, 1024)
	for i := range reqs {
		id := "bench-" + strconv.Itoa(i)
		reqs[i] = []byte("ACK sip:+12125550100@edge.example SIP/2.0\r\n" +
			"Via: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bK-" + id + ";rport\r\n" +
			"Max-Forwards: 70\r\n" +
			"From: <sip:1001@pbx.example>;tag=a1\r\n" +
			"To: <sip:+12125550100@edge.example>;tag=tg123\r\n" +
			"Call-ID: " + id + "\r\n" +
			"CSeq: 1 ACK\r\n" +
			"Content-Length: 0\r\n\r\n")
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if resp, _ := w.handle(b.Context(), reqs[i%len(reqs)], src, "udp"); resp != nil {
			b.Fatal("an ACK was answered")
		}
	}
}
