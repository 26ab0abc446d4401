package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"
)

// ?wait=true on screenings and call events answers once the detectors
// have handled what the request recorded: a burst reported through call
// events alone is blocked at the very next screening, with no polling.
// Without the wait the block lands up to a queue tick later and the next
// screening is let through.
func TestScreenAndEventsWaitForDetectors(t *testing.T) {
	s, tok := start(t, t.TempDir(), detectPolicy)
	defer stop(t, s)
	base := "http://" + s.Addr.String()
	post := func(path string, body any) (*http.Response, map[string]any) {
		t.Helper()
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest("POST", base+path, bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp, out
	}
	t0 := time.Date(2026, 11, 23, 15, 0, 0, 0, time.UTC) // Monday 10:00 in New York
	ts := func(d time.Duration) string { return t0.Add(d).Format(time.RFC3339) }
	for i := range 10 {
		id, at := fmt.Sprintf("b%d", i), time.Duration(i*20)*time.Second
		resp, v := post("/v1/screen?wait=true", map[string]any{"call_id": id, "tenant": "acme", "extension": "1001", "callee": fmt.Sprintf("+49301234%04d", i), "time": ts(at)})
		if resp.StatusCode != 200 || v["action"] != "allow" || resp.Header.Get("Tollgate-Settled") != "true" {
			t.Fatalf("screen %s = %d %v, settled %q", id, resp.StatusCode, v, resp.Header.Get("Tollgate-Settled"))
		}
		if resp, _ := post("/v1/calls/"+id+"/events?wait=true", map[string]any{"type": "answer", "time": ts(at + 2*time.Second)}); resp.Header.Get("Tollgate-Settled") != "true" {
			t.Fatalf("answer %s: status %d, settled %q", id, resp.StatusCode, resp.Header.Get("Tollgate-Settled"))
		}
		if resp, _ := post("/v1/calls/"+id+"/events?wait=true", map[string]any{"type": "end", "time": ts(at + 62*time.Second), "duration_s": 60}); resp.StatusCode != 200 {
			t.Fatalf("end %s: status %d", id, resp.StatusCode)
		}
	}
	resp, v := post("/v1/screen?wait=true", map[string]any{"call_id": "next", "tenant": "acme", "extension": "1001", "callee": "+4930123456", "time": ts(10 * time.Minute)})
	if v["action"] != "reject" {
		t.Fatalf("the screening right after the burst = %d %v; want reject (the detectors' block in force)", resp.StatusCode, v)
	}
	// Without wait the header is absent; a bad value is refused.
	if resp, _ := post("/v1/screen", map[string]any{"call_id": "plain", "tenant": "acme", "extension": "1002", "callee": "+4930123456", "time": ts(11 * time.Minute)}); resp.StatusCode != 200 || resp.Header.Get("Tollgate-Settled") != "" {
		t.Fatalf("plain screening: %d, settled %q", resp.StatusCode, resp.Header.Get("Tollgate-Settled"))
	}
	for _, path := range []string{"/v1/screen?wait=soon", "/v1/calls/plain/events?wait=soon"} {
		if resp, out := post(path, map[string]any{"call_id": "bad", "tenant": "acme", "callee": "+4930123456", "type": "end"}); resp.StatusCode != 400 || out["field"] != "wait" {
			t.Errorf("%s = %d %v; want 400 naming wait", path, resp.StatusCode, out)
		}
	}
}
