package hostile

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/engine"
	"github.com/tollgate-voip/tollgate/honeypot"
	"github.com/tollgate-voip/tollgate/internal/panics"
	"github.com/tollgate-voip/tollgate/internal/testenv"
	"github.com/tollgate-voip/tollgate/number"
	"github.com/tollgate-voip/tollgate/sipfront"
)

const (
	mutants    = 5000
	seed       = 16 // issue 16; change it to explore other mutants
	probeEvery = 100
	budget     = 4 * time.Minute // per listener and transport: a bound on a wedged run, not a speed test
	callee     = "+12125550100"  // allowed by the policy below
)

var quiet = slog.New(slog.DiscardHandler)

// corpus is what one run sends: the RFC 4475 torture messages, the
// PROTOS-style suite (each INVITE followed by its CANCEL) and the seeded
// mutants of both and of valid requests.
type corpus struct {
	msgs                     [][]byte
	torture, protos, mutated int
	ops                      map[string]int
}

func build(t *testing.T, p Params) corpus {
	t.Helper()
	_, torture, err := Torture(filepath.Join("..", "..", "testdata", "rfc4475"))
	if err != nil || len(torture) != 50 {
		t.Fatalf("RFC 4475 messages in testdata/rfc4475: %d, %v (want 50)", len(torture), err)
	}
	cases := PROTOS(p)
	var c corpus
	c.ops = map[string]int{}
	c.msgs = append(c.msgs, torture...)
	c.torture = len(torture)
	bases := [][]byte{Valid(p, 1e6), []byte(OptionsRequest(strings.ToLower(p.Transport), p.Target, "base")),
		[]byte(strings.Replace(string(cancel(p, 1e6)), "CANCEL", "BYE", 2))}
	bases = append(bases, torture...)
	for i, cs := range cases {
		c.msgs = append(c.msgs, cs.Invite, cs.Teardown)
		if i%25 == 0 {
			bases = append(bases, cs.Invite)
		}
	}
	c.protos = len(cases)
	m := NewMutator(seed, bases)
	for i := 0; i < mutants; i++ {
		op, b := m.Next()
		c.ops[op]++
		c.msgs = append(c.msgs, b)
	}
	c.mutated = mutants
	return c
}

// run floods one listener on one transport and checks it is neither
// crashed nor wedged and recovered no panic; final checks that the
// listener still handles a real request correctly.
//
// stats returns what the listener read (messages it parsed) and what it
// dropped unread (rate or connection limits, a full queue).
func run(t *testing.T, name, network, target, component string, stats func() (read, dropped int64), final func(t *testing.T)) {
	t.Helper()
	s, err := NewSender(network, target)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	p := Params{Target: target, Local: s.Local(), Transport: strings.ToUpper(network), Callee: callee, Caller: "1001"}
	c := build(t, p)
	panicsBefore := panics.Count(component)
	readBefore, droppedBefore := stats()
	res, err := Flood(s, c.msgs, probeEvery, budget, func(n int) error {
		return Alive(network, target, fmt.Sprintf("%s-%s-%d", name, network, n))
	})
	recovered := panics.Count(component) - panicsBefore
	read, dropped := stats()
	read, dropped = read-readBefore, dropped-droppedBefore
	t.Logf("hostile %s/%s: sent %d (torture %d, PROTOS-style %d cases x2, mutants %d) in %s; probes %d, wedges %d, send errors %d, "+
		"answers %d, listener read %d, dropped unread %d, tcp connect errors %d, recovered panics %d",
		name, network, res.Sent, c.torture, c.protos, c.mutated, res.Duration.Round(time.Millisecond), res.Probes, res.Wedges,
		res.SendErrors, s.Answers.Load(), read, dropped, s.DialErrors.Load(), recovered)
	if err != nil {
		t.Fatalf("%s/%s: %v", name, network, err)
	}
	if res.Wedges != 0 {
		t.Errorf("%d wedges", res.Wedges)
	}
	if recovered != 0 {
		t.Errorf("%d panics recovered while flooding: a parser still panics (see the log)", recovered)
	}
	if c.mutated < 5000 || res.Sent != len(c.msgs) {
		t.Errorf("sent %d of %d messages, %d mutants", res.Sent, len(c.msgs), c.mutated)
	}
	// UDP on loopback loses little with the probes pacing the flood; a
	// listener that read far fewer was not really exercised. Over TCP
	// each message has its own connection: none may be refused or
	// dropped (messages the framing refuses are read but not counted).
	if network == "udp" && read < int64(res.Sent)*9/10 {
		t.Errorf("the listener read %d of %d datagrams", read, res.Sent)
	}
	if network == "tcp" && (dropped != 0 || s.DialErrors.Load() != 0) {
		t.Errorf("over TCP %d messages dropped unread, %d connections refused", dropped, s.DialErrors.Load())
	}
	final(t)
}

