package cli

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/cluster"
)

// detectClusterPolicy: detectors on (international_burst: 10 calls in
// 300 s, block_and_alert), short leases so a hand-over takes a second or
// two. %s: node name, Redis address.
const detectClusterPolicy = `
server:
  tokens:
    - {name: ops, role: admin, sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08}
cluster:
  node: %s
  redis: {addr: "%s", timeout_ms: 300}
  postgres: {dsn_env: TOLLGATE_TEST_PG_DSN}
  detectors: {partitions: 16, lease_ms: 1000, claim_idle_ms: 500}
defaults:
  country: US
  timezone: America/New_York
  on_error: fail_closed
  destinations:
    default: deny
    countries: {"49": allow}
tenants:
  acme: {}
`

// TestThreeNodesDetectOnce: CDRs of one extension posted to three nodes
// (no node sees enough for a burst) make the burst detector fire exactly
// once; then the node owning the tenant dies with entries read but not
// seen, and the next owner claims them, rebuilds the burst window from
// what the dead node fed and fires exactly once for the second extension.
func TestThreeNodesDetectOnce(t *testing.T) {
	tc := startCluster(t, 3, 0, func(node, redis string) string { return fmt.Sprintf(detectClusterPolicy, node, redis) })
	nodes, cs := tc.nodes, tc.cs
	stream := func(i int) *cluster.Stream { return nodes[i].det.stream.s }
	part := cluster.Partition("acme", 16)
	owner := func(among ...int) int {
		for _, i := range among {
			if slices.Contains(stream(i).Owned(), part) {
				return i
			}
		}
		return -1
	}
	poll(t, "partitions spread over the three nodes", func() bool {
		n := 0
		for i := range 3 {
			if len(stream(i).Owned()) == 0 {
				return false
			}
			n += len(stream(i).Owned())
		}
		return n == 16
	})
	processed := func() (n int64) {
		for i := range 3 {
			n += stream(i).Stats().Processed
		}
		return n
	}
	t0 := time.Date(2026, 11, 23, 15, 0, 0, 0, time.UTC) // Monday 10:00 in New York
	post := func(via int, ext string, i int, at time.Time) {
		cdr := map[string]any{"call_id": fmt.Sprintf("%s-%d", ext, i), "tenant": "acme", "extension": ext, "callee": fmt.Sprintf("+49301234%04d", i),
			"start": at.Format(time.RFC3339), "billsec_s": 60}
		if code, out := cs[via].call("POST", "/v1/cdrs", []map[string]any{cdr}); code != 202 || out["accepted"] != 1.0 {
			t.Fatalf("POST /v1/cdrs to node %d = %d %v", via+1, code, out)
		}
	}
	bursts := func(ext string) int {
		_, out := cs[0].call("GET", "/v1/alerts", nil)
		as, _ := out["alerts"].([]any)
		n := 0
		for _, a := range as {
			m := a.(map[string]any)
			if m["code"] == "international_burst" && m["extension"] == ext {
				n++
			}
		}
		return n
	}

	// 12 calls of extension 1001 in four minutes, four through each node.
	for i := range 12 {
		post(i%3, "1001", i, t0.Add(time.Duration(i*20)*time.Second))
	}
	poll(t, "the burst alert for 1001", func() bool { return bursts("1001") > 0 })
	poll(t, "all 12 CDRs processed", func() bool { return processed() >= 12 })
	time.Sleep(500 * time.Millisecond)
	if n := bursts("1001"); n != 1 {
		t.Errorf("%d international_burst alerts for 1001 across three nodes, want exactly 1", n)
	}
	if n := processed(); n != 12 {
		t.Errorf("detectors processed %d CDRs in all, want 12", n)
	}

	// Extension 2002: six calls, then the owner dies having read the next
	// ones without judging them; six more through the survivors.
	t1 := t0.Add(time.Hour)
	for i := range 6 {
		post(i%3, "2002", i, t1.Add(time.Duration(i*20)*time.Second))
	}
	poll(t, "the first six 2002 CDRs processed", func() bool { return processed() >= 18 })
	dead := owner(0, 1, 2)
	if dead < 0 {
		t.Fatal("nobody owns acme's partition")
	}
	stream(dead).Crash(cluster.CrashAfterRead)
	alive := slices.DeleteFunc([]int{0, 1, 2}, func(i int) bool { return i == dead })
	for i := 6; i < 12; i++ {
		post(alive[i%2], "2002", i, t1.Add(time.Duration(i*20)*time.Second))
	}
	select {
	case <-stream(dead).Crashed():
	case <-time.After(10 * time.Second):
		t.Fatal("the owner never read the new entries")
	}
	poll(t, "the burst alert for 2002 after the hand-over", func() bool { return bursts("2002") > 0 })
	time.Sleep(time.Second)
	next := owner(alive...)
	if next < 0 {
		t.Fatal("no live owner of acme's partition")
	}
	st := stream(next).Stats()
	t.Logf("dead n%d %+v; new owner n%d %+v", dead+1, stream(dead).Stats(), next+1, st)
	if st.Claimed == 0 || st.Warmed < 6 {
		t.Errorf("new owner claimed %d and warmed %d entries; want the dead node's pending ones claimed and what it fed replayed", st.Claimed, st.Warmed)
	}
	if n := bursts("2002"); n != 1 {
		t.Errorf("%d international_burst alerts for 2002, want exactly 1", n)
	}
	if n := bursts("1001"); n != 1 {
		t.Errorf("%d international_burst alerts for 1001 after the hand-over, want still 1 (the replay must not fire again)", n)
	}
	if n := processed(); n != 24 {
		t.Errorf("detectors processed %d CDRs in all, want each of the 24 once", n)
	}
}
