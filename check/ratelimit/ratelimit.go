// Package ratelimit asks for exact sliding-window call counts per
// extension, per tenant and system-wide: international calls per hour,
// premium calls per day, calls to "limit" destinations, distinct callees,
// and international calls per minute across every tenant.
package ratelimit

import (
	"context"
	"strconv"
	"time"

	"github.com/tollgate-voip/tollgate/baseline"
	"github.com/tollgate-voip/tollgate/check"
	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/counter"
	"github.com/tollgate-voip/tollgate/screen"
)

const (
	hour  = time.Hour
	day   = 24 * time.Hour
	month = 30 * day
)

type limit struct {
	scope  counter.Scope
	n      int
	window time.Duration
	rule   string
	what   string // "international calls per hour"
	who    int    // 0 extension, 1 tenant, 2 system
	// applies says which calls count.
	applies func(c *screen.Call) bool
	// byCallee counts distinct callees instead of calls.
	byCallee bool
}

// RateLimit is the check.
type RateLimit struct {
	t       *config.Tenant
	limits  []limit
	learned *baseline.LiveLimits
}

// Learned limits: a warm baseline raises a limit to its largest day's
// count × LearnedMargin + LearnedSlack (extensions) or
// + LearnedTenantSlack (a tenant's day), never lowers it: the policy's
// number is the floor, the learned normal of a busy call center the limit.
const (
	LearnedMargin      = 1.5
	LearnedSlack       = 2
	LearnedTenantSlack = 10
)

var (
	_ screen.Check     = (*RateLimit)(nil)
	_ screen.NeedOwner = (*RateLimit)(nil)
)

func intl(c *screen.Call) bool    { return c.International }
func premium(c *screen.Call) bool { return c.Premium }
func limited(c *screen.Call) bool { return c.Limited }
func any(c *screen.Call) bool     { return c.Dest.E164 != "" }

// New returns the check for a tenant, or nil when every limit is off.
func New(t *config.Tenant, sys *config.System, learned *baseline.LiveLimits) screen.Check {
	r := &RateLimit{t: t, learned: learned}
	add := func(l config.Limit, scope counter.Scope, window time.Duration, field, what string, who int, applies func(*screen.Call) bool, byCallee bool) {
		if !l.On {
			return
		}
		rule := t.Rule(field)
		if who == 2 {
			rule = "system." + field
		}
		r.limits = append(r.limits, limit{scope, l.N, window, rule, what, who, applies, byCallee})
	}
	e, a := &t.Limits.Extension, &t.Limits.Account
	add(e.PremiumCallsPerDay, counter.ExtPremiumCalls, day, "limits.extension.premium_calls_per_day", "premium-rate calls per day", 0, premium, false)
	if b := e.InternationalBurst; b.Calls.On && b.WindowS > 0 {
		w := b.WindowS.Duration()
		add(b.Calls, counter.ExtIntlBurst, w, "limits.extension.international_burst", "international calls per "+w.String(), 0, intl, false)
	}
	add(e.InternationalCallsPerHour, counter.ExtIntlCalls, hour, "limits.extension.international_calls_per_hour", "international calls per hour", 0, intl, false)
	add(e.LimitedCallsPerHour, counter.ExtLimitedCalls, hour, "limits.extension.limited_calls_per_hour", "calls per hour to limited destinations", 0, limited, false)
	add(e.DistinctCalleesPerDay, counter.ExtDistinctDay, day, "limits.extension.distinct_callees_per_day", "distinct numbers called per day", 0, any, true)
	add(e.DistinctCalleesPerMonth, counter.ExtDistinctMonth, month, "limits.extension.distinct_callees_per_month", "distinct numbers called per 30 days", 0, any, true)
	add(a.InternationalCallsDaily, counter.TenantIntlCalls, day, "limits.account.international_calls_daily", "international calls per day", 1, intl, false)
	if sys != nil {
		add(sys.InternationalCallsPerMinute, counter.SystemIntlCalls, time.Minute, "international_calls_per_minute", "international calls per minute", 2, intl, false)
	}
	if len(r.limits) == 0 {
		return nil
	}
	return r
}

// Name is the check's name in the order table and in its reasons.
const Name = "ratelimit"

