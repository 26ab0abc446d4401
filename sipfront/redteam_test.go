package sipfront

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// TestRedTeamServiceCodeDodge sends, over UDP to a live redirect
// listener, INVITEs whose Request-URI wraps a blocked number in a
// service-code shape a PBX still dials: a '#' that ends dialing, GSM
// call forwarding to the number (**21*N#), a NANP code with a '#'. Each
// must be refused like the bare number, never redirected upstream.
func TestRedTeamServiceCodeDodge(t *testing.T) {
	s := startServer(t, testPolicy)
	to := addr(s, "udp")
	for i, ruri := range []string{
		"sip:+252612345678@edge", // the bare number, for reference
		"sip:011252612345678%23@edge",
		"sip:011252612345678#@edge",
		"sip:011252612345678*@edge",
		"sip:**21*011252612345678%23@edge",
		"sip:*72011252612345678%23@edge",
		"sip:%2331%23011252612345678%23@edge",
		"sip:*1*2*011252612345678@edge",
		"sip:1-900-555-1234%23@edge;user=phone",
		"tel:011252612345678%23",
	} {
		resp := udpExchange(t, to, invite("svc"+strings.Repeat("x", i), ruri, ""))
		if code, _ := status(t, []byte(resp)); code != 403 {
			t.Errorf("%s: %d, want 403 (blocked destination)\n%s", ruri, code, resp)
		}
	}
	// Legitimate feature codes still go through.
	for _, ruri := range []string{"sip:*72@edge", "sip:*%2306%23@edge", "sip:%23%23002%23@edge"} {
		resp := udpExchange(t, to, invite("feat"+ruri, ruri, ""))
		if code, _ := status(t, []byte(resp)); code != 302 {
			t.Errorf("%s: %d, want 302 (a feature code)\n%s", ruri, code, resp)
		}
	}
}

