package detect_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/cdr"
	"github.com/tollgate-voip/tollgate/detect"
	"github.com/tollgate-voip/tollgate/screen"
)

// TestPumpingCampaignAllowance (issue 15, cause 5): an outbound dialer
// campaign of a US tenant to Japan, a country it calls every day, places
// 200 calls to 200 different cheap numbers (0.05/min) in an hour. Its
// rates sum to 10/min: slow_pumping (8) blocked the tenant's own
// customers' country for a day (fraudeval -profile wide seed 1: 50
// refusals). With the campaign allowance the campaign scores a quarter and
// nothing fires; the same hour from a tenant that never called Japan
// still trips slow_pumping, and pumping a costly Japanese range (0.60/min)
// does after 14 calls even where Japan is regular.
func TestPumpingCampaignAllowance(t *testing.T) {
	const deck = "1,0.01,US\n81,0.05,JP\n8190,0.60,JP mobile (high cost)\n"
	t0 := time.Date(2026, 11, 23, 15, 0, 0, 0, time.UTC)
	observe := func(det *detect.Engine, id, ext, callee string, at time.Time, billsec int) {
		t.Helper()
		r := &cdr.Record{CallID: id, Tenant: "acme", Extension: ext, Callee: callee, Direction: screen.Outbound, Start: at,
			Answer: at.Add(5 * time.Second), End: at.Add(time.Duration(5+billsec) * time.Second), Billsec: billsec, Duration: 5 + billsec}
		if err := det.Observe(r); err != nil {
			t.Fatal(err)
		}
	}
	history := func(det *detect.Engine) {
		for d := 28; d >= 1; d-- {
			day := t0.Add(-time.Duration(d) * 24 * time.Hour)
			for i := range 3 {
				observe(det, fmt.Sprintf("h%d-%d", d, i), "1001", fmt.Sprintf("+81352%06d", 1000*d+i), day.Add(time.Duration(i)*time.Hour), 120)
			}
			for i := range 5 {
				observe(det, fmt.Sprintf("u%d-%d", d, i), "1002", fmt.Sprintf("+1212555%04d", 100*d+i), day.Add(time.Duration(i)*time.Hour+30*time.Minute), 120)
			}
		}
	}
	rng := rand.New(rand.NewPCG(15, 15))
	campaign := func(det *detect.Engine) {
		for i := range 200 {
			at := t0.Add(time.Duration(i) * 18 * time.Second)
			callee := fmt.Sprintf("+813%d%07d", 1+rng.IntN(8), rng.IntN(10_000_000))
			observe(det, fmt.Sprintf("c%d", i), fmt.Sprintf("10%02d", i%8), callee, at, 30)
		}
	}
	pumped := func(got []detect.Finding) bool {
		for _, f := range got {
			if f.Code == "slow_pumping" || f.Code == "fast_pumping" {
				return true
			}
		}
		return false
	}

	det, got := testEngine(t, "US", "America/New_York", deck)
	history(det)
	*got = nil
	campaign(det)
	if pumped(*got) {
		t.Fatalf("a campaign to a regular country was taken for pumping: %+v", *got)
	}

	cold, coldGot := testEngine(t, "US", "America/New_York", deck)
	campaign(cold)
	if !pumped(*coldGot) {
		t.Fatalf("the same hour from a tenant that never called Japan: no pumping finding (%d findings, %+v)", len(*coldGot), cold.Stats())
	}

	*got = nil
	for i := range 14 {
		observe(det, fmt.Sprintf("p%d", i), "1003", fmt.Sprintf("+8190123%04d", 17*i), t0.Add(2*time.Hour+time.Duration(i)*4*time.Minute), 600)
	}
	if !pumped(*got) {
		t.Fatalf("14 calls to a 0.60/min Japanese range in an hour: no pumping finding")
	}
}
