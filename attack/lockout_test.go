package attack_test

import (
	"context"
	"net/netip"
	"slices"
	"testing"
	"time"

	. "github.com/tollgate-voip/tollgate/attack"
	checkrep "github.com/tollgate-voip/tollgate/check/reputation"
	"github.com/tollgate-voip/tollgate/reputation"
	"github.com/tollgate-voip/tollgate/screen"
)

// lockRig is a guard wired as the server wires it: writes through the
// node's Live, Banned and Locked reading its snapshot, and the screening
// check on the same Live.
type lockRig struct {
	t     *testing.T
	db    reputation.Store
	live  *reputation.Live
	g     *Guard
	check *checkrep.Reputation
}

func newLockRig(t *testing.T, st reputation.Store, pol Policy) *lockRig {
	r := &lockRig{t: t, db: st, live: reputation.NewLive(reputation.DefaultPolicy)}
	r.g = NewGuard(pol, reputation.Enforcing{Store: st, Live: r.live}, nil, quiet)
	r.g.Banned = func(a netip.Addr, at time.Time) bool { return r.live.Load().Banned(a, at) != nil }
	r.g.Locked = func(kind, tenant, subject string, at time.Time) *reputation.Lockout {
		return r.live.Load().Lockout(kind, tenant, subject, at)
	}
	r.g.LockedAnyTenant = func(kind, subject string, a netip.Addr, at time.Time) *reputation.Lockout {
		return r.live.Load().LockedAnyTenant(kind, subject, a, at)
	}
	r.check = checkrep.New(r.live)
	return r
}

func (r *lockRig) observe(ev Event) Outcome {
	r.t.Helper()
	out, err := r.g.Observe(context.Background(), ev)
	if err != nil {
		r.t.Fatal(err)
	}
	return out
}

// screen screens a call of extension ext (credentials for auth, if
// not empty) from src at t.
func (r *lockRig) screen(ext, auth string, src netip.Addr, t time.Time) *screen.Verdict {
	var v screen.Verdict
	r.check.Check(context.Background(), &screen.Call{Extension: ext, AuthUser: auth, SourceIP: src, Time: t, Digits: "12125550100"}, &v)
	return &v
}

var (
	lockT0  = time.Date(2026, 12, 7, 21, 0, 0, 0, time.UTC)
	ownIP   = netip.MustParseAddr("198.51.100.7")
	ownIP6  = netip.MustParseAddr("2001:db8:5:1::10")
	guessIP = func(i int) netip.Addr { return netip.AddrFrom4([4]byte{203, 0, 113, byte(10 + i)}) }
)