func newEngine(t *testing.T, policy string) (*engine.Engine, *config.Config) {
	t.Helper()
	intel, err := number.New(number.Options{NoCarrier: true})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse("hostile.yaml", []byte(policy))
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.New(engine.Options{Config: cfg, Numbers: intel, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	return eng, cfg
}

const policyTail = `
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

func startFront(t *testing.T, sip string) *sipfront.Server {
	t.Helper()
	eng, cfg := newEngine(t, sip+policyTail)
	s, err := sipfront.New(sipfront.Options{Config: &cfg.SIP, Engine: eng, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func addrOf(addrs []net.Addr, network string) string {
	for _, a := range addrs {
		if a.Network() == network {
			return a.String()
		}
	}
	return ""
}

// inviteTo is a valid INVITE with SDP from PORT over network, to number,
// with Call-ID callID.
func inviteTo(network, target, callID, number string) string {
	m := string(Valid(Params{Target: target, Local: "127.0.0.1:PORT", Transport: strings.ToUpper(network), Callee: number, Caller: "1001"}, 0))
	return strings.Replace(m, "Call-ID: protos-0@127.0.0.1", "Call-ID: "+callID, 1)
}

// TestHostileRedirect floods the redirect listener over UDP and TCP.
func TestHostileRedirect(t *testing.T) {
	s := startFront(t, `
sip:
  listen: [udp:127.0.0.1:0, tcp:127.0.0.1:0]
  honeypot: sip:decoy@192.0.2.66
  limits:
    requests_per_s: 0
`)
	stats := func() (int64, int64) { return s.Stats().Messages.Load(), s.Stats().Limited.Load() }
	for _, network := range []string{"udp", "tcp"} {
		target := addrOf(s.Addrs(), network)
		run(t, "redirect", network, target, panics.SIPFront, stats, func(t *testing.T) {
			for _, c := range []struct {
				number, want string
			}{{callee, "SIP/2.0 302"}, {"+25261234567", "SIP/2.0 403"}} {
				m, err := Exchange(network, target, inviteTo(network, target, "final-"+network+c.number, c.number), "SIP/2.0 ", 3*time.Second)
				if err != nil || !strings.HasPrefix(m, c.want) {
					t.Errorf("after the flood a valid INVITE to %s over %s: %q %v, want %s", c.number, network, firstLine(m), err, c.want)
				}
			}
		})
	}
}

// TestHostileProxy floods the proxy, with a real SIPp UAS as its next
// hop, over UDP and TCP; afterwards a call still goes through to the UAS.
func TestHostileProxy(t *testing.T) {
	dir := t.TempDir()
	uasPort := testenv.FreePort(t)
	uas := testenv.StartSIPpUAS(t, dir, filepath.Join("..", "testdata", "sipp", "uas.xml"), uasPort)
	time.Sleep(300 * time.Millisecond) // SIPp binds its port
	udpPort, tcpPort := testenv.FreePort(t), testenv.FreePort(t)
	s := startFront(t, fmt.Sprintf(`
sip:
  mode: proxy
  listen: [udp:127.0.0.1:%d, tcp:127.0.0.1:%d]
  upstream: sip:127.0.0.1:%d
  limits:
    requests_per_s: 0
`, udpPort, tcpPort, uasPort))
	stats := func() (int64, int64) { return s.Stats().Messages.Load(), s.Stats().Limited.Load() }
	for _, network := range []string{"udp", "tcp"} {
		target := addrOf(s.Addrs(), network)
		run(t, "proxy", network, target, panics.SIPFront, stats, func(t *testing.T) {
			select {
			case <-uas.Done:
				t.Fatalf("the SIPp UAS behind the proxy exited during the flood: %v\n%s", uas.Cmd.ProcessState, testenv.Tail(uas.Output(), 2000))
			default:
			}
			// A valid INVITE still reaches the UAS and its 200 comes back.
			m, err := Exchange(network, target, inviteTo(network, target, "final-proxy-"+network, callee), "SIP/2.0 200", 5*time.Second)
			if err != nil || !strings.Contains(m, "o=pbx") {
				t.Errorf("after the flood a valid INVITE over %s through the proxy: %q %v, want the UAS's 200 with its SDP", network, firstLine(m), err)
			}
		})
	}
}

// TestHostileHoneypot floods the decoy over UDP and TCP with its rate
// limits opened, so every message is parsed rather than dropped.
func TestHostileHoneypot(t *testing.T) {
	hp, err := honeypot.Start(honeypot.Options{Listen: "127.0.0.1:0", ListenTCP: "127.0.0.1:0", Logger: quiet,
		RatePerSource: 1e6, BurstPerSource: 1e6, Rate: 1e6, MaxCalls: 256, CallDuration: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hp.Close() })
	stats := func() (int64, int64) {
		st := hp.Stats()
		return st.Received, st.DroppedRate + st.DroppedQueue
	}
	for _, network := range []string{"udp", "tcp"} {
		target := hp.Addr().String()
		if network == "tcp" {
			target = hp.TCPAddr().String()
		}
		run(t, "honeypot", network, target, panics.Honeypot, stats, func(t *testing.T) {
			time.Sleep(300 * time.Millisecond) // flood calls hang up, freeing call slots
			m, err := Exchange(network, target, inviteTo(network, target, "final-hp-"+network, callee), "SIP/2.0 200", 3*time.Second)
			if err != nil || !strings.Contains(m, "m=audio") {
				t.Errorf("after the flood a valid INVITE over %s to the decoy: %q %v, want 200 with SDP", network, firstLine(m), err)
			}
			if st := hp.Stats(); st.DroppedQueue > 0 {
				t.Logf("decoy work queue dropped %d messages", st.DroppedQueue)
			}
		})
	}
}

func firstLine(m string) string {
	l, _, _ := strings.Cut(m, "\r\n")
	return l
}
