package cli

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/api"
	"github.com/tollgate-voip/tollgate/store"
)

// addToken runs 'tollgate token add' and returns the secret.
func addToken(t *testing.T, args ...string) string {
	t.Helper()
	code, out := runCLI(append([]string{"token", "add"}, args...)...)
	if code != 0 {
		t.Fatalf("token add %v: %s", args, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// waitStatus polls GET /v1/blocks with token until it answers want.
func waitStatus(t *testing.T, c *client, token string, want int, within time.Duration) map[string]any {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		code, out := c.do("GET", "/v1/blocks", token, nil)
		if code == want {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET /v1/blocks with the token = %d %v after %v, want %d", code, out, within, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func storedToken(t *testing.T, st store.Tokens, name string) store.Token {
	t.Helper()
	ts, err := st.ListTokens(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range ts {
		if x.Name == name {
			return x
		}
	}
	t.Fatalf("no token %q in %+v", name, ts)
	return store.Token{}
}

// TestTokenRevokeExpireLastUse: a token revoked through the API is refused
// on the very next request; one revoked with the CLI within the reload
// second; an expired one is refused; last use is recorded in batches and
// moves; the list shows all of it; only admin may revoke.
func TestTokenRevokeExpireLastUse(t *testing.T) {
	data := t.TempDir()
	s, admin := start(t, data, "")
	defer stop(t, s)
	c := &client{t: t, base: "http://" + s.Addr.String()}

	ivr := addToken(t, "ivr", "-role", "read", "-data", data)
	ci := addToken(t, "ci", "-role", "read", "-data", data)
	temp := addToken(t, "temp", "-role", "read", "-expires", "3s", "-data", data)
	waitStatus(t, c, ivr, 200, 5*time.Second)
	waitStatus(t, c, ci, 200, 5*time.Second)

	// Only admin may revoke.
	if code, _ := c.do("DELETE", "/v1/tokens/ivr", ivr, nil); code != 403 {
		t.Errorf("DELETE /v1/tokens/ivr with a read token = %d, want 403", code)
	}
	if code, out := c.do("DELETE", "/v1/tokens/ivr", admin, nil); code != 200 {
		t.Fatalf("DELETE /v1/tokens/ivr = %d %v", code, out)
	}
	if code, out := c.do("GET", "/v1/blocks", ivr, nil); code != 401 {
		t.Errorf("the request right after the revocation = %d %v, want 401", code, out)
	}
	// A reload that read the store before the revocation cannot bring it back.
	time.Sleep(1500 * time.Millisecond)
	if code, _ := c.do("GET", "/v1/blocks", ivr, nil); code != 401 {
		t.Errorf("a second after the revocation = %d, want 401", code)
	}
	if code, _ := c.do("DELETE", "/v1/tokens/ivr", admin, nil); code != 404 {
		t.Errorf("revoking twice = %d, want 404", code)
	}

	// The CLI's revocation reaches the running server within its reload.
	if code, out := runCLI("token", "revoke", "ci", "-data", data); code != 0 {
		t.Fatalf("token revoke: %s", out)
	}
	waitStatus(t, c, ci, 401, 3*time.Second)

	// Expiry: refused once the time has passed, saying so.
	if out := waitStatus(t, c, temp, 401, 10*time.Second); !strings.Contains(fmt.Sprint(out["error"]), "expired") {
		t.Errorf("expired token answer: %v", out)
	}

	// Last use: recorded by a batched flush, not per request, and it moves.
	used := addToken(t, "used", "-role", "read", "-data", data)
	waitStatus(t, c, used, 200, 5*time.Second)
	if err := s.FlushTokenUse(t.Context()); err != nil {
		t.Fatal(err)
	}
	first := storedToken(t, s.Store, "used").LastUsed
	if first.IsZero() {
		t.Fatal("no last use recorded after a flush")
	}
	time.Sleep(1100 * time.Millisecond) // last use has one-second resolution
	waitStatus(t, c, used, 200, time.Second)
	if again := storedToken(t, s.Store, "used").LastUsed; !again.Equal(first) {
		t.Errorf("last use changed in the store without a flush: %v → %v (a write per request?)", first, again)
	}
	if err := s.FlushTokenUse(t.Context()); err != nil {
		t.Fatal(err)
	}
	if second := storedToken(t, s.Store, "used").LastUsed; !second.After(first) {
		t.Errorf("last use did not move: %v then %v", first, second)
	}

	// The list shows states, expiry and last use, never a hash.
	code, out := c.do("GET", "/v1/tokens", admin, nil)
	if code != 200 {
		t.Fatalf("GET /v1/tokens = %d %v", code, out)
	}
	states := map[string]string{}
	for _, x := range out["tokens"].([]any) {
		m := x.(map[string]any)
		states[fmt.Sprint(m["name"])] = fmt.Sprint(m["state"])
		if _, ok := m["hash"]; ok {
			t.Errorf("GET /v1/tokens shows a hash: %v", m)
		}
		if m["name"] == "temp" && m["expires"] == nil {
			t.Errorf("temp shows no expiry: %v", m)
		}
		if m["name"] == "used" && m["last_used"] == nil {
			t.Errorf("used shows no last use: %v", m)
		}
	}
	if states["ivr"] != "revoked" || states["ci"] != "revoked" || states["temp"] != "expired" || states["used"] != "active" {
		t.Errorf("token states = %v", states)
	}
	if code, list := runCLI("token", "list", "-data", data); code != 0 || !strings.Contains(list, "revoked") || !strings.Contains(list, "expired") {
		t.Errorf("token list = %d\n%s", code, list)
	}
}

const clusterTokenPolicy = `
server:
  tokens:
    - {name: ops, role: admin, sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08}
detectors:
  enabled: false
cluster:
  node: %[1]s
  redis: {addr: "%[2]s", timeout_ms: 300}
  postgres: {dsn_env: TOLLGATE_TEST_PG_DSN}
defaults:
  country: US
  on_error: fail_closed
  destinations: {default: allow}
tenants:
  acme: {}
`

// TestClusterTokenRevokedOnEveryNode: the token store is shared
// (PostgreSQL); a token revoked through node 1's API is refused by node 2
// through the change notice, with node 2's periodic reload set to an
// hour so nothing else could have told it.
func TestClusterTokenRevokedOnEveryNode(t *testing.T) {
	p := startClusterPairEvery(t, clusterTokenPolicy, time.Hour)
	secret, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.nodes[0].Store.PutToken(t.Context(), store.Token{Name: "pbx", Role: "read", Hash: api.HashToken(secret)}); err != nil {
		t.Fatal(err)
	}
	for _, n := range p.nodes {
		if err := n.ReloadTokens(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	c1 := &client{t: t, base: p.base(0)}
	c2 := &client{t: t, base: p.base(1)}
	waitStatus(t, c2, secret, 200, time.Second)
	t0 := time.Now()
	if code, out := c1.do("DELETE", "/v1/tokens/pbx", "test", nil); code != 200 {
		t.Fatalf("DELETE /v1/tokens/pbx on node 1 = %d %v", code, out)
	}
	if code, _ := c1.do("GET", "/v1/blocks", secret, nil); code != 401 {
		t.Errorf("node 1 right after revoking = %d, want 401", code)
	}
	waitStatus(t, c2, secret, 401, 5*time.Second)
	t.Logf("node 2 refused the revoked token %v after node 1 revoked it", time.Since(t0).Round(time.Millisecond))
}
