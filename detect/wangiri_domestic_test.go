package detect_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/cdr"
	"github.com/tollgate-voip/tollgate/screen"
)

// TestWangiriDomesticChargeableCaller (issue 15, wangiri): a one-ring call
// from a domestic personal number (+44 70, chargeable to call back) is
// Wangiri bait like a foreign one: the caller is remembered and the
// callback is found. A one-ring call from an ordinary domestic number is
// not.
func TestWangiriDomesticChargeableCaller(t *testing.T) {
	det, got := testEngine(t, "GB", "Europe/London", "44,0.01,GB\n4470,0.31,GB personal\n")
	t0 := time.Date(2026, 11, 23, 12, 14, 0, 0, time.UTC)
	ring := func(id, caller string, at time.Time) {
		t.Helper()
		r := cdr.Record{CallID: id, Tenant: "acme", Extension: "243", Caller: caller, Callee: "+441256801761", Direction: screen.Inbound,
			Start: at, End: at.Add(2 * time.Second), Duration: 2, Disposition: cdr.NoAnswer}
		if err := det.Observe(&r); err != nil {
			t.Fatal(err)
		}
	}
	ring("p1", "+447071938863", t0)
	ring("o1", "+441632960123", t0.Add(time.Minute))
	back := func(id, callee string, at time.Time) {
		t.Helper()
		r := cdr.Record{CallID: id, Tenant: "acme", Extension: "236", Callee: callee, Direction: screen.Outbound,
			Start: at, End: at.Add(250 * time.Second), Duration: 250, Billsec: 245, Disposition: cdr.Answered}
		if err := det.Observe(&r); err != nil {
			t.Fatal(err)
		}
	}
	back("b1", "+447071938863", t0.Add(20*time.Hour))
	back("b2", "+441632960123", t0.Add(20*time.Hour+time.Minute))
	var callbacks []string
	remembered := false
	for _, f := range *got {
		switch f.Code {
		case "wangiri_callback":
			callbacks = append(callbacks, f.CallIDs...)
		case "wangiri_caller":
			for _, n := range f.Remember {
				remembered = remembered || n == "447071938863"
				if n == "441632960123" {
					t.Errorf("the ordinary domestic caller was remembered: %+v", f)
				}
			}
		}
	}
	if !remembered {
		t.Errorf("the personal-number caller was not remembered (findings %+v)", *got)
	}
	if len(callbacks) != 1 || callbacks[0] != "b1" {
		t.Errorf("callbacks found %v; want [b1]", callbacks)
	}
}

// TestWangiriWaveEvidenceOrdered: the numbers a wave alert lists (and
// remembers) come in one order, so the same calls give the same alert on
// every run and every node (the deterministic fraudeval drive found them
// in map order).
func TestWangiriWaveEvidenceOrdered(t *testing.T) {
	det, got := testEngine(t, "GB", "Europe/London", "44,0.01,GB\n216,0.30,TN\n")
	t0 := time.Date(2026, 11, 23, 3, 10, 0, 0, time.UTC)
	for i := range 30 {
		at := t0.Add(time.Duration(i) * 20 * time.Second)
		r := cdr.Record{CallID: fmt.Sprintf("w%d", i), Tenant: "acme", Extension: "243", Caller: fmt.Sprintf("+2162%07d", 9000000-i*7919),
			Callee: "+441256801761", Direction: screen.Inbound, Start: at, End: at.Add(time.Second), Duration: 1, Disposition: cdr.NoAnswer}
		if err := det.Observe(&r); err != nil {
			t.Fatal(err)
		}
	}
	waves := 0
	for _, f := range *got {
		if f.Code != "wangiri_wave" {
			continue
		}
		waves++
		if len(f.Remember) < 2 || !slices.IsSorted(f.Remember) {
			t.Errorf("wave evidence %v: want two or more numbers, sorted", f.Remember)
		}
	}
	if waves == 0 {
		t.Fatalf("no wangiri_wave from 30 one-ring calls of +216 (findings %+v)", *got)
	}
}
