package engine

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/baseline"
	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/screen"
)

// TestLearnedDistinctCallees (issue 15, cause 5): the static limit on
// distinct numbers an extension calls a day refused a busy agent's
// ordinary day (fraudeval seed 416: 29 refusals, one agent of a 400-call
// tenant past 100 numbers on a campaign day). With the agent's warm
// baseline showing 12 calls a day, the limit is learned (12 × 1.5 + 2 =
// 20 distinct numbers): the agent's 6th–20th new numbers go through, the
// 21st is refused naming both limits. An extension without a baseline
// keeps the policy's 5.
func TestLearnedDistinctCallees(t *testing.T) {
	e, ll := learnedEngine(t, func(l *config.Limits) { l.Extension.DistinctCalleesPerDay = config.Limit{On: true, N: 5} })
	l := baseline.New()
	learnDays(l, "1001", 12, 20*time.Minute, 1)
	ll.Store(l.Limits(monday10.Unix(), 7, 30))
	screenTo := func(id, ext string, i int) *screen.Verdict {
		t.Helper()
		return screenOne(t, e, call(id, ext, fmt.Sprintf("0114420712%05d", i), monday10.Add(time.Duration(i)*time.Minute)))
	}
	for i := range 20 {
		if v := screenTo(fmt.Sprintf("busy%d", i), "1001", i); v.Enforced == screen.Reject {
			t.Fatalf("number %d of the busy agent refused: %s", i+1, ReasonText(v))
		}
	}
	v := screenTo("busy20", "1001", 20)
	if v.Enforced != screen.Reject || !strings.Contains(ReasonText(v), "limit 20") || !strings.Contains(ReasonText(v), "policy 5") {
		t.Errorf("21st number: %s %q; want a refusal naming the learned limit 20 and the policy's 5", v.Enforced, ReasonText(v))
	}
	for i := range 5 {
		if v := screenTo(fmt.Sprintf("new%d", i), "1002", i); v.Enforced == screen.Reject {
			t.Fatalf("number %d of an extension without a baseline refused: %s", i+1, ReasonText(v))
		}
	}
	if v := screenTo("new5", "1002", 5); v.Enforced != screen.Reject {
		t.Errorf("6th number of an extension without a baseline: %s; want the policy's limit of 5", v.Enforced)
	}
}
