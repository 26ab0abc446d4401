package cli

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/counter"
	"github.com/tollgate-voip/tollgate/reputation"
	"github.com/tollgate-voip/tollgate/store/postgres"
)

// TestClusterGuardCountsAcrossNodes runs three nodes on one Redis and one
// PostgreSQL. SIP authentication failures of one address reported to
// nodes 1 and 2 (as a PBX or Kamailio behind a load-balancing proxy
// reports them, through /v1/auth-events) add up: two do not ban, the
// third — the policy's max_failures, 3 — bans, though neither node saw
// three; node 3, which saw none, refuses calls from the address; a
// further failure on node 2 sets no second (escalated) ban; the failure
// window is in Redis. Account failures spread over the nodes lock the
// account at account_max_failures (5) the same way. With Redis stopped a
// node counts locally and still bans at the threshold.
func TestClusterGuardCountsAcrossNodes(t *testing.T) {
	tc := newTestCluster(t, 10)
	const attacker = "198.51.100.77"
	report := func(node int, ip, user string) map[string]any {
		t.Helper()
		code, v := tc.cs[node].call("POST", "/v1/auth-events", map[string]any{"ip": ip, "kind": "auth_failure", "username": user, "source": "kamailio"})
		if code != 200 {
			t.Fatalf("auth event on node %d: %d %v", node+1, code, v)
		}
		return v
	}
	n := 0
	screen := func(i int, src string) map[string]any {
		t.Helper()
		n++
		b := screenBody(fmt.Sprint("guard-", n), "acme", fmt.Sprint("8", n), "+4930123456")
		b["source_ip"] = src
		code, v := tc.cs[i].call("POST", "/v1/screen", b)
		if code != 200 {
			t.Fatalf("node %d screen: %d %v", i+1, code, v)
		}
		return v
	}

	for i, node := range []int{0, 1} {
		if v := report(node, attacker, ""); v["ban"] != nil {
			t.Fatalf("failure %d (node %d) banned: %v", i+1, node+1, v)
		}
	}
	if v := screen(2, attacker); v["action"] != "allow" {
		t.Fatalf("node 3 refuses the address after two failures: %v", v)
	}
	v := report(0, attacker, "")
	ban, _ := v["ban"].(map[string]any)
	if ban == nil || ban["ip"] != attacker || ban["level"] != 0.0 {
		t.Fatalf("third failure (two on node 1, one on node 2): %v, want a level-0 ban", v)
	}
	if c := tc.nodes[0].cl.counters.Count(counter.Key{Scope: counter.AttackIPFailures, Subject: attacker}, time.Now(), 5*time.Minute); c != 3 {
		t.Errorf("shared failure window in Redis holds %d failures, want 3", c)
	}
	t0 := time.Now()
	for {
		v := screen(2, attacker)
		if v["action"] == "reject" && strings.Contains(fmt.Sprint(v), "banned_ip") {
			t.Logf("node 3 enforces the ban after %v", time.Since(t0).Round(time.Millisecond))
			break
		}
		if time.Since(t0) > 5*time.Second {
			t.Fatalf("node 3 still allows the banned address five seconds on: %v", v)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if v := report(1, attacker, ""); v["ban"] != nil {
		t.Fatalf("a further failure on node 2 banned again: %v", v)
	}

	// Account 1001 guessed from five addresses, over nodes 1, 2 and 3.
	for i := range 5 {
		v := report(i%3, fmt.Sprint("192.0.2.", 10+i), "1001")
		l, _ := v["lockout"].(map[string]any)
		if i < 4 && l != nil {
			t.Fatalf("account locked after %d failures: %v", i+1, v)
		}
		if i == 4 && (l == nil || l["subject"] != "1001" || l["failures"] != 5.0) {
			t.Fatalf("fifth failure of the account over three nodes: %v, want it locked", v)
		}
	}

	// With Redis away a node falls back to counting what it sees: three
	// failures on node 2 still ban, after at most one Redis timeout each.
	tc.redis.Stop()
	const second = "198.51.100.78"
	for i := range 3 {
		t0 := time.Now()
		v := report(1, second, "")
		if took := time.Since(t0); took > 2*time.Second {
			t.Errorf("auth event %d with Redis down took %v", i+1, took)
		}
		if ban, _ := v["ban"].(map[string]any); (ban != nil) != (i == 2) {
			t.Fatalf("failure %d with Redis down: %v, want a ban on the third only", i+1, v)
		}
	}
	if tc.nodes[1].cl.counters.Up() {
		t.Error("node 2's counters report Redis up while it is stopped")
	}
	if err := tc.redis.Start(); err != nil {
		t.Fatal(err)
	}

	db, err := postgres.NewReputation(context.Background(), ownPool(t, tc.pgDSN(t)))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	bs, err := db.Bans(context.Background(), time.Now(), true)
	if err != nil || len(bs) != 2 || bs[1].IP != attacker || bs[0].IP != second {
		t.Fatalf("bans in PostgreSQL = %+v, %v; want one ban of %s, then one of %s", bs, err, attacker, second)
	}
	ls, err := db.Lockouts(context.Background(), time.Now())
	if err != nil || len(ls) != 1 || ls[0].Subject != "1001" || ls[0].Kind != reputation.LockAccount {
		t.Fatalf("lockouts in PostgreSQL = %+v, %v", ls, err)
	}
}
