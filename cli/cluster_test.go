package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/internal/pgschema"
	"github.com/tollgate-voip/tollgate/internal/testenv"
	"github.com/tollgate-voip/tollgate/store"
	"github.com/tollgate-voip/tollgate/store/postgres"
)

// clusterPolicy is the policy of every node; %s are the Redis address and
// the node name. Token "test" has role admin here.
const clusterPolicy = `
server:
  state_max_age_s: %d
  tokens:
    - {name: ops, role: admin, sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08}
detectors:
  enabled: false   # detectors across nodes: cluster_detect_test.go
cluster:
  node: %s
  redis: {addr: "%s", timeout_ms: 300}
  postgres: {dsn_env: TOLLGATE_TEST_PG_DSN}
defaults:
  country: US
  timezone: America/New_York
  on_error: fail_closed
  destinations:
    default: deny
    countries: {"49": allow}
  limits:
    extension:
      international_calls_per_hour: 25
tenants:
  acme: {}
  openco:
    on_error: fail_open
`

type testCluster struct {
	redis *testenv.Redis
	pg    *testenv.Postgres
	nodes []*Server
	cs    []*client
	// hook takes every node's alert webhooks.
	hook *hookServer
}

func newTestCluster(t *testing.T, stateMaxAge int) *testCluster {
	return newTestClusterEvery(t, stateMaxAge, 0)
}

// newTestClusterEvery is newTestCluster with the nodes' periodic refresh
// of opt-outs, consents and reputation every every (0: a second).
func newTestClusterEvery(t *testing.T, stateMaxAge int, every time.Duration) *testCluster {
	hook := newHookServer(t)
	tc := startCluster(t, 3, every, func(node, redis string) string {
		return fmt.Sprintf(clusterPolicy, stateMaxAge, node, redis) + "alerts:\n  webhooks: [{url: \"" + hook.URL + "/hook\"}]\n"
	})
	tc.hook = hook
	return tc
}

// startCluster starts n nodes named n1, n2… on a fresh Redis and
// PostgreSQL (its DSN in TOLLGATE_TEST_PG_DSN), node i configured by
// policy(its name, the Redis address) and refreshing every every (0: a
// second); the nodes still running when t ends are shut down.
func startCluster(t *testing.T, n int, every time.Duration, policy func(node, redis string) string) *testCluster {
	tc := &testCluster{redis: testenv.NewRedis(t), pg: testenv.NewPostgres(t)}
	dsn, err := tc.pg.CreateDatabase("tollgate")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("TOLLGATE_TEST_PG_DSN", dsn)
	t.Cleanup(func() {
		for _, s := range tc.nodes {
			if s != nil {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				s.Shutdown(ctx)
				cancel()
			}
		}
	})
	for i := range n {
		cfg, err := config.Parse("cluster.yaml", []byte(policy(fmt.Sprint("n", i+1), tc.redis.Addr)))
		if err != nil {
			t.Fatal(err)
		}
		s, err := Start(context.Background(), Options{Config: cfg, DataDir: t.TempDir(), Listen: "127.0.0.1:0",
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Stdout: io.Discard, refreshEvery: every})
		if err != nil {
			t.Fatal(err)
		}
		tc.nodes = append(tc.nodes, s)
		tc.cs = append(tc.cs, &client{t: t, base: "http://" + s.Addr.String(), token: "test"})
	}
	return tc
}

func (tc *testCluster) stopAll(t *testing.T) {
	for i, s := range tc.nodes {
		stop(t, s)
		tc.nodes[i] = nil
	}
}

func screenBody(id, tenant, ext, callee string) map[string]any {
	return map[string]any{"call_id": id, "tenant": tenant, "extension": ext, "caller": "+12125550100", "callee": callee}
}

