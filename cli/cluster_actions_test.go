package cli

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestClusterActionsShared: in cluster mode the detectors' actions live in
// the shared PostgreSQL store, so a Wangiri wave posted to one node makes
// callbacks screened by every node refused — whichever node's detectors
// own the tenant.
func TestClusterActionsShared(t *testing.T) {
	cs := startCluster(t, 2, 0, func(node, redis string) string { return fmt.Sprintf(detectClusterPolicy, node, redis) }).cs
	// Live traffic is stamped near the wall clock: each node's event clock
	// then reads about the same time, as it would in production. (A drive
	// of history posted to one node would move only that node's clock;
	// history goes through replay.)
	t0 := time.Now().UTC().Add(-30 * time.Minute).Truncate(time.Second)
	var wave []map[string]any
	for i := range 8 {
		wave = append(wave, map[string]any{"call_id": fmt.Sprintf("w%d", i), "tenant": "acme", "direction": "inbound", "caller": fmt.Sprintf("+4915112345%03d", i),
			"callee": "5551000", "start": t0.Add(time.Duration(i*30) * time.Second).Format(time.RFC3339), "duration_s": 2})
	}
	if code, out := cs[0].call("POST", "/v1/cdrs", wave); code != 202 {
		t.Fatalf("wave = %d %v", code, out)
	}
	for i, c := range cs {
		n := 0
		// Every probe is a screened call of its own (judged by the
		// detectors, its decision committed before the answer): probe
		// at a modest pace, for up to 30 s on a loaded machine.
		pollFor(t, fmt.Sprintf("node %d refusing the callback", i+1), 30*time.Second, 250*time.Millisecond, func() bool {
			n++
			_, v := c.call("POST", "/v1/screen", map[string]any{"call_id": fmt.Sprintf("cb%d-%d", i, n), "tenant": "acme", "extension": "1003",
				"callee": "+4915112345003", "time": t0.Add(20 * time.Minute).Format(time.RFC3339)})
			return v["action"] == "reject" && strings.Contains(fmt.Sprint(v["reasons"]), "detected_block")
		})
	}
	// Both nodes list the same records.
	_, a := cs[0].call("GET", "/v1/actions", nil)
	_, b := cs[1].call("GET", "/v1/actions", nil)
	if la, lb := len(a["actions"].([]any)), len(b["actions"].([]any)); la < 8 || la != lb {
		t.Errorf("nodes list %d and %d action records; want the same ≥ 8", la, lb)
	}
}
