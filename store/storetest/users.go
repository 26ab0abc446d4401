package storetest

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/console/auth"
)

// RunUsers runs the console users conformance suite against an
// auth.Store backend (store/sqlite.Users, store/postgres.Users). fresh
// makes an empty database for t and returns a function opening handles on
// it; every handle is another node, closed when t ends. Each test takes
// two handles: what one writes, the other must read, and counters both
// change at once must not lose updates.
func RunUsers(t *testing.T, fresh func(t *testing.T) (open func() auth.Store)) {
	run(t, fresh, []test[auth.Store]{
		{"UsersRoundTrip", pair(usersRoundTrip)},
		{"LoginFailedLocksAndCounts", pair(usersLoginFailed)},
		{"ConcurrentFailuresOnTwoNodes", pair(usersConcurrentFailures)},
		{"SourceLimit", pair(usersSourceLimit)},
		{"TOTPStepOnceAcrossNodes", pair(usersStepOnce)},
		{"Sessions", pair(usersSessions)},
	})
}

// usersNow has nanoseconds, which every store must keep.
var usersNow = time.Date(2026, 11, 23, 10, 0, 0, 123456789, time.UTC)

func usersAdd(t *testing.T, s auth.Store, name string, role auth.Role) {
	t.Helper()
	if err := s.AddUser(context.Background(), auth.User{Name: name, Role: role, PasswordHash: "h", Created: usersNow, Updated: usersNow}); err != nil {
		t.Fatal(err)
	}
}

func usersRoundTrip(t *testing.T, a, b auth.Store) {
	ctx := context.Background()
	u := auth.User{Name: "alice", Role: auth.RoleOperator, Tenant: "acme", PasswordHash: "$argon2id$v=19$m=65536,t=3,p=2$c2FsdA$aGFzaA",
		TOTPSecret: []byte("0123456789\x00\xff"), TOTPLast: 7, Failed: 2, LockedUntil: usersNow.Add(time.Minute), Created: usersNow, Updated: usersNow.Add(time.Second)}
	if err := a.AddUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if err := b.AddUser(ctx, u); !errors.Is(err, auth.ErrExists) {
		t.Errorf("AddUser twice (second on the other node): %v, want ErrExists", err)
	}
	same := func(got, want auth.User) bool {
		return got.Name == want.Name && got.Role == want.Role && got.Tenant == want.Tenant && got.PasswordHash == want.PasswordHash &&
			string(got.TOTPSecret) == string(want.TOTPSecret) && got.TOTPLast == want.TOTPLast && got.Failed == want.Failed &&
			got.LockedUntil.Equal(want.LockedUntil) && got.Created.Equal(want.Created) && got.Updated.Equal(want.Updated)
	}
	got, err := b.User(ctx, "alice")
	if err != nil || !same(got, u) {
		t.Errorf("User on the other node = %+v, %v; want %+v", got, err, u)
	}
	if _, err := b.User(ctx, "bob"); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("User(bob) = %v, want ErrNotFound", err)
	}
	// Replacing on b is what a reads; removing the second factor stores none.
	u.Role, u.Tenant, u.TOTPSecret, u.TOTPLast, u.Failed, u.LockedUntil = auth.RoleAdmin, "", nil, 0, 0, time.Time{}
	if err := b.PutUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	got, err = a.User(ctx, "alice")
	if err != nil || !same(got, u) || got.MFA() || !got.LockedUntil.IsZero() {
		t.Errorf("after PutUser on the other node: %+v, %v; want %+v", got, err, u)
	}
	bad := u
	bad.Role = "superuser"
	if err := a.PutUser(ctx, bad); err == nil {
		t.Error("PutUser accepted an unknown role")
	}
	if err := a.AddUser(ctx, auth.User{Name: "mallory", Role: "root", PasswordHash: "h", Created: usersNow, Updated: usersNow}); err == nil {
		t.Error("AddUser accepted an unknown role")
	}
	if err := a.PutUser(ctx, auth.User{Name: "bob", Role: auth.RoleViewer}); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("PutUser(bob) = %v, want ErrNotFound", err)
	}
	usersAdd(t, b, "carol", auth.RoleViewer)
	us, err := a.Users(ctx)
	if err != nil || len(us) != 2 || us[0].Name != "alice" || us[1].Name != "carol" {
		t.Errorf("Users = %+v, %v; want alice and carol", us, err)
	}
	if err := b.DeleteUser(ctx, "carol"); err != nil {
		t.Fatal(err)
	}
	if err := a.DeleteUser(ctx, "carol"); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("DeleteUser twice = %v, want ErrNotFound", err)
	}
	if _, err := a.User(ctx, "carol"); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("deleted user still read on the other node: %v", err)
	}
}

