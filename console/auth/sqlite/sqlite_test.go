package sqlite

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/console/auth"
)

func open(t *testing.T) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "console.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestUsersRoundTrip(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	u := auth.User{Name: "alice", Role: auth.RoleOperator, Tenant: "acme", PasswordHash: "h", TOTPSecret: []byte("0123456789"), Created: now, Updated: now}
	if err := s.AddUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if err := s.AddUser(ctx, u); !errors.Is(err, auth.ErrExists) {
		t.Errorf("AddUser twice: %v, want ErrExists", err)
	}
	got, err := s.User(ctx, "alice")
	if err != nil || got.Role != u.Role || got.Tenant != "acme" || string(got.TOTPSecret) != "0123456789" || !got.Created.Equal(now) {
		t.Errorf("User = %+v, %v", got, err)
	}
	if _, err := s.User(ctx, "bob"); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("User(bob) = %v, want ErrNotFound", err)
	}
	u.Role = "superuser"
	if err := s.PutUser(ctx, u); err == nil {
		t.Error("PutUser accepted an unknown role")
	}
	if err := s.PutUser(ctx, auth.User{Name: "bob", Role: auth.RoleViewer}); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("PutUser(bob) = %v, want ErrNotFound", err)
	}
	fi, err := os.Stat(filepath.Join(filepath.Dir(s.path(t)), "console.db"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("console.db mode = %v, %v; want 0600", fi.Mode().Perm(), err)
	}
}

func (s *Store) path(t *testing.T) string {
	var seq int
	var name, file string
	if err := s.db.QueryRow(`PRAGMA database_list`).Scan(&seq, &name, &file); err != nil {
		t.Fatal(err)
	}
	return file
}

func TestLoginFailedLocksAndCountsConcurrently(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	if err := s.AddUser(ctx, auth.User{Name: "alice", Role: auth.RoleAdmin, PasswordHash: "h", Created: now, Updated: now}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if _, _, err := s.LoginFailed(ctx, "alice", now, 5, time.Minute); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	n, until, err := s.LoginFailed(ctx, "alice", now, 5, time.Minute)
	if err != nil || n != 5 || !until.Equal(now.Add(time.Minute)) {
		t.Fatalf("5th failure = %d, %v, %v; want 5, locked until %v", n, until, err, now.Add(time.Minute))
	}
	// After the lock runs out, the count starts again.
	later := now.Add(2 * time.Minute)
	n, until, err = s.LoginFailed(ctx, "alice", later, 5, time.Minute)
	if err != nil || n != 1 || !until.IsZero() {
		t.Errorf("failure after the lock = %d, %v, %v; want 1, not locked", n, until, err)
	}
	ok, err := s.LoginOK(ctx, "alice", 100)
	if !ok || err != nil {
		t.Fatalf("LoginOK(100) = %v, %v", ok, err)
	}
	if u, _ := s.User(ctx, "alice"); u.Failed != 0 || u.TOTPLast != 100 {
		t.Errorf("after LoginOK: failed %d, totp_last %d", u.Failed, u.TOTPLast)
	}
	if ok, _ := s.LoginOK(ctx, "alice", 100); ok {
		t.Error("LoginOK accepted the same TOTP step twice")
	}
	if ok, _ := s.LoginOK(ctx, "alice", 99); ok {
		t.Error("LoginOK accepted an older TOTP step")
	}
	if _, _, err := s.LoginFailed(ctx, "nobody", now, 5, time.Minute); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("LoginFailed(nobody) = %v", err)
	}
}

func TestSessions(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	for _, n := range []string{"alice", "bob"} {
		if err := s.AddUser(ctx, auth.User{Name: n, Role: auth.RoleViewer, PasswordHash: "h", Created: now, Updated: now}); err != nil {
			t.Fatal(err)
		}
	}
	add := func(id, user string, at time.Time) {
		if err := s.AddSession(ctx, auth.Session{ID: id, User: user, CSRF: "c" + id, Created: at, LastSeen: at}); err != nil {
			t.Fatal(err)
		}
	}
	add("a1", "alice", now)
	add("a2", "alice", now.Add(-time.Hour))
	add("b1", "bob", now)
	if x, err := s.Session(ctx, "a1"); err != nil || x.User != "alice" || x.CSRF != "ca1" {
		t.Errorf("Session(a1) = %+v, %v", x, err)
	}
	if err := s.AddSession(ctx, auth.Session{ID: "x", User: "nobody", Created: now, LastSeen: now}); err == nil {
		t.Error("AddSession accepted a session of an unknown user")
	}
	if err := s.PruneSessions(ctx, now.Add(-30*time.Minute), now.Add(-12*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Session(ctx, "a2"); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("idle session a2 survived pruning: %v", err)
	}
	if err := s.DeleteSessions(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Session(ctx, "a1"); !errors.Is(err, auth.ErrNotFound) {
		t.Error("DeleteSessions(alice) left a1")
	}
	if err := s.DeleteUser(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Session(ctx, "b1"); !errors.Is(err, auth.ErrNotFound) {
		t.Error("deleting bob left his session")
	}
}
