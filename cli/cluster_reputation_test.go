package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/internal/testenv"
	"github.com/tollgate-voip/tollgate/reputation"
	"github.com/tollgate-voip/tollgate/store/postgres"
)

// TestClusterReputationAcrossNodes runs three nodes on one Redis and one
// PostgreSQL: a ban set through node 1's API makes node 2 refuse calls
// from the address, and its release on node 2 lets node 1 accept them
// again; a reputation entry added on node 1 makes node 3 refuse calls to
// the number until node 2 removes it; while nothing changes node 3's
// refresh reads only the version row, and re-reads after a change; the reputation and bans commands
// of a cluster-mode policy work on the same shared tables; and the
// PostgreSQL database holds the ban and the entries (no node keeps them
// to itself).
func TestClusterReputationAcrossNodes(t *testing.T) {
	tc := newTestCluster(t, 10)
	const attacker = "203.0.113.50"
	n := 0
	// screen asks node i about a call from src to callee; a fresh
	// extension each time keeps the hourly limit out of the way.
	screen := func(i int, src, callee string) map[string]any {
		t.Helper()
		n++
		b := screenBody(fmt.Sprint("rep-", n), "acme", fmt.Sprint("7", n), callee)
		b["source_ip"] = src
		code, v := tc.cs[i].call("POST", "/v1/screen", b)
		if code != 200 {
			t.Fatalf("node %d screen: %d %v", i+1, code, v)
		}
		return v
	}
	// await polls node i until ok holds for its verdict on a call, for
	// at most five seconds (convergence is meant to take about one).
	await := func(i int, what, src, callee string, ok func(v map[string]any) bool) {
		t.Helper()
		t0 := time.Now()
		var v map[string]any
		for time.Since(t0) < 5*time.Second {
			if v = screen(i, src, callee); ok(v) {
				t.Logf("node %d: %s after %v", i+1, what, time.Since(t0).Round(time.Millisecond))
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatalf("node %d: not %s five seconds on: %v", i+1, what, v)
	}
	rejects := func(code string) func(map[string]any) bool {
		return func(v map[string]any) bool { return v["action"] == "reject" && strings.Contains(fmt.Sprint(v), code) }
	}
	allows := func(v map[string]any) bool { return v["action"] == "allow" }

	if v := screen(1, attacker, "+4930123456"); !allows(v) {
		t.Fatalf("node 2 refuses the address before any ban: %v", v)
	}
	code, ban := tc.cs[0].call("POST", "/v1/bans", map[string]any{"ip": attacker, "reason": "toll fraud", "expires_in": 3600})
	if code != 201 {
		t.Fatalf("ban on node 1: %d %v", code, ban)
	}
	await(1, "refusing the address node 1 banned", attacker, "+4930123456", rejects("banned_ip"))
	id := int64(ban["id"].(float64))
	if code, v := tc.cs[1].call("DELETE", fmt.Sprint("/v1/bans/", id), nil); code != 200 {
		t.Fatalf("release on node 2: %d %v", code, v)
	}
	await(0, "accepting the address node 2 released", attacker, "+4930123456", allows)

	const pumped = "+4930999888"
	if v := screen(2, "198.51.100.1", pumped); !allows(v) {
		t.Fatalf("node 3 refuses the number before any entry: %v", v)
	}
	if code, v := tc.cs[0].call("POST", "/v1/reputation", map[string]any{"kind": "number", "value": pumped, "reason": "IRSF"}); code != 201 {
		t.Fatalf("entry on node 1: %d %v", code, v)
	}
	await(2, "refusing the number node 1 listed", "198.51.100.1", pumped, rejects("attacker_dialed_number"))
	if code, v := tc.cs[1].call("DELETE", "/v1/reputation?kind=number&value=%2B4930999888", nil); code != 204 {
		t.Fatalf("remove on node 2: %d %v", code, v)
	}
	await(0, "accepting the number node 2 removed", "198.51.100.1", pumped, allows)

	// While nothing changes, a node's once-a-second refresh reads only the
	// version row; a change made through another node moves the version
	// and the next refresh re-reads the lists.
	ref := tc.nodes[2].sec.ref
	time.Sleep(1500 * time.Millisecond) // node 3 takes in node 2's removal first
	c0, r0 := ref.Stats()
	time.Sleep(2500 * time.Millisecond)
	c1, r1 := ref.Stats()
	if c1-c0 < 2 || r1 != r0 {
		t.Fatalf("node 3 in 2.5 quiet seconds: %d version checks, %d full reads; want at least 2 checks and no read", c1-c0, r1-r0)
	}
	const quiet = "+4930777666"
	if code, v := tc.cs[0].call("POST", "/v1/reputation", map[string]any{"kind": "number", "value": quiet, "reason": "IRSF"}); code != 201 {
		t.Fatalf("entry on node 1: %d %v", code, v)
	}
	await(2, "refusing the number node 1 listed after a quiet spell", "198.51.100.1", quiet, rejects("attacker_dialed_number"))
	if _, r2 := ref.Stats(); r2 <= r1 {
		t.Fatalf("node 3 refuses the new number without re-reading (%d reads)", r2)
	}

	// The command line of a cluster-mode node works on the shared tables.
	cfgFile := filepath.Join(t.TempDir(), "cluster.yaml")
	if err := os.WriteFile(cfgFile, []byte(fmt.Sprintf(clusterPolicy, 10, "cli", tc.redis.Addr)), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) string {
		t.Helper()
		var out, errb bytes.Buffer
		if code := Main(append(args, "-config", cfgFile, "-data", t.TempDir()), strings.NewReader(""), &out, &errb); code != 0 {
			t.Fatalf("tollgate %s: exit %d: %s", strings.Join(args, " "), code, errb.String())
		}
		return out.String()
	}
	if out := run("bans", "list", "-all"); !strings.Contains(out, attacker) || !strings.Contains(out, "released") {
		t.Fatalf("bans list -all on the cluster: %q", out)
	}
	const other = "+4930555111"
	run("reputation", "add", "number", other, "-reason", "from the command line")
	await(1, "refusing the number the command line listed", "198.51.100.1", other, rejects("attacker_dialed_number"))
	if out := run("reputation", "list", "-kind", "number"); !strings.Contains(out, other) || strings.Contains(out, pumped) {
		t.Fatalf("reputation list on the cluster: %q", out)
	}

	// It is all in PostgreSQL.
	db, err := postgres.NewReputation(context.Background(), ownPool(t, tc.pgDSN(t)))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	bs, err := db.Bans(context.Background(), time.Now(), true)
	if err != nil || len(bs) != 1 || bs[0].ID != id || bs[0].IP != attacker || !bs[0].Released || bs[0].Reason != "toll fraud" {
		t.Fatalf("bans in PostgreSQL = %+v, %v", bs, err)
	}
	if e, err := db.Get(context.Background(), reputation.KindNumber, other); err != nil || e.Source != reputation.SourceManual {
		t.Fatalf("entry in PostgreSQL = %+v, %v", e, err)
	}
}

// TestClusterBanWhilePostgresDown stops PostgreSQL under a three-node
// cluster: the attack guard of node 1 bans an address (auth failures
// reported through its API) and node 1 refuses calls from it at once,
// from its local buffer, while the other nodes cannot know of it yet;
// node 1's metrics show the buffered write. When PostgreSQL is back the
// ban reaches it (once) and every node enforces it.
func TestClusterBanWhilePostgresDown(t *testing.T) {
	tc := newTestCluster(t, 60)
	const attacker = "203.0.113.66"
	n := 0
	screen := func(i int) map[string]any {
		t.Helper()
		return screenFrom(tc, i, attacker, &n)
	}
	banned := func(v map[string]any) bool {
		return v["action"] == "reject" && strings.Contains(fmt.Sprint(v), "banned_ip")
	}
	metric := func(i int, name string) string {
		t.Helper()
		resp, err := http.Get(tc.cs[i].base + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, name+" "); ok {
				return v
			}
		}
		t.Fatalf("node %d: no metric %s", i+1, name)
		return ""
	}
	if v := screen(0); banned(v) {
		t.Fatalf("node 1 refuses the address before any ban: %v", v)
	}

	tc.pg.Stop()
	var ban any
	for i := 0; i < 10 && ban == nil; i++ {
		code, v := tc.cs[0].call("POST", "/v1/auth-events", map[string]any{"ip": attacker, "kind": "auth_failure", "username": "100"})
		if code != 200 {
			t.Fatalf("auth event on node 1 with PostgreSQL down: %d %v", code, v)
		}
		ban = v["ban"]
	}
	if ban == nil {
		t.Fatal("node 1's guard did not ban the address with PostgreSQL down")
	}
	if v := screen(0); !banned(v) {
		t.Fatalf("node 1 does not enforce its own ban with PostgreSQL down: %v", v)
	}
	if v := screen(1); banned(v) {
		t.Fatalf("node 2 knows of the ban while PostgreSQL is down (the outage was not exercised): %v", v)
	}
	// An operator's ban through the API is buffered and enforced too (the
	// answer is an error: its audit record cannot be written).
	const manual = "203.0.113.67"
	code, v := tc.cs[0].call("POST", "/v1/bans", map[string]any{"ip": manual, "reason": "by hand", "expires_in": 3600})
	t.Logf("POST /v1/bans with PostgreSQL down: %d %v", code, v)
	if vv := screenFrom(tc, 0, manual, &n); !banned(vv) {
		t.Fatalf("node 1 does not enforce the operator's ban with PostgreSQL down: %v", vv)
	}
	if got := metric(0, "tollgate_cluster_reputation_spool_records"); got != "2" {
		t.Fatalf("node 1 buffered records = %s, want 2", got)
	}
	// A refresh with the store away keeps the ban in force.
	time.Sleep(1500 * time.Millisecond)
	if v := screen(0); !banned(v) {
		t.Fatalf("node 1 dropped its ban on a failed refresh: %v", v)
	}

	if err := tc.pg.Start(); err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{1, 2} {
		t0 := time.Now()
		var v map[string]any
		for time.Since(t0) < 15*time.Second {
			if v = screen(i); banned(v) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if !banned(v) {
			t.Fatalf("node %d: not refusing the address 15 s after PostgreSQL came back: %v", i+1, v)
		}
		t.Logf("node %d enforces the ban %v after PostgreSQL is back", i+1, time.Since(t0).Round(time.Millisecond))
	}
	if got := metric(0, "tollgate_cluster_reputation_spool_records"); got != "0" {
		t.Errorf("node 1 still buffers %s records", got)
	}
	if got := metric(0, `tollgate_cluster_reputation_spool_writes_total{outcome="drained"}`); got != "2" {
		t.Errorf("node 1 drained %s records, want 2", got)
	}
	db, err := postgres.NewReputation(context.Background(), ownPool(t, tc.pgDSN(t)))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	bs, err := db.Bans(context.Background(), time.Now(), true)
	if err != nil || len(bs) != 2 || bs[0].IP != manual || bs[1].IP != attacker || bs[1].ID == 0 {
		t.Fatalf("bans in PostgreSQL = %+v, %v; want the guard's ban, then the operator's, once each", bs, err)
	}
}

// screenFrom asks node i about a call from src (a fresh extension each
// time, *n counting them).
func screenFrom(tc *testCluster, i int, src string, n *int) map[string]any {
	tc.cs[i].t.Helper()
	*n++
	b := screenBody(fmt.Sprint("down-", *n), "openco", fmt.Sprint("8", *n), "+4930123456")
	b["source_ip"] = src
	code, v := tc.cs[i].call("POST", "/v1/screen", b)
	if code != 200 {
		tc.cs[i].t.Fatalf("node %d screen: %d %v", i+1, code, v)
	}
	return v
}

// TestClusterKilledNodeReplaysBufferedBan runs a cluster node as its own
// process: with PostgreSQL down its guard bans an address, the process
// is SIGKILLed, and the ban is only in its buffer on disk (not in
// PostgreSQL, which is started again). Restarted on the same data
// directory, the node writes the ban to PostgreSQL, once, and enforces it.
func TestClusterKilledNodeReplaysBufferedBan(t *testing.T) {
	redis, pg := testenv.NewRedis(t), testenv.NewPostgres(t)
	dsn, err := pg.CreateDatabase("tollgate")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfgFile, data := filepath.Join(dir, "cluster.yaml"), filepath.Join(dir, "data")
	if err := os.WriteFile(cfgFile, []byte(fmt.Sprintf(clusterPolicy, 60, "k1", redis.Addr)), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c := &client{t: t, base: "http://" + addr, token: "test"}
	var cmd *exec.Cmd
	startNode := func(run int) {
		t.Helper()
		logf, err := os.Create(filepath.Join(dir, fmt.Sprint("node-", run, ".log")))
		if err != nil {
			t.Fatal(err)
		}
		defer logf.Close()
		cmd = exec.Command(os.Args[0], "-test.run=^$") // TestMain runs Main instead of the tests
		cmd.Env = append(os.Environ(), "TOLLGATE_TEST_PG_DSN="+dsn,
			"TOLLGATE_TEST_SERVE_CHILD=serve -config "+cfgFile+" -data "+data+" -listen "+addr)
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		for t0 := time.Now(); time.Since(t0) < 60*time.Second; time.Sleep(100 * time.Millisecond) {
			if resp, err := http.Get(c.base + "/healthz"); err == nil {
				resp.Body.Close()
				return
			}
		}
		b, _ := os.ReadFile(logf.Name())
		t.Fatalf("node did not start: %s", b)
	}
	t.Cleanup(func() {
		if cmd != nil && cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	const attacker = "203.0.113.90"
	n := 0
	banned := func() bool {
		v := screenFromClient(c, attacker, &n)
		return v["action"] == "reject" && strings.Contains(fmt.Sprint(v), "banned_ip")
	}
	bansInPG := func() []reputation.Ban {
		t.Helper()
		db, err := postgres.NewReputation(context.Background(), ownPool(t, dsn))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		bs, err := db.Bans(context.Background(), time.Now(), true)
		if err != nil {
			t.Fatal(err)
		}
		return bs
	}

	startNode(1)
	pg.Stop()
	var ban any
	for i := 0; i < 10 && ban == nil; i++ {
		code, v := c.call("POST", "/v1/auth-events", map[string]any{"ip": attacker, "kind": "auth_failure", "username": "100"})
		if code != 200 {
			t.Fatalf("auth event with PostgreSQL down: %d %v", code, v)
		}
		ban = v["ban"]
	}
	if ban == nil || !banned() {
		t.Fatalf("the node did not ban and enforce with PostgreSQL down (ban %v)", ban)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if st, err := os.Stat(filepath.Join(data, "spool", "reputation.jsonl")); err != nil || st.Size() == 0 {
		t.Fatalf("the killed node's reputation buffer: %v, %v", st, err)
	}
	if err := pg.Start(); err != nil {
		t.Fatal(err)
	}
	if bs := bansInPG(); len(bs) != 0 {
		t.Fatalf("PostgreSQL has bans %+v before the node restarted: the outage was not exercised", bs)
	}

	startNode(2)
	bs := bansInPG()
	for t0 := time.Now(); len(bs) == 0 && time.Since(t0) < 15*time.Second; bs = bansInPG() {
		time.Sleep(100 * time.Millisecond)
	}
	if len(bs) != 1 || bs[0].IP != attacker {
		t.Fatalf("bans in PostgreSQL after the restart = %+v; want the buffered ban, once", bs)
	}
	if !banned() {
		t.Fatal("the restarted node does not enforce the replayed ban")
	}
}

// screenFromClient asks the node behind c about a call from src.
func screenFromClient(c *client, src string, n *int) map[string]any {
	c.t.Helper()
	*n++
	b := screenBody(fmt.Sprint("kill-", *n), "openco", fmt.Sprint("8", *n), "+4930123456")
	b["source_ip"] = src
	code, v := c.call("POST", "/v1/screen", b)
	if code != 200 {
		c.t.Fatalf("screen: %d %v", code, v)
	}
	return v
}
