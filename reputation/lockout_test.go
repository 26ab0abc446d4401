package reputation

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"
)

var (
	lockOwn      = netip.MustParseAddr("198.51.100.7")     // the account's own phone
	lockOwn6     = netip.MustParseAddr("2001:db8:7:1::42") // its IPv6 site, allowed as a /64
	lockGuesser  = netip.MustParseAddr("203.0.113.9")
	lockGuesser6 = netip.MustParseAddr("2001:db8:7:2::1")
)

func decideLock() Lockout {
	return Lockout{Kind: LockAccount, Subject: "1001", Failures: 5, Since: decideT0, Until: decideT0.Add(30 * time.Minute),
		Allowed: []string{lockOwn.String(), "2001:db8:7:1::/64"}}
}

// TestSetLocked: a lockout refuses every source but the ones it allows,
// only within [Since, Until) of event time, and only for its own kind
// and subject.
func TestSetLocked(t *testing.T) {
	s := BuildAll(nil, nil, []Lockout{decideLock()})
	at := decideT0.Add(time.Minute)
	for _, c := range []struct {
		name    string
		kind    string
		subject string
		src     netip.Addr
		t       time.Time
		locked  bool
	}{
		{"guesser", LockAccount, "1001", lockGuesser, at, true},
		{"guesser in another /64", LockAccount, "1001", lockGuesser6, at, true},
		{"own address", LockAccount, "1001", lockOwn, at, false},
		{"own /64, another address", LockAccount, "1001", lockOwn6, at, false},
		{"own address, IPv4-mapped", LockAccount, "1001", netip.AddrFrom16(lockOwn.As16()), at, false},
		{"no source", LockAccount, "1001", netip.Addr{}, at, true},
		{"another account", LockAccount, "1002", lockGuesser, at, false},
		{"a voicemail box of that name", LockVoicemail, "1001", lockGuesser, at, false},
		{"before the lock", LockAccount, "1001", lockGuesser, decideT0.Add(-time.Second), false},
		{"at its end", LockAccount, "1001", lockGuesser, decideT0.Add(30 * time.Minute), false},
	} {
		if got := s.Locked(c.kind, "", c.subject, c.src, c.t) != nil; got != c.locked {
			t.Errorf("%s: Locked(%s, %s, %v) = %v; want %v", c.name, c.kind, c.subject, c.src, got, c.locked)
		}
	}
	// Two lockouts of one account (a store's and this node's newer one):
	// the later end, the sources of both.
	later := decideLock()
	later.Until, later.Allowed = decideT0.Add(time.Hour), []string{"192.0.2.5"}
	s = BuildAll(nil, nil, []Lockout{decideLock(), later})
	if l := s.Lockout(LockAccount, "", "1001", decideT0.Add(45*time.Minute)); l == nil || !l.Allows(lockOwn) || !l.Allows(netip.MustParseAddr("192.0.2.5")) {
		t.Fatalf("merged lockout at +45 min: %+v; want in force, allowing both lists", l)
	}
}

func locked(l *Live) bool {
	return l.Load().Locked(LockAccount, "", "1001", lockGuesser, decideT0.Add(time.Minute)) != nil
}

