package cli

import (
	"context"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/reputation"
)

// notifyEvery is the periodic refresh of opt-outs, consents and
// reputation in the notice tests: far longer than any test runs, so a
// change made on one node can reach another only through its notice.
const notifyEvery = time.Hour

// awaitNotice polls check (true: the change arrived) until it holds or
// ten seconds pass, and fails the test then. Ten seconds is well within
// notifyEvery: arrival proves the notice path, whatever the machine's
// speed; the time taken is only logged.
func awaitNotice(t *testing.T, what string, check func() bool) {
	t.Helper()
	t0 := time.Now()
	for !check() {
		if time.Since(t0) > 10*time.Second {
			t.Fatalf("%s: not arrived 10 s on, with the periodic refresh every %v (no notice?)", what, notifyEvery)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("%s: arrived after %v", what, time.Since(t0).Round(time.Millisecond))
}

// TestClusterComplianceNotice: with the nodes' periodic refresh of
// opt-outs and consents set to an hour, an opt-out posted to node 1
// makes node 2 refuse a campaign call to the number at once, its removal
// on node 2 frees it on node 1, and a consent recorded on node 2 lets
// node 1 call a registry-listed number: each carried by a change notice.
func TestClusterComplianceNotice(t *testing.T) {
	national := filepath.Join(t.TempDir(), "national.csv")
	if err := os.WriteFile(national, []byte("area_code,phone_number\n212,5550001\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startClusterPairEvery(t, strings.ReplaceAll(clusterCompliancePolicy, "%[3]s", national), notifyEvery)
	cs := []*client{{t: t, base: p.base(0), token: "test"}, {t: t, base: p.base(1), token: "test"}}
	afternoon := time.Date(2026, 11, 18, 20, 0, 0, 0, time.UTC)
	n := 0
	action := func(i int, callee string) string {
		t.Helper()
		n++
		code, out := cs[i].call("POST", "/v1/screen", map[string]string{"call_id": fmt.Sprintf("ncamp-%d", n), "tenant": "acme", "extension": "501",
			"caller": "+13125550100", "callee": callee, "direction": "outbound", "time": afternoon.Format(time.RFC3339)})
		if code != 200 {
			t.Fatalf("node %d screen %s: %d %v", i+1, callee, code, out)
		}
		if out["action"] == "reject" && !strings.Contains(fmt.Sprint(out["reasons"]), "dnc") {
			t.Fatalf("node %d refused %s for another reason: %v", i+1, callee, out)
		}
		return fmt.Sprint(out["action"])
	}
	rx := func(i int) int64 { return p.nodes[i].cl.changes.Received.Load() }

	const optout = "+13125550777"
	for i := range 2 {
		if a := action(i, optout); a != "allow" {
			t.Fatalf("node %d before the opt-out: %s", i+1, a)
		}
	}
	before := rx(1)
	if code, out := cs[0].call("POST", "/v1/dnc", map[string]string{"number": optout, "tenant": "acme", "reason": "asked on the call"}); code != 201 {
		t.Fatalf("POST /v1/dnc on node 1: %d %v", code, out)
	}
	awaitNotice(t, "node 2 refusing the number opted out on node 1", func() bool { return action(1, optout) == "reject" })
	if rx(1) == before {
		t.Error("node 2 received no notice, yet refused the number")
	}

	if code, out := cs[1].call("DELETE", "/v1/dnc?tenant=acme&number="+url.QueryEscape(optout), nil); code != 200 {
		t.Fatalf("DELETE /v1/dnc on node 2: %d %v", code, out)
	}
	awaitNotice(t, "node 1 calling the number node 2 freed", func() bool { return action(0, optout) == "allow" })

	const listed = "+12125550001"
	if a := action(0, listed); a != "reject" {
		t.Fatalf("node 1, registry-listed number without consent: %s", a)
	}
	if code, out := cs[1].call("POST", "/v1/consents", map[string]any{"tenant": "acme", "number": listed, "type": "express_written",
		"source": "https://example.com/form/77", "time": "2026-11-01T12:00:00Z"}); code != 201 {
		t.Fatalf("POST /v1/consents on node 2: %d %v", code, out)
	}
	awaitNotice(t, "node 1 calling the listed number node 2 has consent for", func() bool { return action(0, listed) == "allow" })
}

// TestClusterReputationNotice: with the nodes' periodic reputation
// refresh set to an hour, every way a node changes entries or bans
// reaches the others at once through a change notice: a ban through the
// API and its release, a ban by the attack guard (auth failures), an
// entry through the API and its removal, and entries written the way the honeypot writes
// its sightings (a batch through the store it is given).
func TestClusterReputationNotice(t *testing.T) {
	tc := newTestClusterEvery(t, 10, notifyEvery)
	n := 0
	verdict := func(i int, src, callee string) map[string]any {
		t.Helper()
		n++
		b := screenBody(fmt.Sprint("nrep-", n), "acme", fmt.Sprint("6", n), callee)
		b["source_ip"] = src
		code, v := tc.cs[i].call("POST", "/v1/screen", b)
		if code != 200 {
			t.Fatalf("node %d screen: %d %v", i+1, code, v)
		}
		return v
	}
	refuses := func(i int, src, callee, code string) func() bool {
		return func() bool {
			v := verdict(i, src, callee)
			return v["action"] == "reject" && strings.Contains(fmt.Sprint(v), code)
		}
	}
	allows := func(i int, src, callee string) func() bool {
		return func() bool { return verdict(i, src, callee)["action"] == "allow" }
	}
	const dest = "+4930123456"
	for _, ip := range []string{"203.0.113.10", "203.0.113.11"} {
		for i := range 3 {
			if !allows(i, ip, dest)() {
				t.Fatalf("node %d refuses %s before any ban", i+1, ip)
			}
		}
	}
	_, reads0 := tc.nodes[1].sec.ref.Stats()

	// A ban through node 1's API; its release through node 2's.
	code, ban := tc.cs[0].call("POST", "/v1/bans", map[string]any{"ip": "203.0.113.10", "reason": "toll fraud", "expires_in": 3600})
	if code != 201 {
		t.Fatalf("ban on node 1: %d %v", code, ban)
	}
	awaitNotice(t, "node 2 refusing the address node 1 banned", refuses(1, "203.0.113.10", dest, "banned_ip"))
	if _, reads := tc.nodes[1].sec.ref.Stats(); reads == reads0 {
		t.Error("node 2 enforces the ban without having re-read the store")
	}
	if code, v := tc.cs[1].call("DELETE", fmt.Sprint("/v1/bans/", int64(ban["id"].(float64))), nil); code != 200 {
		t.Fatalf("release on node 2: %d %v", code, v)
	}
	awaitNotice(t, "node 3 accepting the address node 2 released", allows(2, "203.0.113.10", dest))

	// A ban by node 1's attack guard.
	var gban any
	for i := 0; i < 10 && gban == nil; i++ {
		code, v := tc.cs[0].call("POST", "/v1/auth-events", map[string]any{"ip": "203.0.113.11", "kind": "auth_failure", "username": "100"})
		if code != 200 {
			t.Fatalf("auth event on node 1: %d %v", code, v)
		}
		gban = v["ban"]
	}
	if gban == nil {
		t.Fatal("node 1's guard did not ban the address")
	}
	awaitNotice(t, "node 3 refusing the address node 1's guard banned", refuses(2, "203.0.113.11", dest, "banned_ip"))

	// An entry through node 1's API.
	const pumped = "+4930999777"
	if !allows(1, "198.51.100.1", pumped)() {
		t.Fatal("node 2 refuses the number before any entry")
	}
	if code, v := tc.cs[0].call("POST", "/v1/reputation", map[string]any{"kind": "number", "value": pumped, "reason": "IRSF"}); code != 201 {
		t.Fatalf("entry on node 1: %d %v", code, v)
	}
	awaitNotice(t, "node 2 refusing the number node 1 listed", refuses(1, "198.51.100.1", pumped, "attacker_dialed_number"))
	if code, v := tc.cs[2].call("DELETE", "/v1/reputation?kind=number&value="+url.QueryEscape(pumped), nil); code != 204 {
		t.Fatalf("remove on node 3: %d %v", code, v)
	}
	awaitNotice(t, "node 2 accepting the number node 3 removed", allows(1, "198.51.100.1", pumped))

	// Honeypot sightings: a node's decoy hands its folded sightings to
	// sec.w (honeypot.Options.Reputation) as one batch. Node 3's decoy saw
	// proven callers from two networks, node 2's from a third ten minutes
	// later: PostgreSQL merges the evidence and the number is confirmed,
	// which neither node alone could do.
	const dialed = "+4930999666"
	if !allows(0, "198.51.100.1", dialed)() {
		t.Fatal("node 1 refuses the number before the sighting")
	}
	now := time.Now()
	need := reputation.Need{Networks: 3, SpanS: 600}
	sighting := func(addr string, at time.Time) reputation.Entry {
		a := netip.MustParseAddr(addr)
		return reputation.Entry{Kind: reputation.KindNumber, Value: dialed, Source: reputation.SourceHoneypot,
			Reason: "dialed by an attacker at the honeypot", FirstSeen: at, LastSeen: at, Hits: 1, Score: 90, Expires: now.Add(24 * time.Hour),
			Status: reputation.StatusSuspected, Evidence: &reputation.Evidence{Need: need, Sightings: []reputation.Sighting{
				{Network: reputation.NetworkOf(a).String(), Addr: addr, First: at, Last: at, Hits: 1, Proven: at}}}}
	}
	batch := func(node int, es ...reputation.Entry) {
		t.Helper()
		bu, ok := tc.nodes[node].sec.w.(reputation.BatchUpserter)
		if !ok {
			t.Fatal("the store the honeypot writes to takes no batches")
		}
		if err := bu.UpsertBatch(context.Background(), es); err != nil {
			t.Fatal(err)
		}
	}
	batch(2, sighting("203.0.113.7", now.Add(-11*time.Minute)), sighting("198.51.100.77", now.Add(-10*time.Minute)))
	awaitNotice(t, "node 1 seeing node 3's suspected number", func() bool {
		v := verdict(0, "198.51.100.1", dialed)
		return v["action"] == "allow" && strings.Contains(fmt.Sprint(v), "suspected_dialed_number")
	})
	batch(1, sighting("2001:db8:7::1", now))
	awaitNotice(t, "node 1 refusing the number nodes 2 and 3's honeypots confirmed", refuses(0, "198.51.100.1", dialed, "attacker_dialed_number"))
}