// TestRedTeamForgedBye: in proxy mode the caller must not be able to end
// tollgate's record of a call (its concurrency slot, spend and maximum
// duration) while the call goes on at the callee. Three forgeries over
// UDP after a real answered call: a BYE dressed as the callee's (its
// tags swapped), which tollgate would send back to the caller, who
// answers it itself; a BYE with a made-up From tag; and a BYE the callee
// refuses (500, its CSeq out of order). After each the call must still
// be live; a genuine BYE the callee accepts then ends it.
func TestRedTeamForgedBye(t *testing.T) {
	uas := newPeer(t)
	s, addr := startProxy(t, func(int) string { return fmt.Sprintf("sip:127.0.0.1:%d", uas.port()) })
	uac := newPeer(t)
	live := func() int {
		time.Sleep(150 * time.Millisecond) // events are applied after the shard's lock
		return s.eng.(interface{ LiveCalls() int }).LiveCalls()
	}
	uasURI := fmt.Sprintf("sip:uas@127.0.0.1:%d", uas.port())
	call := func(id string) {
		t.Helper()
		uac.send(addr, uac.invite(id, "sip:+12125550100@tollgate", id, ""))
		fwd, _ := uas.expect("INVITE ", 3*time.Second)
		ok := strings.Replace(reply(fwd, 200, "OK"), "Content-Length", "Contact: <"+uasURI+">\r\nContent-Length", 1)
		uas.send(addr, ok)
		uac.expect("SIP/2.0 200 ", 3*time.Second)
	}
	bye := func(id, branch, fromTag, toTag string, cseq int) string {
		return fmt.Sprintf("BYE %s SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-%s;rport\r\nRoute: <sip:%s;lr>\r\n"+
			"Max-Forwards: 70\r\nFrom: <sip:x@tollgate>;tag=%s\r\nTo: <sip:y@tollgate>;tag=%s\r\nCall-ID: %s\r\nCSeq: %d BYE\r\nContent-Length: 0\r\n\r\n",
			uasURI, uac.port(), branch, addr, fromTag, toTag, id, cseq)
	}
	// Whatever reaches the caller is answered 200 by the caller itself.
	answerAll := func(p *peer, d time.Duration) (got []string) {
		for {
			m, _ := p.recv(d)
			if m == "" {
				return got
			}
			got = append(got, firstLine(m))
			if strings.HasPrefix(m, "BYE ") {
				p.send(addr, reply(m, 200, "OK"))
			}
		}
	}

	call("fb1")
	if n := live(); n != 1 {
		t.Fatalf("after the answer: %d live calls, want 1", n)
	}
	// 1. The callee's tags, sent by the caller.
	uac.send(addr, bye("fb1", "f1", "uas1", "a1", 2))
	answerAll(uac, 500*time.Millisecond)
	if n := live(); n != 1 {
		t.Errorf("a BYE forged as the callee's, answered by the caller: %d live calls, want 1 (the callee never hung up)", n)
	}
	// 2. A From tag that is neither side's.
	uac.send(addr, bye("fb1", "f2", "zzz", "uas1", 3))
	answerAll(uac, 500*time.Millisecond)
	if n := live(); n != 1 {
		t.Errorf("a BYE with a made-up From tag: %d live calls, want 1", n)
	}
	if m, _ := uas.recv(200 * time.Millisecond); strings.HasPrefix(m, "BYE ") {
		// Reaching the callee is harmless only if it refuses; answer
		// as a UAS would.
		uas.send(addr, reply(m, 481, "Call/Transaction Does Not Exist"))
	}
	// 3. The right tags, refused by the callee.
	uac.send(addr, bye("fb1", "f3", "a1", "uas1", 1))
	m, _ := uas.expect("BYE ", 3*time.Second)
	uas.send(addr, reply(m, 500, "Server Internal Error"))
	uac.expect("SIP/2.0 500 ", 3*time.Second)
	if n := live(); n != 1 {
		t.Errorf("a BYE the callee refused: %d live calls, want 1", n)
	}
	// The genuine BYE ends it.
	uac.send(addr, bye("fb1", "f4", "a1", "uas1", 4))
	m, _ = uas.expect("BYE ", 3*time.Second)
	uas.send(addr, reply(m, 200, "OK"))
	uac.expect("SIP/2.0 200 ", 3*time.Second)
	if n := live(); n != 0 {
		t.Errorf("after the callee accepted the caller's BYE: %d live calls, want 0", n)
	}

	// A BYE from the callee ends a call too.
	call("fb2")
	uas.send(addr, fmt.Sprintf("BYE sip:1001@127.0.0.1:%d SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-u5;rport\r\n"+
		"Max-Forwards: 70\r\nFrom: <sip:y@tollgate>;tag=uas1\r\nTo: <sip:1001@pbx.example>;tag=a1\r\nCall-ID: fb2\r\nCSeq: 1 BYE\r\nContent-Length: 0\r\n\r\n",
		uac.port(), uas.port()))
	m, _ = uac.expect("BYE ", 3*time.Second)
	uac.send(addr, reply(m, 200, "OK"))
	uas.expect("SIP/2.0 200 ", 3*time.Second)
	if n := live(); n != 0 {
		t.Errorf("after the callee's BYE: %d live calls, want 0", n)
	}
}

// TestRedTeamPhoneContext: a local number with a global phone-context
// (RFC 3966) is a number of that context, and the 302 passes the context
// on to whoever dials it; screening it in the tenant's own dial plan
// let "9123456789;phone-context=+91" (India, denied) through as a US
// number. Sent over UDP to a live redirect listener.
func TestRedTeamPhoneContext(t *testing.T) {
	s := startServer(t, testPolicy)
	to := addr(s, "udp")
	for _, c := range []struct {
		ruri string
		want int
	}{
		{"sip:9123456789;phone-context=+91@edge;user=phone", 403},
		{"sip:9123456789;phone-context=%2B91@edge;user=phone", 403},
		{"tel:9123456789;phone-context=+91", 403},
		{"sip:612345678;phone-context=+252@edge;user=phone", 403},
		{"sip:2125550100;phone-context=+1@edge;user=phone", 302},
		{"sip:2125550100;phone-context=pbx.example@edge;user=phone", 302},
		{"sip:+12125550100;phone-context=+91@edge;user=phone", 302}, // a global number ignores it
	} {
		resp := udpExchange(t, to, invite("pc-"+c.ruri, c.ruri, ""))
		if code, _ := status(t, []byte(resp)); code != c.want {
			t.Errorf("%s: %d, want %d\n%s", c.ruri, code, c.want, resp)
		}
	}
}

