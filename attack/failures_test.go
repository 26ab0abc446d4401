package attack_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	. "github.com/tollgate-voip/tollgate/attack"
	"github.com/tollgate-voip/tollgate/counter"
	"github.com/tollgate-voip/tollgate/reputation"
)

// TestSharedFailuresTwoNodes runs two guards ("nodes") counting in one
// counter store and writing to one reputation store: failures from one
// address split over both ban at exactly the threshold (3), not at 2 and
// not per node; the other node's further failures in the same window do
// not ban again; account failures add up too and a successful login on
// either node clears them; a released ban (Forget) lets the next
// failures count from zero.
func TestSharedFailuresTwoNodes(t *testing.T) {
	ctx := context.Background()
	st := openDB(t)
	shared := counter.NewMemory(0)
	var gs [2]*Guard
	for i := range gs {
		gs[i] = NewGuard(Policy{}, st, nil, quiet)
		gs[i].SetFailures(NewSharedFailures(shared, []string{"n1", "n2"}[i]))
	}
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	ip := netip.MustParseAddr("198.51.100.7")
	fail := func(node int, at time.Time, kind, user string) Outcome {
		t.Helper()
		out, err := gs[node].Observe(ctx, Event{Time: at, IP: ip, Kind: kind, Source: SourceAsterisk, Username: user})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	if out := fail(0, t0, KindAuthFailure, ""); out.Ban != nil {
		t.Fatalf("banned after one failure: %+v", out.Ban)
	}
	if out := fail(1, t0.Add(time.Second), KindAuthFailure, ""); out.Ban != nil {
		t.Fatalf("banned after two failures (one per node): %+v", out.Ban)
	}
	out := fail(0, t0.Add(2*time.Second), KindAuthFailure, "")
	if out.Ban == nil || out.Ban.Level != 0 || out.Ban.IP != ip.String() {
		t.Fatalf("third failure, split over two nodes: ban %+v, want a level-0 ban of %s", out.Ban, ip)
	}
	// Node 2 has not seen the ban yet (no snapshot hook here): its next
	// failure in the same window is refused by the full window, no second
	// (escalated) ban.
	if out := fail(1, t0.Add(3*time.Second), KindAuthFailure, ""); out.Ban != nil {
		t.Fatalf("second ban from the other node in the same window: %+v", out.Ban)
	}
	if bs, _ := st.Bans(ctx, t0.Add(time.Minute), true); len(bs) != 1 {
		t.Fatalf("bans = %+v, want one", bs)
	}

	// After a release, failures count from zero on both nodes.
	bs, _ := st.Bans(ctx, t0, false)
	if _, err := st.ReleaseBan(ctx, bs[0].ID); err != nil {
		t.Fatal(err)
	}
	gs[1].Forget(ip)
	gs[0].Forget(ip)
	t1 := t0.Add(10 * time.Second)
	if out := fail(1, t1, KindAuthFailure, ""); out.Ban != nil {
		t.Fatalf("banned on the first failure after the release: %+v", out.Ban)
	}
	if out := fail(0, t1.Add(time.Second), KindAuthFailure, ""); out.Ban != nil {
		t.Fatalf("banned on the second failure after the release: %+v", out.Ban)
	}
	if out := fail(1, t1.Add(2*time.Second), KindAuthFailure, ""); out.Ban == nil || out.Ban.Level != 1 {
		t.Fatalf("third failure after the release: ban %+v, want level 1", out.Ban)
	}

	// Accounts: 4 failures of account 300 over both nodes (from a
	// trusted proxy's point of view the source does not matter), a
	// login on node 2 clears them, then 5 more lock it, on the fifth.
	gs[0].Forget(ip)
	gs[1].Forget(ip)
	t2 := t0.Add(time.Hour)
	acct := func(node int, at time.Time, kind string) *reputation.Lockout {
		t.Helper()
		out, err := gs[node].Observe(ctx, Event{Time: at, IP: netip.MustParseAddr("203.0.113.9"), Kind: kind, Source: SourceAPI, Username: "300"})
		if err != nil {
			t.Fatal(err)
		}
		return out.Lockout
	}
	gs[0].Banned = func(netip.Addr, time.Time) bool { return true } // keep the address out of the way
	gs[1].Banned = gs[0].Banned
	for i := range 4 {
		if l := acct(i%2, t2.Add(time.Duration(i)*time.Second), KindAuthFailure); l != nil {
			t.Fatalf("account locked after %d failures: %+v", i+1, l)
		}
	}
	acct(1, t2.Add(5*time.Second), KindAuthSuccess)
	for i := range 5 {
		l := acct(i%2, t2.Add(time.Duration(10+i)*time.Second), KindAuthFailure)
		if i < 4 && l != nil {
			t.Fatalf("account locked after %d failures since the login: %+v", i+1, l)
		}
		if i == 4 && (l == nil || l.Failures != 5 || l.Kind != reputation.LockAccount) {
			t.Fatalf("fifth failure over two nodes: lockout %+v, want the account locked", l)
		}
	}
	if n := shared.Count(counter.Key{Scope: counter.AttackAccountFailures, Subject: "300"}, t2.Add(time.Minute), 30*time.Minute); n != 5 {
		t.Errorf("shared account window holds %d failures, want 5", n)
	}
}

// TestBannedHookSkipsCounting: an address the snapshot says is banned
// (by another node) is not counted, so it is never banned twice.
func TestBannedHookSkipsCounting(t *testing.T) {
	ctx := context.Background()
	g := NewGuard(Policy{}, openDB(t), nil, quiet)
	ip := netip.MustParseAddr("198.51.100.8")
	g.Banned = func(a netip.Addr, _ time.Time) bool { return a == ip }
	now := time.Now()
	for i := range 5 {
		out, err := g.Observe(ctx, Event{Time: now.Add(time.Duration(i) * time.Second), IP: ip, Kind: KindAuthFailure, Source: SourceAPI})
		if err != nil || out.Ban != nil {
			t.Fatalf("failure %d of an address banned elsewhere: ban %+v, err %v", i+1, out.Ban, err)
		}
	}
	if n := g.Stats().Tracked; n != 0 {
		t.Fatalf("%d windows tracked for an address banned elsewhere", n)
	}
}

// TestMemoryFailures: the default counter drops a window once it reaches
// the limit, slides, clears and sweeps.
func TestMemoryFailures(t *testing.T) {
	f := NewMemoryFailures(2)
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	k := FailKey{Kind: FailIP, Subject: "192.0.2.1"}
	if n, r := f.Fail(k, t0, time.Minute, 2); n != 1 || r {
		t.Fatalf("first: %d %v", n, r)
	}
	if n, r := f.Fail(k, t0.Add(61*time.Second), time.Minute, 2); n != 1 || r {
		t.Fatalf("after the window slid: %d %v", n, r)
	}
	if n, r := f.Fail(k, t0.Add(62*time.Second), time.Minute, 2); n != 2 || !r {
		t.Fatalf("second in the window: %d %v, want reached", n, r)
	}
	if n, r := f.Fail(k, t0.Add(63*time.Second), time.Minute, 2); n != 1 || r {
		t.Fatalf("after reaching: %d %v, want a fresh window", n, r)
	}
	f.Clear(k)
	if f.Tracked() != 0 {
		t.Fatal("cleared window still tracked")
	}
	for i, s := range []string{"a", "b", "c"} {
		f.Fail(FailKey{Kind: FailAccount, Subject: s}, t0.Add(time.Duration(i)*time.Second), time.Minute, 5)
	}
	if f.Tracked() != 2 {
		t.Fatalf("tracked %d accounts, want at most 2", f.Tracked())
	}
	f.Sweep(t0.Add(time.Minute + 1500*time.Millisecond))
	if f.Tracked() != 1 {
		t.Fatalf("after sweep %d tracked, want 1", f.Tracked())
	}
}
