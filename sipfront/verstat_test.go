package sipfront

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/stir/stirtest"
)

func TestWithVerstat(t *testing.T) {
	const P = "TN-Validation-Passed"
	cases := []struct{ in, want string }{
		{"<sip:+12155551212@carrier.example;user=phone>", "<sip:+12155551212;verstat=" + P + "@carrier.example;user=phone>"},
		{`"Alice" <sip:+12155551212@carrier.example>;tag=1`, `"Alice" <sip:+12155551212;verstat=` + P + `@carrier.example>;tag=1`},
		{"<tel:+12155551212>", "<tel:+12155551212;verstat=" + P + ">"},
		{"<tel:+12155551212;cpc=ordinary>", "<tel:+12155551212;verstat=" + P + ";cpc=ordinary>"},
		{"sip:+12155551212@carrier.example;tag=9", "<sip:+12155551212;verstat=" + P + "@carrier.example>;tag=9"},
		// A verstat the caller put there is replaced, in any case.
		{"<sip:+12155551212;verstat=TN-Validation-Passed@x.example>", "<sip:+12155551212;verstat=" + P + "@x.example>"},
		{"<tel:+12155551212;VERSTAT=TN-Validation-Passed;cpc=x>", "<tel:+12155551212;verstat=" + P + ";cpc=x>"},
		{"<sip:anonymous.invalid>", "<sip:anonymous.invalid>"},
	}
	for _, tc := range cases {
		if got := withVerstat(tc.in, P); got != tc.want {
			t.Errorf("withVerstat(%q)\n got %q\nwant %q", tc.in, got, tc.want)
		}
	}
	// A spoofed Passed is replaced by the real outcome.
	if got := withVerstat("<sip:+12155551212;verstat=TN-Validation-Passed@x.example>", "No-TN-Validation"); got != "<sip:+12155551212;verstat=No-TN-Validation@x.example>" {
		t.Errorf("spoofed verstat kept: %q", got)
	}
}

func FuzzWithVerstat(f *testing.F) {
	f.Add("<sip:+12155551212@carrier.example;user=phone>")
	f.Add(`"x" <tel:+1;verstat=a;b>;tag=1`)
	f.Add(";verstat=")
	f.Fuzz(func(t *testing.T, hdr string) {
		out := withVerstat(hdr, "No-TN-Validation")
		if out != hdr && countParam(out) != 1 {
			t.Fatalf("withVerstat(%q) = %q: verstat not exactly once", hdr, out)
		}
		if out := withoutVerstat(hdr); countParam(out) != 0 || len(out) > len(hdr) {
			t.Fatalf("withoutVerstat(%q) = %q: a verstat left, or grown", hdr, out)
		}
	})
}

func countParam(s string) int {
	n := 0
	for i := indexParam(s, "verstat"); i >= 0; i = indexParam(s, "verstat") {
		n++
		s = s[i+1:]
	}
	return n
}

// TestProxyCarriesVerstat: an inbound call through the proxy reaches the
// PBX with the verification outcome in P-Asserted-Identity, and a verstat
// the caller forged is replaced.
func TestProxyCarriesVerstat(t *testing.T) {
	uas := newPeer(t)
	port := freeUDPPort(t)
	anchors := t.TempDir()
	if err := os.WriteFile(filepath.Join(anchors, "root.pem"), stirtest.NewPKI(t, "1234", time.Now()).RootPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	policy := fmt.Sprintf(`
stir:
  trust_anchors: %s
sip:
  mode: proxy
  listen: [udp:127.0.0.1:%d]
  upstream: sip:127.0.0.1:%d
  map: {direction_header: X-Direction, tenant_header: X-Tenant}
  limits: {requests_per_s: 0}
defaults:
  country: US
  timezone: America/New_York
  on_error: fail_closed
  destinations: {default: allow}
  caller_id:
    enabled: true
    verify: true
    outcomes: {absent: {action: allow, risk: 10}}
    spoofing: {neighbour: {action: allow, risk: 5}}
`, anchors, port, uas.port())
	startServer(t, policy)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	uac := newPeer(t)
	forged := "P-Asserted-Identity: <sip:+14155550123;verstat=TN-Validation-Passed@carrier.example;user=phone>\r\nX-Direction: inbound\r\n"
	uac.send(addr, uac.invite("vs1", "sip:+12125550100@tollgate", "v1", forged))
	if m, _ := uac.recv(3 * time.Second); !strings.HasPrefix(m, "SIP/2.0 100") {
		t.Logf("caller got %q", m)
	}
	inv, _ := uas.expect("INVITE ", 5*time.Second)
	pai := header(inv, "P-Asserted-Identity")
	if !strings.Contains(pai, "verstat=No-TN-Validation") || strings.Contains(pai, "TN-Validation-Passed") {
		t.Fatalf("forwarded P-Asserted-Identity %q: want verstat=No-TN-Validation and the forged Passed gone", pai)
	}
	if from := header(inv, "From"); strings.Contains(from, "verstat") {
		t.Errorf("From %q carries verstat although P-Asserted-Identity is there", from)
	}
}
