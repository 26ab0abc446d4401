package honeypot_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/tollgate-voip/tollgate/check"
	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/engine"
	"github.com/tollgate-voip/tollgate/honeypot"
	"github.com/tollgate-voip/tollgate/reputation"
	"github.com/tollgate-voip/tollgate/screen"
)

// clock is a settable clock for the decoy's event times: traffic spread
// over a quarter of an hour is replayed in a second.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// caller sends hand-made SIP from one loopback address over real UDP.
type caller struct {
	t    *testing.T
	conn *net.UDPConn
	to   *net.UDPAddr
	src  string
}

func newCaller(t *testing.T, src string, port string) *caller {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(src)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	to, _ := net.ResolveUDPAddr("udp", "127.0.0.1:"+port)
	return &caller{t: t, conn: conn, to: to, src: src}
}

func (c *caller) send(msg string) {
	c.t.Helper()
	if _, err := c.conn.WriteToUDP([]byte(msg), c.to); err != nil {
		c.t.Fatal(err)
	}
}

func (c *caller) lport() int { return c.conn.LocalAddr().(*net.UDPAddr).Port }

func (c *caller) invite(callID, dialed string) string {
	sdp := "v=0\r\no=- 1 1 IN IP4 " + c.src + "\r\ns=-\r\nc=IN IP4 " + c.src + "\r\nt=0 0\r\nm=audio 9 RTP/AVP 0 101\r\n" +
		"a=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
	return fmt.Sprintf("INVITE sip:%s@127.0.0.1:%d SIP/2.0\r\nVia: SIP/2.0/UDP %s:%d;branch=z9hG4bK-%s-i;rport\r\nMax-Forwards: 70\r\n"+
		"From: <sip:100@%s>;tag=f-%s\r\nTo: <sip:%s@127.0.0.1>\r\nCall-ID: %s\r\nCSeq: 1 INVITE\r\nContact: <sip:100@%s:%d>\r\n"+
		"User-Agent: dialer\r\nContent-Type: application/sdp\r\nContent-Length: %d\r\n\r\n%s",
		dialed, c.to.Port, c.src, c.lport(), callID, c.src, callID, dialed, callID, c.src, c.lport(), len(sdp), sdp)
}

func (c *caller) inDialog(method, callID, dialed, toTag string, cseq int) string {
	return fmt.Sprintf("%s sip:%s@127.0.0.1:%d SIP/2.0\r\nVia: SIP/2.0/UDP %s:%d;branch=z9hG4bK-%s-%s;rport\r\nMax-Forwards: 70\r\n"+
		"From: <sip:100@%s>;tag=f-%s\r\nTo: <sip:%s@127.0.0.1>;tag=%s\r\nCall-ID: %s\r\nCSeq: %d %s\r\nContent-Length: 0\r\n\r\n",
		method, dialed, c.to.Port, c.src, c.lport(), callID, method, c.src, callID, dialed, toTag, callID, cseq, method)
}

// answer reads responses until the 200 to the INVITE and returns its To
// tag.
func (c *caller) answer() string {
	c.t.Helper()
	buf := make([]byte, 8192)
	_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		n, err := c.conn.Read(buf)
		if err != nil {
			c.t.Fatalf("%s: waiting for the decoy's 200: %v", c.src, err)
		}
		m, err := sip.ParseMessage(buf[:n])
		if err != nil {
			continue
		}
		if res, ok := m.(*sip.Response); ok && res.StatusCode == 200 && res.CSeq().MethodName == sip.INVITE {
			tag, _ := res.To().Params.Get("tag")
			return tag
		}
	}
}

// call places a complete decoy call to dialed: INVITE, the 200, the ACK
// carrying the answer's tag (the proof), and a BYE.
func (c *caller) call(callID, dialed string) {
	c.t.Helper()
	c.send(c.invite(callID, dialed))
	tag := c.answer()
	c.send(c.inDialog("ACK", callID, dialed, tag, 1))
	c.send(c.inDialog("BYE", callID, dialed, tag, 2))
}

// learnRig is a decoy on a settable clock with a screening engine whose
// number action is reject.
type learnRig struct {
	*rig
	clk  *clock
	live *reputation.Live
	eng  *engine.Engine
	n    int
}