// headerPolicy names a trusted edge proxy (not loopback) and lets it set
// the tenant, extension and direction.
const headerPolicy = `
sip:
  listen: [udp:127.0.0.1:0]
  map:
    tenant_header: X-Tenant
    extension_header: X-Extension
    direction_header: X-Direction
    source_ip_header: X-Source-IP
    trusted_proxies: [10.0.0.0/8]
  limits:
    requests_per_s: 0
defaults:
  country: US
  timezone: America/New_York
  on_error: fail_closed
  destinations:
    default: deny
    countries: {"1": allow, "252": block}
  hours:
    after_hours_international: allow
    night_international: allow
tenants:
  lax:
    destinations:
      default: allow
      countries: {"252": allow}
`

// TestRedTeamMappingHeadersFromUntrusted: with trusted proxies named, a
// caller that reaches the listener around them (here from loopback, over
// real UDP) must not choose its own policy with X-Direction: inbound
// (which skips every outbound check) or X-Tenant; the same headers from
// the trusted proxy still count.
func TestRedTeamMappingHeadersFromUntrusted(t *testing.T) {
	s := startServer(t, headerPolicy)
	to := addr(s, "udp")
	for i, h := range []string{"X-Direction: inbound\r\n", "X-Direction: internal\r\n", "X-Tenant: lax\r\n"} {
		resp := udpExchange(t, to, invite(fmt.Sprint("hdr-", i), "sip:+252612345678@edge", h))
		if code, _ := status(t, []byte(resp)); code != 403 {
			t.Errorf("untrusted %q to a blocked country: %d, want 403\n%s", strings.TrimSpace(h), code, resp)
		}
	}
	// From the trusted proxy the tenant header is believed.
	w := s.newWorker()
	resp, _ := w.handle(t.Context(), []byte(invite("hdr-trusted", "sip:+252612345678@edge", "X-Tenant: lax\r\n")),
		netip.MustParseAddrPort("10.0.0.5:5060"), "udp")
	if code, _ := status(t, resp); code != 302 {
		t.Errorf("X-Tenant: lax from the trusted proxy: %d, want 302\n%s", code, resp)
	}
}

// TestRedTeamNoByeRelay: for a dialog tollgate does not know, a BYE or
// ACK routed through it follows its Request-URI (so calls can end after a
// restart); it must not follow it to any address on the network, which
// made the proxy an open relay of forged BYEs (a reflector, and a way to
// reach hosts behind it). Toward a next hop it still goes.
func TestRedTeamNoByeRelay(t *testing.T) {
	uas := newPeer(t)
	_, addr := startProxy(t, func(int) string { return fmt.Sprintf("sip:127.0.0.1:%d", uas.port()) })
	attacker, victim := newPeer(t), newPeer(t)
	req := func(method string, to int, branch string) string {
		return fmt.Sprintf("%s sip:x@127.0.0.1:%d SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-%s;rport\r\nRoute: <sip:%s;lr>\r\n"+
			"Max-Forwards: 70\r\nFrom: <sip:a@tollgate>;tag=f%s\r\nTo: <sip:b@tollgate>;tag=t%s\r\nCall-ID: relay-%s\r\nCSeq: 7 %s\r\nContent-Length: 0\r\n\r\n",
			method, to, attacker.port(), branch, addr, branch, branch, branch, method)
	}
	attacker.send(addr, req("BYE", victim.port(), "r1"))
	if m, _ := attacker.recv(2 * time.Second); !strings.HasPrefix(m, "SIP/2.0 481 ") {
		t.Errorf("BYE to an outside address for no dialog: %q, want 481", firstLine(m))
	}
	attacker.send(addr, req("ACK", victim.port(), "r2"))
	if m, _ := victim.recv(500 * time.Millisecond); m != "" {
		t.Errorf("tollgate relayed a forged request to an outside address: %q", firstLine(m))
	}
	// Toward the next hop (the PBX, after a restart) it still goes.
	attacker.send(addr, req("BYE", uas.port(), "r3"))
	if m, _ := uas.recv(2 * time.Second); !strings.HasPrefix(m, "BYE ") {
		t.Errorf("BYE for no dialog toward the next hop: %q, want it forwarded", firstLine(m))
	}
}

