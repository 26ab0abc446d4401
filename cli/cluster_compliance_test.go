package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/compliance"
	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/internal/testenv"
	"github.com/tollgate-voip/tollgate/store/postgres"
)

// clusterPair is two nodes on one Redis and one PostgreSQL.
type clusterPair struct {
	dsn   string
	redis *testenv.Redis
	nodes []*Server
	dirs  []string
}

// startClusterPair starts two nodes whose policy is policy with %[1]s the
// node name and %[2]s the Redis address.
func startClusterPair(t *testing.T, policy string) *clusterPair {
	t.Helper()
	return startClusterPairEvery(t, policy, 0)
}

// startClusterPairEvery is startClusterPair with the nodes' periodic
// refresh of opt-outs, consents and reputation every every (0: a second).
func startClusterPairEvery(t *testing.T, policy string, every time.Duration) *clusterPair {
	t.Helper()
	p := &clusterPair{redis: testenv.NewRedis(t)}
	pg := testenv.NewPostgres(t)
	var err error
	if p.dsn, err = pg.CreateDatabase("tollgate"); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TOLLGATE_TEST_PG_DSN", p.dsn)
	for i := range 2 {
		cfg, err := config.Parse("cluster.yaml", []byte(fmt.Sprintf(policy, fmt.Sprint("n", i+1), p.redis.Addr)))
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		s, err := Start(context.Background(), Options{Config: cfg, DataDir: dir, Listen: "127.0.0.1:0",
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Stdout: io.Discard, refreshEvery: every})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { stop(t, s) })
		p.nodes = append(p.nodes, s)
		p.dirs = append(p.dirs, dir)
	}
	return p
}

func (p *clusterPair) base(i int) string { return "http://" + p.nodes[i].Addr.String() }

// clusterCompliancePolicy: cluster mode, extensions 5* are campaign
// traffic, the national registry lists +1 212 555 0001. %[3]s is the
// registry file. Token "test" has role admin.
const clusterCompliancePolicy = `
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
  timezone: America/Chicago
  on_error: fail_closed
  destinations: {default: allow}
  compliance:
    campaign: {extensions: ["5*"]}
    dnc:
      lists:
        national: {file: %[3]s, format: registry}
tenants:
  acme: {}
`

// TestClusterComplianceAcrossNodes: an opt-out posted to node 1 makes
// node 2 refuse an outbound campaign call to that number, its removal on
// node 2 frees the number on node 1, and a consent recorded on node 2
// lets node 1 call a registry-listed number. The records are in
// PostgreSQL; no node made a compliance.db.
func TestClusterComplianceAcrossNodes(t *testing.T) {
	national := filepath.Join(t.TempDir(), "national.csv")
	if err := os.WriteFile(national, []byte("area_code,phone_number\n212,5550001\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startClusterPair(t, strings.ReplaceAll(clusterCompliancePolicy, "%[3]s", national))
	c1 := &client{t: t, base: p.base(0), token: "test"}
	c2 := &client{t: t, base: p.base(1), token: "test"}
	afternoon := time.Date(2026, 11, 18, 20, 0, 0, 0, time.UTC) // 15:00 in New York
	n := 0
	screen := func(c *client, ext, callee string) (string, string) {
		t.Helper()
		n++
		code, out := c.call("POST", "/v1/screen", map[string]string{"call_id": fmt.Sprintf("ccamp-%d", n), "tenant": "acme", "extension": ext,
			"caller": "+13125550100", "callee": callee, "direction": "outbound", "time": afternoon.Format(time.RFC3339)})
		if code != 200 {
			t.Fatalf("screen %s: %d %v", callee, code, out)
		}
		var texts []string
		rs, _ := out["reasons"].([]any)
		for _, r := range rs {
			m := r.(map[string]any)
			texts = append(texts, fmt.Sprint(m["code"], ": ", m["text"]))
		}
		return fmt.Sprint(out["action"]), strings.Join(texts, "; ")
	}
	// until screens on c until the campaign call's action is want, for
	// at most five seconds (nodes reload every second).
	until := func(c *client, callee, want string) time.Duration {
		t.Helper()
		start := time.Now()
		for {
			a, why := screen(c, "501", callee)
			if a == want {
				return time.Since(start)
			}
			if time.Since(start) > 5*time.Second {
				t.Fatalf("campaign call to %s on %s still %s (%s) after 5 s, want %s", callee, c.base, a, why, want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	optout := "+13125550777"
	for i, c := range []*client{c1, c2} {
		if a, why := screen(c, "501", optout); a != "allow" {
			t.Fatalf("node %d before the opt-out: %s (%s)", i+1, a, why)
		}
	}
	if code, out := c1.call("POST", "/v1/dnc", map[string]string{"number": optout, "tenant": "acme", "reason": "asked on the call", "source": "agent 17"}); code != 201 {
		t.Fatalf("POST /v1/dnc on node 1: %d %v", code, out)
	}
	took := until(c2, optout, "reject")
	t.Logf("node 2 refused the opted-out number %v after the opt-out on node 1", took)
	if a, why := screen(c2, "501", optout); a != "reject" || !strings.Contains(why, "dnc") {
		t.Errorf("node 2 after the opt-out on node 1: %s (%s), want a dnc refusal", a, why)
	}
	// An office extension is not campaign traffic: not screened for DNC.
	if a, why := screen(c2, "101", optout); a != "allow" {
		t.Errorf("node 2, office call to the opted-out number: %s (%s)", a, why)
	}
	// Node 2 lists the opt-out it did not take, and removes it; node 1
	// then calls the number again.
	code, out := c2.call("DELETE", "/v1/dnc?tenant=acme&number="+url.QueryEscape(optout), nil)
	if rm, _ := out["removed"].([]any); code != 200 || len(rm) != 1 {
		t.Fatalf("DELETE /v1/dnc on node 2: %d %v", code, out)
	}
	until(c1, optout, "allow")

	// A consent recorded on node 2 lets node 1 call a registry-listed number.
	listed := "+12125550001"
	if a, why := screen(c1, "501", listed); a != "reject" || !strings.Contains(why, "dnc") {
		t.Fatalf("node 1, registry-listed number without consent: %s (%s)", a, why)
	}
	if code, out := c2.call("POST", "/v1/consents", map[string]any{"tenant": "acme", "number": listed, "type": "express_written",
		"source": "https://example.com/form/77", "time": "2026-11-01T12:00:00Z"}); code != 201 {
		t.Fatalf("POST /v1/consents on node 2: %d %v", code, out)
	}
	until(c1, listed, "allow")

	// The records are in PostgreSQL, not in the nodes' data directories.
	for _, d := range p.dirs {
		if _, err := os.Stat(filepath.Join(d, "compliance.db")); !os.IsNotExist(err) {
			t.Errorf("%s: compliance.db exists in cluster mode (%v)", d, err)
		}
	}
	ctx := context.Background()
	rec, err := postgres.Open(ctx, p.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Close()
	st, err := postgres.NewCompliance(ctx, rec.Pool())
	if err != nil {
		t.Fatal(err)
	}
	if oo, err := st.OptOuts(ctx); err != nil || len(oo) != 0 {
		t.Errorf("opt-outs in PostgreSQL after the removal: %+v, %v", oo, err)
	}
	if cs, err := st.Consents(ctx, compliance.ConsentQuery{Number: listed}); err != nil || len(cs) != 1 || cs[0].Tenant != "acme" || cs[0].By != "token:ops" {
		t.Errorf("consents in PostgreSQL: %+v, %v; want node 2's", cs, err)
	}
}