// Setup builds the check for env's tenant (check.Setup).
func Setup(env *check.Env) (screen.Check, error) { return New(env.Tenant, env.System, env.Limits), nil }

// Name implements screen.Check.
func (*RateLimit) Name() string { return Name }

// Check implements screen.Check.
func (r *RateLimit) Check(_ context.Context, c *screen.Call, v *screen.Verdict) screen.Flow {
	if c.Direction != screen.Outbound {
		return screen.Continue
	}
	subject := c.Extension
	if subject == "" {
		subject = c.Caller
	}
	var ext, ten baseline.Learned
	if lt := r.learned.Load(); lt != nil {
		ext = lt.ExtOrTypical(c.Tenant, subject)
		ten = lt.Tenant[c.Tenant]
	}
	for i := range r.limits {
		l := &r.limits[i]
		if !l.applies(c) {
			continue
		}
		n := l.n
		if l.n > 0 { // a limit of 0 forbids; nothing learned lifts it
			switch l.scope {
			case counter.ExtIntlCalls:
				n = max(n, learnedLimit(ext.IntlHour, LearnedSlack))
			case counter.ExtIntlBurst:
				n = max(n, learnedLimit(ext.IntlBurst, LearnedSlack))
			case counter.TenantIntlCalls:
				n = max(n, learnedLimit(ten.IntlDay, LearnedTenantSlack))
			}
		}
		k := counter.Key{Scope: l.scope}
		switch l.who {
		case 0:
			if subject == "" {
				continue
			}
			k.Tenant, k.Subject = c.Tenant, subject
		case 1:
			k.Tenant = c.Tenant
		}
		id := c.ID
		if l.byCallee {
			id = c.Digits
		}
		if !c.AddNeed(screen.Need{Op: counter.Op{Kind: counter.OpWindow, Key: k, ID: id, Window: l.window, Limit: n}, Owner: r, Tag: i}) {
			v.Add(screen.Reason{Check: "ratelimit", Code: "too_many_limits", Text: "more limits than a call can carry", Rule: l.rule, Action: screen.Reject})
			return screen.Stop
		}
	}
	return screen.Continue
}

// Refused implements screen.NeedOwner.
func (r *RateLimit) Refused(c *screen.Call, v *screen.Verdict, n *screen.Need, res counter.Result) {
	l := &r.limits[n.Tag]
	subject := n.Op.Key.Subject
	text := r.text(l, res.N, subject)
	if n.Op.Limit > l.n {
		// Explainable: the limit applied was learned, not the policy's.
		text = l.what + " for " + r.who(l, subject) + ": limit " + strconv.Itoa(n.Op.Limit) + " reached (" + strconv.Itoa(res.N) +
			" in the window; policy " + strconv.Itoa(l.n) + ", learned from its (or its tenant's typical extension's) busiest day × " + strconv.FormatFloat(LearnedMargin, 'g', -1, 64) + " + slack)"
	}
	v.Add(screen.Reason{Check: "ratelimit", Code: "rate_limit", Text: text, Rule: l.rule, Action: screen.Reject, Risk: 60})
}

// learnedLimit is a learned peak with margin and slack (0: none learned).
func learnedLimit(peak, slack int) int {
	if peak <= 0 {
		return 0
	}
	return int(float64(peak)*LearnedMargin+0.999) + slack
}

func (r *RateLimit) who(l *limit, subject string) string {
	switch l.who {
	case 1:
		return "tenant " + r.t.Name
	case 2:
		return "all tenants"
	}
	return "extension " + subject
}

// Admitted implements screen.NeedOwner.
func (r *RateLimit) Admitted(*screen.Call, *screen.Verdict, *screen.Need, counter.Result) {}

func (r *RateLimit) text(l *limit, n int, subject string) string {
	who := "extension " + subject
	switch l.who {
	case 1:
		who = "tenant " + r.t.Name
	case 2:
		who = "all tenants"
	}
	if l.n == 0 {
		return l.what + " for " + who + ": limit is 0 (not allowed)"
	}
	return l.what + " for " + who + ": limit " + strconv.Itoa(l.n) + " reached (" + strconv.Itoa(n) + " in the window)"
}
