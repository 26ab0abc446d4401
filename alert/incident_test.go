package alert

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/detect"
)

// recorder is a real HTTP server that keeps each request body; it answers
// fail[i] (when set) to the i-th request, 202 after.
type recorder struct {
	mu     sync.Mutex
	paths  []string
	bodies [][]byte
	fail   []int
	srv    *httptest.Server
}

func newRecorder(t *testing.T, fail ...int) *recorder {
	r := &recorder{fail: fail}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, q *http.Request) {
		b, _ := io.ReadAll(q.Body)
		r.mu.Lock()
		n := len(r.paths)
		r.paths = append(r.paths, q.Method+" "+q.URL.Path)
		r.bodies = append(r.bodies, b)
		r.mu.Unlock()
		if n < len(r.fail) && r.fail[n] != 0 {
			http.Error(w, "no", r.fail[n])
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// clock is an injectable clock the test moves.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

func attack(t time.Time, ext string, cost float64) detect.Finding {
	return detect.Finding{Detector: "international_burst", Code: "international_burst", Severity: "critical", Tenant: "acme", Extension: ext,
		Subject: "1001", Text: "12 international calls in 5 min", Time: t, Calls: 12, Cost: cost}
}

// TestAlertmanagerGrouping: five alerts of one attack (some grouped by the
// manager's dedup, some raised) and one of another become two alerts at
// the Alertmanager: one trigger and four updates with identical labels,
// then one resolve after the quiet period; the exact payloads are checked.
func TestAlertmanagerGrouping(t *testing.T) {
	rec := newRecorder(t)
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	clk := &clock{t: t0}
	am := NewAlertmanager(rec.srv.URL+"/", "https://tollgate.example.net", "warning", 2)
	inc := NewIncidents(IncidentOptions{Notifiers: []IncidentNotifier{am}, Quiet: 10 * time.Minute, Now: clk.now})
	m := New(Options{Dedup: 2 * time.Minute, Incidents: inc})
	for i := range 5 {
		at := t0.Add(time.Duration(i) * time.Minute)
		clk.set(at)
		m.Raise(context.Background(), attack(at, []string{"1001", "1002"}[i%2], 10))
	}
	other := attack(t0.Add(30*time.Second), "2001", 1)
	other.Subject, other.Severity = "2001", "info" // below min_severity: not sent
	m.Raise(context.Background(), other)
	if s := inc.Stats(); s.Open != 2 || s.Opened != 2 {
		t.Fatalf("stats %+v", s)
	}
	inc.Tick(t0.Add(13 * time.Minute)) // 9 min after the attack's last alert: still open; the other one is quiet
	if s := inc.Stats(); s.Open != 1 || s.Resolved != 1 {
		t.Fatalf("resolved early: %+v", s)
	}
	inc.Tick(t0.Add(14 * time.Minute))
	inc.Close()
	m.Close()
	if s := inc.Stats(); s.Open != 0 || s.Resolved != 2 || s.Sent != 6 || s.Failed != 0 {
		t.Errorf("stats %+v", s)
	}
	if len(rec.bodies) != 6 {
		t.Fatalf("%d posts, want 6 (trigger, 4 updates, resolve)", len(rec.bodies))
	}
	labels := map[string]string{"alertname": "international_burst", "source": "tollgate", "tenant": "acme", "code": "international_burst", "scope": "1001", "severity": "critical"}
	for i, b := range rec.bodies {
		if rec.paths[i] != "POST /api/v2/alerts" {
			t.Errorf("post %d to %s", i, rec.paths[i])
		}
		var got []AMAlert
		if err := json.Unmarshal(b, &got); err != nil || len(got) != 1 {
			t.Fatalf("post %d: %s (%v)", i, b, err)
		}
		a := got[0]
		if !reflect.DeepEqual(a.Labels, labels) {
			t.Errorf("post %d labels %v", i, a.Labels)
		}
		if !a.StartsAt.Equal(t0) {
			t.Errorf("post %d startsAt %v", i, a.StartsAt)
		}
		if a.GeneratorURL != "https://tollgate.example.net/v1/alerts?tenant=acme" {
			t.Errorf("generatorURL %q", a.GeneratorURL)
		}
		n := min(i+1, 5)
		wantEnd := t0.Add(time.Duration(n-1)*time.Minute + 10*time.Minute)
		if i == 5 {
			wantEnd = t0.Add(14 * time.Minute)
			if a.Annotations["resolved_by"] != "quiet" {
				t.Errorf("resolve annotations %v", a.Annotations)
			}
		}
		if !a.EndsAt.Equal(wantEnd) {
			t.Errorf("post %d endsAt %v, want %v", i, a.EndsAt, wantEnd)
		}
		if a.Annotations["alerts"] != itoa(n) || a.Annotations["calls"] != itoa(12*n) || a.Annotations["cost"] != itoa(10*n)+".00" {
			t.Errorf("post %d annotations %v", i, a.Annotations)
		}
		if a.Annotations["incident"] != "acme/international_burst/1001/"+itoa(int(t0.Unix())) {
			t.Errorf("incident %q", a.Annotations["incident"])
		}
	}
	// The exact first body, key by key.
	want := `[{"labels":{"alertname":"international_burst","code":"international_burst","scope":"1001","severity":"critical","source":"tollgate","tenant":"acme"},` +
		`"annotations":{"alerts":"1","calls":"12","cost":"10.00","description":"12 international calls in 5 min","extensions":"1001","first_alert_id":"1","incident":"acme/international_burst/1001/1795428000","last_alert_id":"1","severity":"critical","summary":"[acme] international_burst 1001: 12 international calls in 5 min"},` +
		`"startsAt":"2026-11-23T10:00:00Z","endsAt":"2026-11-23T10:10:00Z","generatorURL":"https://tollgate.example.net/v1/alerts?tenant=acme"}]`
	if string(rec.bodies[0]) != want {
		t.Errorf("first body\n%s\nwant\n%s", rec.bodies[0], want)
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// TestIncidentUpdateThrottle: with a minute between updates, an alert a
// second for two minutes is one trigger, two updates, and the growth
// after the last update goes out with the resolve's final update.
func TestIncidentUpdateThrottle(t *testing.T) {
	rec := newRecorder(t)
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	clk := &clock{t: t0}
	inc := NewIncidents(IncidentOptions{Notifiers: []IncidentNotifier{NewAlertmanager(rec.srv.URL, "", "", 0)}, Quiet: 5 * time.Minute, Every: time.Minute, Now: clk.now})
	for i := 0; i <= 150; i++ {
		at := t0.Add(time.Duration(i) * time.Second)
		clk.set(at)
		inc.Observe(attack(at, "1001", 1), int64(i+1))
	}
	inc.Tick(t0.Add(150*time.Second + 5*time.Minute))
	inc.Close()
	var counts []string
	for _, b := range rec.bodies {
		var got []AMAlert
		json.Unmarshal(b, &got)
		counts = append(counts, got[0].Annotations["alerts"]+"@"+got[0].EndsAt.Format("15:04:05"))
	}
	// trigger (1), updates at 60 s (61) and 120 s (121), final update (151), resolve.
	want := []string{"1@10:05:00", "61@10:06:00", "121@10:07:00", "151@10:07:30", "151@10:07:30"}
	if !reflect.DeepEqual(counts, want) {
		t.Errorf("posts %v, want %v", counts, want)
	}
}

// TestPagerDutyEvents: trigger, update (a trigger with the same
// dedup_key), acknowledge and resolve through the API's status, with the
// receiver failing twice with 5xx first (retried with doubling waits).
func TestPagerDutyEvents(t *testing.T) {
	rec := newRecorder(t, 503, 500)
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	clk := &clock{t: t0}
	const key = "R0UT1NGK3Y0000000000000000000000"
	pd := NewPagerDuty(rec.srv.URL+"/v2/enqueue", key, "edge-1", "https://tollgate.example.net", "critical", 3)
	var waits []time.Duration
	pd.Wait = func(ctx context.Context, d time.Duration) error { waits = append(waits, d); return nil }
	pd.Backoff = 100 * time.Millisecond
	var logs bytes.Buffer
	inc := NewIncidents(IncidentOptions{Notifiers: []IncidentNotifier{pd}, Quiet: 10 * time.Minute, Now: clk.now, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	m := New(Options{Dedup: time.Hour, Incidents: inc})
	a, _ := m.Raise(context.Background(), attack(t0, "1001", 2.5))
	clk.set(t0.Add(time.Minute))
	m.Raise(context.Background(), attack(t0.Add(time.Minute), "1001", 2.5))
	if !inc.SetStatus(a.ID, "acknowledged") {
		t.Fatal("alert not in an incident")
	}
	if !inc.SetStatus(a.ID, "resolved") {
		t.Fatal("alert not in an incident")
	}
	if inc.SetStatus(a.ID, "resolved") {
		t.Error("resolved twice")
	}
	inc.Close()
	if !reflect.DeepEqual(waits, []time.Duration{100 * time.Millisecond, 200 * time.Millisecond}) {
		t.Errorf("waits %v", waits)
	}
	if len(rec.bodies) != 6 {
		t.Fatalf("%d posts, want 2 failed + 4", len(rec.bodies))
	}
	dedup := "acme/international_burst/1001/1795428000"
	wantTrigger := `{"routing_key":"` + key + `","event_action":"trigger","dedup_key":"` + dedup + `","payload":{"summary":"[acme] international_burst 1001: 12 international calls in 5 min","source":"edge-1","severity":"critical","timestamp":"2026-11-23T10:00:00Z","component":"acme","group":"1001","class":"international_burst",` +
		`"custom_details":{"alerts":1,"calls":12,"cost":2.5,"extensions":["1001"],"first_alert_id":1,"last":"2026-11-23T10:00:00Z","last_alert_id":1,"text":"12 international calls in 5 min"}},"client":"tollgate","client_url":"https://tollgate.example.net/v1/alerts?tenant=acme"}`
	for i := range 3 {
		if string(rec.bodies[i]) != wantTrigger {
			t.Errorf("post %d\n%s\nwant\n%s", i, rec.bodies[i], wantTrigger)
		}
	}
	var up PDEvent
	json.Unmarshal(rec.bodies[3], &up)
	if up.EventAction != "trigger" || up.DedupKey != dedup || up.Payload.CustomDetails["alerts"] != 2.0 || up.Payload.CustomDetails["cost"] != 5.0 ||
		!strings.HasSuffix(up.Payload.Summary, "(2 alerts, 24 calls, cost 5.00)") {
		t.Errorf("update %s", rec.bodies[3])
	}
	if got, want := string(rec.bodies[4]), `{"routing_key":"`+key+`","event_action":"acknowledge","dedup_key":"`+dedup+`"}`; got != want {
		t.Errorf("ack %s", got)
	}
	if got, want := string(rec.bodies[5]), `{"routing_key":"`+key+`","event_action":"resolve","dedup_key":"`+dedup+`"}`; got != want {
		t.Errorf("resolve %s", got)
	}
	if s := inc.Stats(); s.Sent != 4 || s.Failed != 0 || s.Resolved != 1 {
		t.Errorf("stats %+v", s)
	}
	if strings.Contains(logs.String(), key) {
		t.Errorf("routing key logged: %s", logs.String())
	}
}

// TestPagerDutyKeyNeverLogged: a receiver that rejects the event (400)
// and one that is unreachable make the notifier give up; the logged
// errors and the notifier's own formatting carry no routing key.
func TestPagerDutyKeyNeverLogged(t *testing.T) {
	const key = "S3CR3TR0UT1NGK3Y"
	rec := newRecorder(t, 400)
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	bad := NewPagerDuty(rec.srv.URL, key, "", "", "", 5)
	gone := NewPagerDuty("http://127.0.0.1:1/v2/enqueue?k="+key, key, "", "", "", 1)
	gone.Wait = func(context.Context, time.Duration) error { return nil }
	inc := NewIncidents(IncidentOptions{Notifiers: []IncidentNotifier{bad, gone}, Logger: log})
	inc.Observe(attack(time.Now(), "1001", 1), 1)
	inc.Close()
	if len(rec.bodies) != 1 {
		t.Errorf("400 retried: %d posts", len(rec.bodies))
	}
	if s := inc.Stats(); s.Failed != 2 {
		t.Errorf("stats %+v", s)
	}
	log.Info("notifier", "pd", bad)
	if out := logs.String() + bad.String(); strings.Contains(out, key) || !strings.Contains(out, "400") {
		t.Errorf("logs: %s", out)
	}
}

// TestIncidentQueueBounded: a full queue drops events (counted), Observe
// never blocks.
func TestIncidentQueueBounded(t *testing.T) {
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-block }))
	defer srv.Close()
	inc := NewIncidents(IncidentOptions{Notifiers: []IncidentNotifier{NewAlertmanager(srv.URL, "", "", 0)}, Queue: 2})
	t0 := time.Now()
	for i := range 50 {
		f := attack(t0, "1001", 1)
		f.Subject = itoa(i)
		inc.Observe(f, int64(i+1))
	}
	close(block)
	inc.Close()
	s := inc.Stats()
	if s.Dropped < 40 || s.Dropped+s.Sent+s.Failed != 50 {
		t.Errorf("stats %+v", s)
	}
}

// TestIncidentResolveByKey: a condition known to be over (Redis back)
// resolves its incident at once, with the pending growth first.
func TestIncidentResolveByKey(t *testing.T) {
	rec := newRecorder(t)
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	clk := &clock{t: t0}
	inc := NewIncidents(IncidentOptions{Notifiers: []IncidentNotifier{NewAlertmanager(rec.srv.URL, "", "", 0)}, Every: time.Hour, Now: clk.now})
	f := detect.Finding{Code: "redis_unreachable", Severity: "critical", Text: "down", Time: t0}
	inc.Observe(f, 1)
	f.Time = t0.Add(time.Minute)
	clk.set(f.Time)
	inc.Observe(f, 2) // pending: updates at most hourly
	if inc.Resolve("", "redis_unreachable", "x", "recovered") {
		t.Error("resolved another scope")
	}
	clk.set(t0.Add(2 * time.Minute))
	if !inc.Resolve("", "redis_unreachable", "", "recovered") {
		t.Fatal("open incident not found")
	}
	inc.Close()
	var got []string
	for _, b := range rec.bodies {
		var a []AMAlert
		json.Unmarshal(b, &a)
		got = append(got, a[0].Annotations["alerts"]+"/"+a[0].Annotations["resolved_by"]+"@"+a[0].EndsAt.Format("15:04"))
	}
	if want := []string{"1/@10:15", "2/@10:16", "2/recovered@10:02"}; !reflect.DeepEqual(got, want) {
		t.Errorf("posts %v, want %v", got, want)
	}
}
