package cli

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestInCallEndsRunningCalls (issue 15, cause 2): the detectors watch
// answered calls while they run. Three calls from three extensions to one
// premium range are screened, answered and left running; as event time
// moves on, the in-call watch sees them together accrue more than
// in_call.group_cost, publishes "end call" for each on the end-call event
// stream a redirect-mode proxy/PBX follows, and blocks the range, so a
// fourth extension's call to it is refused — all before any CDR exists.
func TestInCallEndsRunningCalls(t *testing.T) {
	dir := t.TempDir()
	deck := filepath.Join(dir, "rates.csv")
	if err := os.WriteFile(deck, []byte("prefix,price_per_min,description\n49,0.02,Germany\n49900,3.00,Germany premium\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	policy := `
defaults:
  country: US
  timezone: America/New_York
  on_error: fail_closed
  destinations:
    default: allow
numbers:
  rate_deck: ` + deck + `
tenants:
  acme: {}
`
	s, tok := start(t, dir, policy)
	defer stop(t, s)
	c := &client{t: t, base: "http://" + s.Addr.String(), token: tok}
	t0 := time.Date(2026, 11, 23, 15, 0, 0, 0, time.UTC)
	screen := func(id, ext, callee string, at time.Time) map[string]any {
		_, v := c.call("POST", "/v1/screen", map[string]any{"call_id": id, "tenant": "acme", "extension": ext, "callee": callee, "time": at.Format(time.RFC3339)})
		return v
	}
	for i := 1; i <= 3; i++ {
		id := fmt.Sprintf("pr%d", i)
		if v := screen(id, fmt.Sprintf("100%d", i), fmt.Sprintf("+49900123456%d", i), t0.Add(time.Duration(i)*time.Second)); v["action"] != "allow" && v["action"] != "challenge" {
			t.Fatalf("screen %s = %v", id, v)
		}
		if code, out := c.call("POST", "/v1/calls/"+id+"/events", map[string]any{"type": "answer", "time": t0.Add(time.Duration(i+5) * time.Second).Format(time.RFC3339)}); code != http.StatusOK {
			t.Fatalf("answer %s = %d %v", id, code, out)
		}
	}
	// Event time moves on three minutes (another call is screened).
	screen("other", "2001", "2125551234", t0.Add(3*time.Minute))
	var evs []any
	// The in-call watch runs on the detection goroutine after the screen
	// moves event time: slow on a loaded machine, hence the longer bound.
	pollFor(t, "end-call events for the three running calls", 30*time.Second, 50*time.Millisecond, func() bool {
		_, out := c.call("GET", "/v1/calls/events?poll=true", nil)
		evs, _ = out["events"].([]any)
		return len(evs) >= 3
	})
	ids := fmt.Sprint(evs)
	for i := 1; i <= 3; i++ {
		if !strings.Contains(ids, fmt.Sprintf("pr%d", i)) {
			t.Errorf("no end_call for pr%d: %v", i, evs)
		}
	}
	if !strings.Contains(ids, "in_call") {
		t.Errorf("the end-call events do not say why: %v", evs)
	}
	pollFor(t, "the range blocked for every extension", 30*time.Second, 50*time.Millisecond, func() bool {
		return s.Engine.Blocks().Load().Prefix("acme", "499001234569", t0.Add(4*time.Minute)) != nil
	})
	if v := screen("pr4", "1004", "+499001234569", t0.Add(4*time.Minute)); v["action"] != "reject" {
		t.Errorf("a fourth extension's call to the range = %v; want reject", v)
	}
	// The stream as Server-Sent Events: resuming after the first event
	// replays the rest.
	req, _ := http.NewRequest("GET", c.base+"/v1/calls/events", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Last-Event-ID", "1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || ct != "text/event-stream" {
		t.Fatalf("GET /v1/calls/events = %d %s", resp.StatusCode, ct)
	}
	buf := make([]byte, 0, 4096)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && strings.Count(string(buf), "event: end_call") < 2 {
		b := make([]byte, 1024)
		n, err := resp.Body.Read(b)
		buf = append(buf, b[:n]...)
		if err != nil {
			break
		}
	}
	if got := string(buf); strings.Count(got, "event: end_call") < 2 || !strings.Contains(got, "id: 2\n") || strings.Contains(got, "id: 1\n") {
		t.Errorf("SSE stream after Last-Event-ID 1:\n%s", got)
	}
}