// TestLockoutAllowsKnownGood: the account's phones authenticated
// (IPv4, and IPv6 as a /64) before five addresses guessed its password
// once each (no address reaches its ban threshold). The account is
// locked; the lockout allows the phones' sources; calls and guesses for
// it from the guessers or anywhere new are refused (account_locked),
// the phones still call, and the lock ends in event time.
func TestLockoutAllowsKnownGood(t *testing.T) {
	r := newLockRig(t, openDB(t), Policy{})
	r.observe(Event{Time: lockT0.Add(-48 * time.Hour), IP: ownIP, Kind: KindAuthSuccess, Source: SourceAsterisk, Username: "1001"})
	r.observe(Event{Time: lockT0.Add(-time.Hour), IP: ownIP6, Kind: KindAuthSuccess, Source: SourceAsterisk, Username: "1001"})
	// Long ago: no longer known-good (default 30 days).
	r.observe(Event{Time: lockT0.Add(-40 * 24 * time.Hour), IP: netip.MustParseAddr("192.0.2.77"), Kind: KindAuthSuccess, Source: SourceAsterisk, Username: "1001"})
	var out Outcome
	for i := range 5 {
		out = r.observe(Event{Time: lockT0.Add(time.Duration(i) * time.Second), IP: guessIP(i), Kind: KindAuthFailure, Source: SourceKamailio, Username: "1001"})
		if out.Ban != nil {
			t.Fatalf("guess %d banned %s: one failure per address must not ban", i, out.Ban.IP)
		}
	}
	if out.Lockout == nil {
		t.Fatal("five failed logins from five addresses: no lockout")
	}
	want := []string{"198.51.100.7", "2001:db8:5:1::/64"}
	if !slices.Equal(out.Lockout.Allowed, want) {
		t.Fatalf("lockout allows %q; want %q (the phones, not the 40-day-old source)", out.Lockout.Allowed, want)
	}
	at := lockT0.Add(time.Minute)
	for _, c := range []struct {
		name, ext, auth string
		src             netip.Addr
		refused         bool
	}{
		{"a guesser with credentials", "1001", "1001", guessIP(2), true},
		{"a new address, extension only", "1001", "", netip.MustParseAddr("192.0.2.200"), true},
		{"credentials for 1001 claiming another extension", "2002", "1001", guessIP(6), true},
		{"the phone", "1001", "1001", ownIP, false},
		{"the IPv6 phone from another address of its /64", "1001", "1001", netip.MustParseAddr("2001:db8:5:1::99"), false},
		{"another account", "1002", "1002", guessIP(2), false},
	} {
		v := r.screen(c.ext, c.auth, c.src, at)
		if got := v.Has("account_locked"); got != c.refused || (c.refused && v.Action != screen.Reject) {
			t.Errorf("%s: %v %+v; want refused %v", c.name, v.Action, v.Reasons(), c.refused)
		}
	}
	if v := r.screen("1001", "1001", guessIP(2), lockT0.Add(31*time.Minute)); v.Has("account_locked") {
		t.Errorf("after the lock's 30 minutes (event time): still refused %+v", v.Reasons())
	}
	ls, err := r.db.Lockouts(context.Background(), lockT0)
	if err != nil || len(ls) != 1 || !slices.Equal(ls[0].Allowed, want) {
		t.Fatalf("stored lockouts %+v, %v; want one allowing %q (what other nodes read)", ls, err, want)
	}
}

// TestLockoutSuccessDuringLockTeachesNothing: an attacker who guessed
// right while the account is locked (a PBX reached directly reports the
// success) is not made known-good: the next lockout still refuses it.
// The phone's success during the lock keeps it allowed.
func TestLockoutSuccessDuringLockTeachesNothing(t *testing.T) {
	r := newLockRig(t, openDB(t), Policy{})
	r.observe(Event{Time: lockT0.Add(-time.Hour), IP: ownIP, Kind: KindAuthSuccess, Source: SourceAsterisk, Username: "1001"})
	for i := range 5 {
		r.observe(Event{Time: lockT0.Add(time.Duration(i) * time.Second), IP: guessIP(i), Kind: KindAuthFailure, Source: SourceAsterisk, Username: "1001"})
	}
	r.observe(Event{Time: lockT0.Add(time.Minute), IP: guessIP(7), Kind: KindAuthSuccess, Source: SourceAsterisk, Username: "1001"})
	r.observe(Event{Time: lockT0.Add(time.Minute), IP: ownIP, Kind: KindAuthSuccess, Source: SourceAsterisk, Username: "1001"})
	var out Outcome
	for i := range 5 {
		out = r.observe(Event{Time: lockT0.Add(2*time.Minute + time.Duration(i)*time.Second), IP: guessIP(10 + i), Kind: KindAuthFailure, Source: SourceAsterisk, Username: "1001"})
	}
	if out.Lockout == nil || !slices.Equal(out.Lockout.Allowed, []string{ownIP.String()}) {
		t.Fatalf("second lockout: %+v; want one allowing only the phone", out.Lockout)
	}
	if v := r.screen("1001", "1001", guessIP(7), lockT0.Add(3*time.Minute)); !v.Has("account_locked") {
		t.Errorf("the source that succeeded during the lock: %+v; want account_locked", v.Reasons())
	}
	// Locked again while locked: the lock still runs from its first start.
	if !out.Lockout.Since.Equal(lockT0.Add(4 * time.Second)) {
		t.Errorf("second lockout since %s; want the first one's start %s", out.Lockout.Since, lockT0.Add(4*time.Second))
	}
	if v := r.screen("1001", "1001", guessIP(9), lockT0.Add(90*time.Second)); !v.Has("account_locked") {
		t.Errorf("a late call stamped between the two lockouts: %+v; want account_locked", v.Reasons())
	}
}

