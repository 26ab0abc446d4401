package console_test

import (
	"bytes"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/cli"

	"github.com/tollgate-voip/tollgate/console/auth"
	"github.com/tollgate-voip/tollgate/store/sqlite"
)

// TestMFAChangeNeedsPasswordAndCode is the attack from issue 16: someone
// holding only a session (a borrowed browser, a stolen cookie) replaces
// the victim's TOTP secret with their own. The change needs the password
// and a current code from the existing authenticator.
func TestMFAChangeNeedsPasswordAndCode(t *testing.T) {
	s := startServer(t)
	old := s.secrets["victor"]
	x, st, out := loginHTTP(t, s, "victor", "pw of victor is long", (&auth.TOTP{Secret: old}).At(time.Now()))
	if st != 200 {
		t.Fatalf("login victor: %d %v", st, out)
	}
	users, err := sqlite.OpenUsers(filepath.Join(s.dir, "console.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer users.Close()
	mine, _ := auth.NewSecret()
	newCode := (&auth.TOTP{Secret: mine}).At(time.Now())
	enc := auth.EncodeSecret(mine)
	cases := []struct {
		name string
		body map[string]string
		want int
	}{
		{"session only", map[string]string{"secret": enc, "code": newCode}, 400},
		{"wrong password", map[string]string{"secret": enc, "code": newCode, "password": "not victor's password", "current_code": (&auth.TOTP{Secret: old}).At(time.Now().Add(30 * time.Second))}, 403},
		{"password without the current code", map[string]string{"secret": enc, "code": newCode, "password": "pw of victor is long"}, 400},
		{"password and a wrong current code", map[string]string{"secret": enc, "code": newCode, "password": "pw of victor is long", "current_code": "000000"}, 403},
	}
	for _, c := range cases {
		if st, out := x.do(t, "POST", "/ui/api/mfa", c.body); st != c.want {
			t.Errorf("%s: POST /ui/api/mfa = %d %v, want %d", c.name, st, out, c.want)
		}
		u, err := users.User(t.Context(), "victor")
		if err != nil {
			t.Fatal(err)
		}
		if string(u.TOTPSecret) != string(old) {
			t.Fatalf("%s: the TOTP secret was replaced", c.name)
		}
	}
	// With the password and a fresh current code it works.
	ok := map[string]string{"secret": enc, "code": newCode, "password": "pw of victor is long", "current_code": (&auth.TOTP{Secret: old}).At(time.Now().Add(30 * time.Second))}
	if st, out := x.do(t, "POST", "/ui/api/mfa", ok); st != 200 {
		t.Fatalf("POST /ui/api/mfa with password and current code = %d %v", st, out)
	}
	if u, _ := users.User(t.Context(), "victor"); string(u.TOTPSecret) != string(mine) {
		t.Error("the secret was not replaced after a proper change")
	}
}

// TestConsoleRevokesTokens: an admin lists API tokens and revokes one
// from the console; the API refuses it on the next request; a viewer may
// do neither.
func TestConsoleRevokesTokens(t *testing.T) {
	s := startServer(t)
	var o, e bytes.Buffer
	if code := cli.Main([]string{"token", "add", "pbx", "-role", "read", "-data", s.dir}, strings.NewReader(""), &o, &e); code != 0 {
		t.Fatalf("token add: %s", e.String())
	}
	lines := strings.Split(strings.TrimSpace(o.String()), "\n")
	tok := strings.TrimSpace(lines[len(lines)-1])
	get := func() int {
		req, _ := http.NewRequest("GET", s.base+"/v1/blocks", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for deadline := time.Now().Add(5 * time.Second); get() != 200; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the new token never worked")
		}
	}
	v, st, _ := loginHTTP(t, s, "victor", "pw of victor is long", (&auth.TOTP{Secret: s.secrets["victor"]}).At(time.Now()))
	if st != 200 {
		t.Fatalf("login victor: %d", st)
	}
	if st, _ := v.do(t, "GET", "/ui/api/v1/tokens", nil); st != 403 {
		t.Errorf("viewer GET tokens = %d, want 403", st)
	}
	if st, _ := v.do(t, "DELETE", "/ui/api/v1/tokens/pbx", nil); st != 403 {
		t.Errorf("viewer DELETE token = %d, want 403", st)
	}
	a, st, _ := loginHTTP(t, s, "alice", "pw of alice is long", (&auth.TOTP{Secret: s.secrets["alice"]}).At(time.Now()))
	if st != 200 {
		t.Fatalf("login alice: %d", st)
	}
	st, out := a.do(t, "GET", "/ui/api/v1/tokens", nil)
	if st != 200 || !strings.Contains(fmt.Sprint(out["tokens"]), "pbx") {
		t.Fatalf("admin GET tokens = %d %v", st, out)
	}
	if st, out := a.do(t, "DELETE", "/ui/api/v1/tokens/pbx", nil); st != 200 {
		t.Fatalf("admin DELETE token = %d %v", st, out)
	}
	if code := get(); code != 401 {
		t.Errorf("the token right after its revocation in the console = %d, want 401", code)
	}
}
