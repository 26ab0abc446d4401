package quality

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/internal/panics"
)

// TestHEPRecoverPanic injects a panic into the handling of one HEP
// datagram sent over real UDP: it is counted, and the listener goes on
// to aggregate the next valid report.
func TestHEPRecoverPanic(t *testing.T) {
	w := New(testConfig(t, ""), nil, nil)
	w.testHook = func(b []byte) {
		if bytes.Contains(b, []byte("boom-call")) {
			panic("injected")
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, err := w.ListenHEP(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("udp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	before := panics.Count(panics.Quality)
	pkt := func(id string) []byte {
		return EncodeHEP(&HEP{Src: netip.MustParseAddrPort("192.0.2.10:30001"), Dst: netip.MustParseAddrPort("127.0.0.1:30001"), Time: time.Now().UTC(), Type: HEPProtoRTCP, CallID: id, Payload: rr(1, 2, 13, 40, 80, 0, 0)})
	}
	conn.Write(pkt("boom-call"))
	conn.Write(pkt("after-boom"))
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, ok := w.Call("after-boom"); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the HEP listener stopped after a recovered panic")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, ok := w.Call("boom-call"); ok {
		t.Error("the panicking packet was aggregated")
	}
	if got := panics.Count(panics.Quality) - before; got != 1 {
		t.Errorf("tollgate_panics_recovered_total{component=quality} moved by %d, want 1", got)
	}
}

// FuzzProbeReply: the SIP probe reads the probed peer's answers (status
// line, headers, SDP); any reply parses without panicking, and a media
// address it accepts has a real port.
func FuzzProbeReply(f *testing.F) {
	f.Add([]byte("SIP/2.0 200 OK\r\nTo: <sip:a@b>;tag=1\r\nCSeq: 1 INVITE\r\nContent-Type: application/sdp\r\n\r\nv=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 4000 RTP/AVP 0\r\n"))
	f.Add([]byte("SIP/2.0 20"))
	f.Add([]byte("SIP/2.0 200 OK\r\n\r\nc=IN IP4 \t\r\nm=audio \t\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		_ = statusCode(b)
		_ = header(b, "To")
		a, err := sdpMedia(b)
		if err == nil && (a.Port <= 0 || a.Port > 65535) {
			t.Fatalf("media port %d", a.Port)
		}
	})
}