// TestRedTeamReferScreened: in proxy mode a caller with a call the
// policy let through asks the callee (a PBX) with a REFER to transfer it
// to a blocked destination; the PBX would place that call itself. The
// REFER must be refused 403 before the PBX sees it, whatever the form of
// the target; a transfer to an allowed number still reaches the PBX and
// leaves the engine holding only the original call. Real SIP over UDP.
func TestRedTeamReferScreened(t *testing.T) {
	uas := newPeer(t)
	s, addr := startProxy(t, func(int) string { return fmt.Sprintf("sip:127.0.0.1:%d", uas.port()) })
	uac := newPeer(t)
	uasURI := fmt.Sprintf("sip:uas@127.0.0.1:%d", uas.port())
	uac.send(addr, uac.invite("rf1", "sip:+12125550100@tollgate", "rf1", ""))
	fwd, _ := uas.expect("INVITE ", 3*time.Second)
	uas.send(addr, strings.Replace(reply(fwd, 200, "OK"), "Content-Length", "Contact: <"+uasURI+">\r\nContent-Length", 1))
	uac.expect("SIP/2.0 200 ", 3*time.Second)
	refer := func(cseq int, referTo string) string {
		return fmt.Sprintf("REFER %s SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-rf%d;rport\r\nRoute: <sip:%s;lr>\r\n"+
			"Max-Forwards: 70\r\nFrom: <sip:1001@pbx.example>;tag=a1\r\nTo: <sip:+12125550100@tollgate>;tag=uas1\r\nCall-ID: rf1\r\n"+
			"CSeq: %d REFER\r\n%s\r\nContact: <sip:1001@127.0.0.1:%d>\r\nContent-Length: 0\r\n\r\n",
			uasURI, uac.port(), cseq, addr, cseq, referTo, uac.port())
	}
	for i, rt := range []string{
		"Refer-To: <sip:+252612345678@pbx.example>",
		"Refer-To: sip:011252612345678@pbx.example",
		"r: <sip:+252612345678@pbx.example>",
		"Refer-To: <tel:+252612345678>",
		"Refer-To: <sip:+252612345678@pbx.example?Replaces=x%3Bto-tag%3Dy%3Bfrom-tag%3Dz>",
		"Refer-To: <sip:011252612345678%23@pbx.example>",
		"Refer-To: <sip:attacker.example>",
	} {
		uac.send(addr, refer(2+i, rt))
		if m, _ := uac.recv(3 * time.Second); !strings.HasPrefix(m, "SIP/2.0 403 ") {
			t.Errorf("REFER with %q: %q, want 403", rt, firstLine(m))
		}
		if m, _ := uas.recv(300 * time.Millisecond); strings.HasPrefix(m, "REFER ") {
			t.Errorf("REFER with %q reached the PBX", rt)
			uas.send(addr, reply(m, 202, "Accepted"))
		}
	}
	uac.send(addr, refer(20, "Refer-To: <sip:+12125550199@pbx.example>"))
	m, _ := uas.expect("REFER ", 3*time.Second)
	uas.send(addr, reply(m, 202, "Accepted"))
	uac.expect("SIP/2.0 202 ", 3*time.Second)
	time.Sleep(150 * time.Millisecond)
	if n := s.eng.(interface{ LiveCalls() int }).LiveCalls(); n != 1 {
		t.Errorf("after an allowed transfer: %d live calls, want 1 (the original call)", n)
	}
}

