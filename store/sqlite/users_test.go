package sqlite

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/console/auth"
	"github.com/tollgate-voip/tollgate/store/storetest"
)

// TestUsersSuite runs the auth conformance suite on one file opened twice, as
// two processes sharing a data directory would.
func TestUsersSuite(t *testing.T) {
	storetest.RunUsers(t, func(t *testing.T) func() auth.Store {
		path := filepath.Join(t.TempDir(), "console.db")
		return func() auth.Store {
			s, err := OpenUsers(path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}
	})
}

// TestUsersFileOwnerOnly: the file holds TOTP secrets, so only its owner may
// read it.
func TestUsersFileOwnerOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "console.db")
	s, err := OpenUsers(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	if err := s.AddUser(context.Background(), auth.User{Name: "alice", Role: auth.RoleAdmin, PasswordHash: "h", TOTPSecret: []byte("0123456789"), Created: now, Updated: now}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("console.db mode = %v, %v; want 0600", fi.Mode().Perm(), err)
	}
}
