package sipfront

import (
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/attack"
)

// recorder keeps what the front end reports (the guard's side is tested
// end to end with SIPVicious in test/sipvicious_test.go).
type recorder struct {
	mu  sync.Mutex
	evs []attack.Event
}

func (r *recorder) Report(ev attack.Event) {
	r.mu.Lock()
	r.evs = append(r.evs, ev)
	r.mu.Unlock()
}

func (r *recorder) take() []attack.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.evs
	r.evs = nil
	return out
}

func (r *recorder) wait(t *testing.T, n int) []attack.Event {
	t.Helper()
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		r.mu.Lock()
		got := len(r.evs)
		r.mu.Unlock()
		if got >= n {
			break
		}
	}
	return r.take()
}

func request(method, ruri, to, extra string) string {
	return fmt.Sprintf("%s %s SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bK-r%d;rport\r\n"+
		"Max-Forwards: 70\r\nFrom: <sip:probe@example.net>;tag=p1\r\nTo: <%s>\r\n"+
		"Call-ID: rep-%d@test\r\nCSeq: 1 %s\r\n%sContent-Length: 0\r\n\r\n", method, ruri, time.Now().UnixNano(), to, time.Now().UnixNano(), method, extra)
}

// TestReportRedirect: what the redirect listener reports for each kind of
// probe, and what it leaves alone.
func TestReportRedirect(t *testing.T) {
	s, _ := newTestServer(t, testPolicy+"allow_unknown_tenants: false\n")
	rec := &recorder{}
	s.reporter = rec
	for _, c := range []struct {
		name, msg  string
		kind, user string // "" kind: nothing reported
		ip         string
	}{
		{"keep-alive OPTIONS to the host", request("OPTIONS", "sip:tollgate.example", "sip:tollgate.example", ""), "", "", ""},
		{"OPTIONS probing a user", request("OPTIONS", "sip:100@tollgate.example", "sip:100@tollgate.example", ""), attack.KindScan, "100", "127.0.0.1"},
		{"REGISTER", request("REGISTER", "sip:tollgate.example", "sip:200@tollgate.example", ""), attack.KindUnknownAccount, "200", "127.0.0.1"},
		{"REGISTER with credentials: no account locked", request("REGISTER", "sip:tollgate.example", "sip:200@tollgate.example",
			"Authorization: Digest username=\"200\", realm=\"x\", nonce=\"n\", uri=\"sip:tollgate.example\", response=\"00\"\r\n"), attack.KindAuthFailure, "", "127.0.0.1"},
		{"scanner User-Agent, reported once", request("REGISTER", "sip:tollgate.example", "sip:300@tollgate.example", "User-Agent: friendly-scanner\r\n"), attack.KindScannerUA, "", "127.0.0.1"},
		{"another scanner, case-insensitive", request("OPTIONS", "sip:tollgate.example", "sip:tollgate.example", "User-Agent: SIPVicious 0.3\r\n"), attack.KindScannerUA, "", "127.0.0.1"},
		{"INVITE for an unknown tenant, behind a trusted proxy", invite("unk1", "sip:+12125550100@tollgate.example", "X-Tenant: nosuch\r\nX-Source-IP: 198.51.100.7\r\n"),
			attack.KindUnknownAccount, "nosuch", "198.51.100.7"},
		{"allowed INVITE", invite("ok1", "sip:+12125550100@tollgate.example", ""), "", "", ""},
		{"in-dialog OPTIONS to a user", strings.Replace(request("OPTIONS", "sip:100@tollgate.example", "sip:100@tollgate.example", ""), "tollgate.example>", "tollgate.example>;tag=x", 1), "", "", ""},
	} {
		handle(s, c.msg)
		evs := rec.take()
		if c.kind == "" {
			if len(evs) != 0 {
				t.Errorf("%s: reported %+v; want nothing", c.name, evs)
			}
			continue
		}
		if len(evs) != 1 {
			t.Errorf("%s: reported %d events %+v; want one", c.name, len(evs), evs)
			continue
		}
		ev := evs[0]
		if ev.Kind != c.kind || ev.Username != c.user || ev.IP.String() != c.ip || ev.Source != attack.SourceSIPFront {
			t.Errorf("%s: reported %s user %q from %s by %s; want %s user %q from %s by sipfront", c.name, ev.Kind, ev.Username, ev.IP, ev.Source, c.kind, c.user, c.ip)
		}
	}
}

// TestReportSpoofedSourceHeader: an untrusted sender naming someone
// else in X-Source-IP is charged itself; the named address is not.
func TestReportSpoofedSourceHeader(t *testing.T) {
	s, _ := newTestServer(t, testPolicy)
	rec := &recorder{}
	s.reporter = rec
	w := s.newWorker()
	w.handle(t.Context(), []byte(request("REGISTER", "sip:tollgate.example", "sip:200@tollgate.example", "X-Source-IP: 198.51.100.99\r\n")),
		netip.MustParseAddrPort("203.0.113.5:5060"), "udp")
	evs := rec.take()
	if len(evs) != 1 || evs[0].IP.String() != "203.0.113.5" {
		t.Errorf("spoofed X-Source-IP from an untrusted sender: reported %+v; want one event charged to 203.0.113.5", evs)
	}
}

