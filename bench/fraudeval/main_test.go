package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/attackgen"
	"github.com/tollgate-voip/tollgate/number"
)

// A short scenario driven through a real server: every call is screened,
// every attack is scored, and the accounting holds together.
func TestDriveSmallScenario(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "r.json")
	var so, se bytes.Buffer
	if rc := run([]string{"-seeds", "5", "-policy", "operator", "-scale", "0.1", "-history", "2", "-q", "-json", out}, &so, &se); rc != 0 {
		t.Fatalf("exit %d: %s", rc, se.String())
	}
	if !strings.Contains(so.String(), "policy operator") || !strings.Contains(so.String(), "attacks stopped") {
		t.Fatalf("summary missing:\n%s", so.String())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Runs []RunResult `json:"runs"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Runs) != 1 {
		t.Fatalf("%d runs, want 1", len(doc.Runs))
	}
	r := doc.Runs[0]
	classes := map[string]bool{}
	for _, a := range r.Attacks {
		classes[a.Class] = true
		if a.Attempts != a.Connected+a.Refused+a.Challenged {
			t.Errorf("%s: %d attempts ≠ %d connected + %d refused + %d challenged", a.ID, a.Attempts, a.Connected, a.Refused, a.Challenged)
		}
		if a.Leaked > a.Planned+0.01 {
			t.Errorf("%s leaked $%.2f, more than the $%.2f it tried", a.ID, a.Leaked, a.Planned)
		}
		if a.Stopped && a.FirstStopS < 0 {
			t.Errorf("%s stopped without a first stop", a.ID)
		}
	}
	for _, c := range attackgen.Classes {
		if !classes[c] {
			t.Errorf("no %s attack scored", c)
		}
	}
	if r.Legit.WeekCalls == 0 || r.Legit.Calls <= r.Legit.WeekCalls {
		t.Errorf("legitimate calls: %d in all, %d in the attack week", r.Legit.Calls, r.Legit.WeekCalls)
	}
	if r.Forgotten != 0 {
		t.Errorf("%d call events for calls the server had forgotten (event time not honoured)", r.Forgotten)
	}
}

// Score's accounting on a hand-made stream: a refused call leaks nothing,
// a PIN challenge stops a fraudster but not a legitimate caller, a
// max_duration cut bills only the allowed seconds.
func TestScore(t *testing.T) {
	t0 := time.Date(2025, 3, 3, 0, 0, 0, 0, time.UTC)
	sc := &attackgen.Scenario{Seed: 1, Start: t0, AttackStart: t0.Add(24 * time.Hour), End: t0.Add(48 * time.Hour),
		Attacks: []*attackgen.Attack{{ID: "A01-irsf_burst", Class: attackgen.IRSFBurst, Tenant: "t", Extensions: []string{"100"}, Start: t0.Add(25 * time.Hour), End: t0.Add(27 * time.Hour), Cost: 30}}}
	mk := func(id, label string, at time.Duration) attackgen.Call {
		c := attackgen.Call{ID: id, Tenant: "t", Extension: "100", Direction: attackgen.Outbound, Start: t0.Add(at), Rate: 1, Billsec: 600, Label: label}
		if label != attackgen.Legit {
			c.Class = attackgen.IRSFBurst
		}
		return c
	}
	sc.Calls = []attackgen.Call{
		mk("c-1-0000001", attackgen.Legit, 25*time.Hour),
		mk("c-1-0000002", "A01-irsf_burst", 25*time.Hour),
		mk("c-1-0000003", "A01-irsf_burst", 25*time.Hour+time.Minute),
		mk("c-1-0000004", "A01-irsf_burst", 25*time.Hour+2*time.Minute),
		mk("c-1-0000005", attackgen.Legit, 26*time.Hour),
	}
	outs := []Outcome{
		{Action: "challenge", Happened: true, Billsec: 600, Cost: 10},
		{Action: "allow", Happened: true, Billsec: 120, Cut: true, Cost: 2},
		{Action: "challenge"},
		{Action: "reject"},
		{Action: "allow", Happened: true, Billsec: 600, Cost: 10},
	}
	alerts := []Alert{
		{Time: t0.Add(25*time.Hour + 30*time.Second), Tenant: "t", Extension: "100", Code: "international_burst"},
		{Time: t0.Add(30 * time.Hour), Tenant: "t", Extension: "200", Code: "off_hours_international"},
		{Time: t0.Add(40 * time.Hour), Tenant: "u", Details: json.RawMessage(`{"call_id":"c-1-0000003"}`), Code: "x"},
	}
	r := Score(sc, outs, alerts)
	a := r.Attacks[0]
	if a.Attempts != 3 || a.Connected != 1 || a.Challenged != 1 || a.Refused != 1 || a.Cut != 1 {
		t.Fatalf("attack counts %+v", a)
	}
	if a.Leaked != 2 || !a.Stopped || a.FirstStopS != 60 || a.Alerts != 2 || a.FirstAlertS != 30 {
		t.Fatalf("attack result %+v", a)
	}
	l := r.Legit
	if l.WeekCalls != 2 || l.WeekChallenges != 1 || l.WeekRejects != 0 || l.WeekFalseAlert != 1 || l.ChallengePer10k != 5000 || l.FalseAlertPer10k != 5000 {
		t.Fatalf("legit result %+v", l)
	}
	// An attack whose last call got through is not stopped.
	outs[3] = Outcome{Action: "allow", Happened: true, Billsec: 600, Cost: 10}
	if r := Score(sc, outs, nil); r.Attacks[0].Stopped || r.Attacks[0].Leaked != 12 || r.Attacks[0].LeakAfterStop != 10 {
		t.Fatalf("after a later leak: %+v", r.Attacks[0])
	}
}

func TestParseSeeds(t *testing.T) {
	s, err := parseSeeds("1-3, 7,101-102")
	if err != nil || len(s) != 6 || s[0] != 1 || s[3] != 7 || s[5] != 102 {
		t.Fatalf("parseSeeds = %v, %v", s, err)
	}
	for _, bad := range []string{"", "x", "5-2", "1-"} {
		if _, err := parseSeeds(bad); err == nil {
			t.Errorf("parseSeeds(%q) accepted", bad)
		}
	}
}

// TestScoreEndedCall: a single attack call the server ended while it ran
// stops the attack; under the strict definition (refusals only) it does not.
func TestScoreEndedCall(t *testing.T) {
	t0 := time.Date(2025, 3, 3, 0, 0, 0, 0, time.UTC)
	sc := &attackgen.Scenario{Seed: 1, Start: t0, AttackStart: t0, End: t0.Add(24 * time.Hour),
		Attacks: []*attackgen.Attack{{ID: "A01-long_duration", Class: attackgen.LongDuration, Tenant: "t", Extensions: []string{"100"}, Start: t0.Add(time.Hour), End: t0.Add(3 * time.Hour), Cost: 300}}}
	sc.Calls = []attackgen.Call{{ID: "c-1-0000001", Tenant: "t", Extension: "100", Direction: attackgen.Outbound, Start: t0.Add(time.Hour), Label: "A01-long_duration",
		Class: attackgen.LongDuration, Rate: 1, Cost: 300, Billsec: 18000, DestCountry: "SO"}}
	for _, ended := range []bool{false, true} {
		outs := []Outcome{{Action: "allow", Happened: true, Billsec: 900, Cut: true, Ended: ended, Cost: 15}}
		a := Score(sc, outs, nil).Attacks[0]
		if a.Stopped != ended || a.StoppedStrict {
			t.Errorf("ended=%v: stopped %v, strict %v; want %v, false", ended, a.Stopped, a.StoppedStrict, ended)
		}
	}
}

// The same seed driven twice at once, each against its own server,
// gives the same outcome for every call and the same alerts at the same
// times: the drive does not depend on timing (the load, the scheduler,
// the detectors' queue), only on the stream. Before the screenings and
// call events waited for the detectors and the server ran on event time
// only, the same seeds gave different leaks from run to run.
func TestDriveDeterministic(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a scenario twice")
	}
	x := testIntel(t)
	dirs := [2]string{t.TempDir(), t.TempDir()}
	var res [2]RunResult
	var errs [2]error
	var wg sync.WaitGroup
	for i := range dirs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o := opts{scale: 0.1, history: 2, trace: dirs[i]}
			res[i], errs[i] = runOne(o, 5, attackgen.PolicyOperator, x, nil)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	var traces [2][]string
	for i, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "seed-5-operator.jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		traces[i] = traceKeys(t, b)
	}
	a, b := traces[0], traces[1]
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			t.Fatalf("the two drives differ at trace line %d:\n%s\n%s", i+1, a[i], b[i])
		}
	}
	if len(a) != len(b) {
		t.Fatalf("the two drives' traces differ in length: %d and %d lines", len(a), len(b))
	}
	for i := range res {
		res[i].WallS, res[i].Requests = 0, 0
	}
	ja, _ := json.Marshal(res[0])
	jb, _ := json.Marshal(res[1])
	if !bytes.Equal(ja, jb) {
		t.Fatalf("scores differ:\n%s\n%s", ja, jb)
	}
	if len(res[0].Attacks) == 0 || res[0].Alerts == 0 {
		t.Fatalf("nothing to compare: %d attacks, %d alerts", len(res[0].Attacks), res[0].Alerts)
	}
}

func testIntel(t *testing.T) *number.Intel {
	t.Helper()
	x, err := number.New(number.Options{NoCarrier: true})
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// traceKeys is a trace's lines as compared between runs: each call line
// whole, each alert without its details (a detector may list what it
// found in map order there, e.g. the Wangiri callers it remembers).
func traceKeys(t *testing.T, b []byte) []string {
	t.Helper()
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var a struct {
			Alert *Alert `json:"alert"`
		}
		if err := json.Unmarshal([]byte(l), &a); err != nil {
			t.Fatal(err)
		}
		if a.Alert != nil {
			a.Alert.Details = nil
			k, _ := json.Marshal(a.Alert)
			l = string(k)
		}
		out = append(out, l)
	}
	return out
}