func usersLoginFailed(t *testing.T, a, b auth.Store) {
	ctx := context.Background()
	usersAdd(t, a, "alice", auth.RoleAdmin)
	const max, stale = 3, time.Minute
	lock, maxLock := time.Minute, 3*time.Minute
	attempt := func(s auth.Store, at time.Time, want bool) {
		t.Helper()
		ok, err := s.LoginAttempt(ctx, "alice", at, max, stale)
		if err != nil || ok != want {
			t.Fatalf("LoginAttempt at %v = %v, %v; want %v", at.Sub(usersNow), ok, err, want)
		}
	}
	for _, s := range []auth.Store{a, b, a} {
		attempt(s, usersNow, true)
	}
	attempt(b, usersNow, false) // max attempts are counted: no fourth check
	if u, _ := a.User(ctx, "alice"); u.Failed != max || !u.LockedUntil.IsZero() {
		t.Errorf("after %d reserved attempts: failed %d, locked until %v", max, u.Failed, u.LockedUntil)
	}
	// The first failure to settle with the count at max locks; the others
	// find the lock and do not lock again.
	n, until, locked, err := b.LoginFailed(ctx, "alice", usersNow, max, lock, maxLock)
	if err != nil || n != max || !locked || !until.Equal(usersNow.Add(lock)) {
		t.Fatalf("settling failure = %d, %v, %v, %v; want %d, locked until %v by this call", n, until, locked, err, max, usersNow.Add(lock))
	}
	if _, until2, locked, err := a.LoginFailed(ctx, "alice", usersNow, max, lock, maxLock); err != nil || locked || !until2.Equal(until) {
		t.Errorf("second settling failure = %v, %v, %v; want the same lock, not set again", until2, locked, err)
	}
	// A good password during the lock neither logs in nor lifts the lock.
	if ok, err := a.LoginOK(ctx, "alice", 100, usersNow.Add(30*time.Second)); ok || err != nil {
		t.Errorf("LoginOK while locked = %v, %v; want false", ok, err)
	}
	if u, _ := b.User(ctx, "alice"); !u.LockedUntil.Equal(until) || u.Failed != max || u.Locks != 1 {
		t.Errorf("after LoginOK while locked: failed %d, locks %d, locked until %v; want %d, 1, %v", u.Failed, u.Locks, u.LockedUntil, max, until)
	}
	attempt(a, usersNow.Add(30*time.Second), false)
	// After the lock runs out the count starts again; the next lock is twice as long.
	later := usersNow.Add(2 * time.Minute)
	attempt(b, later, true)
	if u, _ := a.User(ctx, "alice"); u.Failed != 1 || !u.LockedUntil.IsZero() {
		t.Errorf("attempt after the lock: failed %d, locked until %v; want 1, none", u.Failed, u.LockedUntil)
	}
	attempt(a, later, true)
	attempt(b, later, true)
	if _, until, locked, _ := a.LoginFailed(ctx, "alice", later, max, lock, maxLock); !locked || !until.Equal(later.Add(2*lock)) {
		t.Errorf("second lock until %v (%v); want %v, twice the first", until, locked, later.Add(2*lock))
	}
	// The third would be 4 min: capped at maxLock.
	later = later.Add(3 * time.Minute)
	for range max {
		attempt(a, later, true)
	}
	if _, until, _, _ := b.LoginFailed(ctx, "alice", later, max, lock, maxLock); !until.Equal(later.Add(maxLock)) {
		t.Errorf("third lock until %v; want %v (capped)", until, later.Add(maxLock))
	}
	later = later.Add(maxLock + time.Second)
	attempt(b, later, true)
	ok, err := a.LoginOK(ctx, "alice", 100, later)
	if !ok || err != nil {
		t.Fatalf("LoginOK(100) = %v, %v", ok, err)
	}
	if u, _ := b.User(ctx, "alice"); u.Failed != 0 || u.Locks != 0 || u.TOTPLast != 100 || !u.LockedUntil.IsZero() {
		t.Errorf("after LoginOK: failed %d, locks %d, totp_last %d, locked until %v", u.Failed, u.Locks, u.TOTPLast, u.LockedUntil)
	}
	if ok, _ := b.LoginOK(ctx, "alice", 100, later); ok {
		t.Error("LoginOK on the other node accepted the same TOTP step twice")
	}
	if ok, _ := a.LoginOK(ctx, "alice", 99, later); ok {
		t.Error("LoginOK accepted an older TOTP step")
	}
	// Attempts reserved by a node that died and never settled: refused
	// until they are stale, then the count starts afresh.
	for range max {
		attempt(a, later, true)
	}
	attempt(b, later.Add(stale/2), false)
	attempt(b, later.Add(stale+time.Second), true)
	if u, _ := a.User(ctx, "alice"); u.Failed != 1 {
		t.Errorf("after stale attempts: failed %d, want 1", u.Failed)
	}
	// Without a second factor (step 0) a login clears failures and keeps
	// the last step.
	if ok, err := b.LoginOK(ctx, "alice", 0, later.Add(stale+time.Second)); !ok || err != nil {
		t.Errorf("LoginOK(0) = %v, %v", ok, err)
	}
	if u, _ := a.User(ctx, "alice"); u.Failed != 0 || u.TOTPLast != 100 {
		t.Errorf("after LoginOK(0): failed %d, totp_last %d; want 0, 100", u.Failed, u.TOTPLast)
	}
	if _, err := a.LoginAttempt(ctx, "nobody", usersNow, max, stale); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("LoginAttempt(nobody) = %v", err)
	}
	if _, _, _, err := a.LoginFailed(ctx, "nobody", usersNow, max, lock, maxLock); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("LoginFailed(nobody) = %v", err)
	}
	if ok, err := a.LoginOK(ctx, "nobody", 5, usersNow); ok || err != nil {
		t.Errorf("LoginOK(nobody) = %v, %v; want false", ok, err)
	}
}