// TestReportProxy: in proxy mode the next hop knows its users: its 404
// is a call to a missing extension, its 407 to an INVITE with credentials
// a failed authentication of that user, and to one without a challenge.
func TestReportProxy(t *testing.T) {
	uas := newPeer(t)
	port := freeUDPPort(t)
	eng, cfg := newEngine(t, fmt.Sprintf(proxyPolicy, port, fmt.Sprintf("sip:127.0.0.1:%d", uas.port())))
	rec := &recorder{}
	s, err := New(Options{Config: &cfg.SIP, Engine: eng, Reporter: rec})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	uac := newPeer(t)
	for i, c := range []struct {
		code       int
		extra      string
		kind, user string
	}{
		{404, "", attack.KindNoRoute, ""},
		{407, "Proxy-Authorization: Digest username=\"1001\", realm=\"pbx\", nonce=\"n\", uri=\"sip:x\", response=\"0\"\r\n", attack.KindAuthFailure, "1001"},
		{407, "", attack.KindChallenge, ""},
		{486, "", "", ""},
	} {
		uac.send(addr, uac.invite(fmt.Sprintf("rp%d", i), "sip:+12125550100@tollgate", fmt.Sprintf("rp%d", i), c.extra))
		inv, _ := uas.expect("INVITE ", 3*time.Second)
		uas.send(addr, reply(inv, c.code, "Answer"))
		uac.expect(fmt.Sprintf("SIP/2.0 %d ", c.code), 3*time.Second)
		evs := rec.wait(t, 1)
		if c.kind == "" {
			if len(evs) != 0 {
				t.Errorf("%d: reported %+v; want nothing", c.code, evs)
			}
			continue
		}
		if len(evs) != 1 || evs[0].Kind != c.kind || evs[0].Username != c.user || evs[0].IP.String() != "127.0.0.1" {
			t.Errorf("%d %q: reported %+v; want one %s of user %q from 127.0.0.1", c.code, c.extra, evs, c.kind, c.user)
		}
	}
}

// TestReportProxyTenant: a failed login's event names the tenant only
// when a trusted proxy named it; a caller naming its own tenant (a
// guesser spreading guesses over tenants, each under the threshold) gets
// an event that names none, so its guesses count together.
func TestReportProxyTenant(t *testing.T) {
	for _, c := range []struct {
		name, policy, want string
	}{
		{"caller-named tenant", proxyPolicy, ""},
		{"tenant named by a trusted proxy", strings.Replace(proxyPolicy, "    tenant_header: X-Tenant\n", "    tenant_header: X-Tenant\n    trusted_proxies: [127.0.0.1]\n", 1), "acme"},
	} {
		t.Run(c.name, func(t *testing.T) {
			uas := newPeer(t)
			port := freeUDPPort(t)
			eng, cfg := newEngine(t, fmt.Sprintf(c.policy, port, fmt.Sprintf("sip:127.0.0.1:%d", uas.port())))
			rec := &recorder{}
			s, err := New(Options{Config: &cfg.SIP, Engine: eng, Reporter: rec})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Start(t.Context()); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			addr := fmt.Sprintf("127.0.0.1:%d", port)
			uac := newPeer(t)
			uac.send(addr, uac.invite("rt1", "sip:+12125550100@tollgate", "rt1",
				"X-Tenant: acme\r\nProxy-Authorization: Digest username=\"1001\", realm=\"pbx\", nonce=\"n\", uri=\"sip:x\", response=\"0\"\r\n"))
			inv, _ := uas.expect("INVITE ", 3*time.Second)
			uas.send(addr, reply(inv, 407, "Proxy Authentication Required"))
			uac.expect("SIP/2.0 407 ", 3*time.Second)
			evs := rec.wait(t, 1)
			if len(evs) != 1 || evs[0].Kind != attack.KindAuthFailure || evs[0].Username != "1001" || evs[0].Tenant != c.want {
				t.Fatalf("reported %+v; want one auth_failure of 1001 naming tenant %q", evs, c.want)
			}
		})
	}
}

// FuzzReport feeds arbitrary requests, from a trusted proxy and from an
// untrusted address, through the redirect path with a reporter: nothing
// may panic and every event must be one the guard can take (an address,
// a known kind, bounded fields).
func FuzzReport(f *testing.F) {
	f.Add([]byte(request("REGISTER", "sip:h", "sip:200@h", "Authorization: Digest username=\"200\", realm=\"r\"\r\n")))
	f.Add([]byte(request("OPTIONS", "sip:%31%30%30@h", "sip:h", "User-Agent: friendly-scanner\r\n")))
	f.Add([]byte(invite("fz", "sip:+12125550100@h", "X-Tenant: nosuch\r\nX-Source-IP: [::ffff:192.0.2.1]:5060\r\n")))
	s, _ := newTestServer(f, testPolicy+"allow_unknown_tenants: false\n")
	rec := &recorder{}
	s.reporter = rec
	w := s.newWorker()
	kinds := map[string]bool{attack.KindScan: true, attack.KindScannerUA: true, attack.KindUnknownAccount: true, attack.KindAuthFailure: true}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, from := range []netip.AddrPort{src, netip.MustParseAddrPort("203.0.113.5:5060")} {
			w.handle(t.Context(), b, from, "udp")
			for _, ev := range rec.take() {
				if !ev.IP.IsValid() || !kinds[ev.Kind] || ev.Source != attack.SourceSIPFront || len(ev.Username) > 128 || len(ev.UserAgent) > 256 ||
					len(ev.Dialed) > 256 || len(ev.Text) > 256 {
					t.Fatalf("unfit event %+v", ev)
				}
				if from != src && ev.IP != from.Addr() {
					t.Fatalf("an untrusted sender's event charged to %s", ev.IP)
				}
				if from != src && ev.Tenant != "" {
					t.Fatalf("an untrusted sender named the tenant of its event: %+v", ev)
				}
			}
		}
	})
}
