// Package authtest is a behavioural test suite every auth.Store
// implementation must pass (console/auth/sqlite, console/auth/postgres).
// Each test opens two handles on one fresh database and uses them as two
// nodes: what one writes, the other must read, and counters both change
// at once must not lose updates.
package authtest

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/console/auth"
)

// Opener makes a fresh, empty database for t and returns a function
// opening handles on it; every handle is another node. Handles are closed
// when t ends.
type Opener func(t *testing.T) (open func() auth.Store)

// now has nanoseconds, which every store must keep.
var now = time.Date(2026, 11, 23, 10, 0, 0, 123456789, time.UTC)

// Run runs the suite.
func Run(t *testing.T, fresh Opener) {
	tests := []struct {
		name string
		f    func(t *testing.T, a, b auth.Store)
	}{
		{"UsersRoundTrip", testUsers},
		{"LoginFailedLocksAndCounts", testLoginFailed},
		{"ConcurrentFailuresOnTwoNodes", testConcurrentFailures},
		{"TOTPStepOnceAcrossNodes", testStepOnce},
		{"Sessions", testSessions},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			open := fresh(t)
			tc.f(t, open(), open())
		})
	}
}

func addUser(t *testing.T, s auth.Store, name string, role auth.Role) {
	t.Helper()
	if err := s.AddUser(context.Background(), auth.User{Name: name, Role: role, PasswordHash: "h", Created: now, Updated: now}); err != nil {
		t.Fatal(err)
	}
}

func testUsers(t *testing.T, a, b auth.Store) {
	ctx := context.Background()
	u := auth.User{Name: "alice", Role: auth.RoleOperator, Tenant: "acme", PasswordHash: "$argon2id$v=19$m=65536,t=3,p=2$c2FsdA$aGFzaA",
		TOTPSecret: []byte("0123456789\x00\xff"), TOTPLast: 7, Failed: 2, LockedUntil: now.Add(time.Minute), Created: now, Updated: now.Add(time.Second)}
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
	if err := a.AddUser(ctx, auth.User{Name: "mallory", Role: "root", PasswordHash: "h", Created: now, Updated: now}); err == nil {
		t.Error("AddUser accepted an unknown role")
	}
	if err := a.PutUser(ctx, auth.User{Name: "bob", Role: auth.RoleViewer}); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("PutUser(bob) = %v, want ErrNotFound", err)
	}
	addUser(t, b, "carol", auth.RoleViewer)
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

func testLoginFailed(t *testing.T, a, b auth.Store) {
	ctx := context.Background()
	addUser(t, a, "alice", auth.RoleAdmin)
	for i, s := range []auth.Store{a, b, a, b} {
		n, until, err := s.LoginFailed(ctx, "alice", now, 5, time.Minute)
		if err != nil || n != i+1 || !until.IsZero() {
			t.Fatalf("failure %d = %d, %v, %v; want %d, not locked", i+1, n, until, err, i+1)
		}
	}
	n, until, err := b.LoginFailed(ctx, "alice", now, 5, time.Minute)
	if err != nil || n != 5 || !until.Equal(now.Add(time.Minute)) {
		t.Fatalf("5th failure = %d, %v, %v; want 5, locked until %v", n, until, err, now.Add(time.Minute))
	}
	if u, err := a.User(ctx, "alice"); err != nil || u.Failed != 5 || !u.LockedUntil.Equal(now.Add(time.Minute)) {
		t.Errorf("the other node reads failed %d, locked until %v, %v", u.Failed, u.LockedUntil, err)
	}
	// A failure during the lock counts on and keeps the lock.
	if n, until, err := a.LoginFailed(ctx, "alice", now.Add(30*time.Second), 5, time.Minute); err != nil || n != 6 || !until.Equal(now.Add(90*time.Second)) {
		t.Errorf("failure while locked = %d, %v, %v; want 6, locked until %v", n, until, err, now.Add(90*time.Second))
	}
	// After the lock runs out, the count starts again.
	later := now.Add(2 * time.Minute)
	n, until, err = b.LoginFailed(ctx, "alice", later, 5, time.Minute)
	if err != nil || n != 1 || !until.IsZero() {
		t.Errorf("failure after the lock = %d, %v, %v; want 1, not locked", n, until, err)
	}
	ok, err := a.LoginOK(ctx, "alice", 100)
	if !ok || err != nil {
		t.Fatalf("LoginOK(100) = %v, %v", ok, err)
	}
	if u, _ := b.User(ctx, "alice"); u.Failed != 0 || u.TOTPLast != 100 || !u.LockedUntil.IsZero() {
		t.Errorf("after LoginOK: failed %d, totp_last %d, locked until %v", u.Failed, u.TOTPLast, u.LockedUntil)
	}
	if ok, _ := b.LoginOK(ctx, "alice", 100); ok {
		t.Error("LoginOK on the other node accepted the same TOTP step twice")
	}
	if ok, _ := a.LoginOK(ctx, "alice", 99); ok {
		t.Error("LoginOK accepted an older TOTP step")
	}
	// Without a second factor (step 0) a login always clears failures and
	// keeps the last step.
	if _, _, err := a.LoginFailed(ctx, "alice", later, 5, time.Minute); err != nil {
		t.Fatal(err)
	}
	if ok, err := b.LoginOK(ctx, "alice", 0); !ok || err != nil {
		t.Errorf("LoginOK(0) = %v, %v", ok, err)
	}
	if u, _ := a.User(ctx, "alice"); u.Failed != 0 || u.TOTPLast != 100 {
		t.Errorf("after LoginOK(0): failed %d, totp_last %d; want 0, 100", u.Failed, u.TOTPLast)
	}
	if _, _, err := a.LoginFailed(ctx, "nobody", now, 5, time.Minute); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("LoginFailed(nobody) = %v", err)
	}
	if ok, err := a.LoginOK(ctx, "nobody", 5); ok || err != nil {
		t.Errorf("LoginOK(nobody) = %v, %v; want false", ok, err)
	}
}

