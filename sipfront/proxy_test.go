package sipfront

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// proxyPolicy is testPolicy in proxy mode; %d is the proxy's UDP port,
// %s the upstream.
const proxyPolicy = `
sip:
  mode: proxy
  listen: [udp:127.0.0.1:%d]
  upstream: %s
  map:
    tenant_header: X-Tenant
    extension_header: X-Extension
  limits:
    requests_per_s: 0
defaults:
  country: US
  timezone: America/New_York
  on_error: fail_closed
  destinations:
    default: deny
    countries: {"1": allow, "44": allow, "252": block}
  hours:
    after_hours_international: allow
    night_international: allow
`

func freeUDPPort(t *testing.T) int {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	return pc.LocalAddr().(*net.UDPAddr).Port
}

// peer is a SIP endpoint driven by the test on a loopback UDP socket.
type peer struct {
	t *testing.T
	c *net.UDPConn
}

func newPeer(t *testing.T) *peer {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &peer{t: t, c: c}
}

func (p *peer) port() int { return p.c.LocalAddr().(*net.UDPAddr).Port }

func (p *peer) send(to string, msg string) {
	p.t.Helper()
	a, _ := net.ResolveUDPAddr("udp", to)
	if _, err := p.c.WriteToUDP([]byte(msg), a); err != nil {
		p.t.Fatal(err)
	}
}

// recv returns the next message within d, or "" on timeout.
func (p *peer) recv(d time.Duration) (string, *net.UDPAddr) {
	buf := make([]byte, 8192)
	p.c.SetReadDeadline(time.Now().Add(d))
	n, from, err := p.c.ReadFromUDP(buf)
	if err != nil {
		return "", nil
	}
	return string(buf[:n]), from
}

// expect reads until a message starting with prefix arrives.
func (p *peer) expect(prefix string, d time.Duration) (string, *net.UDPAddr) {
	p.t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		m, from := p.recv(time.Until(deadline))
		if strings.HasPrefix(m, prefix) {
			return m, from
		}
	}
	p.t.Fatalf("no %q within %s", prefix, d)
	return "", nil
}

// peerInvite is an INVITE from the peer (its Via names its own port).
func (p *peer) invite(callID, ruri, branch, extra string) string {
	return fmt.Sprintf("INVITE %s SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-%s;rport\r\n"+
		"Max-Forwards: 70\r\n"+
		"From: <sip:1001@pbx.example>;tag=a1\r\n"+
		"To: <%s>\r\n"+
		"Call-ID: %s\r\n"+
		"CSeq: 1 INVITE\r\n"+
		"Contact: <sip:1001@127.0.0.1:%d>\r\n"+
		"%s"+
		"Content-Length: 0\r\n\r\n", ruri, p.port(), branch, ruri, callID, p.port(), extra)
}

// reply answers a request with code, copying its Vias, From, To (tagged),
// Call-ID and CSeq.
func reply(req string, code int, text string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "SIP/2.0 %d %s\r\n", code, text)
	for _, l := range strings.Split(req, "\r\n") {
		k, _, _ := strings.Cut(l, ":")
		switch strings.ToLower(k) {
		case "via", "from", "call-id", "cseq", "record-route":
			b.WriteString(l + "\r\n")
		case "to":
			b.WriteString(l + ";tag=uas1\r\n")
		}
	}
	b.WriteString("Content-Length: 0\r\n\r\n")
	return b.String()
}

func startProxy(t *testing.T, upstream func(port int) string) (*Server, string) {
	t.Helper()
	port := freeUDPPort(t)
	s := startServer(t, fmt.Sprintf(proxyPolicy, port, upstream(port)))
	return s, fmt.Sprintf("127.0.0.1:%d", port)
}

func TestProxyMaxForwardsAndProxyRequire(t *testing.T) {
	uas := newPeer(t)
	_, addr := startProxy(t, func(int) string { return fmt.Sprintf("sip:127.0.0.1:%d", uas.port()) })
	uac := newPeer(t)

	uac.send(addr, strings.Replace(uac.invite("mf0", "sip:+12125550100@tollgate", "b1", ""), "Max-Forwards: 70", "Max-Forwards: 0", 1))
	if m, _ := uac.expect("SIP/2.0 4", 3*time.Second); !strings.HasPrefix(m, "SIP/2.0 483 ") {
		t.Errorf("Max-Forwards 0: %q, want 483", firstLine(m))
	}
	uac.send(addr, uac.invite("pr1", "sip:+12125550100@tollgate", "b2", "Proxy-Require: foo, bar\r\n"))
	m, _ := uac.expect("SIP/2.0 4", 3*time.Second)
	if !strings.HasPrefix(m, "SIP/2.0 420 ") || header(m, "Unsupported") != "foo, bar" {
		t.Errorf("Proxy-Require: %q (Unsupported %q), want 420 naming foo, bar", firstLine(m), header(m, "Unsupported"))
	}
	// A BYE for a dialog tollgate does not know, to a host name: 481.
	uac.send(addr, "BYE sip:pbx@pbx.example SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:"+fmt.Sprint(uac.port())+";branch=z9hG4bK-b3;rport\r\n"+
		"Max-Forwards: 70\r\nFrom: <sip:1001@pbx.example>;tag=a1\r\nTo: <sip:x@pbx.example>;tag=zz\r\nCall-ID: nodialog\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n")
	if m, _ := uac.expect("SIP/2.0 4", 3*time.Second); !strings.HasPrefix(m, "SIP/2.0 481 ") {
		t.Errorf("BYE outside any dialog: %q, want 481", firstLine(m))
	}
	if m, _ := uas.recv(200 * time.Millisecond); m != "" {
		t.Errorf("the upstream got %q; want nothing", firstLine(m))
	}
}

