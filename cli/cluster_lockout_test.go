package cli

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/reputation"
	"github.com/tollgate-voip/tollgate/store/postgres"
)

// TestClusterLockoutKnownGood runs three nodes on one Redis and one
// PostgreSQL. Node 1 hears the phone of acme's 1001 authenticate; node 2
// hears five guessers fail for it and locks it: the lockout allows the
// phone node 2 never saw (known-good sources are in PostgreSQL, not in
// node 1's memory). Every node then refuses a guesser and lets the phone
// through, and GET /v1/lockouts answers the same on any node. The flood
// named tenant acme: openco's 1001 is not locked. Then both nodes take
// failures and successes of another account at once (the race): the
// shared failure window locks it once, allowing its phone.
func TestClusterLockoutKnownGood(t *testing.T) {
	tc := newTestCluster(t, 10)
	const phone, phone2 = "198.51.100.7", "198.51.100.8"
	guesser := func(i int) string { return fmt.Sprint("203.0.113.", 60+i) }
	post := func(i int, ev map[string]any) map[string]any {
		t.Helper()
		code, v := tc.cs[i].call("POST", "/v1/auth-events", ev)
		if code != 200 {
			t.Fatalf("node %d auth event %v: %d %v", i+1, ev, code, v)
		}
		return v
	}
	post(0, map[string]any{"ip": phone, "kind": "auth_success", "username": "1001", "tenant": "acme", "source": "kamailio"})
	var last map[string]any
	for i := range 5 {
		last = post(1, map[string]any{"ip": guesser(i), "kind": "auth_failure", "username": "1001", "tenant": "acme", "source": "kamailio"})
	}
	lo, _ := last["lockout"].(map[string]any)
	if lo == nil || fmt.Sprint(lo["allowed"]) != "["+phone+"]" || lo["tenant"] != "acme" {
		t.Fatalf("node 2's lockout %v; want acme's 1001 allowing %s (seen by node 1)", last, phone)
	}

	n := 0
	screen := func(i int, tenant, ext, src string) map[string]any {
		t.Helper()
		n++
		b := screenBody(fmt.Sprint("lock-", n), tenant, ext, "+4930123456")
		b["source_ip"] = src
		code, v := tc.cs[i].call("POST", "/v1/screen", b)
		if code != 200 {
			t.Fatalf("node %d screen: %d %v", i+1, code, v)
		}
		return v
	}
	locked := func(v map[string]any) bool {
		return v["action"] == "reject" && strings.Contains(fmt.Sprint(v), "account_locked")
	}
	await := func(i int, what string, ok func() bool) {
		t.Helper()
		for t0 := time.Now(); time.Since(t0) < 5*time.Second; time.Sleep(20 * time.Millisecond) {
			if ok() {
				return
			}
		}
		t.Fatalf("node %d: not %s five seconds on", i+1, what)
	}
	for i := range 3 {
		await(i, "refusing a guesser for acme's 1001", func() bool { return locked(screen(i, "acme", "1001", guesser(9))) })
		if v := screen(i, "acme", "1001", phone); locked(v) {
			t.Errorf("node %d refuses acme's 1001 from its phone: %v", i+1, v)
		}
		if v := screen(i, "openco", "1001", guesser(9)); locked(v) {
			t.Errorf("node %d refuses openco's 1001 after acme's flood: %v", i+1, v)
		}
		if code, v := tc.cs[i].call("GET", "/v1/lockouts/account/1001?tenant=acme&ip="+phone, nil); code != 404 {
			t.Errorf("node %d: lockout for the phone: %d %v; want 404", i+1, code, v)
		}
		if code, v := tc.cs[i].call("GET", "/v1/lockouts/account/1001?tenant=acme&ip="+guesser(9), nil); code != 200 {
			t.Errorf("node %d: lockout for a guesser: %d %v; want 200", i+1, code, v)
		}
		if code, v := tc.cs[i].call("GET", "/v1/lockouts/account/1001?tenant=openco&ip="+guesser(9), nil); code != 404 {
			t.Errorf("node %d: openco's 1001 for a guesser: %d %v; want 404", i+1, code, v)
		}
	}

	// The race: node 1 and node 2 take 2002's phone success and six
	// failures (three each, from six addresses) at the same time.
	post(1, map[string]any{"ip": phone2, "kind": "auth_success", "username": "2002", "tenant": "acme"})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var locks []map[string]any
	for node := range 2 {
		wg.Go(func() {
			for j := range 3 {
				code, v := tc.cs[node].call("POST", "/v1/auth-events", map[string]any{"ip": guesser(10 + 3*node + j), "kind": "auth_failure", "username": "2002", "tenant": "acme"})
				if code != 200 {
					t.Errorf("node %d: %d %v", node+1, code, v)
					return
				}
				if lo, _ := v["lockout"].(map[string]any); lo != nil {
					mu.Lock()
					locks = append(locks, lo)
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if len(locks) == 0 {
		t.Fatal("six failures for 2002 over two nodes (threshold 5): no lockout")
	}
	for _, lo := range locks {
		if fmt.Sprint(lo["allowed"]) != "["+phone2+"]" {
			t.Errorf("a lockout of 2002 allows %v; want %s", lo["allowed"], phone2)
		}
	}
	for i := range 3 {
		await(i, "refusing a guesser for 2002", func() bool { return locked(screen(i, "acme", "2002", guesser(30))) })
		if v := screen(i, "acme", "2002", phone2); locked(v) {
			t.Errorf("node %d refuses 2002's phone: %v", i+1, v)
		}
	}

	// It is all in PostgreSQL: the known-good sources and the lockouts.
	db, err := postgres.NewReputation(context.Background(), ownPool(t, tc.pgDSN(t)))
	if err != nil {
		t.Fatal(err)
	}
	ks, err := db.KnownGood(context.Background(), "acme", "1001", time.Now().Add(-time.Hour))
	if err != nil || len(ks) != 1 || ks[0].Source != phone {
		t.Fatalf("PostgreSQL's known-good sources of acme's 1001: %+v, %v", ks, err)
	}
	ls, err := db.Lockouts(context.Background(), time.Now())
	if err != nil || len(ls) != 2 {
		t.Fatalf("PostgreSQL's lockouts: %+v, %v; want acme's 1001 and 2002", ls, err)
	}
	for _, l := range ls {
		if l.Tenant != "acme" || l.Kind != reputation.LockAccount {
			t.Errorf("lockout %+v; want tenant acme's account", l)
		}
	}
}
