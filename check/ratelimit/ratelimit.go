// Package ratelimit asks for exact sliding-window call counts per
// extension, per tenant and system-wide: international calls per hour,
// premium calls per day, calls to "limit" destinations, distinct callees,
// and international calls per minute across every tenant.
package ratelimit

import (
	"context"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/tollgate-voip/tollgate/baseline"
	"github.com/tollgate-voip/tollgate/check"
	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/counter"
	"github.com/tollgate-voip/tollgate/number"
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
	hot     hotNumbers
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

// Campaign allowance. An outbound campaign — a dialer working through
// many customers of a country the tenant calls regularly — looks like a
// burst to a count limit learned from ordinary days, while pumping pays
// only where a call is costly, and calls few numbers again and again.
// A campaign-like call (see campaignLike) is held to CampaignFactor × the
// learned international limits (never less than the policy's), and is
// campaign-like only while its number has had fewer than CampaignRepeats calls from the
// tenant in CampaignRepeatWindow; every other call keeps the learned
// limits as they are (and counts the campaign's calls in its windows).
const (
	CampaignFactor       = 4
	CampaignRepeats      = 4
	CampaignRepeatWindow = time.Hour
	// CampaignMaxRate is the most a campaign-like call may cost per
	// minute: cheap termination (detect.ChargeableRate, the price from
	// which the detectors treat any number as chargeable).
	CampaignMaxRate = 0.10
)

// campaignLike reports whether c is a call an outbound campaign makes: an
// international call to a mobile or fixed number (not premium, not
// "limit", in no risk range) priced in the rate deck below
// CampaignMaxRate, in a country the tenant's warm baseline calls
// regularly (baseline.Limits.Known), to a number that is not hot (see
// Admitted). Unknown price, type or history: no.
func (r *RateLimit) campaignLike(c *screen.Call, lt *baseline.Limits) bool {
	if lt == nil || !c.International || c.Premium || c.Limited || len(c.Dest.Risk) > 0 {
		return false
	}
	switch c.Dest.Type {
	case number.Mobile, number.FixedLine, number.FixedLineOrMobile:
	default:
		return false
	}
	return c.Dest.Rate > 0 && c.Dest.Rate < CampaignMaxRate && c.Dest.Country != "" && lt.KnowsCountry(c.Tenant, c.Dest.Country) &&
		!r.hot.is(c.Digits, c.Time)
}

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
	lt := r.learned.Load()
	if lt != nil {
		ext = lt.ExtOrTypical(c.Tenant, subject)
		ten = lt.Tenant[c.Tenant]
	}
	campaign := r.campaignLike(c, lt)
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
			case counter.ExtDistinctDay:
				// Distinct numbers a day are at most the day's calls: a
				// busy agent's learned day lifts the policy's count.
				n = max(n, learnedLimit(ext.OutDay, LearnedSlack))
			}
			if campaign && learnedScope(l.scope) {
				n *= CampaignFactor
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
	if campaign {
		// Count the calls to this number; the count never refuses, it
		// tells Admitted when a number is called again and again.
		k := counter.Key{Scope: counter.TenantCalleeCalls, Tenant: c.Tenant, Subject: c.Digits}
		if !c.AddNeed(screen.Need{Op: counter.Op{Kind: counter.OpWindow, Key: k, ID: c.ID, Window: CampaignRepeatWindow, Limit: math.MaxInt32}, Owner: r, Tag: repeatTag}) {
			v.Add(screen.Reason{Check: "ratelimit", Code: "too_many_limits", Text: "more limits than a call can carry", Rule: "ratelimit.campaign", Action: screen.Reject})
			return screen.Stop
		}
	}
	return screen.Continue
}

// repeatTag marks the campaign allowance's per-number need.
const repeatTag = -1

// learnedScope reports whether a scope's limit is learned (and so raised
// for a campaign).
func learnedScope(s counter.Scope) bool {
	return s == counter.ExtIntlCalls || s == counter.ExtIntlBurst || s == counter.TenantIntlCalls
}

// Refused implements screen.NeedOwner.
func (r *RateLimit) Refused(c *screen.Call, v *screen.Verdict, n *screen.Need, res counter.Result) {
	if n.Tag == repeatTag { // never refuses (limit MaxInt32)
		return
	}
	l := &r.limits[n.Tag]
	subject := n.Op.Key.Subject
	text := r.text(l, res.N, subject)
	if l.n > 0 && learnedScope(l.scope) && r.campaignLike(c, r.learned.Load()) {
		text = l.what + " for " + r.who(l, subject) + ": limit " + strconv.Itoa(n.Op.Limit) + " reached (" + strconv.Itoa(res.N) +
			" in the window; policy " + strconv.Itoa(l.n) + ", its learned limit × " + strconv.Itoa(CampaignFactor) + ", the campaign allowance for cheap " +
			c.Dest.Type.String() + " numbers in " + c.Dest.Country + ", a country the tenant calls)"
	} else if n.Op.Limit > l.n {
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

// Admitted implements screen.NeedOwner: a number the tenant has called
// CampaignRepeats times in the window is hot — its next calls are not
// campaign-like (pumping calls the same few numbers).
func (r *RateLimit) Admitted(c *screen.Call, _ *screen.Verdict, n *screen.Need, res counter.Result) {
	if n.Tag == repeatTag && res.N >= CampaignRepeats {
		r.hot.mark(c.Digits, c.Time)
	}
}

// hotNumbers remembers, per check (one tenant), the numbers called
// CampaignRepeats times within CampaignRepeatWindow, with when that was
// last seen (event time). Bounded: past maxHot entries it starts afresh.
type hotNumbers struct {
	mu sync.Mutex
	m  map[string]time.Time
}

const maxHot = 4096

func (h *hotNumbers) mark(digits string, t time.Time) {
	h.mu.Lock()
	if h.m == nil || len(h.m) >= maxHot {
		h.m = make(map[string]time.Time)
	}
	if t.After(h.m[digits]) {
		h.m[digits] = t
	}
	h.mu.Unlock()
}

// is reports whether digits was hot within CampaignRepeatWindow before t.
func (h *hotNumbers) is(digits string, t time.Time) bool {
	h.mu.Lock()
	at, ok := h.m[digits]
	h.mu.Unlock()
	return ok && t.Sub(at) < CampaignRepeatWindow
}

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
