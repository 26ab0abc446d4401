// Package counter keeps the exact sliding-window counts, concurrency slots
// and spend sums that limits are checked against. Memory is the in-process
// implementation; a shared implementation (Redis) satisfies the same Store
// so several tollgate nodes enforce one limit together.
package counter

import "time"

// Scope says what a key counts. Scopes keep keys of different limits apart
// without building strings on the hot path.
type Scope uint8

// Scopes used by the limit checks.
const (
	ExtIntlCalls      Scope = iota + 1 // international calls of one extension
	ExtPremiumCalls                    // premium-rate calls of one extension
	ExtLimitedCalls                    // calls of one extension to "limit" destinations
	ExtDistinctDay                     // distinct callees of one extension, 24 h
	ExtDistinctMonth                   // distinct callees of one extension, 30 days
	ExtIntlConcurrent                  // live international calls of one extension
	TenantIntlCalls                    // international calls of one tenant
	TenantIntlSpend                    // international spend of one tenant, per local day
	TenantConcurrent                   // live calls of one tenant
	SystemIntlCalls                    // international calls of every tenant
	SystemSpend                        // spend of every tenant, per UTC day
	ExtIntlBurst                       // international calls of one extension, short window

	// Failure windows of the SIP attack guard (package attack): system-wide
	// keys (no tenant) whose subject is an address or an account.
	AttackIPFailures        // failed authentications and scans from one source address
	AttackAccountFailures   // failed authentications of one account
	AttackVoicemailFailures // wrong PINs for one voicemail box

	TenantCalleeCalls // calls of one tenant to one number (check/ratelimit's campaign allowance)
)

var scopeNames = [...]string{"", "ext_intl_calls", "ext_premium_calls", "ext_limited_calls",
	"ext_distinct_day", "ext_distinct_month", "ext_intl_concurrent", "tenant_intl_calls",
	"tenant_intl_spend", "tenant_concurrent", "system_intl_calls", "system_spend", "ext_intl_burst",
	"attack_ip_failures", "attack_account_failures", "attack_voicemail_failures",
	"tenant_callee_calls"}

func (s Scope) String() string {
	if int(s) < len(scopeNames) {
		return scopeNames[s]
	}
	return "scope?"
}

// ParseScope is the inverse of Scope.String.
func ParseScope(s string) (Scope, bool) {
	for i, n := range scopeNames {
		if i > 0 && n == s {
			return Scope(i), true
		}
	}
	return 0, false
}

// Key names one counter. It is comparable and built without allocating.
type Key struct {
	Scope   Scope
	Tenant  string
	Subject string // extension, or "" for tenant and system scopes
	Bucket  int64  // calendar bucket (day number) for sums; 0 otherwise
}

// Store holds counters. Every method is safe for concurrent use and every
// mutation is idempotent by id, so a retried request never counts twice.
// Times are event times, never the clock of the process.
type Store interface {
	// Apply runs one decision's operations atomically: all admitted and
	// applied, or none applied and the index of the first refused op
	// returned (-1 when all were admitted). A shared store that cannot be
	// reached counts locally and returns Unavailable when the local count
	// admitted every op. It is the only call on the screening path.
	Apply(t time.Time, ops []Op, res []Result) (failed int)

	// Reserve records event id at t in key's window if fewer than limit
	// events lie in (t-window, t]. It reports the count including this
	// event, whether the event was admitted, and whether it was new (an id
	// already in the window is admitted again without counting twice).
	Reserve(k Key, id string, t time.Time, window time.Duration, limit int) (n int, ok, added bool)
	// Unreserve removes event id from key's window.
	Unreserve(k Key, id string)
	// Count is the number of events in (t-window, t].
	Count(k Key, t time.Time, window time.Duration) int

	// Acquire takes a concurrency slot for id, held until released or
	// until its lease ends, if fewer than limit slots are held at t. An id
	// that already holds a slot keeps it (its lease is moved) and added
	// is false.
	Acquire(k Key, id string, t, lease time.Time, limit int) (held int, ok, added bool)
	// Extend moves the lease of a held slot.
	Extend(k Key, id string, lease time.Time) bool
	// Release frees id's slot; it reports whether a slot was held.
	Release(k Key, id string) bool
	// Held is the number of unexpired slots at t.
	Held(k Key, t time.Time) int

	// Add adds amount to key's sum once per id and returns the new sum.
	Add(k Key, id string, amount float64) float64
	// Sum returns key's sum.
	Sum(k Key) float64

	// Delete drops key's counter (window, slots or sum) outright. Unlike
	// Reset it names one key, so a shared store needs no scan.
	Delete(k Key)
	// Reset drops every counter whose key matches scope, tenant and subject
	// (empty tenant or subject match all). It returns how many were dropped.
	Reset(scope Scope, tenant, subject string) int
	// Sweep forgets everything that can no longer count at t.
	Sweep(t time.Time)
}
