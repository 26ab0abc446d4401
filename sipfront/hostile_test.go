package sipfront

import (
	"bytes"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/test/hostile"
)

// TestPROTOS sends the PROTOS-style suite of test/hostile (2,672 INVITEs
// with one anomaly each, each followed by its CANCEL teardown) at a
// running UDP listener. PROTOS's pass criterion: the target neither
// crashes nor wedges; a valid call succeeds after every 250 cases and at
// the end.
func TestPROTOS(t *testing.T) {
	s := startServer(t, testPolicy)
	to := addr(s, "udp")
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cases := hostile.PROTOS(hostile.Params{Target: to, Local: c.LocalAddr().String(), Transport: "UDP", Callee: "+12125550100", Caller: "1001"})
	if len(cases) < 2500 {
		t.Fatalf("%d PROTOS-style cases, want at least 2500", len(cases))
	}
	dst, _ := net.ResolveUDPAddr("udp", to)
	var answered atomic.Int64
	go func() {
		buf := make([]byte, 65536)
		for {
			if _, _, err := c.ReadFrom(buf); err != nil {
				return
			}
			answered.Add(1)
		}
	}()
	probe, err := net.Dial("udp", to)
	if err != nil {
		t.Fatal(err)
	}
	defer probe.Close()
	alive := func(n int) {
		t.Helper()
		req := invite("protos-probe-"+strconv.Itoa(n), "sip:+12125550100@edge", "")
		probe.Write([]byte(req))
		probe.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 4096)
		m, err := probe.Read(buf)
		if err != nil || !bytes.HasPrefix(buf[:m], []byte("SIP/2.0 302")) {
			t.Fatalf("after PROTOS-style case %d (%s) the listener no longer answers a valid call: %v %q", n, cases[min(n, len(cases)-1)].Group, err, buf[:m])
		}
	}
	start := time.Now()
	for i, cs := range cases {
		for _, pdu := range [][]byte{cs.Invite, cs.Teardown} {
			if _, err := c.WriteTo(pdu, dst); err != nil && !strings.Contains(err.Error(), "message too long") {
				t.Fatalf("case %d: %v", i, err)
			}
		}
		if i%250 == 0 {
			alive(i)
		}
	}
	alive(len(cases))
	t.Logf("%d PROTOS-style cases in %s; %d answers; %d malformed", len(cases), time.Since(start).Round(time.Millisecond), answered.Load(), s.Stats().Malformed.Load())
	if s.Stats().Messages.Load() < int64(len(cases)) {
		t.Errorf("listener read %d messages, want at least %d", s.Stats().Messages.Load(), len(cases))
	}
}

// TestBounds checks that oversized or flooding input is refused cheaply
// and that a stream cut anywhere still frames.
func TestBounds(t *testing.T) {
	s := startServer(t, testPolicy)
	// A header flood: more fields than max_headers → 400, not a crash.
	flood := invite("b1", "sip:+12125550100@edge", strings.Repeat("X-Flood: 1\r\n", 200))
	if code, _ := status(t, []byte(udpExchange(t, addr(s, "udp"), flood))); code != 400 {
		t.Errorf("header flood: %d, want 400", code)
	}
	// A datagram over max_message_bytes is dropped unread.
	before := s.Stats().Malformed.Load()
	huge := invite("b2", "sip:+12125550100@edge", "X-Huge: "+strings.Repeat("a", 20000)+"\r\n")
	c, _ := net.Dial("udp", addr(s, "udp"))
	c.Write([]byte(huge))
	c.Close()
	deadline := time.Now().Add(2 * time.Second)
	for s.Stats().Malformed.Load() == before && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if s.Stats().Malformed.Load() == before {
		t.Errorf("oversized datagram not counted as malformed")
	}
	// TCP: a header section that never ends is cut at max_message_bytes.
	tc, err := net.Dial("tcp", addr(s, "tcp"))
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	tc.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(tc, "INVITE sip:x@y SIP/2.0\r\n")
	var werr error
	for i := 0; i < 2000 && werr == nil; i++ {
		_, werr = fmt.Fprintf(tc, "X-Endless-%d: %s\r\n", i, strings.Repeat("z", 30))
	}
	buf := make([]byte, 100)
	if _, err := tc.Read(buf); err == nil {
		t.Errorf("endless TCP header section: connection still open")
	}
	// The listener still works.
	if code, _ := status(t, []byte(udpExchange(t, addr(s, "udp"), invite("b3", "sip:+12125550100@edge", "")))); code != 302 {
		t.Errorf("after hostile input: %d, want 302", code)
	}
}

// TestRateLimit: a source over its budget is dropped, the engine never
// sees the excess.
func TestRateLimit(t *testing.T) {
	// Loopback is a trusted proxy in testPolicy, and trusted proxies are
	// exempt: this policy trusts nobody.
	policy := strings.NewReplacer("requests_per_s: 0", "requests_per_s: 5\n    burst: 5",
		"    source_ip_header: X-Source-IP\n", "", "    trusted_proxies: [127.0.0.0/8]\n", "").Replace(testPolicy)
	s := startServer(t, policy)
	c, err := net.Dial("udp", addr(s, "udp"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := 0; i < 50; i++ {
		c.Write([]byte(invite("rl-"+strconv.Itoa(i), "sip:+12125550100@edge", "")))
	}
	got := 0
	buf := make([]byte, 4096)
	for {
		c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		if _, err := c.Read(buf); err != nil {
			break
		}
		got++
	}
	if got < 5 || got > 10 {
		t.Errorf("%d answers to 50 requests at 5/s with burst 5, want 5 to 10", got)
	}
	if s.Stats().Limited.Load() < 40 {
		t.Errorf("limited = %d, want ≥ 40", s.Stats().Limited.Load())
	}
}
