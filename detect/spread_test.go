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

// spreadEngine is a detection engine for a German call centre whose
// baseline (ten days, warm) calls Britain, France and Spain every day,
// with a deck pricing those and five costly countries it called once
// each.
func spreadEngine(t *testing.T) (*detect.Engine, *[]detect.Finding, time.Time) {
	t.Helper()
	det, got := testEngine(t, "DE", "Europe/Berlin", "49,0.01,DE\n44,0.30,GB\n33,0.30,FR\n34,0.30,ES\n960,1.09,MV\n221,0.42,SN\n509,0.96,HT\n685,0.72,WS\n263,0.64,ZW\n")
	t0 := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC) // a Monday
	usual := []string{"+4420791", "+3314261", "+3491523"}
	n := 0
	for d := 0; d < 10; d++ {
		for k := 0; k < 9; k++ {
			n++
			at := t0.Add(time.Duration(d)*24*time.Hour + time.Duration(k)*20*time.Minute)
			r := cdr.Record{CallID: fmt.Sprintf("h%d", n), Tenant: "acme", Extension: fmt.Sprintf("10%02d", k), Callee: fmt.Sprintf("%s%04d", usual[k%3], n),
				Direction: screen.Outbound, Start: at, End: at.Add(185 * time.Second), Duration: 185, Billsec: 180, Disposition: cdr.Answered, SourceIP: "192.0.2.10"}
			if err := det.Observe(&r); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The costly countries were called now and then (fewer than
	// detect.UsualCalls times): not new, not usual.
	for d, pre := range []string{"+9606521", "+2213010", "+5093200", "+685221", "+2637277"} {
		at := t0.Add(time.Duration(d)*24*time.Hour + 4*time.Hour)
		r := cdr.Record{CallID: fmt.Sprintf("o%d", d), Tenant: "acme", Extension: "1010", Callee: fmt.Sprintf("%s%03d", pre, d),
			Direction: screen.Outbound, Start: at, End: at.Add(65 * time.Second), Duration: 65, Billsec: 60, Disposition: cdr.Answered, SourceIP: "192.0.2.10"}
		if err := det.Observe(&r); err != nil {
			t.Fatal(err)
		}
	}
	*got = (*got)[:0]
	return det, got, t0.Add(10*24*time.Hour + 5*time.Hour) // day 11, 14:00
}

// TestWatchSpreadOverExtensions (issue 15, cause 4): an attack spread over
// many extensions and several countries the tenant never calls — one call
// per extension and country, so that no range and no country has
// in_call.concurrent calls up — is added up across the tenant's unusual
// destinations: its calls are ended together, every range blocked, and
// the tenant's further calls to those countries need a PIN.
func TestWatchSpreadOverExtensions(t *testing.T) {
	det, got, at := spreadEngine(t)
	start := func(id, ext, callee string, t0 time.Time) {
		t.Helper()
		if err := det.Start(&cdr.Record{CallID: id, Tenant: "acme", Extension: ext, Callee: callee, Direction: screen.Outbound, Start: t0, SourceIP: "192.0.2.10"}); err != nil {
			t.Fatal(err)
		}
		det.Answer(id, t0.Add(5*time.Second))
	}
	start("s1", "1031", "+9606523867", at)
	start("s2", "1032", "+221301064924", at)
	start("s3", "1033", "+50932007608", at)
	start("s4", "1034", "+68522102", at)
	det.Watch(at.Add(60 * time.Second)) // 55 s × (1.09+0.42+0.96+0.72)/60 = 2.92
	for _, f := range *got {
		if f.Detector == "in_call" {
			t.Fatalf("in-call finding after a minute: %+v", f)
		}
	}
	det.Watch(at.Add(4 * time.Minute)) // 235 s × 3.19/60 = 12.5 ≥ group_cost 10
	var grp *detect.Finding
	pins := map[string]bool{}
	for i, f := range *got {
		switch f.Code {
		case "in_call_concurrency":
			if grp != nil {
				t.Fatalf("two group findings: %+v", *got)
			}
			grp = &(*got)[i]
		case "in_call_class_pin":
			if f.Action != "require_pin" || f.Target.Kind != "prefix" || f.Target.AllTenants || !f.Event {
				t.Errorf("class PIN %+v", f)
			}
			pins[f.Target.Value] = true
		}
	}
	if grp == nil {
		t.Fatalf("no finding across the tenant's unusual destinations: %+v", *got)
	}
	if fmt.Sprint(grp.EndCalls) != "[s1 s2 s3 s4]" {
		t.Errorf("ended %v; want all four calls", grp.EndCalls)
	}
	blocked := []string{grp.Target.Value}
	for _, a := range grp.Also {
		if a.Kind == "prefix" {
			blocked = append(blocked, a.Value)
		}
	}
	if len(blocked) != 4 {
		t.Errorf("blocked %v; want the four ranges", blocked)
	}
	for _, cc := range []string{"960", "221", "509", "685"} {
		if !pins[cc] {
			t.Errorf("no PIN on +%s for the tenant (PINs %v)", cc, pins)
		}
	}
	// The attack moves on to a fifth country, one call from another
	// extension: ended at its start. A call to a usual country goes on.
	*got = (*got)[:0]
	start("s5", "1035", "+2637277474", at.Add(10*time.Minute))
	start("u1", "1001", "+442079460123", at.Add(10*time.Minute))
	var ended []string
	for _, f := range *got {
		ended = append(ended, f.EndCalls...)
	}
	if fmt.Sprint(ended) != "[s5]" {
		t.Errorf("ended %v at their start after the spread; want [s5] (findings %+v)", ended, *got)
	}
}

// TestWatchSpreadLegit: the same shape from a call centre's ordinary
// work — many extensions with calls up at once to costly destinations,
// but ones its baseline calls every day — and two concurrent calls to
// countries it never calls (agents do open new countries) raise no
// in-call finding and no PIN.
func TestWatchSpreadLegit(t *testing.T) {
	det, got, at := spreadEngine(t)
	callees := []string{"+442079460", "+33142612", "+34915230", "+442034560", "+33153401", "+34913456", "+442071230", "+33140203", "+34917890", "+442089870"}
	for i, c := range callees {
		id := fmt.Sprintf("l%d", i)
		if err := det.Start(&cdr.Record{CallID: id, Tenant: "acme", Extension: fmt.Sprintf("10%02d", i), Callee: fmt.Sprintf("%s%03d", c, i), Direction: screen.Outbound, Start: at, SourceIP: "192.0.2.10"}); err != nil {
			t.Fatal(err)
		}
		det.Answer(id, at.Add(5*time.Second))
	}
	for i, c := range []string{"+9606523867", "+50932007608"} {
		id := fmt.Sprintf("n%d", i)
		if err := det.Start(&cdr.Record{CallID: id, Tenant: "acme", Extension: fmt.Sprintf("11%02d", i), Callee: c, Direction: screen.Outbound, Start: at, SourceIP: "192.0.2.10"}); err != nil {
			t.Fatal(err)
		}
		det.Answer(id, at.Add(5*time.Second))
	}
	for m := 1; m <= 12; m++ { // 10 × 0.30 × 12 min = 36 accrued on the usual calls, 2 × ~1 × 12 on the others
		det.Watch(at.Add(time.Duration(m) * time.Minute))
	}
	for _, f := range *got {
		if f.Code == "in_call_concurrency" || f.Code == "in_call_class_pin" {
			t.Errorf("legitimate traffic: %s %s (ends %v)", f.Code, f.Text, f.EndCalls)
		}
		if slices.Contains(f.EndCalls, "l0") {
			t.Errorf("ordinary call ended by %+v", f)
		}
	}
}
