package cli

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestComplianceThroughAPI: an outbound campaign through /v1/screen on a
// real server — the calling window in the callee's zone, a number from
// the national registry file, the internal opt-out list and consent
// records managed through /v1/dnc and /v1/consents, roles, audit, and the
// records surviving a restart.
func TestComplianceThroughAPI(t *testing.T) {
	dir := t.TempDir()
	national := filepath.Join(dir, "national.csv")
	if err := os.WriteFile(national, []byte("area_code,phone_number\n212,5550001\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	policy := `
server:
  tokens:
    - {name: pbx, role: screen, sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08}
    - {name: noc, role: read, sha256: 60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752}
    - {name: compliance-officer, role: admin, sha256: 16175223c8ddce5ace0493c948569c211b03c4c6bb3d3e484434999448cffe01}
defaults:
  country: US
  timezone: America/Chicago
  on_error: fail_closed
  destinations: {default: allow}
  calling_window: {enabled: true}
  compliance:
    campaign: {extensions: ["5*"]}
    dnc:
      lists:
        national: {file: ` + national + `, format: registry}
`
	data := filepath.Join(dir, "data")
	var code int
	var out map[string]any
	s, _ := start(t, data, policy)
	defer func() { stop(t, s) }()
	base := "http://" + s.Addr.String()
	pbx := &client{t: t, base: base, token: "test"}
	noc := &client{t: t, base: base, token: "test2"}
	admin := &client{t: t, base: base, token: "admin-secret"}

	// A Wednesday afternoon in New York (the callee's zone, not the
	// tenant's Chicago), and 21:30 the same evening.
	afternoon := time.Date(2026, 11, 18, 20, 0, 0, 0, time.UTC) // 15:00 EST
	evening := time.Date(2026, 11, 19, 2, 30, 0, 0, time.UTC)   // 21:30 EST
	n := 0
	screen := func(ext, callee string, at time.Time) (string, string) {
		t.Helper()
		n++
		code, out := pbx.call("POST", "/v1/screen", map[string]string{"call_id": fmt.Sprintf("camp-%d", n), "extension": ext,
			"caller": "+13125550100", "callee": callee, "direction": "outbound", "time": at.Format(time.RFC3339)})
		if code != 200 {
			t.Fatalf("screen %s: %d %v", callee, code, out)
		}
		var texts []string
		rs, _ := out["reasons"].([]any)
		for _, r := range rs {
			m := r.(map[string]any)
			texts = append(texts, m["code"].(string)+": "+m["text"].(string))
		}
		return out["action"].(string), strings.Join(texts, "; ")
	}

	// Calling window: 21:30 in the callee's zone is refused with the next
	// allowed time (08:00 New York = 13:00 UTC the next morning).
	if a, why := screen("501", "+12125550123", evening); a != "reject" || !strings.Contains(why, "outside_calling_window") || !strings.Contains(why, "08:00") {
		t.Errorf("21:30 campaign call: %s (%s)", a, why)
	}
	// The same call from a non-campaign extension is not a campaign call.
	if a, why := screen("101", "+12125550123", evening); a != "allow" {
		t.Errorf("21:30 office call: %s (%s)", a, why)
	}
	if a, why := screen("501", "+12125550123", afternoon); a != "allow" {
		t.Errorf("15:00 campaign call: %s (%s)", a, why)
	}

	// The national registry lists +1 212 555 0001: refused without consent.
	listed := "+12125550001"
	if a, why := screen("501", listed, afternoon); a != "reject" || !strings.Contains(why, "dnc") {
		t.Errorf("DNC-listed, no consent: %s (%s)", a, why)
	}
	consent := map[string]any{"tenant": "defaults", "number": "+1 (212) 555-0001", "type": "express_written",
		"source": "https://example.com/form/77", "time": "2026-11-01T12:00:00Z"}
	if code, out = noc.call("POST", "/v1/consents", consent); code != 403 {
		t.Errorf("consent by a read token: %d %v", code, out)
	}
	if code, out := admin.call("POST", "/v1/consents", map[string]any{"tenant": "defaults", "number": "555-0001", "type": "express", "source": "x", "time": "2026-11-01T12:00:00Z"}); code != 400 || out["field"] != "number" {
		t.Errorf("consent for a non-E.164 number: %d %v", code, out)
	}
	if code, out := admin.call("POST", "/v1/consents", consent); code != 201 {
		t.Fatalf("consent: %d %v", code, out)
	}
	if a, why := screen("501", listed, afternoon); a != "allow" {
		t.Errorf("DNC-listed with consent: %s (%s)", a, why)
	}
	code, _ = noc.call("GET", "/v1/consents?number="+url.QueryEscape(listed), nil)
	if code != 200 {
		t.Errorf("list consents: %d", code)
	}

	// The internal opt-out list: added, refused, removed, allowed again.
	optout := "+13125550777"
	if a, why := screen("501", optout, afternoon); a != "allow" {
		t.Fatalf("before opt-out: %s (%s)", a, why)
	}
	if code, out := admin.call("POST", "/v1/dnc", map[string]string{"number": optout, "tenant": "defaults", "reason": "asked on the call", "source": "agent 17"}); code != 201 {
		t.Fatalf("POST /v1/dnc: %d %v", code, out)
	}
	if a, why := screen("501", optout, afternoon); a != "reject" || !strings.Contains(why, "dnc") {
		t.Errorf("after opt-out: %s (%s)", a, why)
	}

	// Records survive a restart.
	stop(t, s)
	s, _ = start(t, data, policy)
	base = "http://" + s.Addr.String()
	pbx.base, admin.base = base, base
	if a, why := screen("501", optout, afternoon); a != "reject" {
		t.Errorf("opt-out after restart: %s (%s)", a, why)
	}
	if a, why := screen("501", listed, afternoon); a != "allow" {
		t.Errorf("consent after restart: %s (%s)", a, why)
	}
	code, out = admin.call("DELETE", "/v1/dnc?tenant=defaults&number="+url.QueryEscape(optout), nil)
	if rm, _ := out["removed"].([]any); code != 200 || len(rm) != 1 {
		t.Errorf("DELETE /v1/dnc: %d %v", code, out)
	}
	if a, why := screen("501", optout, afternoon); a != "allow" {
		t.Errorf("after removal: %s (%s)", a, why)
	}

	// Every change is in the audit trail, with who made it.
	code, out = admin.call("GET", "/v1/audit?limit=100", nil)
	if code != 200 {
		t.Fatalf("audit: %d %v", code, out)
	}
	raw := fmt.Sprint(out)
	for _, act := range []string{"consent.add", "dnc.add", "dnc.remove"} {
		if !strings.Contains(raw, act) {
			t.Errorf("audit trail lacks %s: %s", act, raw)
		}
	}
	if !strings.Contains(raw, "compliance-officer") {
		t.Errorf("audit trail does not name the token: %s", raw)
	}
}
