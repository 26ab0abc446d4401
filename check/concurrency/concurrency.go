// Package concurrency limits live calls: concurrent international calls
// per extension and concurrent calls per tenant. A slot is taken when a
// call is let through and freed by its end event, or by its lease when the
// end never comes.
package concurrency

import (
	"context"
	"strconv"
	"time"

	"github.com/tollgate-voip/tollgate/baseline"
	"github.com/tollgate-voip/tollgate/check"
	"github.com/tollgate-voip/tollgate/check/spend"
	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/counter"
	"github.com/tollgate-voip/tollgate/screen"
)

// Concurrency is the check.
type Concurrency struct {
	t       *config.Tenant
	stale   time.Duration
	learned *baseline.LiveLimits
}

// LearnedSlack is added to an extension's learned peak of calls up at
// once (its busiest day in the baseline) where that is above the policy's
// limit: the learned normal plus a margin, never below the policy.
const LearnedSlack = 1

var (
	_ screen.Check     = (*Concurrency)(nil)
	_ screen.NeedOwner = (*Concurrency)(nil)
)

// New returns the check, or nil when the tenant has no concurrency limits.
// stale is the lease of a slot whose call has no maximum duration;
// learned (may be nil) raises the extension limit to a warm baseline's
// peak + LearnedSlack.
func New(t *config.Tenant, stale time.Duration, learned *baseline.LiveLimits) screen.Check {
	if !t.Limits.Extension.ConcurrentInternational.On && !t.Limits.Account.ConcurrentCalls.On {
		return nil
	}
	if stale <= 0 {
		stale = 4 * time.Hour
	}
	return &Concurrency{t: t, stale: stale, learned: learned}
}

// Name is the check's name in the order table and in its reasons.
const Name = "concurrency"

// Setup builds the check for env's tenant (check.Setup).
func Setup(env *check.Env) (screen.Check, error) {
	return New(env.Tenant, env.StaleCallAfter, env.Limits), nil
}

// Name implements screen.Check.
func (*Concurrency) Name() string { return Name }

// Lease is how long a call's slot is held without an end event: its
// maximum duration under the account limits (maxDuration seconds,
// spend.MaxDuration) plus two minutes of set-up and slack, or the stale
// bound.
func Lease(c *screen.Call, maxDuration int, stale time.Duration) time.Time {
	if maxDuration > 0 {
		d := time.Duration(maxDuration)*time.Second + 2*time.Minute
		return c.Time.Add(min(d, stale))
	}
	return c.Time.Add(stale)
}

// Check implements screen.Check.
func (k *Concurrency) Check(_ context.Context, c *screen.Call, v *screen.Verdict) screen.Flow {
	if c.Direction != screen.Outbound {
		return screen.Continue
	}
	lease := Lease(c, spend.MaxDuration(k.t, c), k.stale)
	if l := k.t.Limits.Extension.ConcurrentInternational; l.On && c.International && c.Extension != "" {
		key := counter.Key{Scope: counter.ExtIntlConcurrent, Tenant: c.Tenant, Subject: c.Extension}
		n := l.N
		if lt := k.learned.Load(); lt != nil && n > 0 { // a limit of 0 forbids; nothing learned lifts it
			if p := lt.ExtOrTypical(c.Tenant, c.Extension).Concurrent; p > 0 {
				n = max(n, p+LearnedSlack)
			}
		}
		if !k.take(c, v, key, lease, n, tagExtension) {
			return screen.Stop
		}
	}
	if l := k.t.Limits.Account.ConcurrentCalls; l.On {
		key := counter.Key{Scope: counter.TenantConcurrent, Tenant: c.Tenant}
		if !k.take(c, v, key, lease, l.N, tagTenant) {
			return screen.Stop
		}
	}
	return screen.Continue
}

func (k *Concurrency) take(c *screen.Call, v *screen.Verdict, key counter.Key, lease time.Time, n int, tag int) bool {
	if !c.AddNeed(screen.Need{Op: counter.Op{Kind: counter.OpSlot, Key: key, ID: c.ID, Limit: n, Lease: lease}, Owner: k, Tag: tag}) {
		v.Add(screen.Reason{Check: "concurrency", Code: "too_many_limits", Text: "more limits than a call can carry", Action: screen.Reject})
		return false
	}
	return true
}

// Refused implements screen.NeedOwner.
func (k *Concurrency) Refused(c *screen.Call, v *screen.Verdict, n *screen.Need, r counter.Result) {
	field, what, who := "limits.extension.concurrent_international", "concurrent international calls for extension ", c.Extension
	if n.Tag == tagTenant {
		field, what, who = "limits.account.concurrent_calls", "concurrent calls for tenant ", c.Tenant
	}
	text := what + who + ": limit " + strconv.Itoa(n.Op.Limit) + " reached (" + strconv.Itoa(r.N) + " live)"
	if n.Tag == tagExtension && n.Op.Limit > k.t.Limits.Extension.ConcurrentInternational.N {
		// Explainable: the limit applied was learned, not the policy's.
		text += "; policy " + strconv.Itoa(k.t.Limits.Extension.ConcurrentInternational.N) + ", learned from its (or its tenant's typical extension's) busiest day + " + strconv.Itoa(LearnedSlack)
	}
	v.Add(screen.Reason{Check: "concurrency", Code: "concurrency_limit", Text: text, Rule: k.t.Rule(field), Action: screen.Reject, Risk: 50})
}

// Admitted implements screen.NeedOwner.
func (k *Concurrency) Admitted(*screen.Call, *screen.Verdict, *screen.Need, counter.Result) {}

const (
	tagExtension = iota
	tagTenant
)
