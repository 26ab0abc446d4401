package detect_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/cdr"
	"github.com/tollgate-voip/tollgate/detect"
	"github.com/tollgate-voip/tollgate/screen"
)

// TestWatchLongUnusualCall (issue 15, long_duration): one call held open
// for hours to a costly destination the tenant does not usually call (a
// revenue-share number at 0.42/min) is ended once it has run longer than
// LongQuantile of the tenant's calls and cost half of in_call.call_cost —
// not left to cost the whole limit. A long call to a country the tenant
// calls every day goes on.
func TestWatchLongUnusualCall(t *testing.T) {
	det, got, at := spreadEngine(t) // calls of 3 min; SN called once
	start := func(id, ext, callee string) {
		t.Helper()
		if err := det.Start(&cdr.Record{CallID: id, Tenant: "acme", Extension: ext, Callee: callee, Direction: screen.Outbound, Start: at, SourceIP: "192.0.2.10"}); err != nil {
			t.Fatal(err)
		}
		det.Answer(id, at.Add(5*time.Second))
	}
	start("long", "1031", "+221301064924") // SN, 0.42/min
	start("gb", "1001", "+442079460123")   // GB, 0.30/min, usual
	det.Watch(at.Add(15 * time.Minute))    // 0.42 × 14m55s = 6.27 < 7.50
	for _, f := range *got {
		if f.Detector == "in_call" {
			t.Fatalf("in-call finding after 15 min: %+v", f)
		}
	}
	det.Watch(at.Add(19 * time.Minute)) // 0.42 × 18m55s = 7.95 ≥ 7.50, far past 3 min
	var ended []string
	for _, f := range *got {
		if f.Detector == "in_call" {
			if f.Code != "in_call_long" || f.Action != "block_and_alert" {
				t.Errorf("finding %s, action %s; want in_call_long, block_and_alert", f.Code, f.Action)
			}
			ended = append(ended, f.EndCalls...)
		}
	}
	if fmt.Sprint(ended) != "[long]" {
		t.Fatalf("ended %v after 19 min; want [long] (findings %+v)", ended, *got)
	}
	*got = (*got)[:0]
	det.Watch(at.Add(45 * time.Minute)) // GB: 0.30 × 44m55s = 13.48 < call_cost 15
	for _, f := range *got {
		if f.Detector == "in_call" {
			t.Fatalf("the usual country's long call was judged: %+v", f)
		}
	}
}

// TestWatchLongNightCall (issue 15, slow_drip): one call a night to a
// destination the tenant does call, cheap enough never to reach half of
// in_call.call_cost: placed off hours (off_hours_international lets it
// through and asks a PIN of the calls after it), it is ended once it has
// run longer than LongQuantile of the tenant's calls.
func TestWatchLongNightCall(t *testing.T) {
	det, got, day := spreadEngine(t) // business-hours calls of 3 min
	at := day.Add(11 * time.Hour)    // 02:00 in Berlin
	if err := det.Start(&cdr.Record{CallID: "drip", Tenant: "acme", Extension: "1031", Callee: "+442079461234", Direction: screen.Outbound, Start: at, SourceIP: "192.0.2.10"}); err != nil {
		t.Fatal(err)
	}
	det.Answer("drip", at.Add(5*time.Second))
	night := false
	for _, f := range *got {
		night = night || f.Code == "off_hours_international"
	}
	if !night {
		t.Fatalf("no off-hours finding at 02:00: %+v", *got)
	}
	det.Watch(at.Add(3 * time.Minute)) // under the tenant's 95th percentile (256 s)
	var ended []string
	for _, f := range *got {
		ended = append(ended, f.EndCalls...)
	}
	if len(ended) != 0 {
		t.Fatalf("ended %v after 3 min", ended)
	}
	det.Watch(at.Add(6 * time.Minute)) // 0.30 × 5m55s = 1.78, far below in_call.call_cost
	for _, f := range *got {
		if f.Code == "in_call_long" {
			ended = append(ended, f.EndCalls...)
		}
	}
	if fmt.Sprint(ended) != "[drip]" {
		t.Fatalf("ended %v after 6 min; want [drip] (findings %+v)", ended, *got)
	}
}

// TestLongCallTimerQuietNight (issue 15, long_duration, held-out seeds
// 407 A06 and 412 A07): event time moves only with events. A call to a
// destination the tenant does not usually call, held open through a night
// in which nothing else happens, never met a look of the watch and ran
// to screening's cap. Its answer now gives the moment the watch will
// judge it long (LongAt: the dialog timer a proxy or PBX ends it by), and
// its end at that moment is judged as a look then would have: the
// finding blocks its destination for the tenant's next calls.
func TestLongCallTimerQuietNight(t *testing.T) {
	det, got, day := spreadEngine(t) // calls of 3 min (95th percentile 256 s)
	at := day.Add(11 * time.Hour)    // 02:00 in Berlin
	if err := det.Start(&cdr.Record{CallID: "sn", Tenant: "acme", Extension: "1031", Callee: "+221301064924", Direction: screen.Outbound, Start: at, SourceIP: "192.0.2.10"}); err != nil {
		t.Fatal(err)
	}
	answered := at.Add(5 * time.Second)
	det.Answer("sn", answered)
	// Placed off hours: judged once it has run past 256 s, whatever it cost.
	end := det.LongAt("sn")
	if want := answered.Add(257 * time.Second); !end.Equal(want) {
		t.Fatalf("LongAt %s; want %s", end, want)
	}
	// By day, to the same destination (SN, 0.42/min, not usual): past 256
	// s and once it cost half of in_call.call_cost (7.50 / 0.42 per min =
	// 1072 s).
	noon := day.Add(time.Hour) // 16:00 in Berlin, the tenant's hours
	if err := det.Start(&cdr.Record{CallID: "sn-day", Tenant: "acme", Extension: "1031", Callee: "+221301064925", Direction: screen.Outbound, Start: noon, SourceIP: "192.0.2.10"}); err != nil {
		t.Fatal(err)
	}
	det.Answer("sn-day", noon)
	if got, want := det.LongAt("sn-day"), noon.Add(1072*time.Second); !got.Equal(want) {
		t.Errorf("LongAt by day %s; want %s", got, want)
	}
	// A usual country by day is not judged long.
	if err := det.Start(&cdr.Record{CallID: "gb", Tenant: "acme", Extension: "1001", Callee: "+442079460123", Direction: screen.Outbound, Start: noon, SourceIP: "192.0.2.10"}); err != nil {
		t.Fatal(err)
	}
	det.Answer("gb", noon)
	if at := det.LongAt("gb"); !at.IsZero() {
		t.Errorf("LongAt of a usual call %s; want none", at)
	}
	*got = (*got)[:0]
	// No Watch: nothing else happened. The call ends by its timer.
	r, ok := det.Ended("sn", end, int(end.Sub(answered)/time.Second), 0)
	if !ok {
		t.Fatal("sn not running")
	}
	if err := det.Observe(&r); err != nil {
		t.Fatal(err)
	}
	var long *detect.Finding
	for i, f := range *got {
		if f.Code == "in_call_long" {
			long = &(*got)[i]
		}
	}
	if long == nil {
		t.Fatalf("no in_call_long at the call's end: %+v", *got)
	}
	if long.Action != "block_and_alert" || long.Target.Value != "221301064924" || len(long.EndCalls) != 0 {
		t.Fatalf("in_call_long %+v; want the number blocked, no call to end (it is over)", *long)
	}
}
