package detect_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/baseline"
	"github.com/tollgate-voip/tollgate/cdr"
	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/detect"
	"github.com/tollgate-voip/tollgate/detect/all"
	"github.com/tollgate-voip/tollgate/engine"
	"github.com/tollgate-voip/tollgate/number"
	"github.com/tollgate-voip/tollgate/screen"
)

func liveEngine(t *testing.T) (*detect.Engine, *[]detect.Finding) {
	t.Helper()
	return testEngine(t, "US", "America/New_York", "1,0.01,US\n49,0.02,DE\n49900,3.00,DE premium\n49901,3.00,DE premium\n49902,3.00,DE premium\n")
}

// testEngine is a detection engine with every detector on, for one
// tenant "acme" in country (zone tz), priced by the rate deck lines given
// (prefix,price_per_min,description); its findings land in the slice.
func testEngine(t *testing.T, country, tz, rates string) (*detect.Engine, *[]detect.Finding) {
	t.Helper()
	deck := filepath.Join(t.TempDir(), "rates.csv")
	if err := os.WriteFile(deck, []byte("prefix,price_per_min,description\n"+rates), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse("t.yaml", []byte("defaults: {country: "+country+", timezone: "+tz+", on_error: fail_closed}\nnumbers: {rate_deck: "+deck+"}\ntenants: {acme: {}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	in, err := number.New(number.Options{RateFile: deck})
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.New(engine.Options{Config: cfg, Numbers: in})
	if err != nil {
		t.Fatal(err)
	}
	var got []detect.Finding
	base := baseline.New()
	return detect.NewEngine(&cfg.Detect, eng, base, all.Build(&cfg.Detect, base), func(f detect.Finding) { got = append(got, f) }), &got
}

// TestWatchRunningCalls (issue 15, cause 2): calls are judged at their
// start and watched while they run. One long call to a premium number is
// ended once its accrued cost reaches in_call.call_cost; three calls up at
// once to one premium range are ended together once their accrued cost
// reaches in_call.group_cost — long before any CDR.
func TestWatchRunningCalls(t *testing.T) {
	det, got := liveEngine(t)
	t0 := time.Date(2026, 11, 23, 15, 0, 0, 0, time.UTC)
	start := func(id, ext, callee string, at time.Time) {
		t.Helper()
		if err := det.Start(&cdr.Record{CallID: id, Tenant: "acme", Extension: ext, Callee: callee, Direction: screen.Outbound, Start: at}); err != nil {
			t.Fatal(err)
		}
		det.Answer(id, at.Add(5*time.Second))
	}
	start("long", "1001", "+499001234561", t0)
	det.Watch(t0.Add(5 * time.Minute)) // 3.00/min × 4m55s = 14.75 < 15 (call_cost 15 in the policy)
	if len(*got) != 0 {
		t.Fatalf("findings after 5 min: %+v", *got)
	}
	det.Watch(t0.Add(7 * time.Minute)) // 20.75 ≥ 15
	if len(*got) != 1 || (*got)[0].Code != "in_call_cost" || fmt.Sprint((*got)[0].EndCalls) != "[long]" {
		t.Fatalf("findings after 7 min: %+v", *got)
	}
	*got = nil
	for i := 1; i <= 3; i++ {
		start(fmt.Sprintf("g%d", i), fmt.Sprintf("200%d", i), fmt.Sprintf("+49900765432%d", i), t0.Add(time.Hour))
	}
	det.Watch(t0.Add(time.Hour + 30*time.Second)) // 3 × 3.00 × 25 s = 3.75
	if len(*got) != 0 {
		t.Fatalf("findings 30 s into the group: %+v", *got)
	}
	det.Watch(t0.Add(time.Hour + 2*time.Minute)) // 3 × 3.00 × 115 s = 17.25 ≥ 10
	if len(*got) != 1 || (*got)[0].Code != "in_call_concurrency" || fmt.Sprint((*got)[0].EndCalls) != "[g1 g2 g3]" {
		t.Fatalf("findings 2 min into the group: %+v", *got)
	}
	f := (*got)[0]
	if f.Target.Kind != "prefix" || f.Target.Value != "49900" || !f.Target.AllTenants || f.Action != "block_and_alert" {
		t.Errorf("target %+v, action %s; want the range for every tenant", f.Target, f.Action)
	}
	// Their CDRs later: not judged again by the start-time detectors.
	for i := 1; i <= 3; i++ {
		r := cdr.Record{CallID: fmt.Sprintf("g%d", i), Tenant: "acme", Extension: fmt.Sprintf("200%d", i), Callee: fmt.Sprintf("+49900765432%d", i),
			Direction: screen.Outbound, Start: t0.Add(time.Hour), Duration: 130, Billsec: 125, Disposition: cdr.Answered}
		if err := det.Observe(&r); err != nil {
			t.Fatal(err)
		}
	}
	if det.Running() != 1 { // "long" never sent its CDR
		t.Errorf("%d calls still running after their CDRs; want 1", det.Running())
	}
}

// TestWatchAcrossRanges: costly calls to a destination class the tenant
// does not call, up at once on different ranges and extensions (an attack
// spread so that no range has in_call.concurrent calls), are added up per
// tenant and class and ended together; every range they reached is
// blocked. Cheap calls to the tenant's own country are never grouped so.
func TestWatchAcrossRanges(t *testing.T) {
	det, got := liveEngine(t)
	t0 := time.Date(2026, 11, 23, 15, 0, 0, 0, time.UTC)
	start := func(id, ext, callee string) {
		t.Helper()
		if err := det.Start(&cdr.Record{CallID: id, Tenant: "acme", Extension: ext, Callee: callee, Direction: screen.Outbound, Start: t0}); err != nil {
			t.Fatal(err)
		}
		det.Answer(id, t0.Add(5*time.Second))
	}
	// Three premium ranges (deck prefixes 49900, 49901, 49902).
	start("r1", "2001", "+499001234567")
	start("r2", "2002", "+499011234567")
	start("r3", "2003", "+499021234567")
	for i := 0; i < 5; i++ {
		start(fmt.Sprintf("us%d", i), fmt.Sprintf("300%d", i), fmt.Sprintf("+1212555010%d", i))
	}
	det.Watch(t0.Add(2 * time.Minute)) // 3 × 3.00 × 115 s = 17.25 ≥ group_cost 10
	var f *detect.Finding
	for i := range *got {
		if (*got)[i].Code == "in_call_concurrency" {
			if f != nil {
				t.Fatalf("two group findings: %+v", *got)
			}
			f = &(*got)[i]
		}
	}
	if f == nil {
		t.Fatalf("no group finding across ranges: %+v", *got)
	}
	if fmt.Sprint(f.EndCalls) != "[r1 r2 r3]" {
		t.Errorf("ended %v; want the three premium calls only", f.EndCalls)
	}
	ranges := map[string]bool{f.Target.Value: true}
	for _, a := range f.Also {
		if a.Kind == "prefix" {
			ranges[a.Value] = true
		}
	}
	if len(ranges) != 3 {
		t.Errorf("blocked ranges %v (target %+v, also %+v); want all three", ranges, f.Target, f.Also)
	}
}

// tally is a detector that counts the calls it judges; endOnly says which
// kind it is.
type tally struct {
	endOnly bool
	calls   map[string]int
}

func (d *tally) Name() string  { return "tally" }
func (d *tally) EndOnly() bool { return d.endOnly }
func (d *tally) Observe(c *detect.Call, _ time.Time, _ detect.Emit) {
	d.calls[c.Rec.CallID]++
}

// TestForgetStartedCall: a started call the screening engine stopped
// waiting for leaves the running set and the in-call watch (an answered
// premium call that would have cost 15 is never reported), and its CDR,
// if one comes within the next hour or two, meets only the end-time
// detectors — it is neither a duplicate nor judged at its start a second
// time. An id never started is not affected.
func TestForgetStartedCall(t *testing.T) {
	cfg, err := config.Parse("t.yaml", []byte("defaults: {country: US, timezone: America/New_York, on_error: fail_closed}\ntenants: {acme: {}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	in, err := number.New(number.Options{})
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.New(engine.Options{Config: cfg, Numbers: in})
	if err != nil {
		t.Fatal(err)
	}
	atStart, atEnd := &tally{calls: map[string]int{}}, &tally{endOnly: true, calls: map[string]int{}}
	det := detect.NewEngine(&cfg.Detect, eng, nil, []detect.Detector{atStart, atEnd}, func(detect.Finding) {})
	t0 := time.Date(2026, 11, 23, 15, 0, 0, 0, time.UTC)
	rec := func(id string) *cdr.Record {
		return &cdr.Record{CallID: id, Tenant: "acme", Extension: "1001", Callee: "+442071234567", Direction: screen.Outbound, Start: t0}
	}
	for _, id := range []string{"a", "b"} {
		if err := det.Start(rec(id)); err != nil {
			t.Fatal(err)
		}
		det.Answer(id, t0.Add(5*time.Second))
	}
	det.Forget([]string{"a", "never-started"})
	if det.Running() != 1 || det.Stats().Forgotten != 1 {
		t.Fatalf("running %d, forgotten %d after forgetting a; want 1 and 1", det.Running(), det.Stats().Forgotten)
	}
	if err := det.Start(rec("a")); err == nil {
		t.Errorf("a forgotten call started again")
	}
	r := rec("a")
	r.Duration, r.Billsec, r.Disposition = 600, 595, cdr.Answered
	if err := det.Observe(r); err != nil {
		t.Fatalf("CDR of a forgotten call: %v", err)
	}
	if atStart.calls["a"] != 1 || atEnd.calls["a"] != 1 {
		t.Errorf("a judged %d times at its start and %d at its end; want 1 and 1", atStart.calls["a"], atEnd.calls["a"])
	}
	if err := det.Observe(r); err == nil {
		t.Errorf("the same CDR twice: no duplicate")
	}
	if c, ok := det.CostOf("a"); !ok || c < 0 {
		t.Errorf("CostOf(a) = %v, %v after its CDR", c, ok)
	}
	// Forgotten calls are remembered one to two hours of event time: d's
	// CDR after two more forgotten generations is judged whole again.
	for i, id := range []string{"d", "e", "f"} {
		r := rec(id)
		r.Start = t0.Add(time.Duration(i) * 61 * time.Minute)
		if err := det.Start(r); err != nil {
			t.Fatal(err)
		}
		det.Forget([]string{id})
	}
	r = rec("d")
	r.Duration, r.Billsec, r.Disposition = 60, 55, cdr.Answered
	if err := det.Observe(r); err != nil {
		t.Fatal(err)
	}
	if atStart.calls["d"] != 2 || atEnd.calls["d"] != 1 {
		t.Errorf("d, forgotten over two hours before its CDR, judged %d/%d; want 2/1", atStart.calls["d"], atEnd.calls["d"])
	}
	// Never started, never forgotten: judged by both at its CDR.
	r = rec("c")
	r.Duration, r.Billsec, r.Disposition = 60, 55, cdr.Answered
	if err := det.Observe(r); err != nil {
		t.Fatal(err)
	}
	if atStart.calls["c"] != 1 || atEnd.calls["c"] != 1 {
		t.Errorf("c judged %d/%d; want 1/1", atStart.calls["c"], atEnd.calls["c"])
	}
}

// TestForgottenCallNotWatched: the in-call watch no longer accrues a
// forgotten call.
func TestForgottenCallNotWatched(t *testing.T) {
	det, got := liveEngine(t)
	t0 := time.Date(2026, 11, 23, 15, 0, 0, 0, time.UTC)
	if err := det.Start(&cdr.Record{CallID: "long", Tenant: "acme", Extension: "1001", Callee: "+499001234561", Direction: screen.Outbound, Start: t0}); err != nil {
		t.Fatal(err)
	}
	det.Answer("long", t0.Add(5*time.Second))
	det.Forget([]string{"long"})
	det.Watch(t0.Add(7 * time.Minute)) // 20.75 ≥ 15 had it been watched
	if len(*got) != 0 || det.Running() != 0 {
		t.Errorf("findings %+v, running %d after forgetting the call", *got, det.Running())
	}
}