// usersConcurrentFailures reserves attempts from both nodes at once:
// exactly max are admitted, and of the failures that settle them exactly
// one sets the lock.
func usersConcurrentFailures(t *testing.T, a, b auth.Store) {
	ctx := context.Background()
	usersAdd(t, a, "alice", auth.RoleAdmin)
	const tries, max = 40, 5
	var wg sync.WaitGroup
	var admitted, locks atomic.Int32
	for i := range tries {
		s := []auth.Store{a, b}[i%2]
		wg.Go(func() {
			ok, err := s.LoginAttempt(ctx, "alice", usersNow, max, time.Minute)
			if err != nil {
				t.Error(err)
				return
			}
			if !ok {
				return
			}
			admitted.Add(1)
			_, _, locked, err := s.LoginFailed(ctx, "alice", usersNow, max, time.Minute, time.Hour)
			if err != nil {
				t.Error(err)
			}
			if locked {
				locks.Add(1)
			}
		})
	}
	wg.Wait()
	if admitted.Load() != max || locks.Load() != 1 {
		t.Errorf("%d concurrent attempts on two nodes: %d admitted, %d set the lock; want %d and 1", tries, admitted.Load(), locks.Load(), max)
	}
	u, err := b.User(ctx, "alice")
	if err != nil || u.Failed != max || !u.LockedUntil.Equal(usersNow.Add(time.Minute)) {
		t.Errorf("after the concurrent failures: failed %d, locked until %v, %v; want %d, locked until %v", u.Failed, u.LockedUntil, err, max, usersNow.Add(time.Minute))
	}
}

// usersSourceLimit counts attempts per source address on both nodes.
func usersSourceLimit(t *testing.T, a, b auth.Store) {
	ctx := context.Background()
	const max, window = 3, time.Minute
	for i, s := range []auth.Store{a, b, a} {
		n, ok, err := s.SourceAttempt(ctx, "192.0.2.1", usersNow, window, max)
		if err != nil || !ok || n != i+1 {
			t.Fatalf("attempt %d = %d, %v, %v; want %d, true", i+1, n, ok, err, i+1)
		}
	}
	if _, ok, err := b.SourceAttempt(ctx, "192.0.2.1", usersNow, window, max); ok || err != nil {
		t.Errorf("4th attempt in the window = %v, %v; want refused", ok, err)
	}
	if _, ok, _ := b.SourceAttempt(ctx, "192.0.2.2", usersNow, window, max); !ok {
		t.Error("another address was refused")
	}
	// A good login gives its attempt back.
	if err := a.SourceOK(ctx, "192.0.2.1"); err != nil {
		t.Fatal(err)
	}
	if n, ok, _ := b.SourceAttempt(ctx, "192.0.2.1", usersNow, window, max); !ok || n != max {
		t.Errorf("attempt after a good login = %d, %v; want %d, true", n, ok, max)
	}
	if n, ok, _ := a.SourceAttempt(ctx, "192.0.2.1", usersNow.Add(window+time.Second), window, max); !ok || n != 1 {
		t.Errorf("attempt after the window = %d, %v; want 1, true", n, ok)
	}
	// Concurrently on two nodes, a fresh address gets exactly max.
	var wg sync.WaitGroup
	var admitted atomic.Int32
	for i := range 20 {
		s := []auth.Store{a, b}[i%2]
		wg.Go(func() {
			_, ok, err := s.SourceAttempt(ctx, "2001:db8::/64", usersNow, window, max)
			if err != nil {
				t.Error(err)
			}
			if ok {
				admitted.Add(1)
			}
		})
	}
	wg.Wait()
	if admitted.Load() != max {
		t.Errorf("20 concurrent attempts from one source: %d admitted, want %d", admitted.Load(), max)
	}
	// Pruning forgets old counts.
	if err := b.PruneSessions(ctx, usersNow.Add(time.Hour), usersNow); err != nil {
		t.Fatal(err)
	}
	if n, ok, _ := a.SourceAttempt(ctx, "2001:db8::/64", usersNow.Add(30*time.Second), window, max); !ok || n != 1 {
		t.Errorf("attempt after pruning = %d, %v; want 1, true", n, ok)
	}
}

