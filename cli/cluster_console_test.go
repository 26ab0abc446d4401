package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/console"
	"github.com/tollgate-voip/tollgate/console/auth"
)

// clusterConsolePolicy: cluster mode with the console on (second factor
// required, three failures lock). Token "test" has role admin.
const clusterConsolePolicy = `
server:
  tokens:
    - {name: ops, role: admin, sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08}
detectors:
  enabled: false
console:
  enabled: true
  require_mfa: true
  lockout_failures: 3
  lockout_s: 600
cluster:
  node: %[1]s
  redis: {addr: "%[2]s", timeout_ms: 300}
  postgres: {dsn_env: TOLLGATE_TEST_PG_DSN}
defaults:
  country: US
  timezone: America/New_York
  on_error: fail_closed
  destinations: {default: allow}
tenants:
  acme: {}
`

// consoleDo sends one console request with a session cookie and CSRF
// token (either may be empty) and returns the status, the JSON answer and
// the session cookie set, if any.
func consoleDo(t *testing.T, base, method, path, cookie, csrf string, body any) (int, map[string]any, string) {
	t.Helper()
	raw, _ := json.Marshal(body)
	req, err := http.NewRequest(method, base+path, bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: console.CookieName, Value: cookie})
	}
	if csrf != "" {
		req.Header.Set("X-CSRF-Token", csrf)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	set := ""
	for _, c := range resp.Cookies() {
		if c.Name == console.CookieName && c.Value != "" {
			set = c.Value
		}
	}
	return resp.StatusCode, out, set
}

// TestClusterConsoleAcrossNodes: a console user created once with
// 'tollgate user add -config' (cluster mode) logs in on node 1; the
// session cookie and its CSRF token work on node 2; a TOTP code used on
// node 1 is refused on node 2; logging out on node 2 ends the session on
// node 1; failed logins spread over both nodes add up to one lockout that
// both nodes enforce. No node made a console.db.
func TestClusterConsoleAcrossNodes(t *testing.T) {
	p := startClusterPair(t, clusterConsolePolicy)
	n1, n2 := p.base(0), p.base(1)

	cfgPath := filepath.Join(t.TempDir(), "cluster.yaml")
	if err := os.WriteFile(cfgPath, []byte(fmt.Sprintf(clusterConsolePolicy, "cli", p.redis.Addr)), 0o600); err != nil {
		t.Fatal(err)
	}
	const pw = "pw of olga is long"
	t.Setenv("TOLLGATE_PASSWORD", pw)
	var o, e bytes.Buffer
	if code := Main([]string{"user", "add", "olga", "-role", "operator", "-config", cfgPath, "-data", t.TempDir()}, strings.NewReader(""), &o, &e); code != 0 {
		t.Fatalf("user add -config: exit %d: %s", code, e.String())
	}
	i := strings.Index(o.String(), "by hand: ")
	if i < 0 {
		t.Fatalf("user add printed no secret: %s", o.String())
	}
	secret, err := auth.DecodeSecret(strings.Fields(o.String()[i+9:])[0])
	if err != nil {
		t.Fatal(err)
	}
	code := func(at time.Time) string { return (&auth.TOTP{Secret: secret}).At(at) }
	login := func(base, password, c string) (int, map[string]any, string) {
		t.Helper()
		return consoleDo(t, base, "POST", "/ui/login", "", "", map[string]string{"user": "olga", "password": password, "code": c})
	}

	// Log in on node 1; the cookie and CSRF token serve on node 2.
	now := time.Now()
	st, out, cookie := login(n1, pw, code(now))
	if st != 200 || cookie == "" || out["user"] != "olga" || out["role"] != "operator" {
		t.Fatalf("login on node 1: %d %v (cookie set: %v)", st, out, cookie != "")
	}
	csrf, _ := out["csrf"].(string)
	if st, me, _ := consoleDo(t, n2, "GET", "/ui/api/me", cookie, "", nil); st != 200 || me["user"] != "olga" || me["csrf"] != csrf {
		t.Fatalf("node 2 with node 1's session cookie: %d %v", st, me)
	}
	if st, _, _ := consoleDo(t, n2, "GET", "/ui/api/me", "not-a-session", "", nil); st != 401 {
		t.Errorf("node 2 with a made-up cookie: %d, want 401", st)
	}
	// The code used on node 1 cannot be replayed on node 2.
	if st, out, _ := login(n2, pw, code(now)); st != 401 {
		t.Errorf("replayed TOTP code on node 2: %d %v, want 401", st, out)
	}
	// Logging out on node 2 (a CSRF-checked POST) ends the session on node 1.
	if st, out, _ := consoleDo(t, n2, "POST", "/ui/logout", cookie, csrf, nil); st != 200 {
		t.Fatalf("logout on node 2 with node 1's session: %d %v", st, out)
	}
	if st, _, _ := consoleDo(t, n1, "GET", "/ui/api/me", cookie, "", nil); st != 401 {
		t.Errorf("node 1 after logout on node 2: %d, want 401", st)
	}

	// A fresh login clears the failure count; then three wrong passwords,
	// two on node 2 and one on node 1, lock olga on both nodes.
	if st, out, _ := login(n2, pw, code(now.Add(30*time.Second))); st != 200 {
		t.Fatalf("second login on node 2: %d %v", st, out)
	}
	// Wrong or locked, the answer is the same 401 (the lock tells no
	// names); the audit log shows the lock.
	for i, base := range []string{n2, n1, n2} {
		if st, out, _ := login(base, "wrong password!!", ""); st != 401 {
			t.Fatalf("wrong password %d (on %s): %d %v, want 401", i+1, base, st, out)
		}
	}
	if st, out, _ := login(n1, pw, code(now.Add(60*time.Second))); st != 401 {
		t.Errorf("right password on node 1 while locked by failures on both nodes: %d %v, want 401", st, out)
	}

	// Users and audit are shared: node 2 lists the command line's user.create.
	c2 := &client{t: t, base: n2, token: "test"}
	if st, audit := c2.call("GET", "/v1/audit?limit=100", nil); st != 200 || !strings.Contains(fmt.Sprint(audit), "user.create") || !strings.Contains(fmt.Sprint(audit), "user.locked") {
		t.Errorf("audit on node 2 lacks the command line's user.create or the lock: %d %v", st, audit)
	}
	for _, d := range p.dirs {
		if _, err := os.Stat(filepath.Join(d, "console.db")); !os.IsNotExist(err) {
			t.Errorf("%s: console.db exists in cluster mode (%v)", d, err)
		}
	}
}
