package engine

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/baseline"
	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/screen"
)

// campaignEngine is learnedEngine with the policy's 5 international calls
// per hour per extension (no premium-rate limit: allowAll's operator
// leaves cost to the detectors), and a tenant whose three agents each made 12
// calls to London numbers in one hour a day for four weeks, plus two calls
// a day to Cuban mobiles two hours later: the learned limit is 12 × 1.5 +
// 2 = 20 calls an hour, and the tenant knows both countries.
func campaignEngine(t *testing.T) func(id, ext, dialed string, i int) *screen.Verdict {
	t.Helper()
	e, ll := learnedEngine(t, func(l *config.Limits) {
		l.Extension.InternationalCallsPerHour = config.Limit{On: true, N: 5}
		l.Extension.PremiumCallsPerDay = config.Limit{}
	}, allowAll)
	l := baseline.New()
	start := monday10.Add(-28 * 24 * time.Hour)
	for _, ext := range []string{"1001", "1002", "1003"} {
		for d := range 28 {
			day := start.Add(time.Duration(d) * 24 * time.Hour)
			for i := range 12 {
				at := day.Add(time.Duration(i) * 4 * time.Minute)
				l.Learn("acme", ext, at, at, "GB", true, 60, 1)
			}
			for i := range 2 {
				at := day.Add(2*time.Hour + time.Duration(i)*time.Minute)
				l.Learn("acme", ext, at, at, "CU", true, 60, 1)
			}
		}
	}
	lt := l.Limits(monday10.Unix(), 7, 30)
	if !lt.KnowsCountry("acme", "GB") || !lt.KnowsCountry("acme", "CU") || lt.KnowsCountry("acme", "FR") {
		t.Fatalf("known countries: GB %v CU %v FR %v; want GB and CU only", lt.KnowsCountry("acme", "GB"), lt.KnowsCountry("acme", "CU"), lt.KnowsCountry("acme", "FR"))
	}
	ll.Store(lt)
	return func(id, ext, dialed string, i int) *screen.Verdict {
		t.Helper()
		v := new(screen.Verdict)
		if err := e.Screen(context.Background(), call(id, ext, dialed, monday10.Add(time.Duration(i)*40*time.Second)), v); err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// allowAll is an operator's allow-by-default policy with nothing blocked,
// no price cap and no hours rule: only the limits refuse.
func allowAll(tn *config.Tenant) {
	rc := map[string]config.Treatment{}
	for _, k := range []string{"high_risk_country", "irsf", "satellite", "premium", "wangiri", "limit"} {
		rc[k] = config.TreatScore
	}
	tn.Destinations = config.Destinations{Default: config.TreatAllow, Invalid: config.TreatAllow, RiskCategories: rc}
	tn.Cost.MaxPricePerMin = config.Amount{}
	tn.Hours.AfterHoursInternational, tn.Hours.NightInternational = config.TreatAllow, config.TreatAllow
}

// firstRefused screens n calls of extension 1001, the i-th to dial(i), 40 s
// apart, and returns the index of the first refused (-1: none) and its
// reason.
func firstRefused(screenAt func(id, ext, dialed string, i int) *screen.Verdict, n int, dial func(i int) string) (int, string) {
	for i := range n {
		if v := screenAt(fmt.Sprintf("c%d", i), "1001", dial(i), i); v.Enforced == screen.Reject {
			return i, ReasonText(v)
		}
	}
	return -1, ""
}

// TestCampaignAllowance (issue 15, cause 5): an agent's dialer run — 80
// different London fixed numbers in 53 minutes, cheap, in a country the
// tenant calls every day — read as a burst by the learned limit of 20 an
// hour (the 21st call was refused before the campaign allowance). Now the
// 80 go through and the 81st is refused, the reason naming the allowance.
func TestCampaignAllowance(t *testing.T) {
	screenAt := campaignEngine(t)
	i, why := firstRefused(screenAt, 81, func(i int) string { return fmt.Sprintf("0114420712%05d", 30000+i) })
	if i != 80 {
		t.Fatalf("campaign of 81 distinct cheap numbers: first refusal at call %d (%q); want the 81st (20 learned × 4)", i+1, why)
	}
	if !strings.Contains(why, "limit 80") || !strings.Contains(why, "campaign allowance") || !strings.Contains(why, "policy 5") {
		t.Errorf("81st call's reason %q; want the limit 80, the policy's 5 and the campaign allowance named", why)
	}
}

// TestCampaignAllowanceNotForPumping: the attacks the allowance must not
// let through keep the learned limit of 20 an hour, the 21st call
// refused: a burst to five cheap London numbers over and over (pumping
// few numbers: each is hot after its 4th call), a burst to 30 different
// Cuban mobiles (a country the tenant calls, but high-cost and a risk
// range), and a burst to 30 different UK premium-rate numbers.
func TestCampaignAllowanceNotForPumping(t *testing.T) {
	for _, tc := range []struct {
		name string
		dial func(i int) string
	}{
		{"few cheap numbers", func(i int) string { return fmt.Sprintf("0114420712%05d", 40000+i%5) }},
		{"many high-cost numbers", func(i int) string { return fmt.Sprintf("011535%07d", 2300000+i) }},
		{"many premium-rate numbers", func(i int) string { return fmt.Sprintf("011449098%06d", 790000+i) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			screenAt := campaignEngine(t)
			i, why := firstRefused(screenAt, 40, tc.dial)
			t.Logf("first refusal at call %d: %s", i+1, why)
			if i != 20 || !strings.Contains(why, "limit 20") {
				t.Fatalf("first refusal at call %d (%q); want the 21st, by the learned limit of 20", i+1, why)
			}
			if strings.Contains(why, "campaign") {
				t.Errorf("reason %q names the campaign allowance; want the learned limit alone", why)
			}
		})
	}
}
