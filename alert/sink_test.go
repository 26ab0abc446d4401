package alert

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/store"
)

// TestAlertSink: an alert given to Manager.Alert (as the engine, cluster,
// compliance and voice parts do) is stored with its own details, grouped
// like a finding, and reaches a webhook by the time Close returns.
func TestAlertSink(t *testing.T) {
	h := newRecorder(t)
	m := New(Options{Dedup: time.Minute, Notifiers: []Notifier{&Webhook{URL: h.srv.URL}}})
	t0 := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	spend := store.Alert{Time: t0, Severity: "critical", Code: "system_spend_threshold", Text: "spend", Details: json.RawMessage(`{"spend":12.5}`)}
	m.Alert(spend)
	spend.Time = t0.Add(10 * time.Second)
	m.Alert(spend) // grouped into the first
	m.Alert(store.Alert{Time: t0, Tenant: "acme", Severity: "warning", Code: "voice_verify_failed", Text: "voice"})
	m.Close()
	m.Alert(spend) // after Close: logged only, no panic

	got := map[string]int{}
	h.mu.Lock()
	for _, b := range h.bodies {
		var a store.Alert
		if err := json.Unmarshal(b, &a); err != nil {
			t.Fatalf("webhook body %s: %v", b, err)
		}
		got[a.Code]++
	}
	h.mu.Unlock()
	if got["system_spend_threshold"] != 1 || got["voice_verify_failed"] != 1 || len(got) != 2 {
		t.Errorf("webhook got %v; want one system_spend_threshold and one voice_verify_failed", got)
	}
	as := m.Alerts() // kept in memory without a store
	if len(as) != 2 {
		t.Fatalf("stored %d alerts; want 2", len(as))
	}
	for _, a := range as {
		if a.Code == "system_spend_threshold" && string(a.Details) != `{"spend":12.5}` {
			t.Errorf("stored details %s; want the alert's own", a.Details)
		}
	}
	if s := m.Stats(); s.Raised != 2 || s.Suppressed != 1 || s.Sent != 2 {
		t.Errorf("stats %+v; want 2 raised, 1 suppressed, 2 sent", s)
	}
}

// TestAlertSinkResolves: an alert named in Options.Resolves ends the open
// incident of the alert it recovers from.
func TestAlertSinkResolves(t *testing.T) {
	rec := newRecorder(t)
	clk := &clock{t: time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)}
	inc := NewIncidents(IncidentOptions{Notifiers: []IncidentNotifier{NewAlertmanager(rec.srv.URL, "", "", 0)}, Now: clk.now})
	defer inc.Close()
	m := New(Options{Incidents: inc, Resolves: map[string]string{"redis_recovered": "redis_unreachable"}})
	t0 := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	m.Alert(store.Alert{Time: t0, Severity: "critical", Code: "redis_unreachable", Text: "down"})
	m.Alert(store.Alert{Time: t0.Add(time.Minute), Severity: "info", Code: "redis_recovered", Text: "up"})
	m.Close()
	// The recovery is an (info) incident of its own, left open.
	if s := inc.Stats(); s.Opened != 2 || s.Resolved != 1 || s.Open != 1 {
		t.Errorf("incident stats %+v; want the redis_unreachable incident resolved by redis_recovered", s)
	}
}
