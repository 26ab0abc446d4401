package console_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/cli"
	"github.com/tollgate-voip/tollgate/console"
	"github.com/tollgate-voip/tollgate/console/auth"
)

type session struct {
	s      *serverUnderTest
	cookie string
	csrf   string
}

func (x *session) do(t *testing.T, method, path string, body any, hdr ...string) (int, map[string]any) {
	t.Helper()
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, x.s.base+path, bytes.NewReader(raw))
	if x.cookie != "" {
		req.AddCookie(&http.Cookie{Name: console.CookieName, Value: x.cookie})
	}
	if x.csrf != "" {
		req.Header.Set("X-CSRF-Token", x.csrf)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	for _, c := range resp.Cookies() {
		if c.Name == console.CookieName && c.Value != "" {
			x.cookie = c.Value
		}
	}
	return resp.StatusCode, out
}

func loginHTTP(t *testing.T, s *serverUnderTest, user, pw, code string) (*session, int, map[string]any) {
	x := &session{s: s}
	st, out := x.do(t, "POST", "/ui/login", map[string]string{"user": user, "password": pw, "code": code})
	if st == 200 {
		x.csrf, _ = out["csrf"].(string)
	}
	return x, st, out
}

// TestTenantScopeCSRFAndLockout checks over plain HTTP what the browser
// test does not: a tenant-scoped operator changes only its own tenant,
// cross-site and token-less changes are refused, and repeated failures
// lock the account.
func TestTenantScopeCSRFAndLockout(t *testing.T) {
	s := startServer(t)
	t.Setenv("TOLLGATE_PASSWORD", "pw of olga is long")
	var o, e bytes.Buffer
	if code := cli.Main([]string{"user", "add", "olga", "-role", "operator", "-tenant", "beta", "-data", s.dir}, strings.NewReader(""), &o, &e); code != 0 {
		t.Fatalf("user add olga: %s", e.String())
	}
	secret, err := auth.DecodeSecret(strings.Fields(o.String()[strings.Index(o.String(), "by hand: ")+9:])[0])
	if err != nil {
		t.Fatal(err)
	}
	x, st, out := loginHTTP(t, s, "olga", "pw of olga is long", (&auth.TOTP{Secret: secret}).At(time.Now()))
	if st != 200 || out["tenant"] != "beta" || out["can_operate"] != true || out["can_admin"] != false {
		t.Fatalf("login olga: %d %v", st, out)
	}
	cases := []struct {
		method, path string
		body         any
		want         int
	}{
		{"POST", "/ui/api/v1/killswitch", map[string]any{"tenant": "acme", "active": true, "reason": "x"}, 403},
		{"POST", "/ui/api/v1/killswitch", map[string]any{"tenant": "*", "active": true, "reason": "x"}, 403},
		{"POST", "/ui/api/v1/killswitch", map[string]any{"active": true, "reason": "own tenant"}, 200},
		{"POST", "/ui/api/v1/blocks", map[string]any{"kind": "number", "value": "+4420794600", "tenant": "acme", "reason": "x"}, 403},
		{"POST", "/ui/api/v1/blocks", map[string]any{"kind": "extension", "value": "2001", "reason": "own"}, 201},
		{"GET", "/ui/api/v1/decisions?tenant=acme", nil, 403},
		{"GET", "/ui/api/v1/decisions", nil, 200},
		{"GET", "/ui/api/v1/audit", nil, 403},
		{"GET", "/ui/api/users", nil, 403},
	}
	for _, c := range cases {
		if st, out := x.do(t, c.method, c.path, c.body); st != c.want {
			t.Errorf("olga %s %s = %d %v, want %d", c.method, c.path, st, out, c.want)
		}
	}
	ks, _ := s.srv.Store.KillSwitches(t.Context())
	if len(ks) != 1 || ks[0].Tenant != "beta" || !ks[0].Active || ks[0].By != "user:olga" {
		t.Errorf("kill switches = %+v, want only beta's, by user:olga", ks)
	}
	bs, _ := s.srv.Store.ListBlocks(t.Context(), time.Now())
	for _, b := range bs {
		if b.CreatedBy == "user:olga" && b.Tenant != "beta" {
			t.Errorf("olga's block landed in tenant %q", b.Tenant)
		}
	}
	// No CSRF token, or a foreign Origin: refused even with a good cookie.
	noToken := &session{s: s, cookie: x.cookie}
	if st, _ := noToken.do(t, "POST", "/ui/api/v1/killswitch", map[string]any{"active": false}); st != 403 {
		t.Errorf("POST without CSRF token = %d, want 403", st)
	}
	if st, _ := x.do(t, "POST", "/ui/api/v1/killswitch", map[string]any{"active": false}, "Origin", "http://evil.example"); st != 403 {
		t.Errorf("cross-origin POST = %d, want 403", st)
	}
	if st, _ := x.do(t, "POST", "/ui/logout", nil); st != 200 {
		t.Errorf("logout = %d", st)
	}
	if st, _ := x.do(t, "GET", "/ui/api/me", nil); st != 401 {
		t.Errorf("after logout /ui/api/me = %d, want 401", st)
	}
	// Five wrong passwords lock the account; then even the right one fails,
	// with the answer an unknown user gets (the lock tells no names).
	for i := 1; i <= 5; i++ {
		if _, st, _ := loginHTTP(t, s, "olga", "wrong password!!", ""); st != 401 {
			t.Fatalf("bad login %d = %d, want 401", i, st)
		}
	}
	_, st, locked := loginHTTP(t, s, "olga", "pw of olga is long", (&auth.TOTP{Secret: secret}).At(time.Now().Add(30*time.Second)))
	_, st2, unknown := loginHTTP(t, s, "no-such-user", "pw of olga is long", "123456")
	if st != 401 || st2 != 401 || locked["error"] != unknown["error"] {
		t.Errorf("good login while locked = %d %v; unknown user = %d %v; want the same 401", st, locked, st2, unknown)
	}
	// API tokens: operator role may set the kill switch, read may not.
	for role, want := range map[string]int{"operator": 200, "read": 403} {
		var o, e bytes.Buffer
		if code := cli.Main([]string{"token", "add", "t-" + role, "-role", role, "-data", s.dir}, strings.NewReader(""), &o, &e); code != 0 {
			t.Fatalf("token add: %s", e.String())
		}
		lines := strings.Split(strings.TrimSpace(o.String()), "\n")
		tok := strings.TrimSpace(lines[len(lines)-1])
		time.Sleep(1100 * time.Millisecond) // tokens reload every second
		req, _ := http.NewRequest("POST", s.base+"/v1/killswitch", strings.NewReader(`{"tenant":"acme","active":false,"reason":"token"}`))
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("token role %s POST /v1/killswitch = %d, want %d", role, resp.StatusCode, want)
		}
	}
	es, _ := s.srv.Store.ListAudit(t.Context(), time.Time{}, 1000)
	var acts []string
	for _, e := range es {
		if strings.Contains(e.Object, "olga") || e.Actor == "user:olga" {
			acts = append(acts, e.Action)
		}
	}
	want := "user.create,login,killswitch.set,block.add,logout,login.failed,login.failed,login.failed,login.failed,login.failed,user.locked,login.failed"
	if strings.Join(acts, ",") != want {
		t.Errorf("olga's audit trail:\n got %s\nwant %s", strings.Join(acts, ","), want)
	}
}
