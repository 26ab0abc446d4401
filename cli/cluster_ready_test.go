package cli

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestReadyzFollowsRedis: in cluster mode a node cannot screen on its own
// when Redis (the shared counters) is gone — a fail_closed tenant's calls
// are all refused — so /readyz must say not ready, naming Redis, and say
// ready again once Redis is back. Before, it answered 200 throughout.
func TestReadyzFollowsRedis(t *testing.T) {
	tc := newTestCluster(t, 10)
	c := tc.cs[0]
	ready := func() (int, map[string]any) {
		return c.do("GET", "/readyz", "", nil)
	}
	code, body := ready()
	if code != 200 || fmt.Sprint(body["dependencies"]) != "map[redis:ok]" {
		t.Fatalf("readyz with Redis up: %d %v", code, body)
	}
	tc.redis.Stop()
	code, body = ready()
	deps, _ := body["dependencies"].(map[string]any)
	if code != 503 || body["status"] != "not ready" || deps == nil || deps["redis"] == "ok" || deps["redis"] == nil {
		t.Errorf("readyz with Redis stopped: %d %v; want 503 naming redis", code, body)
	}
	// What a load balancer would have kept sending calls to.
	if _, v := c.call("POST", "/v1/screen", screenBody("ready-down", "acme", "9", "+4930123456")); v["action"] != "reject" || !strings.Contains(fmt.Sprint(v["reasons"]), "fail_closed") {
		t.Errorf("fail_closed tenant with Redis down: %v", v)
	}
	if err := tc.redis.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if code, body = ready(); code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("readyz 10 s after Redis came back: %d %v", code, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