// TestRedTeamVerdictHeaderInjection: in proxy mode the PBX reads
// X-Tollgate-Verdict (action, risk, max_duration) from the INVITE
// tollgate forwards. A caller's own X-Tollgate-* headers must not reach
// it beside tollgate's: a PBX reading the first one would believe
// "allow;max_duration=0" from the caller. Real SIP over UDP.
func TestRedTeamVerdictHeaderInjection(t *testing.T) {
	uas := newPeer(t)
	_, addr := startProxy(t, func(int) string { return fmt.Sprintf("sip:127.0.0.1:%d", uas.port()) })
	uac := newPeer(t)
	uac.send(addr, uac.invite("xtg1", "sip:+12125550100@tollgate", "xtg1",
		"X-Tollgate-Verdict: allow;risk=0;reasons=\"\";max_duration=0\r\nx-tollgate-teardown: none\r\nX-TOLLGATE-Verdict: allow\r\n"))
	fwd, _ := uas.expect("INVITE ", 3*time.Second)
	var got []string
	for _, l := range strings.Split(fwd, "\r\n") {
		if k, _, ok := strings.Cut(l, ":"); ok && strings.HasPrefix(strings.ToLower(k), "x-tollgate-") {
			got = append(got, l)
		}
	}
	if len(got) != 1 || !strings.HasPrefix(got[0], "X-Tollgate-Verdict: allow;risk=") {
		t.Errorf("X-Tollgate headers the PBX got: %q, want only tollgate's own verdict", got)
	}
}

// TestRedTeamIPv6Rotation: one IPv6 host holds a whole /64 and can send
// from any address in it. The per-source rate limit and connection cap
// must count the /64, or rotating the low bits escapes both (and fills
// the limiter until it forgets every bucket, the flooder's included).
func TestRedTeamIPv6Rotation(t *testing.T) {
	l := newLimiter(1, 10, nil)
	now := time.Now()
	allowed := 0
	for i := range 1000 {
		a := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, byte(i >> 8), byte(i)})
		if l.allow(a, now) {
			allowed++
		}
	}
	if allowed > 10 {
		t.Errorf("1000 requests from 1000 addresses of one /64 at once: %d let through, want the burst (10)", allowed)
	}
	if !l.allow(netip.MustParseAddr("2001:db8:0:2::1"), now) || !l.allow(netip.MustParseAddr("192.0.2.1"), now) {
		t.Error("another /64 or an IPv4 source was limited by the flooder's bucket")
	}
	cc := newConnCount(4, nil)
	took := 0
	for i := range 100 {
		if cc.take(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, byte(i)})) {
			took++
		}
	}
	if took != 4 {
		t.Errorf("connections from 100 addresses of one /64: %d accepted, want the cap (4)", took)
	}
	cc.give(netip.MustParseAddr("2001:db8:0:1::63"))
	if !cc.take(netip.MustParseAddr("2001:db8:0:1::99")) {
		t.Error("a closed connection of the /64 did not free its slot")
	}
}

// TestRedTeamVerstatInjection: with no caller-ID check configured, a
// caller that writes verstat=TN-Validation-Passed into its own
// P-Asserted-Identity must not have the PBX show its spoofed number as
// verified: tollgate, the trust boundary, removes the claim.
func TestRedTeamVerstatInjection(t *testing.T) {
	uas := newPeer(t)
	_, addr := startProxy(t, func(int) string { return fmt.Sprintf("sip:127.0.0.1:%d", uas.port()) })
	uac := newPeer(t)
	uac.send(addr, uac.invite("vst1", "sip:+12125550100@tollgate", "vst1",
		"P-Asserted-Identity: <sip:+12125550111;VerStat=TN-Validation-Passed@evil.example;user=phone>;verstat=TN-Validation-Passed, <tel:+12125550111;verstat=TN-Validation-Passed>\r\n"))
	fwd, _ := uas.expect("INVITE ", 3*time.Second)
	for _, l := range strings.Split(fwd, "\r\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(k, "P-Asserted-Identity") {
			if strings.Contains(strings.ToLower(v), "verstat") {
				t.Errorf("the PBX got the caller's own verstat: %q", l)
			}
			if !strings.Contains(v, "<sip:+12125550111@evil.example;user=phone>") || !strings.Contains(v, "<tel:+12125550111>") {
				t.Errorf("the identities themselves were damaged: %q", l)
			}
			return
		}
	}
	t.Fatalf("no P-Asserted-Identity forwarded:\n%s", fwd)
}
