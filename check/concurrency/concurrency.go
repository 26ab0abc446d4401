// Package concurrency limits live calls: concurrent international calls
// per extension and concurrent calls per tenant. A slot is taken when a
// call is let through and freed by its end event, or by its lease when the
// end never comes.
package concurrency

import (
	"context"
	"strconv"
	"time"

	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/counter"
	"github.com/tollgate-voip/tollgate/screen"
)

// Concurrency is the check.
type Concurrency struct {
	t        *config.Tenant
	counters counter.Store
	stale    time.Duration
}

var _ screen.Check = (*Concurrency)(nil)

// New returns the check, or nil when the tenant has no concurrency limits.
// stale is the lease of a slot whose call has no maximum duration.
func New(t *config.Tenant, counters counter.Store, stale time.Duration) screen.Check {
	if !t.Limits.Extension.ConcurrentInternational.On && !t.Limits.Account.ConcurrentCalls.On {
		return nil
	}
	if stale <= 0 {
		stale = 4 * time.Hour
	}
	return &Concurrency{t: t, counters: counters, stale: stale}
}

// Name implements screen.Check.
func (*Concurrency) Name() string { return "concurrency" }

// Lease is how long a call's slot is held without an end event: its
// maximum duration plus a minute of set-up and slack, or the stale bound.
func Lease(c *screen.Call, v *screen.Verdict, stale time.Duration) time.Time {
	if v.MaxDuration > 0 {
		d := time.Duration(v.MaxDuration)*time.Second + 2*time.Minute
		return c.Time.Add(min(d, stale))
	}
	return c.Time.Add(stale)
}

// Check implements screen.Check.
func (k *Concurrency) Check(_ context.Context, c *screen.Call, v *screen.Verdict) screen.Flow {
	if c.Direction != screen.Outbound || v.Action == screen.Reject {
		return screen.Continue
	}
	lease := Lease(c, v, k.stale)
	if l := k.t.Limits.Extension.ConcurrentInternational; l.On && c.International && c.Extension != "" {
		key := counter.Key{Scope: counter.ExtIntlConcurrent, Tenant: c.Tenant, Subject: c.Extension}
		if !k.take(c, v, key, lease, l.N, "limits.extension.concurrent_international", "concurrent international calls for extension ", c.Extension) {
			return screen.Stop
		}
	}
	if l := k.t.Limits.Account.ConcurrentCalls; l.On {
		key := counter.Key{Scope: counter.TenantConcurrent, Tenant: c.Tenant}
		if !k.take(c, v, key, lease, l.N, "limits.account.concurrent_calls", "concurrent calls for tenant ", c.Tenant) {
			return screen.Stop
		}
	}
	return screen.Continue
}

func (k *Concurrency) take(c *screen.Call, v *screen.Verdict, key counter.Key, lease time.Time, n int, field, what, who string) bool {
	held, ok, added := k.counters.Acquire(key, c.ID, c.Time, lease, n)
	if !ok {
		v.Add(screen.Reason{Check: "concurrency", Code: "concurrency_limit", Text: what + who + ": limit " + strconv.Itoa(n) + " reached (" + strconv.Itoa(held) + " live)", Rule: k.t.Rule(field), Action: screen.Reject, Risk: 50})
		return false
	}
	if added && !c.AddHold(screen.Hold{Kind: screen.SlotHold, Key: key, ID: c.ID, Added: true}) {
		k.counters.Release(key, c.ID)
	}
	return true
}
