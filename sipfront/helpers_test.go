package sipfront

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/engine"
	"github.com/tollgate-voip/tollgate/number"
)

var (
	intelOnce sync.Once
	intel     *number.Intel
	intelErr  error
)

// testPolicy lets international calls through at any hour so verdicts
// do not depend on when the test runs.
const testPolicy = `
sip:
  listen: [udp:127.0.0.1:0, tcp:127.0.0.1:0]
  honeypot: sip:decoy@192.0.2.66
  map:
    tenant_header: X-Tenant
    extension_header: X-Extension
    source_ip_header: X-Source-IP
    trusted_proxies: [127.0.0.0/8]
  limits:
    requests_per_s: 0
defaults:
  country: US
  timezone: America/New_York
  on_error: fail_closed
  destinations:
    default: deny
    countries: {"1": allow, "44": allow, "252": block}
    premium_prefixes: {"1900": block}
  hours:
    after_hours_international: allow
    night_international: allow
  limits:
    extension:
      international_calls_per_hour: 3
      concurrent_international: 2
`

func newEngine(t testing.TB, policy string) (*engine.Engine, *config.Config) {
	t.Helper()
	intelOnce.Do(func() { intel, intelErr = number.New(number.Options{}) })
	if intelErr != nil {
		t.Fatal(intelErr)
	}
	cfg, err := config.Parse("test.yaml", []byte(policy))
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.New(engine.Options{Config: cfg, Numbers: intel})
	if err != nil {
		t.Fatal(err)
	}
	return eng, cfg
}

func newTestServer(t testing.TB, policy string) (*Server, *engine.Engine) {
	t.Helper()
	eng, cfg := newEngine(t, policy)
	s, err := New(Options{Config: &cfg.SIP, Engine: eng})
	if err != nil {
		t.Fatal(err)
	}
	return s, eng
}

var src = netip.MustParseAddrPort("127.0.0.1:5099")

// invite builds an INVITE; extra lines end with CRLF.
func invite(callID, ruri, extra string) string {
	return fmt.Sprintf("INVITE %s SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bK-%s;rport\r\n"+
		"Max-Forwards: 70\r\n"+
		"From: \"Alice\" <sip:1001@pbx.example>;tag=a1\r\n"+
		"To: <%s>\r\n"+
		"Call-ID: %s\r\n"+
		"CSeq: 1 INVITE\r\n"+
		"Contact: <sip:1001@127.0.0.1:5099>\r\n"+
		"%s"+
		"Content-Length: 0\r\n\r\n", ruri, callID, ruri, callID, extra)
}

// status returns the code of a response and its header lines.
func status(t testing.TB, resp []byte) (int, string) {
	t.Helper()
	s := string(resp)
	var code int
	if _, err := fmt.Sscanf(s, "SIP/2.0 %d", &code); err != nil {
		t.Fatalf("not a response: %q", s)
	}
	return code, s
}

func handle(s *Server, raw string) []byte {
	w := s.newWorker()
	resp, _ := w.handle(context.Background(), []byte(raw), src, "udp")
	return append([]byte(nil), resp...)
}

func header(resp, name string) string {
	for _, l := range strings.Split(resp, "\r\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(k, name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
