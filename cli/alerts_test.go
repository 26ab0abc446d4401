package cli

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestCallerIDAlertReachesNotifiers: the DNC check's caller_id_not_owned
// alert, raised inside screening, reaches a webhook with the detectors
// off (before the one alert sink it was only stored then).
func TestCallerIDAlertReachesNotifiers(t *testing.T) {
	hook := newHookServer(t)
	policy := `
detectors: {enabled: false}
defaults:
  country: US
  timezone: America/New_York
  on_error: fail_closed
  destinations: {default: allow}
  compliance:
    campaign: {extensions: ["5*"]}
    caller_id: {owned: ["+12125550100"]}
tenants:
  acme: {}
alerts:
  webhooks: [{url: "` + hook.URL + `/hook"}]
`
	dir := t.TempDir()
	s, tok := start(t, dir, policy)
	defer stop(t, s)
	c := &client{t: t, base: "http://" + s.Addr.String(), token: tok}
	at := time.Date(2026, 11, 18, 19, 0, 0, 0, time.UTC) // 14:00 in New York: inside the calling window
	code, v := c.call("POST", "/v1/screen", map[string]any{"call_id": "camp-1", "tenant": "acme", "extension": "5001", "caller": "+13125550199",
		"callee": "+12125550123", "direction": "outbound", "time": at.Format(time.RFC3339)})
	if code != 200 || v["action"] != "reject" {
		t.Fatalf("campaign call with a caller ID acme does not own = %d %v, want reject", code, v)
	}
	poll(t, "caller_id_not_owned at the webhook", func() bool { return hook.seen("/hook", `"code":"caller_id_not_owned"`) })
	if _, err := os.Stat(filepath.Join(dir, "alerts-other.spool")); !os.IsNotExist(err) {
		t.Errorf("alerts-other.spool exists (%v): the node has one spool, alerts.spool", err)
	}
}

// TestAdoptSpool: alerts an earlier version left in alerts-other.spool
// are appended to alerts.spool, after what it holds, and the old file
// goes.
func TestAdoptSpool(t *testing.T) {
	dir := t.TempDir()
	spool, old := filepath.Join(dir, "alerts.spool"), filepath.Join(dir, "alerts-other.spool")
	if err := os.WriteFile(spool, []byte(`{"code":"a"}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(old, []byte(`{"code":"b"}`+"\n"+`{"code":"c"}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := adoptSpool(spool, old); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(spool)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"code":"a"}` + "\n" + `{"code":"b"}` + "\n" + `{"code":"c"}` + "\n"; string(b) != want {
		t.Errorf("alerts.spool = %q, want %q", b, want)
	}
	if _, err := os.Stat(old); !os.IsNotExist(err) {
		t.Errorf("alerts-other.spool still there (%v)", err)
	}
	if err := adoptSpool(spool, old); err != nil { // nothing to adopt: no error
		t.Errorf("second adoption: %v", err)
	}
}

// TestProbeAlertReachesNotifiers: the quality watcher's probe_failed
// alert (a synthetic test call that got no answer) reaches a webhook
// with the detectors off.
func TestProbeAlertReachesNotifiers(t *testing.T) {
	hook := newHookServer(t)
	policy := `
detectors: {enabled: false}
defaults:
  country: US
  timezone: America/New_York
  on_error: fail_closed
  destinations: {default: allow}
tenants:
  acme: {}
quality:
  probe: {target: "sip:127.0.0.1:9", route: carrier-a, interval_s: 60, duration_s: 1}
alerts:
  webhooks: [{url: "` + hook.URL + `/hook"}]
`
	s, _ := start(t, t.TempDir(), policy)
	defer stop(t, s)
	pollFor(t, "probe_failed at the webhook", 30*time.Second, 50*time.Millisecond, func() bool {
		return hook.seen("/hook", `"code":"probe_failed"`) && hook.seen("/hook", "carrier-a")
	})
}
