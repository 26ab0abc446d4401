package sipfront

import (
	"bufio"
	"errors"
	"net"
	"strings"
	"testing"
	"time"
)

// connPolicy is testPolicy without trusted proxies (they are exempt from
// the per-source cap) and with small connection limits; extra lines go
// under sip.limits.
func connPolicy(extra string) string {
	p := strings.Replace(testPolicy, "    source_ip_header: X-Source-IP\n    trusted_proxies: [127.0.0.0/8]\n", "", 1)
	return strings.Replace(p, "    requests_per_s: 0\n", "    requests_per_s: 0\n"+extra, 1)
}

func dialFrom(t *testing.T, from, to string) (net.Conn, error) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 3 * time.Second}
	return d.Dial("tcp", to)
}

// closedByServer reports whether the server has closed c (EOF or reset
// within d).
func closedByServer(c net.Conn, d time.Duration) bool {
	c.SetReadDeadline(time.Now().Add(d))
	_, err := c.Read(make([]byte, 1))
	var ne net.Error
	return err != nil && !(errors.As(err, &ne) && ne.Timeout())
}

// TestConnectionsPerSource: one address opening connections by the
// dozen keeps only its share; a caller from another address still gets
// its INVITE answered on a listener whose total would otherwise be full.
func TestConnectionsPerSource(t *testing.T) {
	s := startServer(t, connPolicy("    max_connections: 16\n    max_connections_per_source: 4\n"))
	to := addr(s, "tcp")
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := 0; i < 40; i++ {
		c, err := dialFrom(t, "127.0.0.1", to)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	// Those beyond the cap are closed by the server; four stay open.
	open := 0
	for _, c := range conns {
		if !closedByServer(c, 200*time.Millisecond) {
			open++
		}
	}
	if open != 4 {
		t.Errorf("%d of 40 connections from one source stayed open; want 4", open)
	}
	if n := s.Stats().PerSourceRefused.Load(); n != 36 {
		t.Errorf("refused at the per-source cap: %d; want 36", n)
	}

	c, err := dialFrom(t, "127.0.0.2", to)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte(invite("other1", "sip:+12125550100@edge", ""))); err != nil {
		t.Fatal(err)
	}
	code, text := status(t, []byte(readResponse(t, bufio.NewReader(c))))
	if code != 302 {
		t.Errorf("INVITE from another source: %d, want 302\n%s", code, text)
	}

	// Closing the flood gives the slots back.
	for _, c := range conns {
		c.Close()
	}
	conns = nil
	var again net.Conn
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if again, err = dialFrom(t, "127.0.0.1", to); err != nil {
			t.Fatal(err)
		}
		if !closedByServer(again, 100*time.Millisecond) {
			break
		}
		again.Close()
		if time.Now().After(deadline) {
			t.Fatal("the source's slots were not given back after its connections closed")
		}
	}
	again.Close()
}

// TestHandshakeTimeout: a connection that never sends a complete message
// (here: half an INVITE, then silence; or nothing at all) is closed after
// the handshake timeout, long before the idle timeout; one that spoke
// keeps the idle timeout.
func TestHandshakeTimeout(t *testing.T) {
	s := startServer(t, connPolicy("    handshake_timeout_s: 1\n    idle_timeout_s: 120\n"))
	to := addr(s, "tcp")
	silent, err := dialFrom(t, "127.0.0.1", to)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	half, err := dialFrom(t, "127.0.0.1", to)
	if err != nil {
		t.Fatal(err)
	}
	defer half.Close()
	half.Write([]byte(invite("half1", "sip:+12125550100@edge", "")[:60]))
	spoke, err := dialFrom(t, "127.0.0.1", to)
	if err != nil {
		t.Fatal(err)
	}
	defer spoke.Close()
	spoke.SetWriteDeadline(time.Now().Add(5 * time.Second))
	spoke.Write([]byte(invite("spoke1", "sip:+12125550100@edge", "")))
	spoke.SetReadDeadline(time.Now().Add(5 * time.Second))
	if code, _ := status(t, []byte(readResponse(t, bufio.NewReader(spoke)))); code != 302 {
		t.Fatalf("INVITE: %d, want 302", code)
	}
	for name, c := range map[string]net.Conn{"silent": silent, "half a message": half} {
		if !closedByServer(c, 10*time.Second) {
			t.Errorf("%s connection still open 10 s after a 1 s handshake timeout", name)
		}
	}
	if closedByServer(spoke, 2*time.Second) {
		t.Errorf("a connection that completed a message was closed within 2 s (idle timeout 120 s)")
	}
}
