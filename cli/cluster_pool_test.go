package cli

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// clusterPoolPolicy: cluster mode with every PostgreSQL store a node
// opens in serve except voice (records, actions, reputation, compliance,
// console) and the node's pool bounded to 4 connections.
const clusterPoolPolicy = `
server:
  tokens:
    - {name: ops, role: admin, sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08}
console:
  enabled: true
cluster:
  node: %[1]s
  redis: {addr: "%[2]s", timeout_ms: 300}
  postgres: {dsn_env: TOLLGATE_TEST_PG_DSN, max_conns: 4}
defaults:
  country: US
  timezone: America/New_York
  on_error: fail_closed
  destinations: {default: allow}
tenants:
  acme: {}
`

// TestClusterNodeHoldsOnePool: two running nodes under load that touches
// the records, reputation, compliance and console stores hold their
// PostgreSQL connections in one pool each: pg_stat_activity shows only
// the application names tollgate-n1 and tollgate-n2 (stores with a pool
// of their own would connect without one), each at most max_conns (4;
// five pools per node would open at least five, one per store's
// migration). After shutdown no connection of either node is left.
func TestClusterNodeHoldsOnePool(t *testing.T) {
	tc := startCluster(t, 2, 0, func(node, redis string) string { return fmt.Sprintf(clusterPoolPolicy, node, redis) })
	nodes := tc.nodes
	var base []string
	for _, c := range tc.cs {
		base = append(base, c.base)
	}
	ctx := context.Background()
	probe, err := pgx.Connect(ctx, tc.pgDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer probe.Close(ctx)
	activity := func() map[string]int { return connsByApp(t, probe) }

	// Load on every store of both nodes at once.
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for g := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &client{t: t, base: base[g%2], token: "test"}
			for i := range 8 {
				var code int
				switch i % 4 {
				case 0:
					code, _ = c.call("POST", "/v1/screen", screenBody(fmt.Sprintf("pool-%d-%d", g, i), "acme", "1001", "+4930123456"))
				case 1:
					code, _ = c.call("POST", "/v1/reputation", map[string]any{"kind": "number", "value": fmt.Sprintf("+49301%05d", g*100+i), "score": 80, "reason": "load"})
				case 2:
					code, _ = c.call("POST", "/v1/dnc", map[string]any{"tenant": "acme", "number": fmt.Sprintf("+1312555%04d", g*100+i), "source": "load"})
				case 3:
					code, _ = c.call("GET", "/v1/bans", nil)
				}
				if code/100 != 2 {
					t.Errorf("request %d of worker %d: status %d", i, g, code)
				}
			}
		}()
	}
	peak := map[string]int{}
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			for app, n := range activity() {
				peak[app] = max(peak[app], n)
			}
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	wg.Wait()
	close(stop)
	<-sampled
	for app, n := range activity() { // idle connections stay in their pool
		peak[app] = max(peak[app], n)
	}

	t.Logf("peak connections by application_name: %v", peak)
	var apps []string
	for app := range peak {
		apps = append(apps, app)
	}
	sort.Strings(apps)
	if fmt.Sprint(apps) != "[tollgate-n1 tollgate-n2]" {
		t.Errorf("connections by application_name (peak) %v: want only tollgate-n1 and tollgate-n2 (a store with its own pool connects without the node's name)", peak)
	}
	for _, node := range []string{"tollgate-n1", "tollgate-n2"} {
		if n := peak[node]; n < 1 || n > 4 {
			t.Errorf("%s held %d connections at peak, want 1 to 4 (cluster.postgres.max_conns)", node, n)
		}
	}
	if n := nodes[0].cl.pool().Config().MaxConns; n != 4 {
		t.Errorf("node pool MaxConns = %d, want 4 from cluster.postgres.max_conns", n)
	}

	// Shutting down closes the borrowers and then the pool: nothing is
	// left connected (a pool still open would keep its idle connections).
	for _, s := range nodes {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		if err := s.Shutdown(sctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		cancel()
	}
	clear(tc.nodes) // shut down: not again at cleanup
	deadline := time.Now().Add(5 * time.Second)
	for {
		left := activity()
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("connections left after both nodes shut down: %v", left)
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// connsByApp counts the connections to probe's database, its own left
// out, by application_name.
func connsByApp(t *testing.T, probe *pgx.Conn) map[string]int {
	t.Helper()
	ctx := context.Background()
	rows, err := probe.Query(ctx, `SELECT application_name, count(*) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid() GROUP BY application_name`)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for rows.Next() {
		var app string
		var n int
		if err := rows.Scan(&app, &n); err != nil {
			t.Fatal(err)
		}
		out[app] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// waitNodePoolsOnly waits up to 5 s (for connections a command just
// closed) until the database behind dsn is connected to only by the
// named nodes' pools (application_name tollgate-<node>), each with at
// most maxConns connections, and fails the test otherwise.
func waitNodePoolsOnly(t *testing.T, dsn string, maxConns int, nodes ...string) {
	t.Helper()
	ctx := context.Background()
	probe, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer probe.Close(ctx)
	want := map[string]bool{}
	for _, n := range nodes {
		want["tollgate-"+n] = true
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := connsByApp(t, probe)
		var bad []string
		for app, n := range got {
			if !want[app] || n > maxConns {
				bad = append(bad, fmt.Sprintf("%q: %d", app, n))
			}
		}
		if len(bad) == 0 {
			return
		}
		if time.Now().After(deadline) {
			sort.Strings(bad)
			t.Errorf("connections by application_name %v: want only the pools of %v, at most %d each; off: %v", got, nodes, maxConns, bad)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}
