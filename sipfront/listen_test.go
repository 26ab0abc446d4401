package sipfront

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"
)

func startServer(t *testing.T, policy string) *Server {
	t.Helper()
	s, _ := newTestServer(t, policy)
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func addr(s *Server, network string) string {
	for _, a := range s.Addrs() {
		if a.Network() == network {
			return a.String()
		}
	}
	return ""
}

func udpExchange(t *testing.T, to, req string) string {
	t.Helper()
	c, err := net.Dial("udp", to)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// rport makes the server answer the socket we send from.
	if _, err := c.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("no UDP response: %v", err)
	}
	return string(buf[:n])
}

func TestListenUDPAndTCP(t *testing.T) {
	s := startServer(t, testPolicy)
	resp := udpExchange(t, addr(s, "udp"), invite("u1", "sip:+12125550100@edge", ""))
	if code, _ := status(t, []byte(resp)); code != 302 {
		t.Errorf("UDP INVITE: %d, want 302\n%s", code, resp)
	}

	c, err := net.Dial("tcp", addr(s, "tcp"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(c)
	// Two requests in one write, then one split across writes: framing
	// must not depend on how the stream is cut.
	two := invite("t1", "sip:+25261234567@edge", "") + "\r\n" + invite("t2", "sip:+12125550100@edge", "")
	c.Write([]byte(two))
	third := invite("t3", "sip:+12125550100@edge", "")
	c.Write([]byte(third[:40]))
	time.Sleep(20 * time.Millisecond)
	c.Write([]byte(third[40:]))
	for _, want := range []struct {
		code   int
		callID string
	}{{403, "t1"}, {302, "t2"}, {302, "t3"}} {
		msg := readResponse(t, r)
		code, text := status(t, []byte(msg))
		if code != want.code || header(text, "Call-ID") != want.callID {
			t.Errorf("TCP response %d for %s, want %d\n%s", code, header(text, "Call-ID"), want.code, text)
		}
	}
}

func readResponse(t *testing.T, r *bufio.Reader) string {
	t.Helper()
	var b strings.Builder
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("reading response: %v (so far %q)", err, b.String())
		}
		b.WriteString(line)
		if line == "\r\n" {
			return b.String()
		}
	}
}
