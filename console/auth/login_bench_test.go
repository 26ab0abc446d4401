package auth_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/tollgate-voip/tollgate/console/auth"
	"github.com/tollgate-voip/tollgate/store/sqlite"
)

// BenchmarkRefusedLogin times a refused login with the real argon2id
// cost for an unknown user, a locked user and a wrong password: the
// first two must cost the same, so timing does not tell whether a user
// exists (issue 16).
func BenchmarkRefusedLogin(b *testing.B) {
	us, err := sqlite.OpenUsers(filepath.Join(b.TempDir(), "console.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer us.Close()
	p := auth.DefaultPolicy()
	p.SourceMaxFailures = 0
	p.MaxFailures = 1 << 30 // "wrong" never locks
	svc := auth.NewService(us, nil, p)
	ctx := context.Background()
	for _, n := range []string{"wrong", "locked"} {
		if err := svc.AddUser(ctx, "bench", auth.User{Name: n, Role: auth.RoleViewer}, "correct horse battery"); err != nil {
			b.Fatal(err)
		}
	}
	u, _ := us.User(ctx, "locked")
	u.LockedUntil = svc.Now().Add(1 << 40)
	if err := us.PutUser(ctx, u); err != nil {
		b.Fatal(err)
	}
	for _, who := range []string{"unknown", "locked", "wrong"} {
		b.Run(who, func(b *testing.B) {
			i := 0
			for b.Loop() {
				i++
				if _, _, _, err := svc.Login(ctx, who, fmt.Sprint("not the password ", i), "", "192.0.2.1"); err == nil {
					b.Fatal("logged in")
				}
			}
		})
	}
}
