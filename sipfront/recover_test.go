package sipfront

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/internal/panics"
)

// boomHook panics on any message carrying an X-Boom header.
func boomHook(raw []byte) {
	if strings.Contains(string(raw), "X-Boom:") {
		var xs []byte
		_ = xs[len(raw)] // index out of range
	}
}

func startWithHook(t *testing.T, policy string) *Server {
	t.Helper()
	s, _ := newTestServer(t, policy)
	SetTestHook(s, boomHook)
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestRecoverPanic injects a panic into the handling of one message, on
// UDP and TCP of the redirect server and on the proxy: that message gets
// no answer, the panic is counted, and the listener answers the next
// valid request (on TCP, on the same connection).
func TestRecoverPanic(t *testing.T) {
	s := startWithHook(t, testPolicy)
	before := panics.Count(panics.SIPFront)
	moved := func(want int64) {
		t.Helper()
		if got := panics.Count(panics.SIPFront) - before; got != want {
			t.Fatalf("tollgate_panics_recovered_total{component=sipfront} moved by %d, want %d", got, want)
		}
	}

	uac := newPeer(t)
	boom := strings.Replace(uac.invite("boom1", "sip:+12125550100@edge", "b1", ""), "Max-Forwards", "X-Boom: 1\r\nMax-Forwards", 1)
	uac.send(addr(s, "udp"), boom)
	if m, _ := uac.recv(300 * time.Millisecond); m != "" {
		t.Fatalf("the panicking datagram was answered: %q", firstLine(m))
	}
	moved(1)
	uac.send(addr(s, "udp"), uac.invite("ok1", "sip:+12125550100@edge", "b2", ""))
	if m, _ := uac.expect("SIP/2.0 ", 3*time.Second); !strings.HasPrefix(m, "SIP/2.0 302 ") {
		t.Fatalf("UDP after a recovered panic: %q, want 302", firstLine(m))
	}

	c, err := net.Dial("tcp", addr(s, "tcp"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(c)
	c.Write([]byte(strings.Replace(invite("boom2", "sip:+12125550100@edge", ""), "Max-Forwards", "X-Boom: 1\r\nMax-Forwards", 1)))
	c.Write([]byte(invite("ok2", "sip:+12125550100@edge", "")))
	msg := readResponse(t, r)
	if code, text := status(t, []byte(msg)); code != 302 || header(text, "Call-ID") != "ok2" {
		t.Fatalf("TCP after a recovered panic: %d for %s, want 302 for ok2", code, header(text, "Call-ID"))
	}
	moved(2)

	// The proxy reads through the same workers: a panic there is
	// recovered too, and the next INVITE is still forwarded.
	uas := newPeer(t)
	port := freeUDPPort(t)
	p := startWithHook(t, fmt.Sprintf(proxyPolicy, port, fmt.Sprintf("sip:127.0.0.1:%d", uas.port())))
	paddr := addr(p, "udp")
	uac.send(paddr, strings.Replace(uac.invite("boom3", "sip:+12125550100@tollgate", "b3", ""), "Max-Forwards", "X-Boom: 1\r\nMax-Forwards", 1))
	if m, _ := uas.recv(300 * time.Millisecond); m != "" {
		t.Fatalf("the panicking INVITE was forwarded: %q", firstLine(m))
	}
	moved(3)
	uac.send(paddr, uac.invite("ok3", "sip:+12125550100@tollgate", "b4", ""))
	m, _ := uas.expect("INVITE ", 3*time.Second)
	if header(m, "Call-ID") != "ok3" {
		t.Fatalf("proxy after a recovered panic forwarded %q", m)
	}
}