// TestHoneypotLocksNoAccount: guesses at the decoy name accounts that
// are decoys; they ban the guesser but lock no real account (anyone
// reaching the honeypot could otherwise lock any user).
func TestHoneypotLocksNoAccount(t *testing.T) {
	r := newLockRig(t, openDB(t), Policy{MaxFailures: 100})
	for i := range 10 {
		if out := r.observe(Event{Time: lockT0.Add(time.Duration(i) * time.Second), IP: guessIP(i % 2), Kind: KindAuthFailure, Source: SourceHoneypot, Username: "1001"}); out.Lockout != nil {
			t.Fatalf("honeypot guess %d locked %+v", i, out.Lockout)
		}
	}
	if ls, _ := r.db.Lockouts(context.Background(), lockT0); len(ls) != 0 {
		t.Fatalf("lockouts after honeypot guesses: %+v", ls)
	}
}

// TestLockoutEnforcedBeforeCommit: the store holds the commit of the
// lockout the fifth failure triggers; screening already refuses the
// account from a guesser (and lets the phone through) while the commit
// waits, and after it.
func TestLockoutEnforcedBeforeCommit(t *testing.T) {
	ctx := context.Background()
	db := openDB(t)
	held := &heldLocks{Store: db, begun: make(chan struct{}), release: make(chan struct{})}
	r := newLockRig(t, held, Policy{})
	r.observe(Event{Time: lockT0.Add(-time.Hour), IP: ownIP, Kind: KindAuthSuccess, Source: SourceAsterisk, Username: "1001"})
	done := make(chan error)
	go func() {
		for i := range 5 {
			if _, err := r.g.Observe(ctx, Event{Time: lockT0.Add(time.Duration(i) * time.Second), IP: guessIP(i), Kind: KindAuthFailure, Source: SourceAsterisk, Username: "1001"}); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	<-held.begun
	at := lockT0.Add(10 * time.Second)
	if v := r.screen("1001", "1001", guessIP(9), at); v.Action != screen.Reject || !v.Has("account_locked") {
		t.Errorf("while the lockout's commit waits: %v %+v; want reject, account_locked", v.Action, v.Reasons())
	}
	if err := reputation.Refresh(ctx, db, r.live, lockT0); err != nil {
		t.Fatal(err)
	}
	if v := r.screen("1001", "1001", guessIP(9), at); !v.Has("account_locked") {
		t.Errorf("after a refresh before the commit: %+v; want account_locked", v.Reasons())
	}
	if v := r.screen("1001", "1001", ownIP, at); v.Has("account_locked") {
		t.Errorf("the phone while the commit waits: %+v; want no lockout", v.Reasons())
	}
	close(held.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := reputation.Refresh(ctx, db, r.live, lockT0); err != nil {
		t.Fatal(err)
	}
	if v := r.screen("1001", "", guessIP(9), at); !v.Has("account_locked") || v.Reasons()[0].Rule != "lockouts.account.1001" {
		t.Errorf("after the commit and a refresh: %+v; want account_locked by the stored lockout", v.Reasons())
	}
}

// heldLocks is a reputation store whose PutLockout waits for a release
// after saying it has begun.
type heldLocks struct {
	reputation.Store
	begun, release chan struct{}
}

func (h *heldLocks) PutLockout(ctx context.Context, l reputation.Lockout) error {
	h.begun <- struct{}{}
	<-h.release
	return h.Store.PutLockout(ctx, l)
}