// testConcurrentFailures counts failures from both nodes at once: every
// one counts, and exactly one of them is the one that locks.
func testConcurrentFailures(t *testing.T, a, b auth.Store) {
	ctx := context.Background()
	addUser(t, a, "alice", auth.RoleAdmin)
	const perNode, max = 20, 30
	var wg sync.WaitGroup
	var mu sync.Mutex
	seen := map[int]bool{}
	for _, s := range []auth.Store{a, b} {
		for range 4 {
			wg.Go(func() {
				for range perNode / 4 {
					n, _, err := s.LoginFailed(ctx, "alice", now, max, time.Minute)
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					if seen[n] {
						t.Errorf("two failures both returned count %d", n)
					}
					seen[n] = true
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	u, err := b.User(ctx, "alice")
	if err != nil || u.Failed != 2*perNode || !u.LockedUntil.Equal(now.Add(time.Minute)) {
		t.Errorf("after %d concurrent failures on two nodes: failed %d, locked until %v, %v; want %d, locked until %v",
			2*perNode, u.Failed, u.LockedUntil, err, 2*perNode, now.Add(time.Minute))
	}
}

// testStepOnce logs in with one TOTP step on both nodes at once: exactly
// one login may use it.
func testStepOnce(t *testing.T, a, b auth.Store) {
	ctx := context.Background()
	addUser(t, a, "alice", auth.RoleAdmin)
	for step := int64(1); step <= 20; step++ {
		var wg sync.WaitGroup
		var accepted atomic.Int32
		for _, s := range []auth.Store{a, b, a, b} {
			wg.Go(func() {
				ok, err := s.LoginOK(ctx, "alice", step)
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

func testSessions(t *testing.T, a, b auth.Store) {
	ctx := context.Background()
	addUser(t, a, "alice", auth.RoleViewer)
	addUser(t, a, "bob", auth.RoleViewer)
	add := func(id, user string, at time.Time) {
		if err := a.AddSession(ctx, auth.Session{ID: id, User: user, CSRF: "c" + id, Created: at, LastSeen: at}); err != nil {
			t.Fatal(err)
		}
	}
	add("a1", "alice", now)
	add("a2", "alice", now.Add(-time.Hour))
	add("a3", "alice", now.Add(-13*time.Hour))
	add("b1", "bob", now)
	if x, err := b.Session(ctx, "a1"); err != nil || x.ID != "a1" || x.User != "alice" || x.CSRF != "ca1" || !x.Created.Equal(now) || !x.LastSeen.Equal(now) {
		t.Errorf("Session(a1) on the other node = %+v, %v", x, err)
	}
	if _, err := b.Session(ctx, "zz"); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("Session(zz) = %v, want ErrNotFound", err)
	}
	if err := b.AddSession(ctx, auth.Session{ID: "a1", User: "alice", CSRF: "x", Created: now, LastSeen: now}); err == nil {
		t.Error("AddSession accepted a second session with the same id")
	}
	if err := b.AddSession(ctx, auth.Session{ID: "x", User: "nobody", Created: now, LastSeen: now}); err == nil {
		t.Error("AddSession accepted a session of an unknown user")
	}
	// a3 was created long ago but is in use: touched on b, it survives
	// idle pruning on a, and is dropped by the absolute limit.
	if err := b.TouchSession(ctx, "a3", now.Add(time.Nanosecond)); err != nil {
		t.Fatal(err)
	}
	if x, err := a.Session(ctx, "a3"); err != nil || !x.LastSeen.Equal(now.Add(time.Nanosecond)) {
		t.Errorf("touched on the other node: %+v, %v", x, err)
	}
	if err := a.PruneSessions(ctx, now.Add(-30*time.Minute), now.Add(-12*time.Hour)); err != nil {
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
	add("a4", "alice", now)
	add("a5", "alice", now)
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
