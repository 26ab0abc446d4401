package engine

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/baseline"
	"github.com/tollgate-voip/tollgate/check"
	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/screen"
)

// TestLearnedRateLimits (issue 15, cause 5): the policy's static limit of
// 5 international calls per hour per extension refuses the normal burst of
// a busy call-center agent. With the extension's warm baseline showing 12
// such calls in its busiest hour, the limit is learned (12 × 1.5 + 2 = 20):
// the agent's 6th–20th calls go through, the 21st is refused, and the
// refusal names both the policy's number and the learned one. An
// extension without a baseline keeps the policy's 5.
func TestLearnedRateLimits(t *testing.T) {
	e, ll := learnedEngine(t, func(l *config.Limits) { l.Extension.InternationalCallsPerHour = config.Limit{On: true, N: 5} })
	// Four weeks of history: 12 international calls in one hour a day.
	l := baseline.New()
	learnDays(l, "1001", 12, 4*time.Minute, 1)
	ll.Store(l.Limits(monday10.Unix(), 7, 30))
	screenAt := learnedScreener(t, e, time.Minute)
	for i := range 20 {
		if v := screenAt(fmt.Sprintf("busy%d", i), "1001", i); v.Enforced == screen.Reject {
			t.Fatalf("call %d of the busy agent refused: %s", i+1, ReasonText(v))
		}
	}
	v := screenAt("busy20", "1001", 20)
	if v.Enforced != screen.Reject || !strings.Contains(ReasonText(v), "limit 20") || !strings.Contains(ReasonText(v), "policy 5") {
		t.Errorf("21st call: %s %q; want a refusal naming the learned limit 20 and the policy's 5", v.Enforced, ReasonText(v))
	}
	for i := range 5 {
		if v := screenAt(fmt.Sprintf("new%d", i), "1002", i); v.Enforced == screen.Reject {
			t.Fatalf("call %d of an extension without a baseline refused: %s", i+1, ReasonText(v))
		}
	}
	if v := screenAt("new5", "1002", 5); v.Enforced != screen.Reject {
		t.Errorf("6th call of an extension without a baseline: %s; want the policy's limit of 5", v.Enforced)
	}
}

// TestLearnedConcurrency (issue 15, cause 5): the policy's 2 concurrent
// international calls per extension refuse an agent whose warm baseline
// shows 4 calls up at once on its busiest day; the limit learned is 4 + 1:
// five calls up at once go through, the sixth is refused naming both
// numbers. An extension without a baseline keeps the policy's 2.
func TestLearnedConcurrency(t *testing.T) {
	e, ll := learnedEngine(t, func(l *config.Limits) { l.Extension.ConcurrentInternational = config.Limit{On: true, N: 2} })
	l := baseline.New()
	learnDays(l, "1001", 2, time.Hour, 4)
	ll.Store(l.Limits(monday10.Unix(), 7, 30))
	screenAt := learnedScreener(t, e, time.Second)
	for i := range 5 {
		if v := screenAt(fmt.Sprintf("up%d", i), "1001", i); v.Enforced == screen.Reject {
			t.Fatalf("call %d up at once refused: %s", i+1, ReasonText(v))
		}
	}
	v := screenAt("up5", "1001", 5)
	if v.Enforced != screen.Reject || !strings.Contains(ReasonText(v), "limit 5") || !strings.Contains(ReasonText(v), "policy 2") {
		t.Errorf("6th call up at once: %s %q; want a refusal naming the learned limit 5 and the policy's 2", v.Enforced, ReasonText(v))
	}
	for i := range 2 {
		if v := screenAt(fmt.Sprintf("new%d", i), "1002", i); v.Enforced == screen.Reject {
			t.Fatalf("call %d of an extension without a baseline refused: %s", i+1, ReasonText(v))
		}
	}
	if v := screenAt("new2", "1002", 2); v.Enforced != screen.Reject {
		t.Errorf("3rd call of an extension without a baseline: %s; want the policy's limit of 2", v.Enforced)
	}
}

// TestLearnedTypicalExtension: a new hire (no warm baseline of its own) in
// a call center whose warm agents each make 12 international calls in
// their busiest hour is held to the typical agent's learned limit (20), not
// the policy's floor of 5; its 21st call is refused.
func TestLearnedTypicalExtension(t *testing.T) {
	e, ll := learnedEngine(t, func(l *config.Limits) { l.Extension.InternationalCallsPerHour = config.Limit{On: true, N: 5} })
	l := baseline.New()
	for _, ext := range []string{"1001", "1002", "1003"} {
		learnDays(l, ext, 12, 4*time.Minute, 1)
	}
	ll.Store(l.Limits(monday10.Unix(), 7, 30))
	screenAt := learnedScreener(t, e, time.Minute)
	for i := range 21 {
		v := screenAt(fmt.Sprintf("hire%d", i), "1099", i)
		if refused := v.Enforced == screen.Reject; refused != (i == 20) {
			t.Fatalf("new hire's call %d: %s %q; want only the 21st refused", i+1, v.Enforced, ReasonText(v))
		}
	}
}

// learnedEngine is an engine whose tenants' only limit is the one set
// applies (every other international limit off), with learned limits
// read from the LiveLimits it returns; each of more then edits the
// defaults and every tenant.
func learnedEngine(t *testing.T, set func(l *config.Limits), more ...func(*config.Tenant)) (*Engine, *baseline.LiveLimits) {
	t.Helper()
	cfg := config.Default()
	l := &cfg.Defaults.Limits
	l.Extension.InternationalCallsPerHour = config.Limit{}
	l.Extension.InternationalBurst.Calls = config.Limit{}
	l.Extension.ConcurrentInternational = config.Limit{}
	l.Account.InternationalCallsDaily = config.Limit{}
	set(l)
	for _, f := range more {
		f(cfg.Defaults)
	}
	for _, tn := range cfg.Tenants {
		tn.Limits = cfg.Defaults.Limits
		for _, f := range more {
			f(tn)
		}
	}
	ll := &baseline.LiveLimits{}
	e, err := New(Options{Config: cfg, Numbers: testIntel(t), Env: check.Env{Limits: ll}})
	if err != nil {
		t.Fatal(err)
	}
	return e, ll
}

// learnedScreener screens the i-th call of an extension to a UK number,
// i steps after monday10.
// learnDays teaches l four weeks before monday10 of ext calling GB n
// times a day, every step from the day's start, with concurrency conc.
func learnDays(l *baseline.Learner, ext string, n int, step time.Duration, conc int) {
	start := monday10.Add(-28 * 24 * time.Hour)
	for d := range 28 {
		for i := range n {
			at := start.Add(time.Duration(d)*24*time.Hour + time.Duration(i)*step)
			l.Learn("acme", ext, at, at, "GB", true, 60, conc)
		}
	}
}

func learnedScreener(t *testing.T, e *Engine, step time.Duration) func(id, ext string, i int) *screen.Verdict {
	return func(id, ext string, i int) *screen.Verdict {
		t.Helper()
		v := new(screen.Verdict)
		if err := e.Screen(context.Background(), call(id, ext, "011442071234567", monday10.Add(time.Duration(i)*step)), v); err != nil {
			t.Fatal(err)
		}
		return v
	}
}