// TestProxyLoop points the upstream at tollgate itself: the forwarded
// INVITE comes back with tollgate's own Via and must be refused with 482,
// which reaches the caller.
func TestProxyLoop(t *testing.T) {
	_, addr := startProxy(t, func(port int) string { return fmt.Sprintf("sip:127.0.0.1:%d", port) })
	uac := newPeer(t)
	uac.send(addr, uac.invite("loop1", "sip:+12125550100@tollgate", "l1", ""))
	m, _ := uac.expect("SIP/2.0 4", 5*time.Second)
	if !strings.HasPrefix(m, "SIP/2.0 482 ") {
		t.Fatalf("looping INVITE: %q, want 482", firstLine(m))
	}
	if n := strings.Count(m, "Via:"); n != 1 {
		t.Errorf("the caller's 482 has %d Vias, want only its own:\n%s", n, m)
	}
}

// TestProxyTransactions: INVITE retransmissions are absorbed (screened
// once) while tollgate retransmits to a silent upstream (Timer A); a
// non-2xx answer is ACKed by tollgate and repeated to the caller until it
// ACKs (Timer G); the call's end reaches the engine.
func TestProxyTransactions(t *testing.T) {
	uas := newPeer(t)
	s, addr := startProxy(t, func(int) string { return fmt.Sprintf("sip:127.0.0.1:%d", uas.port()) })
	uac := newPeer(t)
	inv := uac.invite("tx1", "sip:+12125550100@tollgate", "t1", "")
	uac.send(addr, inv)
	uac.expect("SIP/2.0 100 ", 3*time.Second)
	first, _ := uas.expect("INVITE ", 3*time.Second)
	uac.send(addr, inv) // the caller retransmits
	uac.expect("SIP/2.0 100 ", 3*time.Second)
	again, _ := uas.expect("INVITE ", 3*time.Second) // Timer A
	if header(first, "Via") != header(again, "Via") {
		t.Errorf("retransmitted INVITE has another Via:\n%s\n%s", header(first, "Via"), header(again, "Via"))
	}
	if n := s.Stats().Invites.Load(); n != 1 {
		t.Errorf("screened %d times, want once", n)
	}
	if got := header(first, "Max-Forwards"); got != "69" {
		t.Errorf("forwarded Max-Forwards %q, want 69", got)
	}
	if rr := header(first, "Record-Route"); rr != "<sip:"+addr+";transport=udp;lr>" {
		t.Errorf("Record-Route %q", rr)
	}

	uas.send(addr, reply(first, 486, "Busy Here"))
	ack, _ := uas.expect("ACK ", 3*time.Second)
	if !strings.Contains(ack, "CSeq: 1 ACK") || topBranch(ack) != topBranch(first) || !strings.Contains(header(ack, "To"), "tag=uas1") {
		t.Errorf("tollgate's ACK of the 486 is wrong:\n%s", ack)
	}
	busy, _ := uac.expect("SIP/2.0 486 ", 3*time.Second)
	if strings.Count(busy, "Via:") != 1 || !strings.Contains(busy, "branch=z9hG4bK-t1") {
		t.Errorf("the caller's 486 must carry only its own Via:\n%s", busy)
	}
	uac.expect("SIP/2.0 486 ", 3*time.Second) // Timer G: repeated until ACKed
	uac.send(addr, strings.Replace(strings.Replace(inv, "INVITE sip", "ACK sip", 1), "1 INVITE", "1 ACK", 1))
	time.Sleep(100 * time.Millisecond)
	for {
		m, _ := uac.recv(1500 * time.Millisecond)
		if m == "" {
			break
		}
		if strings.HasPrefix(m, "SIP/2.0 486") {
			t.Fatalf("486 repeated after the ACK")
		}
	}
	if n := s.eng.(interface{ LiveCalls() int }).LiveCalls(); n != 0 {
		t.Errorf("engine LiveCalls %d after the busy call, want 0", n)
	}
}

func topBranch(m string) string {
	v := header(m, "Via")
	_, br, _ := strings.Cut(v, "branch=")
	br, _, _ = strings.Cut(br, ";")
	return br
}

func firstLine(m string) string {
	l, _, _ := strings.Cut(m, "\r\n")
	return l
}

// TestProxyNoUnscreenedInvite: an INVITE dressed as in-dialog (a To tag)
// for a dialog tollgate does not carry must not reach the upstream
// unscreened, even when it names an address and tollgate's Route.
func TestProxyNoUnscreenedInvite(t *testing.T) {
	uas := newPeer(t)
	_, addr := startProxy(t, func(int) string { return fmt.Sprintf("sip:127.0.0.1:%d", uas.port()) })
	uac := newPeer(t)
	req := uac.invite("fake1", fmt.Sprintf("sip:+25261234567@127.0.0.1:%d", uas.port()), "f1", "Route: <sip:"+addr+";lr>\r\n")
	req = strings.Replace(req, "To: <sip:+25261234567@127.0.0.1:"+fmt.Sprint(uas.port())+">", "To: <sip:+25261234567@127.0.0.1>;tag=forged", 1)
	uac.send(addr, req)
	if m, _ := uac.expect("SIP/2.0 4", 3*time.Second); !strings.HasPrefix(m, "SIP/2.0 481 ") {
		t.Errorf("forged re-INVITE: %q, want 481", firstLine(m))
	}
	if m, _ := uas.recv(300 * time.Millisecond); m != "" {
		t.Fatalf("the upstream got an unscreened request: %q", firstLine(m))
	}
}
