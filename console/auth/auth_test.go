package auth_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/console/auth"
	"github.com/tollgate-voip/tollgate/store"
	"github.com/tollgate-voip/tollgate/store/sqlite"
)

// cheap keeps the race-detector tests fast; the real cost is DefaultParams.
var cheap = auth.Params{Memory: 64, Time: 1, Threads: 1}

type fixture struct {
	svc   *auth.Service
	audit *sqlite.Store
	now   time.Time
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	us, err := sqlite.OpenUsers(filepath.Join(dir, "console.db"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(filepath.Join(dir, "tollgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { us.Close(); st.Close() })
	p := auth.DefaultPolicy()
	p.PasswordCost = cheap
	f := &fixture{svc: auth.NewService(us, st, p), audit: st, now: time.Date(2026, 11, 23, 3, 0, 0, 0, time.UTC)}
	f.svc.Now = func() time.Time { return f.now }
	return f
}

func (f *fixture) actions(t *testing.T) []string {
	t.Helper()
	es, err := f.audit.ListAudit(context.Background(), time.Time{}, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Action)
	}
	return out
}

const pw = "correct horse battery"

func TestLoginWithTOTP(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	secret, _ := auth.NewSecret()
	if err := f.svc.AddUser(ctx, "cli", auth.User{Name: "alice", Role: auth.RoleAdmin, TOTPSecret: secret}, pw); err != nil {
		t.Fatal(err)
	}
	totp := auth.TOTP{Secret: secret}
	if _, _, _, err := f.svc.Login(ctx, "alice", pw, "000000", "192.0.2.1"); !errors.Is(err, auth.ErrBadLogin) && totp.At(f.now) != "000000" {
		t.Errorf("wrong code: %v, want ErrBadLogin", err)
	}
	if _, _, _, err := f.svc.Login(ctx, "alice", "wrong password!", totp.At(f.now), "192.0.2.1"); !errors.Is(err, auth.ErrBadLogin) {
		t.Errorf("wrong password: %v, want ErrBadLogin", err)
	}
	cookie, sess, u, err := f.svc.Login(ctx, "alice", pw, totp.At(f.now), "192.0.2.1")
	if err != nil || u.Name != "alice" || sess.CSRF == "" || len(cookie) < 40 {
		t.Fatalf("Login = %q, %+v, %+v, %v", cookie, sess, u, err)
	}
	if sess.ID == cookie || sess.ID != auth.SessionID(cookie) {
		t.Error("the store keeps the cookie value itself, not its hash")
	}
	if u2, _ := f.svc.Store.User(ctx, "alice"); u2.Failed != 0 {
		t.Errorf("failures after a good login = %d, want 0", u2.Failed)
	}
	// The same code again (another browser) is a replay.
	if _, _, _, err := f.svc.Login(ctx, "alice", pw, totp.At(f.now), "192.0.2.1"); !errors.Is(err, auth.ErrBadLogin) {
		t.Errorf("replayed code: %v, want ErrBadLogin", err)
	}
	if _, got, err := f.svc.Authenticate(ctx, cookie); err != nil || got.Name != "alice" {
		t.Errorf("Authenticate = %+v, %v", got, err)
	}
	if _, _, err := f.svc.Authenticate(ctx, cookie+"x"); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("Authenticate(wrong cookie) = %v", err)
	}
	// Idle for 31 minutes: the session is gone.
	f.now = f.now.Add(31 * time.Minute)
	if _, _, err := f.svc.Authenticate(ctx, cookie); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("Authenticate after idle timeout = %v, want ErrNotFound", err)
	}
	got := strings.Join(f.actions(t), ",")
	if got != "user.create,login.failed,login.failed,login,login.failed" {
		t.Errorf("audit = %s", got)
	}
	if err := f.audit.VerifyAudit(ctx); err != nil {
		t.Error(err)
	}
}

func TestLockout(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	secret, _ := auth.NewSecret()
	if err := f.svc.AddUser(ctx, "cli", auth.User{Name: "bob", Role: auth.RoleOperator, TOTPSecret: secret}, pw); err != nil {
		t.Fatal(err)
	}
	totp := auth.TOTP{Secret: secret}
	for i := 1; i <= 5; i++ {
		// Wrong password or locked: one answer, ErrBadLogin.
		if _, _, _, err := f.svc.Login(ctx, "bob", "not the password", "", "198.51.100.7"); !errors.Is(err, auth.ErrBadLogin) {
			t.Fatalf("failure %d: %v, want ErrBadLogin", i, err)
		}
	}
	// Even the right password and code are refused while locked, and the
	// lock stays.
	if _, _, _, err := f.svc.Login(ctx, "bob", pw, totp.At(f.now), "198.51.100.7"); !errors.Is(err, auth.ErrBadLogin) {
		t.Fatalf("good login while locked: %v, want ErrBadLogin", err)
	}
	if u, _ := f.svc.Store.User(ctx, "bob"); !f.now.Before(u.LockedUntil) {
		t.Errorf("a good password during the lock lifted it (locked until %v)", u.LockedUntil)
	}
	f.now = f.now.Add(16 * time.Minute)
	if _, _, _, err := f.svc.Login(ctx, "bob", pw, totp.At(f.now), "198.51.100.7"); err != nil {
		t.Fatalf("good login after the lock: %v", err)
	}
	es, _ := f.audit.ListAudit(ctx, time.Time{}, 100)
	var locked, lastFail store.AuditEntry
	for _, e := range es {
		switch e.Action {
		case "user.locked":
			locked = e
		case "login.failed":
			lastFail = e
		}
	}
	if locked.Object != "user/bob" {
		t.Errorf("no user.locked audit entry: %+v", es)
	}
	var d map[string]any
	if err := json.Unmarshal(lastFail.Details, &d); err != nil || d["why"] != "locked" || d["from"] != "198.51.100.7" {
		t.Errorf("last login.failed details = %s", lastFail.Details)
	}
	for _, e := range es {
		if strings.Contains(string(e.Details), "not the password") || strings.Contains(string(e.Details), pw) {
			t.Errorf("a password reached the audit log: %s", e.Details)
		}
	}
}

func TestMFARequiredAndPasswordChange(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if err := f.svc.AddUser(ctx, "cli", auth.User{Name: "carol", Role: auth.RoleViewer, Tenant: "acme"}, pw); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := f.svc.Login(ctx, "carol", pw, "", ""); !errors.Is(err, auth.ErrNoMFA) {
		t.Errorf("login without a second factor: %v, want ErrNoMFA", err)
	}
	f.svc.Policy.RequireMFA = false
	cookie, _, _, err := f.svc.Login(ctx, "carol", pw, "", "")
	if err != nil {
		t.Fatalf("login with MFA not required: %v", err)
	}
	if err := f.svc.SetPassword(ctx, "cli", "carol", "short"); err == nil {
		t.Error("SetPassword accepted a 5-character password")
	}
	if err := f.svc.SetPassword(ctx, "cli", "carol", "another long passphrase"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.svc.Authenticate(ctx, cookie); !errors.Is(err, auth.ErrNotFound) {
		t.Error("a password change left the old session alive")
	}
	if _, _, _, err := f.svc.Login(ctx, "carol", pw, "", ""); !errors.Is(err, auth.ErrBadLogin) {
		t.Errorf("old password after the change: %v", err)
	}
	for _, bad := range []auth.User{{Name: "", Role: auth.RoleViewer}, {Name: "x y", Role: auth.RoleViewer}, {Name: "dave", Role: "root"}} {
		if err := f.svc.AddUser(ctx, "cli", bad, pw); err == nil {
			t.Errorf("AddUser(%+v) accepted", bad)
		}
	}
	if _, _, _, err := f.svc.Login(ctx, "nobody", pw, "", ""); !errors.Is(err, auth.ErrBadLogin) {
		t.Errorf("unknown user: %v, want ErrBadLogin", err)
	}
}

func TestRoles(t *testing.T) {
	cases := []struct {
		have, need auth.Role
		ok         bool
	}{
		{auth.RoleAdmin, auth.RoleAdmin, true}, {auth.RoleAdmin, auth.RoleViewer, true},
		{auth.RoleOperator, auth.RoleOperator, true}, {auth.RoleOperator, auth.RoleAdmin, false},
		{auth.RoleViewer, auth.RoleViewer, true}, {auth.RoleViewer, auth.RoleOperator, false},
		{"", auth.RoleViewer, false},
	}
	for _, c := range cases {
		if got := c.have.Can(c.need); got != c.ok {
			t.Errorf("%q.Can(%q) = %v, want %v", c.have, c.need, got, c.ok)
		}
	}
}

func TestPasswordHash(t *testing.T) {
	h, err := auth.HashPassword(pw, cheap)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Errorf("hash = %s", h)
	}
	if !auth.CheckHash(h, pw) || auth.CheckHash(h, pw+"x") {
		t.Error("CheckHash does not tell the right password from a wrong one")
	}
	h2, _ := auth.HashPassword(pw, cheap)
	if h2 == h {
		t.Error("two hashes of one password are equal: no salt")
	}
	for _, bad := range []string{"", "$argon2id$v=19$m=99999999,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", "$bcrypt$x", strings.Replace(h, "argon2id", "argon2i", 1)} {
		if auth.CheckHash(bad, pw) {
			t.Errorf("CheckHash(%q) matched", bad)
		}
	}
}

// TestQRDecodes renders the enrolment QR code and reads it back with
// zbarimg (Debian zbar-tools), the way a phone would.
func TestQRDecodes(t *testing.T) {
	zbar, err := exec.LookPath("zbarimg")
	if err != nil {
		t.Fatal("zbarimg not installed (scripts/test.sh installs zbar-tools)")
	}
	secret, _ := auth.NewSecret()
	uri := (&auth.TOTP{Secret: secret}).URI("tollgate", "alice")
	png, err := auth.QRPNG(uri)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "qr.png")
	if err := os.WriteFile(file, png, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(zbar, "--raw", "-q", file).Output()
	if err != nil {
		t.Fatalf("zbarimg: %v", err)
	}
	if got := strings.TrimSpace(string(out)); got != uri {
		t.Errorf("QR decodes to %q, want %q", got, uri)
	}
	svg, err := auth.QRSVG(uri, "QR code")
	if err != nil || !strings.HasPrefix(svg, "<svg") || !strings.Contains(svg, `aria-label="QR code"`) {
		t.Errorf("QRSVG = %.80s…, %v", svg, err)
	}
	txt, err := auth.QRText(uri)
	if err != nil || strings.Count(txt, "\n") < 15 {
		t.Errorf("QRText = %d lines, %v", strings.Count(txt, "\n"), err)
	}
}

// TestConcurrentLoginRace is the attack from issue 16: 14 wrong passwords
// at once, then the right one. The lock must be decided with the failure
// count, so no more than MaxFailures passwords are checked, the right
// password afterwards gets no session, and the lock stays.
func TestConcurrentLoginRace(t *testing.T) {
	f := newFixture(t)
	// Costly enough (about 10 ms a hash) that all 14 are in flight while
	// the first is being hashed, as with the real parameters.
	f.svc.Policy.PasswordCost = auth.Params{Memory: 8 * 1024, Time: 1, Threads: 1}
	f.svc.Policy.RequireMFA = false
	ctx := context.Background()
	if err := f.svc.AddUser(ctx, "cli", auth.User{Name: "dora", Role: auth.RoleAdmin}, pw); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 14 {
		wg.Go(func() {
			// From 14 addresses, so the per-source limit is not what stops them.
			_, _, _, err := f.svc.Login(ctx, "dora", fmt.Sprintf("wrong password %d", i), "", fmt.Sprintf("203.0.113.%d", i+1))
			if err == nil {
				t.Error("a wrong password logged in")
			}
		})
	}
	// The right password arrives while the wrong ones are still being
	// checked, once five attempts have been counted.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		u, err := f.svc.Store.User(ctx, "dora")
		if err != nil {
			t.Fatal(err)
		}
		if u.Failed >= f.svc.Policy.MaxFailures || time.Now().After(deadline) {
			break
		}
	}
	if _, _, _, err := f.svc.Login(ctx, "dora", pw, "", "198.51.100.200"); err == nil {
		t.Error("the right password got a session although the account locked at the 5th failure")
	}
	wg.Wait()
	u, err := f.svc.Store.User(ctx, "dora")
	if err != nil {
		t.Fatal(err)
	}
	if !f.now.Before(u.LockedUntil) {
		t.Errorf("after 14 failures and a good login the account is not locked (locked until %v)", u.LockedUntil)
	}
	checked := 0
	es, _ := f.audit.ListAudit(ctx, time.Time{}, 1000)
	for _, e := range es {
		var d map[string]any
		_ = json.Unmarshal(e.Details, &d)
		if e.Action == "login.failed" && d["why"] == "password" {
			checked++
		}
	}
	if checked > f.svc.Policy.MaxFailures {
		t.Errorf("%d wrong passwords were checked; the lock allows %d", checked, f.svc.Policy.MaxFailures)
	}
}

