package detect_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/cdr"
	"github.com/tollgate-voip/tollgate/detect"
	"github.com/tollgate-voip/tollgate/screen"
)

// TestWatchPremiumClassSpend (issue 15, causes 2 and 4): premium pumping
// that never has two calls up at once to one range — one extension after
// another, each call on a new range of the class, each ended by its CDR
// before in_call.call_cost — is stopped once the tenant's spend on the
// class within in_call.class_window_s reaches in_call.class_cost (20):
// the running call is ended, every range of the spend is blocked for the
// tenant only, and a later call to a third range is ended at its start. Two
// ordinary premium calls a day earlier, outside the window, count for
// nothing.
func TestWatchPremiumClassSpend(t *testing.T) {
	det, got := liveEngine(t)
	t0 := time.Date(2026, 11, 23, 15, 0, 0, 0, time.UTC)
	call := func(id, ext, callee string, at time.Time, billsec int) {
		t.Helper()
		r := &cdr.Record{CallID: id, Tenant: "acme", Extension: ext, Callee: callee, Direction: screen.Outbound, Start: at}
		if err := det.Start(r); err != nil {
			t.Fatal(err)
		}
		det.Answer(id, at.Add(5*time.Second))
		if billsec > 0 {
			det.Watch(at.Add(time.Duration(5+billsec) * time.Second))
			e := *r
			e.Answer, e.End = at.Add(5*time.Second), at.Add(time.Duration(5+billsec)*time.Second)
			e.Billsec, e.Duration = billsec, 5+billsec
			if err := det.Observe(&e); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The day before: two ordinary premium calls, 4.50 together.
	call("n1", "1001", "+19005551111", t0.Add(-26*time.Hour), 90)
	call("n2", "1002", "+19005551112", t0.Add(-25*time.Hour), 90)
	// The pumping (US premium-rate, 1.50/min): 400 s = 10.00, ended
	// before call_cost.
	call("a1", "1001", "+19005551234", t0, 400)
	if len(*got) != 0 {
		t.Fatalf("findings after the first call: %+v", *got)
	}
	call("a2", "1002", "+19005561234", t0.Add(10*time.Minute), 0)
	det.Watch(t0.Add(16 * time.Minute)) // 10.00 + 1.50 × 355 s = 18.875
	if len(*got) != 0 {
		t.Fatalf("findings at 18.875 spent: %+v", *got)
	}
	det.Watch(t0.Add(17 * time.Minute)) // 10.00 + 1.50 × 415 s = 20.375 ≥ 20
	if len(*got) != 1 {
		t.Fatalf("want one finding at 20.375 spent, got %+v", *got)
	}
	f := (*got)[0]
	if f.Code != "in_call_class_cost" || fmt.Sprint(f.EndCalls) != "[a2]" || f.Action != "block_and_alert" {
		t.Fatalf("finding: %+v", f)
	}
	if f.Target.Kind != "prefix" || f.Target.Value != "1900556" || f.Target.AllTenants {
		t.Fatalf("target: %+v", f.Target)
	}
	if !slices.ContainsFunc(f.Also, func(x detect.Target) bool { return x.Kind == "prefix" && x.Value == "1900555" && !x.AllTenants }) {
		t.Fatalf("also: %+v", f.Also)
	}
	*got = nil
	// A third range, an hour later: ended at its start, before it is
	// answered, and nothing more when it is watched.
	call("a3", "1003", "+19005571234", t0.Add(time.Hour), 0)
	det.Watch(t0.Add(time.Hour + 15*time.Second))
	if len(*got) != 1 || (*got)[0].Code != "in_call_class_cost" || fmt.Sprint((*got)[0].EndCalls) != "[a3]" || (*got)[0].Target.Value != "1900557" {
		t.Fatalf("findings for the third range: %+v", *got)
	}
	if (*got)[0].Time != t0.Add(time.Hour) {
		t.Fatalf("the third call was judged at %v, not at its start", (*got)[0].Time)
	}
}

// TestWatchPremiumClassSpendWithCallCost: two premium calls up at once, on
// two ranges, judged in one look in which the first reaches
// in_call.call_cost — that call still counts towards the class spend (its
// CDR comes later), so the second is ended by in_call.class_cost in the
// same look.
func TestWatchPremiumClassSpendWithCallCost(t *testing.T) {
	det, got := liveEngine(t)
	t0 := time.Date(2026, 11, 24, 15, 0, 0, 0, time.UTC)
	for i, n := range []string{"+19005551234", "+19005561234"} {
		id, at := fmt.Sprintf("b%d", i+1), t0.Add(time.Duration(i)*4*time.Minute)
		if err := det.Start(&cdr.Record{CallID: id, Tenant: "acme", Extension: fmt.Sprint(1001 + i), Callee: n, Direction: screen.Outbound, Start: at}); err != nil {
			t.Fatal(err)
		}
		det.Answer(id, at)
	}
	det.Watch(t0.Add(10 * time.Minute)) // b1 15.00 (call_cost), b2 9.00: 24.00
	codes := map[string]string{}
	for _, f := range *got {
		codes[f.Code] = fmt.Sprint(f.EndCalls)
	}
	if codes["in_call_cost"] != "[b1]" || codes["in_call_class_cost"] != "[b2]" {
		t.Fatalf("findings: %+v", *got)
	}
}

// TestPremiumClassSpendAtStart: two premium calls that no look at running
// calls saw together (their CDRs came in after the last look) already
// cost the class's limit; the next call to the class is ended at its
// start, before it is answered.
func TestPremiumClassSpendAtStart(t *testing.T) {
	det, got := liveEngine(t)
	t0 := time.Date(2026, 11, 25, 15, 0, 0, 0, time.UTC)
	for i, bill := range []int{400, 480} { // 10.00 + 12.00 at 1.50/min
		at := t0.Add(time.Duration(i) * time.Hour)
		r := &cdr.Record{CallID: fmt.Sprintf("c%d", i+1), Tenant: "acme", Extension: "1001", Callee: fmt.Sprintf("+1900555%04d", i), Direction: screen.Outbound, Start: at}
		if err := det.Start(r); err != nil {
			t.Fatal(err)
		}
		det.Answer(r.CallID, at)
		e := *r
		e.Answer, e.End, e.Billsec, e.Duration = at, at.Add(time.Duration(bill)*time.Second), bill, bill
		if err := det.Observe(&e); err != nil {
			t.Fatal(err)
		}
	}
	if len(*got) != 0 {
		t.Fatalf("findings before the third call: %+v", *got)
	}
	at := t0.Add(2 * time.Hour)
	if err := det.Start(&cdr.Record{CallID: "c3", Tenant: "acme", Extension: "1002", Callee: "+19005561234", Direction: screen.Outbound, Start: at}); err != nil {
		t.Fatal(err)
	}
	if len(*got) != 1 || (*got)[0].Code != "in_call_class_cost" || fmt.Sprint((*got)[0].EndCalls) != "[c3]" || !(*got)[0].Time.Equal(at) {
		t.Fatalf("findings at the third call's start: %+v", *got)
	}
}

// TestPremiumClassTries (issue 15, domestic_premium): premium pumping
// that screening keeps refusing — PIN challenges the intruder fails,
// ranges blocked — costs nothing, so the class's spend never reaches its
// limit; yet each PIN that expires and each new range lets one more call
// run to in_call.call_cost. Past ClassTries calls to a premium class the
// tenant does not usually call within the window, let through or refused
// alike, the next one is ended at its start.
func TestPremiumClassTries(t *testing.T) {
	det, got := liveEngine(t)
	t0 := time.Date(2026, 11, 25, 15, 0, 0, 0, time.UTC)
	// One-ring calls from premium numbers ringing the tenant are not its
	// tries (they cost it nothing).
	for i := 0; i < 12; i++ {
		at := t0.Add(-time.Hour + time.Duration(i)*time.Minute)
		if err := det.Start(&cdr.Record{CallID: fmt.Sprintf("in%d", i), Tenant: "acme", Extension: "1001", Caller: fmt.Sprintf("+1900777%04d", i), Callee: "+12125550100",
			Direction: screen.Inbound, Start: at}); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 10; i++ { // detect.ClassTries
		at := t0.Add(time.Duration(i) * 20 * time.Minute)
		r := &cdr.Record{CallID: fmt.Sprintf("c%d", i), Tenant: "acme", Extension: fmt.Sprintf("10%02d", i%4), Callee: fmt.Sprintf("+1900555%04d", i),
			Direction: screen.Outbound, Start: at}
		var err error
		if i%2 == 0 {
			err = det.Start(r) // challenged: let through, never answered
		} else {
			r.CallID = "attempt:" + r.CallID
			err = det.Attempt(r) // refused (a blocked range)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range *got {
		if f.Detector == "in_call" {
			t.Fatalf("in-call finding within 10 tries: %+v", f)
		}
	}
	// A PIN expired: the next call, to a new range, is let through.
	at := t0.Add(4 * time.Hour)
	if err := det.Start(&cdr.Record{CallID: "next", Tenant: "acme", Extension: "1003", Callee: "+19006391234", Direction: screen.Outbound, Start: at}); err != nil {
		t.Fatal(err)
	}
	var ended []string
	for _, f := range *got {
		if f.Code == "in_call_class_cost" {
			ended = append(ended, f.EndCalls...)
		}
	}
	if fmt.Sprint(ended) != "[next]" {
		t.Fatalf("ended %v at the call's start; want [next] (findings %+v)", ended, *got)
	}
}
