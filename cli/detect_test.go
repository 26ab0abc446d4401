package cli

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const detectPolicy = `
defaults:
  country: US
  timezone: America/New_York
  on_error: fail_closed
  destinations:
    default: deny
    countries: {"49": allow}
  limits:
    extension:
      international_calls_per_hour: 100
      international_burst: {calls: 100, window_s: 300}
      concurrent_international: 10
    account:
      international_calls_daily: 1000
tenants:
  acme: {}
`

func poll(t *testing.T, what string, f func() bool) {
	t.Helper()
	pollFor(t, what, 10*time.Second, 20*time.Millisecond, f)
}

// pollFor is poll with its own bound and pace: cluster tests wait on
// Redis streams and PostgreSQL refreshes, which a loaded CI machine slows.
func pollFor(t *testing.T, what string, bound, pace time.Duration, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for time.Now().Before(deadline) {
		if f() {
			return
		}
		time.Sleep(pace)
	}
	t.Fatalf("timed out waiting for %s", what)
}

// TestDetectionEndToEnd: CDRs posted to a real server reach the detectors;
// their actions bite on the next screened call.
func TestDetectionEndToEnd(t *testing.T) {
	dir := t.TempDir()
	s, tok := start(t, dir, detectPolicy)
	defer stop(t, s)
	c := &client{t: t, base: "http://" + s.Addr.String(), token: tok}
	t0 := time.Date(2026, 11, 23, 15, 0, 0, 0, time.UTC) // Monday 10:00 in New York
	var burst []map[string]any
	for i := range 10 {
		burst = append(burst, map[string]any{"call_id": fmt.Sprintf("b%d", i), "tenant": "acme", "extension": "1001", "callee": fmt.Sprintf("+49301234%04d", i),
			"start": t0.Add(time.Duration(i*20) * time.Second).Format(time.RFC3339), "billsec_s": 60})
	}
	code, out := c.call("POST", "/v1/cdrs", map[string]any{"cdrs": burst})
	if code != http.StatusAccepted || out["accepted"] != 10.0 {
		t.Fatalf("POST /v1/cdrs = %d %v", code, out)
	}
	if code, out = c.call("POST", "/v1/cdrs", burst); code != http.StatusAccepted || out["duplicates"] != 10.0 || out["accepted"] != 0.0 {
		t.Errorf("repeat POST = %d %v; want all duplicates", code, out)
	}
	poll(t, "the detector's block", func() bool {
		_, out := c.call("GET", "/v1/blocks", nil)
		bs, _ := out["blocks"].([]any)
		for _, b := range bs {
			m := b.(map[string]any)
			if m["kind"] == "extension" && m["value"] == "1001" && m["source"] == "detector" && m["scope"] == "international" {
				return true
			}
		}
		return false
	})
	// The block is in the store before the engine's snapshot is rebuilt;
	// wait until it is in effect, not only written.
	poll(t, "the block in the engine's snapshot", func() bool {
		return s.Engine.Blocks().Load().Extension("acme", "1001", t0.Add(10*time.Minute)) != nil
	})
	screen := func(id, ext, callee string, at time.Time) map[string]any {
		_, v := c.call("POST", "/v1/screen", map[string]any{"call_id": id, "tenant": "acme", "extension": ext, "callee": callee, "time": at.Format(time.RFC3339)})
		return v
	}
	if v := screen("s1", "1001", "+4930123456", t0.Add(10*time.Minute)); v["action"] != "reject" {
		t.Errorf("screen after the burst = %v; want reject", v)
	}
	if v := screen("s2", "1002", "+4930123456", t0.Add(10*time.Minute)); v["action"] != "allow" {
		t.Errorf("another extension = %v; want allow", v)
	}
	// A Wangiri wave: one-ring calls from German mobiles; then a callback.
	var wave []map[string]any
	for i := range 8 {
		wave = append(wave, map[string]any{"call_id": fmt.Sprintf("w%d", i), "tenant": "acme", "direction": "inbound", "caller": fmt.Sprintf("+4915112345%03d", i),
			"callee": "5551000", "start": t0.Add(time.Duration(i*30) * time.Second).Format(time.RFC3339), "duration_s": 2})
	}
	if code, out = c.call("POST", "/v1/cdrs", wave); code != http.StatusAccepted {
		t.Fatalf("wave = %d %v", code, out)
	}
	poll(t, "remembered Wangiri callers", func() bool {
		_, out := c.call("GET", "/v1/actions", nil)
		as, _ := out["actions"].([]any)
		return len(as) >= 8
	})
	// Written to the store before the screening snapshot is rebuilt; wait
	// until the caller is in effect.
	poll(t, "the remembered caller in the screening snapshot", func() bool {
		return s.det.actions().Load().Destination("acme", "4915112345003", t0.Add(20*time.Minute)) != nil
	})
	v := screen("s3", "1003", "+4915112345003", t0.Add(20*time.Minute))
	if v["action"] != "reject" || !strings.Contains(fmt.Sprint(v["reasons"]), "detected_block") {
		t.Errorf("callback = %v; want reject by detected_block", v)
	}
	// Bad input names the record and field.
	if code, out = c.call("POST", "/v1/cdrs", []map[string]any{burst[0], {"call_id": "x", "callee": "1", "start": "soon"}}); code != 400 || out["field"] != "cdrs[1].start" {
		t.Errorf("bad CDR = %d %v", code, out)
	}
	// The alert, the audit entry and the damage assessment.
	_, out = c.call("GET", "/v1/alerts", nil)
	if !strings.Contains(fmt.Sprint(out["alerts"]), "international_burst") || !strings.Contains(fmt.Sprint(out["alerts"]), "wangiri_wave") {
		t.Errorf("alerts = %v", out)
	}
	_, out = c.call("GET", "/v1/audit", nil)
	if !strings.Contains(fmt.Sprint(out), "detector:international_burst") {
		t.Errorf("no audit entry by the detector: %v", out)
	}
	poll(t, "the damage assessment", func() bool {
		_, out = c.call("GET", "/v1/incidents/damage?from=2026-11-23T00:00:00Z&to=2026-11-24T00:00:00Z", nil)
		return strings.Contains(fmt.Sprint(out["extensions"]), "1001") && out["flagged_calls"] == 10.0
	})
	// The evidence bundle: every file listed in a manifest that verifies.
	// The wave was posted without wait=true: its CDRs reach the log on
	// the writer's next batch, which a loaded machine may not have
	// written yet, so the export is retried (a fresh bundle each time)
	// until it holds all 18.
	var bundle string
	exports := 0
	pollFor(t, "an export with the 18 CDRs", 30*time.Second, 200*time.Millisecond, func() bool {
		exports++
		bundle = filepath.Join(t.TempDir(), fmt.Sprint("bundle", exports))
		var out1, err1 bytes.Buffer
		if rc := Main([]string{"incident", "export", "-data", dir, "-from", "2026-11-23T00:00:00Z", "-to", "2026-11-24T00:00:00Z", "-out", bundle}, nil, &out1, &err1); rc != 0 {
			t.Fatalf("incident export = %d: %s", rc, err1.String())
		}
		b, _ := os.ReadFile(filepath.Join(bundle, "cdrs.jsonl"))
		return bytes.Count(b, []byte("\n")) >= 18
	})
	man, err := os.ReadFile(filepath.Join(bundle, "MANIFEST.sha256"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(man)), "\n") {
		sum, name, _ := strings.Cut(line, "  ")
		b, err := os.ReadFile(filepath.Join(bundle, name))
		if err != nil {
			t.Fatal(err)
		}
		if h := sha256.Sum256(b); hex.EncodeToString(h[:]) != sum {
			t.Errorf("%s: checksum differs", name)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(bundle, "cdrs.jsonl")); bytes.Count(b, []byte("\n")) != 18 {
		t.Errorf("cdrs.jsonl has %d lines; want the 18 CDRs", bytes.Count(b, []byte("\n")))
	}
	if b, _ := os.ReadFile(filepath.Join(bundle, "alerts.jsonl")); !bytes.Contains(b, []byte("international_burst")) {
		t.Error("alerts.jsonl lacks the burst alert")
	}
	// Manual release of a remembered caller, audited.
	_, out = c.call("GET", "/v1/actions", nil)
	id := out["actions"].([]any)[0].(map[string]any)["id"]
	if code, _ := c.call("DELETE", fmt.Sprintf("/v1/actions/%v", id), nil); code != 200 {
		t.Errorf("release = %d", code)
	}
	if code, _ := c.call("DELETE", fmt.Sprintf("/v1/actions/%v", id), nil); code != 404 {
		t.Errorf("second release = %d; want 404", code)
	}
}