// TestLockoutTellsNoNames: a locked account and an unknown user get the
// same error, after the same hashing (one argon2id check each).
func TestLockoutTellsNoNames(t *testing.T) {
	f := newFixture(t)
	f.svc.Policy.SourceMaxFailures = 0 // per-user only here
	ctx := context.Background()
	if err := f.svc.AddUser(ctx, "cli", auth.User{Name: "erin", Role: auth.RoleViewer}, pw); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		f.svc.Login(ctx, "erin", "not the password", "", "192.0.2.9")
	}
	_, _, _, locked := f.svc.Login(ctx, "erin", "not the password", "", "192.0.2.9")
	_, _, _, unknown := f.svc.Login(ctx, "nobody-here", "not the password", "", "192.0.2.9")
	if locked == nil || unknown == nil || locked.Error() != unknown.Error() || !errors.Is(locked, auth.ErrBadLogin) {
		t.Errorf("locked user: %v; unknown user: %v; want the same ErrBadLogin", locked, unknown)
	}
	before := auth.HashChecks()
	f.svc.Login(ctx, "erin", "not the password", "", "192.0.2.9")
	lockedHashes := auth.HashChecks() - before
	before = auth.HashChecks()
	f.svc.Login(ctx, "nobody-here", "not the password", "", "192.0.2.9")
	unknownHashes := auth.HashChecks() - before
	if lockedHashes != 1 || unknownHashes != 1 {
		t.Errorf("hash checks: locked user %d, unknown user %d; want 1 each so timing tells nothing", lockedHashes, unknownHashes)
	}
}