// usersStepOnce logs in with one TOTP step on both nodes at once: exactly
// one login may use it.
func usersStepOnce(t *testing.T, a, b auth.Store) {
	ctx := context.Background()
	usersAdd(t, a, "alice", auth.RoleAdmin)
	for step := int64(1); step <= 20; step++ {
		var wg sync.WaitGroup
		var accepted atomic.Int32
		for _, s := range []auth.Store{a, b, a, b} {
			wg.Go(func() {
				ok, err := s.LoginOK(ctx, "alice", step, usersNow)
				if err != nil {
					t.Error(err)
				}
				if ok {
					accepted.Add(1)
				}
			})
		}
		wg.Wait()
		if accepted.Load() != 1 {
			t.Fatalf("TOTP step %d accepted %d times by concurrent logins on two nodes, want once", step, accepted.Load())
		}
	}
}

func usersSessions(t *testing.T, a, b auth.Store) {
	ctx := context.Background()
	usersAdd(t, a, "alice", auth.RoleViewer)
	usersAdd(t, a, "bob", auth.RoleViewer)
	add := func(id, user string, at time.Time) {
		if err := a.AddSession(ctx, auth.Session{ID: id, User: user, CSRF: "c" + id, Created: at, LastSeen: at}); err != nil {
			t.Fatal(err)
		}
	}
	add("a1", "alice", usersNow)
	add("a2", "alice", usersNow.Add(-time.Hour))
	add("a3", "alice", usersNow.Add(-13*time.Hour))
	add("b1", "bob", usersNow)
	if x, err := b.Session(ctx, "a1"); err != nil || x.ID != "a1" || x.User != "alice" || x.CSRF != "ca1" || !x.Created.Equal(usersNow) || !x.LastSeen.Equal(usersNow) {
		t.Errorf("Session(a1) on the other node = %+v, %v", x, err)
	}
	if _, err := b.Session(ctx, "zz"); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("Session(zz) = %v, want ErrNotFound", err)
	}
	if err := b.AddSession(ctx, auth.Session{ID: "a1", User: "alice", CSRF: "x", Created: usersNow, LastSeen: usersNow}); err == nil {
		t.Error("AddSession accepted a second session with the same id")
	}
	if err := b.AddSession(ctx, auth.Session{ID: "x", User: "nobody", Created: usersNow, LastSeen: usersNow}); err == nil {
		t.Error("AddSession accepted a session of an unknown user")
	}
	// a3 was created long ago but is in use: touched on b, it survives
	// idle pruning on a, and is dropped by the absolute limit.
	if err := b.TouchSession(ctx, "a3", usersNow.Add(time.Nanosecond)); err != nil {
		t.Fatal(err)
	}
	if x, err := a.Session(ctx, "a3"); err != nil || !x.LastSeen.Equal(usersNow.Add(time.Nanosecond)) {
		t.Errorf("touched on the other node: %+v, %v", x, err)
	}
	if err := a.PruneSessions(ctx, usersNow.Add(-30*time.Minute), usersNow.Add(-12*time.Hour)); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]bool{"a1": true, "a2": false, "a3": false, "b1": true} {
		_, err := b.Session(ctx, id)
		if want && err != nil || !want && !errors.Is(err, auth.ErrNotFound) {
			t.Errorf("after pruning, Session(%s) = %v; want kept %v", id, err, want)
		}
	}
	if err := b.DeleteSession(ctx, "a1"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Session(ctx, "a1"); !errors.Is(err, auth.ErrNotFound) {
		t.Error("a session deleted on one node is still read on the other")
	}
	add("a4", "alice", usersNow)
	add("a5", "alice", usersNow)
	if err := b.DeleteSessions(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a4", "a5"} {
		if _, err := a.Session(ctx, id); !errors.Is(err, auth.ErrNotFound) {
			t.Errorf("DeleteSessions(alice) left %s", id)
		}
	}
	if _, err := a.Session(ctx, "b1"); err != nil {
		t.Errorf("DeleteSessions(alice) took bob's session: %v", err)
	}
	if err := b.DeleteUser(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Session(ctx, "b1"); !errors.Is(err, auth.ErrNotFound) {
		t.Error("deleting bob left his session")
	}
}
