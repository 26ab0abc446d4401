package detect_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/cdr"
	"github.com/tollgate-voip/tollgate/detect"
	"github.com/tollgate-voip/tollgate/screen"
)

// TestBurstLearned (issue 15, cause 5): an agent whose every working day
// has 12 cheap international calls within five minutes (a dialer) is not
// an international_burst at its 10th such call today: its cheap calls are
// held to its learned burst (12 × 1.5 + 2 = 20). Its 20th call in the
// window is a burst; ten calls to a costly range from the same extension
// are one at the 10th, as is an extension without a baseline at its 10th
// cheap call.
func TestBurstLearned(t *testing.T) {
	const deck = "1,0.01,US\n44,0.02,GB\n447700,0.60,GB mobile (high cost)\n"
	t0 := time.Date(2026, 11, 23, 15, 0, 0, 0, time.UTC)
	det, got := testEngine(t, "US", "America/New_York", deck)
	observe := func(id, ext, callee string, at time.Time) {
		t.Helper()
		r := &cdr.Record{CallID: id, Tenant: "acme", Extension: ext, Callee: callee, Direction: screen.Outbound, Start: at,
			Answer: at.Add(5 * time.Second), End: at.Add(65 * time.Second), Billsec: 60, Duration: 65}
		if err := det.Observe(r); err != nil {
			t.Fatal(err)
		}
	}
	bursts := func(ext string) int {
		k := 0
		for _, f := range *got {
			if f.Code == "international_burst" && f.Extension == ext {
				k++
			}
		}
		return k
	}
	for d := 28; d >= 1; d-- {
		day := t0.Add(-time.Duration(d) * 24 * time.Hour)
		for i := range 12 {
			observe(fmt.Sprintf("h%d-%d", d, i), "1001", fmt.Sprintf("+4420712%05d", 100*d+i), day.Add(time.Duration(i)*20*time.Second))
		}
	}
	*got = nil
	call := func(prefix, ext string, n int, at time.Time, callee string) {
		for i := range n {
			observe(fmt.Sprintf("%s%d", prefix, i), ext, fmt.Sprintf(callee, i), at.Add(time.Duration(i)*10*time.Second))
		}
	}
	call("c", "1001", 19, t0, "+4420799%05d")
	if k := bursts("1001"); k != 0 {
		t.Fatalf("19 cheap calls in five minutes from an agent whose learned burst is 12: %d burst findings, want 0: %+v", k, *got)
	}
	observe("c19", "1001", "+442079900019", t0.Add(190*time.Second))
	if k := bursts("1001"); k != 1 {
		t.Fatalf("the 20th cheap call: %d burst findings, want 1", k)
	}
	call("x", "1002", 10, t0.Add(time.Hour), "+4420798%05d")
	if k := bursts("1002"); k != 1 {
		t.Fatalf("10 cheap calls from an extension without a baseline: %d burst findings, want 1", k)
	}
	*got = nil
	call("p", "1001", 10, t0.Add(3*time.Hour), "+44770012%04d")
	if k := bursts("1001"); k != 1 {
		t.Fatalf("10 calls to a 0.60/min range from the busy agent: %d burst findings, want 1 (%+v)", k, *got)
	}
	_ = detect.ChargeableRate
}