// TestSourceLimit: one address failing against many users is stopped
// before it can lock more than a couple of them; other addresses still
// log in, and a good login does not count against its address.
func TestSourceLimit(t *testing.T) {
	f := newFixture(t)
	f.svc.Policy.RequireMFA = false
	ctx := context.Background()
	for _, n := range []string{"u1", "u2", "u3", "u4"} {
		if err := f.svc.AddUser(ctx, "cli", auth.User{Name: n, Role: auth.RoleViewer}, pw); err != nil {
			t.Fatal(err)
		}
	}
	const attacker = "203.0.113.66"
	var refused int
	for _, n := range []string{"u1", "u2", "u3", "u4"} {
		for range 5 {
			if _, _, _, err := f.svc.Login(ctx, n, "not the password", "", attacker); errors.Is(err, auth.ErrThrottled) {
				refused++
			}
		}
	}
	if refused != 20-f.svc.Policy.SourceMaxFailures {
		t.Errorf("%d of 20 attempts from one address refused by the source limit, want %d", refused, 20-f.svc.Policy.SourceMaxFailures)
	}
	locked := 0
	for _, n := range []string{"u1", "u2", "u3", "u4"} {
		if u, _ := f.svc.Store.User(ctx, n); f.now.Before(u.LockedUntil) {
			locked++
		}
	}
	if locked != f.svc.Policy.SourceMaxFailures/f.svc.Policy.MaxFailures {
		t.Errorf("one address locked %d accounts, want at most %d", locked, f.svc.Policy.SourceMaxFailures/f.svc.Policy.MaxFailures)
	}
	if _, _, _, err := f.svc.Login(ctx, "u4", pw, "", attacker); !errors.Is(err, auth.ErrThrottled) {
		t.Errorf("right password from the throttled address: %v, want ErrThrottled", err)
	}
	// Another address in the same IPv6 /64 is the same source.
	for range f.svc.Policy.SourceMaxFailures {
		f.svc.Login(ctx, "u4", "not the password", "", "2001:db8:1:2::1")
		f.svc.Login(ctx, "nobody", "not the password", "", "2001:db8:1:2::1")
	}
	if _, _, _, err := f.svc.Login(ctx, "u4", pw, "", "2001:db8:1:2:ffff::9"); !errors.Is(err, auth.ErrThrottled) {
		t.Errorf("another address in the /64: %v, want ErrThrottled", err)
	}
	// Good logins from an office address do not use up its allowance.
	f.now = f.now.Add(time.Hour)
	for range 2 * f.svc.Policy.SourceMaxFailures {
		if _, _, _, err := f.svc.Login(ctx, "u4", pw, "", "192.0.2.50"); err != nil {
			t.Fatalf("good login: %v", err)
		}
	}
	// The window passes: the attacker's address may try again.
	if _, _, _, err := f.svc.Login(ctx, "u4", pw, "", attacker); err != nil {
		t.Errorf("a window later the address is still refused: %v", err)
	}
}

func TestSourceKey(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.1": "192.0.2.1", "::ffff:192.0.2.1": "192.0.2.1",
		"2001:db8:1:2:3:4:5:6": "2001:db8:1:2::/64", "fe80::1%eth0": "fe80::/64", "not an ip": "not an ip",
	} {
		if got := auth.SourceKey(in); got != want {
			t.Errorf("SourceKey(%q) = %q, want %q", in, got, want)
		}
	}
}