// TestLockoutEnforcedBeforeCommit: a lockout this node decides refuses
// the account while the store's commit is held and through a refresh
// meanwhile; after a refresh begun after the commit the store's copy
// alone holds it. A refused lockout is withdrawn; a release bites at
// its commit.
func TestLockoutEnforcedBeforeCommit(t *testing.T) {
	ctx := context.Background()
	st := &gatedStore{commit: make(chan struct{}), writing: make(chan struct{})}
	l := NewLive(Policy{})
	done := make(chan error)
	go func() { done <- l.PutLockout(ctx, st, decideLock()) }()
	<-st.writing
	if !locked(l) {
		t.Fatal("account not locked while the store commits its lockout")
	}
	if l.Load().Locked(LockAccount, "", "1001", lockOwn, decideT0.Add(time.Minute)) != nil {
		t.Fatal("the account's own address is refused")
	}
	if err := Refresh(ctx, st, l, decideT0); err != nil {
		t.Fatal(err)
	}
	if !locked(l) {
		t.Fatal("a refresh before the commit dropped the lockout decided here")
	}
	close(st.commit)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	st.commit = nil
	if err := Refresh(ctx, st, l, decideT0); err != nil {
		t.Fatal(err)
	}
	if !locked(l) || l.deciding() {
		t.Fatalf("after a refresh that read it back: locked %v, laid over %v; want true, false", locked(l), l.deciding())
	}
	if err := l.ReleaseLockout(ctx, st, LockAccount, "", "1001"); err != nil {
		t.Fatal(err)
	}
	if locked(l) {
		t.Fatal("still locked after the release committed")
	}
	if err := Refresh(ctx, st, l, decideT0); err != nil || locked(l) || l.deciding() {
		t.Fatalf("after a refresh past the release: %v, locked %v, laid over %v; want nil, false, false", err, locked(l), l.deciding())
	}

	st.fail = errors.New("disk full")
	if err := l.PutLockout(ctx, st, decideLock()); err == nil {
		t.Fatal("PutLockout: no error from a failing store")
	}
	if locked(l) || l.deciding() {
		t.Fatalf("refused lockout: locked %v, laid over %v; want false, false", locked(l), l.deciding())
	}
}

// lockSpool is a store whose shared part lists nothing while a lockout
// waits in its buffer (cluster mode with PostgreSQL away).
type lockSpool struct {
	gatedStore
	held []Lockout
}

func (s *lockSpool) Overlay() ([]Entry, []Ban)  { return nil, nil }
func (s *lockSpool) OverlayLockouts() []Lockout { return s.held }

// TestBufferedLockoutEnforced: a lockout buffered by the store (not yet
// in what it lists) stays enforced over every refresh.
func TestBufferedLockoutEnforced(t *testing.T) {
	ctx := context.Background()
	st := &lockSpool{held: []Lockout{decideLock()}}
	l := NewLive(Policy{})
	for range 2 {
		if err := Refresh(ctx, st, l, decideT0); err != nil {
			t.Fatal(err)
		}
		if !locked(l) {
			t.Fatal("a buffered lockout is not enforced")
		}
	}
	st.held = nil
	if err := Refresh(ctx, st, l, decideT0); err != nil {
		t.Fatal(err)
	}
	if locked(l) {
		t.Fatal("still locked after the buffer let it go and the store holds none")
	}
}

// TestNormalizeLockout checks the allowed sources' canonical form and
// the refusals.
func TestNormalizeLockout(t *testing.T) {
	l := decideLock()
	l.Allowed = []string{"2001:db8:7:1::9/64", "::ffff:198.51.100.7", "198.51.100.7"}
	if err := NormalizeLockout(&l); err != nil {
		t.Fatal(err)
	}
	if len(l.Allowed) != 2 || l.Allowed[0] != "198.51.100.7" || l.Allowed[1] != "2001:db8:7:1::/64" {
		t.Fatalf("allowed = %q", l.Allowed)
	}
	for _, bad := range []Lockout{
		{Kind: "user", Subject: "1001", Since: decideT0, Until: decideT0.Add(time.Minute)},
		{Kind: LockAccount, Subject: "", Since: decideT0, Until: decideT0.Add(time.Minute)},
		{Kind: LockAccount, Subject: "1001", Since: decideT0, Until: decideT0},
		{Kind: LockAccount, Subject: "1001", Since: decideT0, Until: decideT0.Add(time.Minute), Allowed: []string{"pbx.example"}},
		{Kind: LockAccount, Subject: "1001", Since: decideT0, Until: decideT0.Add(time.Minute), Allowed: make([]string, MaxAllowed+1)},
	} {
		if err := NormalizeLockout(&bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("NormalizeLockout(%+v) = %v; want ErrInvalid", bad, err)
		}
	}
}