func newLearnRig(t *testing.T) *learnRig {
	clk := &clock{t: time.Now().UTC().Truncate(time.Second)}
	r := newRigWith(t, func(o *honeypot.Options) { o.Now = clk.Now; o.CallDuration = 30 * time.Second })
	cfg, err := config.Parse("t.yaml", []byte("defaults:\n  country: US\n  on_error: fail_closed\n  destinations:\n    default: allow\n"))
	if err != nil {
		t.Fatal(err)
	}
	live := reputation.NewLive(reputation.Policy{IPAction: "reject", NumberAction: "reject"})
	eng, err := engine.New(engine.Options{Config: cfg, Numbers: r.intel, Env: check.Env{Reputation: live}, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	return &learnRig{rig: r, clk: clk, live: live, eng: eng}
}

// screen screens a tenant's call to callee from an ordinary address,
// with the reputation database as it is now.
func (r *learnRig) screen(t *testing.T, callee string) *screen.Verdict {
	t.Helper()
	ctx := context.Background()
	if err := reputation.Refresh(ctx, r.db, r.live, r.clk.Now()); err != nil {
		t.Fatal(err)
	}
	r.n++
	c := &screen.Call{ID: fmt.Sprint("c", r.n), Tenant: "acme", Extension: "1001", Caller: "+12125550100", Callee: callee,
		SourceIP: netip.MustParseAddr("192.0.2.10"), Time: r.clk.Now()}
	var v screen.Verdict
	if err := r.eng.Screen(ctx, c, &v); err != nil {
		t.Fatal(err)
	}
	return &v
}

// entry waits until the number's entry satisfies cond.
func (r *learnRig) entry(t *testing.T, e164, what string, cond func(reputation.Entry) bool) reputation.Entry {
	t.Helper()
	var e reputation.Entry
	waitFor(t, e164+": "+what, func() bool {
		var err error
		e, err = r.db.Get(context.Background(), reputation.KindNumber, e164)
		return err == nil && cond(e)
	})
	return e
}

func suspected(e reputation.Entry) bool { return e.Suspected() }

// TestListPoisoning attacks the number list over real UDP. One datagram
// from an address that never answers (as a forged source never can)
// leaves the number suspected: a tenant's call to it is allowed with
// added risk, not refused. A toll-free number is never learned, however
// many proven callers dial it. A premium-rate number is confirmed — and
// refused — only once callers from two /24 networks proved their
// addresses by acknowledging the decoy's answer, ten minutes apart (on
// the decoy's clock); unproven INVITEs from other networks, a second
// address in an already counted network, a forged ACK from another
// address and an ACK with a guessed tag do not count. Every entry keeps
// its evidence, and an ordinary number with the same two proven
// networks stays suspected (it needs three).
func TestListPoisoning(t *testing.T) {
	r := newLearnRig(t)
	t0 := r.clk.Now()

	// One datagram, never answered.
	spoof := newCaller(t, "127.0.0.66", r.port)
	spoof.send(spoof.invite("poison-1", "12125550199"))
	e := r.entry(t, "+12125550199", "learned", func(reputation.Entry) bool { return true })
	if !e.Suspected() || e.Evidence == nil || len(e.Evidence.Sightings) != 1 || !e.Evidence.Sightings[0].Proven.IsZero() ||
		e.Evidence.Sightings[0].Network != "127.0.0.0/24" || e.Evidence.Need.Networks != 3 {
		t.Fatalf("+12125550199 after one datagram: %+v %+v; want suspected with one unproven sighting", e, e.Evidence)
	}
	if v := r.screen(t, "12125550199"); v.Action != screen.Allow || !v.Has("suspected_dialed_number") || v.Has("attacker_dialed_number") {
		t.Fatalf("a tenant's call to +12125550199 after one datagram: %v %+v; want allowed with risk", v.Action, v.Reasons())
	}

	// Proven callers from three networks over twelve minutes dial the
	// toll-free number: never learned.
	for i, src := range []string{"127.1.0.7", "127.2.0.7", "127.3.0.7"} {
		r.clk.Set(t0.Add(time.Duration(i) * 6 * time.Minute))
		newCaller(t, src, r.port).call(fmt.Sprint("tf-", i), "18005551212")
	}
	// A call the decoy learns, queued after them: once it is stored, the
	// toll-free sightings have been folded too.
	sentinel := newCaller(t, "127.0.0.67", r.port)
	sentinel.send(sentinel.invite("sentinel", "12125550142"))
	r.entry(t, "+12125550142", "sentinel learned", suspected)
	if _, err := r.db.Get(context.Background(), reputation.KindNumber, "+18005551212"); !errors.Is(err, reputation.ErrNotFound) {
		t.Fatalf("toll-free number learned: %v", err)
	}
	if v := r.screen(t, "18005551212"); v.Action != screen.Allow || len(v.Reasons()) != 0 {
		t.Fatalf("a tenant's call to the toll-free number: %v %+v", v.Action, v.Reasons())
	}
	if st := r.hp.Stats(); st.Protected < 3 {
		t.Errorf("protected sightings = %d, want the 3 toll-free calls", st.Protected)
	}

	// The premium-rate number (French 0899, dialed from the US; not in a
	// blocked risk range, so the reputation check alone decides it) and an
	// ordinary one, from a first proven network…
	const premium, ordinary = "+33899123456", "+12125550123"
	r.clk.Set(t0)
	first := newCaller(t, "127.1.0.7", r.port)
	first.call("p-1", "01133899123456")
	first.call("o-1", "12125550123")
	e = r.entry(t, premium, "proven once", func(e reputation.Entry) bool { n, _, _ := e.Evidence.Proven(); return n == 1 })
	if !e.Suspected() || e.Evidence.Class != "premium_rate" || e.Evidence.Need.Networks != 2 {
		t.Fatalf("premium number after one proven network: %+v %+v", e, e.Evidence)
	}
	// …a second a minute later: two networks, too close in time.
	r.clk.Set(t0.Add(time.Minute))
	newCaller(t, "127.2.0.7", r.port).call("p-2", "01133899123456")
	e = r.entry(t, premium, "proven twice", func(e reputation.Entry) bool { n, _, _ := e.Evidence.Proven(); return n == 2 })
	if !e.Suspected() {
		t.Fatalf("two networks a minute apart confirmed %s: %+v", premium, e.Evidence)
	}
	// Unproven INVITEs from five more networks, a forged ACK (the right
	// tag, sent from another address than the INVITE's) and an ACK with
	// a guessed tag, eleven minutes on.
	r.clk.Set(t0.Add(11 * time.Minute))
	for i := range 5 {
		c := newCaller(t, fmt.Sprintf("127.%d.0.9", 10+i), r.port)
		c.send(c.invite(fmt.Sprint("spoofed-", i), "01133899123456"))
	}
	victim := newCaller(t, "127.20.0.7", r.port)
	victim.send(victim.invite("forged-ack", "01133899123456"))
	tag := victim.answer()
	forger := newCaller(t, "127.21.0.7", r.port)
	forger.send(forger.inDialog("ACK", "forged-ack", "01133899123456", tag, 1))
	guesser := newCaller(t, "127.22.0.7", r.port)
	guesser.send(guesser.invite("guessed-tag", "01133899123456"))
	guesser.answer()
	guesser.send(guesser.inDialog("ACK", "guessed-tag", "01133899123456", "0123456789ab", 1))
	// A second address in the first network, proven: still one network.
	newCaller(t, "127.1.0.8", r.port).call("p-3", "01133899123456")
	e = r.entry(t, premium, "the unproven networks seen", func(e reputation.Entry) bool { return len(e.Evidence.Sightings) >= 9 })
	if n, _, _ := e.Evidence.Proven(); n != 2 || !e.Suspected() {
		t.Fatalf("after forged proofs: %d proven networks, %s; want 2, suspected\n%+v", n, e.Status, e.Evidence.Sightings)
	}
	if v := r.screen(t, "01133899123456"); v.Action != screen.Allow || !v.Has("suspected_dialed_number") {
		t.Fatalf("a tenant's call to the suspected premium number: %v %+v", v.Action, v.Reasons())
	}
	// A proven caller from a third network twelve minutes after the first
	// proof: the proofs now span enough time.
	r.clk.Set(t0.Add(12 * time.Minute))
	third := newCaller(t, "127.3.0.7", r.port)
	third.call("p-4", "01133899123456")
	e = r.entry(t, premium, "confirmed", func(e reputation.Entry) bool { return !e.Suspected() })
	if !e.Evidence.Confirmed.Equal(t0.Add(12*time.Minute)) || !strings.Contains(e.Evidence.Why, "3 networks completed calls") {
		t.Errorf("confirmed at %s (%q); want at the third network's proof, t0+12m", e.Evidence.Confirmed, e.Evidence.Why)
	}
	if v := r.screen(t, "01133899123456"); v.Action != screen.Reject || !v.Has("attacker_dialed_number") {
		t.Fatalf("a tenant's call to the confirmed premium number: %v %+v; want reject", v.Action, v.Reasons())
	}
	// The ordinary number, proven from the first and the third network
	// twelve minutes apart, needs a third network.
	third.call("o-2", "12125550123")
	e = r.entry(t, ordinary, "proven twice", func(e reputation.Entry) bool { n, _, _ := e.Evidence.Proven(); return n == 2 })
	if !e.Suspected() {
		t.Fatalf("ordinary number confirmed by two networks: %+v", e.Evidence)
	}
	if v := r.screen(t, "12125550123"); v.Action != screen.Allow {
		t.Fatalf("a tenant's call to the suspected ordinary number: %v %+v", v.Action, v.Reasons())
	}
	// The one-datagram number is still only suspected.
	if v := r.screen(t, "12125550199"); v.Action != screen.Allow {
		t.Fatalf("+12125550199 at the end: %v %+v", v.Action, v.Reasons())
	}
	// The ACKs are events, with the message as evidence.
	acks := 0
	for _, ev := range r.events(t, "") {
		if ev.Kind == honeypot.EvAck {
			acks++
			if ev.E164 == "" || !strings.HasPrefix(string(ev.Message), "ACK sip:") {
				t.Errorf("ack event %+v", ev)
			}
			if ev.SourceIP == "127.21.0.7" || ev.SourceIP == "127.22.0.7" {
				t.Errorf("forged ACK recorded as proof: %+v", ev)
			}
		}
	}
	if acks != 9 {
		t.Errorf("%d ACK events, want the 9 real ones (3 to the toll-free number, 6 to learned ones)", acks)
	}
}

// TestTCPInviteIsProof: an INVITE over TCP proves its source without an
// ACK (a forged source cannot complete the handshake); the same INVITE
// over UDP does not.
func TestTCPInviteIsProof(t *testing.T) {
	r := newRigWith(t, func(o *honeypot.Options) { o.ListenTCP = "127.0.0.1:0" })
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.12")}}
	conn, err := d.Dial("tcp", r.hp.TCPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := &caller{t: t, to: &net.UDPAddr{IP: net.ParseIP("127.0.0.1"), Port: int(r.hp.TCPAddr().Port())}, src: "127.0.0.12"}
	c.conn, _ = net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP("127.0.0.12")}) // for the Via port only
	defer c.conn.Close()
	if _, err := conn.Write([]byte(strings.Replace(c.invite("tcp-1", "01133899123456"), "SIP/2.0/UDP", "SIP/2.0/TCP", 1))); err != nil {
		t.Fatal(err)
	}
	udp := newCaller(t, "127.5.0.12", r.port)
	udp.send(udp.invite("udp-1", "01133899123456"))
	var e reputation.Entry
	waitFor(t, "both sightings", func() bool {
		var err error
		e, err = r.db.Get(context.Background(), reputation.KindNumber, "+33899123456")
		return err == nil && len(e.Evidence.Sightings) == 2
	})
	for _, s := range e.Evidence.Sightings {
		if proven := !s.Proven.IsZero(); proven != (s.Network == "127.0.0.0/24") {
			t.Errorf("sighting %+v: proven %v, want proven only over TCP", s, proven)
		}
	}
}
