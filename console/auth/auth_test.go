package auth_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/console/auth"
	authsqlite "github.com/tollgate-voip/tollgate/console/auth/sqlite"
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
	us, err := authsqlite.Open(filepath.Join(dir, "console.db"))
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
		_, _, _, err := f.svc.Login(ctx, "bob", "not the password", "", "198.51.100.7")
		want := auth.ErrBadLogin
		if i == 5 {
			want = auth.ErrLocked
		}
		if !errors.Is(err, want) {
			t.Fatalf("failure %d: %v, want %v", i, err, want)
		}
	}
	// Even the right password and code are refused while locked.
	if _, _, _, err := f.svc.Login(ctx, "bob", pw, totp.At(f.now), "198.51.100.7"); !errors.Is(err, auth.ErrLocked) {
		t.Fatalf("good login while locked: %v, want ErrLocked", err)
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
