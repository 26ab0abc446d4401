package cli

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestIncidentNotifiersEndToEnd: a real server with an Alertmanager and a
// PagerDuty receiver (real HTTP listeners) configured: a burst of CDRs
// opens one incident at both; resolving its alert through the API
// resolves the incident at both. The routing key comes from the
// environment and never from the file.
func TestIncidentNotifiersEndToEnd(t *testing.T) {
	var mu sync.Mutex
	got := map[string][]string{} // path → bodies
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got[r.URL.Path] = append(got[r.URL.Path], string(b))
		mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	bodies := func(path string) []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), got[path]...)
	}
	t.Setenv("TEST_PD_ROUTING_KEY", "pd-key-e2e")
	policy := detectPolicy + fmt.Sprintf(`alerts:
  alertmanager: [{url: %q}]
  pagerduty: [{url: %q, routing_key_env: TEST_PD_ROUTING_KEY}]
  incidents: {quiet_s: 900, update_s: 0}
`, srv.URL, srv.URL+"/v2/enqueue")
	dir := t.TempDir()
	s, tok := start(t, dir, policy)
	defer stop(t, s)
	c := &client{t: t, base: "http://" + s.Addr.String(), token: tok}
	t0 := time.Date(2026, 11, 23, 15, 0, 0, 0, time.UTC)
	var burst []map[string]any
	for i := range 10 {
		burst = append(burst, map[string]any{"call_id": fmt.Sprintf("b%d", i), "tenant": "acme", "extension": "1001", "callee": fmt.Sprintf("+49301234%04d", i),
			"start": t0.Add(time.Duration(i*20) * time.Second).Format(time.RFC3339), "billsec_s": 60})
	}
	if code, out := c.call("POST", "/v1/cdrs", map[string]any{"cdrs": burst}); code != http.StatusAccepted {
		t.Fatalf("POST /v1/cdrs = %d %v", code, out)
	}
	has := func(path string, subs ...string) bool {
		for _, b := range bodies(path) {
			ok := true
			for _, sub := range subs {
				ok = ok && strings.Contains(b, sub)
			}
			if ok {
				return true
			}
		}
		return false
	}
	// The burst also dials a range: two attacks, two incidents; the burst's is checked.
	poll(t, "the burst's incident at both receivers", func() bool {
		return has("/api/v2/alerts", `"alertname":"international_burst"`, `"scope":"1001"`, `"tenant":"acme"`) &&
			has("/v2/enqueue", `"routing_key":"pd-key-e2e","event_action":"trigger","dedup_key":"acme/international_burst/1001/`)
	})
	_, out := c.call("GET", "/v1/alerts?tenant=acme", nil)
	var id float64
	for _, a := range out["alerts"].([]any) {
		if m := a.(map[string]any); m["code"] == "international_burst" {
			id = m["id"].(float64)
		}
	}
	if id == 0 {
		t.Fatalf("no international_burst alert in %v", out)
	}
	if code, out := c.call("POST", fmt.Sprintf("/v1/alerts/%d", int64(id)), map[string]any{"status": "resolved"}); code != 200 {
		t.Fatalf("resolve = %d %v", code, out)
	}
	poll(t, "the resolve at both receivers", func() bool {
		return has("/v2/enqueue", `"event_action":"resolve","dedup_key":"acme/international_burst/1001/`) &&
			has("/api/v2/alerts", `"alertname":"international_burst"`, `"resolved_by":"api"`)
	})
	if has("/api/v2/alerts", `"alertname":"range_dialing"`, `"resolved_by"`) {
		t.Error("resolving the burst's alert resolved the range incident too")
	}
}

// TestSystemAlertsReachNotifiers: the engine's system_spend_threshold
// alert (raised outside the detectors) reaches a webhook and the
// Alertmanager, not only the store, with the detectors on and off: one
// alert sink whatever runs (issue 18).
func TestSystemAlertsReachNotifiers(t *testing.T) {
	for _, detectors := range []bool{true, false} {
		t.Run(fmt.Sprintf("detectors=%v", detectors), func(t *testing.T) { systemAlertReachesNotifiers(t, detectors) })
	}
}

func systemAlertReachesNotifiers(t *testing.T, detectors bool) {
	srv := newHookServer(t)
	seen := srv.seen
	dir := t.TempDir()
	deck := filepath.Join(dir, "rates.csv")
	if err := os.WriteFile(deck, []byte("prefix,price_per_min,description\n49,0.50,Germany\n"), 0o600); err != nil {
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
system:
  alert_threshold_spend: 1.00
tenants:
  acme: {}
detectors: {enabled: ` + fmt.Sprint(detectors) + `}
alerts:
  webhooks: [{url: "` + srv.URL + `/hook"}]
  alertmanager: [{url: "` + srv.URL + `"}]
`
	s, tok := start(t, dir, policy)
	defer stop(t, s)
	c := &client{t: t, base: "http://" + s.Addr.String(), token: tok}
	t0 := time.Date(2026, 11, 23, 15, 0, 0, 0, time.UTC)
	if code, v := c.call("POST", "/v1/screen", map[string]any{"call_id": "sp1", "tenant": "acme", "extension": "1001", "callee": "+4930123456", "time": t0.Format(time.RFC3339)}); code != 200 || v["action"] != "allow" {
		t.Fatalf("screen = %d %v", code, v)
	}
	if code, r := c.call("POST", "/v1/calls/sp1/events", map[string]any{"type": "end", "time": t0.Add(5 * time.Minute).Format(time.RFC3339), "duration_s": 240}); code != 200 {
		t.Fatalf("end = %d %v", code, r)
	}
	poll(t, "system_spend_threshold at the webhook and the Alertmanager", func() bool {
		return seen("/hook", `"code":"system_spend_threshold"`) && seen("/api/v2/alerts", `"alertname":"system_spend_threshold"`)
	})
}

// hookServer is a local HTTP server that takes alert webhooks and
// Alertmanager posts: it answers 202 and keeps each body by path.
type hookServer struct {
	URL string
	mu  sync.Mutex
	got map[string][]string
}

func newHookServer(t *testing.T) *hookServer {
	h := &hookServer{got: map[string][]string{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		h.got[r.URL.Path] = append(h.got[r.URL.Path], string(b))
		h.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(srv.Close)
	h.URL = srv.URL
	return h
}

// seen reports whether a body posted to path contains sub.
func (h *hookServer) seen(path, sub string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return strings.Contains(strings.Join(h.got[path], "\n"), sub)
}