// TestThreeNodesShareLimitsBlocksAndRecords runs three tollgate nodes on
// one Redis and one PostgreSQL.
func TestThreeNodesShareLimitsBlocksAndRecords(t *testing.T) {
	tc := newTestCluster(t, 10)

	// A limit of 25 international calls per hour allows exactly 25 under
	// concurrent load spread over the three nodes.
	var allowed, screened atomic.Int64
	var wg sync.WaitGroup
	for g := range 30 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := tc.cs[g%3]
			for i := range 3 {
				code, v := c.call("POST", "/v1/screen", screenBody(fmt.Sprintf("lim-%d-%d", g, i), "acme", "1001", "+4930123456"))
				if code != 200 {
					t.Errorf("screen: %d %v", code, v)
					return
				}
				screened.Add(1)
				if v["action"] == "allow" {
					allowed.Add(1)
				} else if !strings.Contains(fmt.Sprint(v["reason"]), "international calls per hour") {
					t.Errorf("refused for another reason: %v", v)
				}
			}
		}()
	}
	wg.Wait()
	if allowed.Load() != 25 {
		t.Errorf("allowed %d of %d calls across three nodes, want exactly 25", allowed.Load(), screened.Load())
		for _, s := range tc.nodes {
			t.Logf("node %s counters %+v %+v", s.cfg.NodeName(), s.cl.counters.Stats(), s.cl.counters.List(0, "", "", time.Now()))
		}
	}

	// A block set on node 1 rejects on nodes 2 and 3 within a second.
	t0 := time.Now()
	if code, v := tc.cs[0].call("POST", "/v1/blocks", map[string]any{"kind": "number", "value": "+4930999999", "reason": "pumping"}); code != 200 && code != 201 {
		t.Fatalf("add block: %d %v", code, v)
	} else {
		t.Logf("block: %v", v)
	}
	for _, n := range []int{1, 2} {
		seen := false
		for i := 0; time.Since(t0) < time.Second; i++ {
			_, v := tc.cs[n].call("POST", "/v1/screen", screenBody(fmt.Sprintf("blk-%d-%d", n, i), "acme", "2002", "+4930999999"))
			if v["action"] == "reject" {
				seen = true
				break
			}
			if i == 0 {
				t.Logf("node %d: %v", n+1, v)
			}
			time.Sleep(10 * time.Millisecond)
		}
		if !seen {
			t.Errorf("node %d still allows the blocked number a second after node 1 blocked it", n+1)
		}
	}
	took := time.Since(t0)
	if rx := tc.nodes[1].cl.changes.Received.Load(); rx == 0 {
		t.Errorf("node 2 received no change notice (converged in %v by the periodic refresh only)", took)
	}

	// The kill switch set on node 3 stops international calls on node 1.
	if code, v := tc.cs[2].call("POST", "/v1/killswitch", map[string]any{"tenant": "openco", "active": true, "reason": "incident"}); code != 200 {
		t.Fatalf("kill switch: %d %v", code, v)
	}
	t0 = time.Now()
	killed := false
	for i := 0; time.Since(t0) < time.Second; i++ {
		_, v := tc.cs[0].call("POST", "/v1/screen", screenBody(fmt.Sprint("ks-", i), "openco", "1", "+4930123456"))
		if v["action"] == "reject" {
			killed = true
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !killed {
		t.Error("node 1 still lets openco call abroad a second after node 3 set its kill switch")
	}
	if code, _ := tc.cs[1].call("POST", "/v1/killswitch", map[string]any{"tenant": "openco", "active": false}); code != 200 {
		t.Fatal("kill switch off")
	}

	// Every decision of every node is in PostgreSQL once the nodes stop.
	tc.stopAll(t)
	pg, err := postgres.Open(context.Background(), tc.pgDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	ds, err := pg.DecisionsSince(context.Background(), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	nodes := map[string]int{}
	lim := 0
	for _, d := range ds {
		nodes[d.Node]++
		if strings.HasPrefix(d.CallID, "lim-") {
			lim++
		}
	}
	if lim != 90 || len(nodes) != 3 {
		t.Errorf("%d limit-test decisions in PostgreSQL from nodes %v, want 90 from 3 nodes", lim, nodes)
	}
	if err := pg.VerifyAudit(context.Background()); err != nil {
		t.Errorf("audit chain written by three nodes: %v", err)
	}
}

func (tc *testCluster) pgDSN(t *testing.T) string { return tc.pg.DSN("tollgate") }

// ownPool connects a pool of its own to dsn, as another node's, closed
// when the test ends.
func ownPool(t *testing.T, dsn string) *pgxpool.Pool {
	pool, err := pgschema.Connect(context.Background(), "test", dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// TestRedisAndPostgresRestartMidLoad restarts PostgreSQL (SIGKILL) and
// Redis under load: every decision a node acknowledged is in PostgreSQL
// afterwards; while Redis is away a fail_closed tenant is refused and a
// fail_open one allowed, and an alert is raised.
func TestRedisAndPostgresRestartMidLoad(t *testing.T) {
	tc := newTestCluster(t, 60)
	var (
		mu    sync.Mutex
		acked []string
		stopc = make(chan struct{})
		wg    sync.WaitGroup
	)
	for g := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := tc.cs[g%3]
			for i := 0; ; i++ {
				select {
				case <-stopc:
					return
				default:
				}
				id := fmt.Sprintf("load-%d-%d", g, i)
				code, _ := c.do("POST", "/v1/screen", "test", screenBody(id, "openco", fmt.Sprint(3000+g), "+4930123456"))
				if code == 200 {
					mu.Lock()
					acked = append(acked, id)
					mu.Unlock()
				}
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	tc.pg.Kill()
	time.Sleep(1500 * time.Millisecond)
	if err := tc.pg.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)

	tc.redis.Stop()
	_, closed := tc.cs[0].call("POST", "/v1/screen", screenBody("down-closed", "acme", "9", "+4930123456"))
	_, open := tc.cs[1].call("POST", "/v1/screen", screenBody("down-open", "openco", "9", "+4930123456"))
	if closed["action"] != "reject" || !strings.Contains(fmt.Sprint(closed["reasons"]), "fail_closed") {
		t.Errorf("fail_closed tenant with Redis down: %v", closed)
	}
	if open["action"] != "allow" || !strings.Contains(fmt.Sprint(open["reasons"]), "fail_open") {
		t.Errorf("fail_open tenant with Redis down: %v", open)
	}
	time.Sleep(300 * time.Millisecond)
	if err := tc.redis.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, s := range tc.nodes {
		for !s.cl.counters.Up() && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if !s.cl.counters.Up() {
			t.Errorf("node %s did not recover from the Redis restart", s.cfg.NodeName())
		}
	}
	time.Sleep(300 * time.Millisecond)
	close(stopc)
	wg.Wait()
	spooled := tc.nodes[0].cl.spool.Spooled.Load() + tc.nodes[1].cl.spool.Spooled.Load() + tc.nodes[2].cl.spool.Spooled.Load()
	tc.stopAll(t)

	pg, err := postgres.Open(context.Background(), tc.pgDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	ds, err := pg.DecisionsSince(context.Background(), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, d := range ds {
		have[d.CallID] = true
	}
	missing := 0
	for _, id := range acked {
		if !have[id] {
			missing++
		}
	}
	if missing > 0 || len(acked) < 50 {
		t.Errorf("%d of %d acknowledged decisions missing after the restarts (spooled %d)", missing, len(acked), spooled)
	}
	if spooled == 0 {
		t.Errorf("nothing was spooled while PostgreSQL was down: the outage was not exercised")
	}
	as, _ := pg.ListAlerts(context.Background(), store.AlertQuery{})
	codes := map[string]bool{}
	for _, a := range as {
		codes[a.Code] = true
	}
	if !codes["redis_unreachable"] || !codes["redis_recovered"] {
		t.Errorf("alerts %v: want redis_unreachable and redis_recovered", codes)
	}
	// The detectors are off here: the alerts still reach the notifiers.
	for _, code := range []string{"redis_unreachable", "redis_recovered"} {
		if !tc.hook.seen("/hook", `"code":"`+code+`"`) {
			t.Errorf("%s did not reach the webhook", code)
		}
	}
}
