// Package storetest holds the conformance suites of every store domain,
// which store/sqlite and store/postgres both run on real databases: Run
// (store.Store: the records), RunCompliance, RunUsers, RunReputation and
// RunVoice. Call one from a test with a function that makes a fresh,
// empty database and opens handles on it; most tests use two handles as
// two nodes.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/store"
)

// Opener returns a fresh, empty store; a second call with the same
// t returns another handle on the same data (another node).
type Opener func(t *testing.T) (open func() store.Store)

// t0 has whole microseconds: every store keeps at least that.
var t0 = time.Date(2026, 11, 23, 12, 0, 0, 123456000, time.UTC)

// Run runs the suite. fresh makes a new empty database and returns a
// function opening handles on it.
func Run(t *testing.T, fresh Opener) {
	run(t, fresh, []test[store.Store]{
		{"Blocks", testBlocks},
		{"KillSwitches", testKillSwitches},
		{"Decisions", testDecisions},
		{"CallEvents", testCallEvents},
		{"Alerts", testAlerts},
		{"Tokens", testTokens},
		{"AuditChain", testAudit},
		{"AuditAcrossHandles", testAuditConcurrent},
		{"DecisionsAcrossHandles", testDecisionsConcurrent},
	})
}

func handle(t *testing.T, open func() store.Store) store.Store {
	s := open()
	t.Cleanup(func() { s.Close() })
	return s
}

func testBlocks(t *testing.T, open func() store.Store) {
	s := handle(t, open)
	ctx := context.Background()
	b1, err := s.AddBlock(ctx, store.Block{Kind: store.BlockNumber, Value: "+442079460000", Reason: "pumping", Source: "manual", CreatedBy: "ops"})
	if err != nil {
		t.Fatal(err)
	}
	if b1.ID == 0 || b1.Created.IsZero() {
		t.Errorf("AddBlock = %+v: want an id and a creation time", b1)
	}
	b2, err := s.AddBlock(ctx, store.Block{Tenant: "acme", Kind: store.BlockPrefix, Value: "882", Created: t0, Expires: t0.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddBlock(ctx, store.Block{Kind: store.BlockIP, Value: "192.0.2.0/24"}); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []store.Block{
		{Kind: store.BlockPrefix, Value: "88x"},
		{Kind: "planet", Value: "x"},
		{Kind: store.BlockIP, Value: "not-an-ip"},
		{Kind: store.BlockNumber, Value: "  "},
		{Kind: store.BlockNumber, Value: "1", Scope: "some"},
	} {
		if _, err := s.AddBlock(ctx, bad); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("AddBlock(%+v) = %v, want ErrInvalid", bad, err)
		}
	}
	got, err := s.ListBlocks(ctx, t0.Add(30*time.Minute))
	if err != nil || len(got) != 3 {
		t.Fatalf("ListBlocks before expiry = %d blocks, %v; want 3", len(got), err)
	}
	if got[1].ID != b2.ID || !got[1].Expires.Equal(t0.Add(time.Hour)) || !got[1].Created.Equal(t0) || got[1].Tenant != "acme" {
		t.Errorf("ListBlocks[1] = %+v, want %+v", got[1], b2)
	}
	if got, _ := s.ListBlocks(ctx, t0.Add(time.Hour)); len(got) != 2 {
		t.Errorf("ListBlocks at expiry = %d blocks, want 2", len(got))
	}
	if rm, err := s.RemoveBlock(ctx, b1.ID); err != nil || rm.Value != b1.Value {
		t.Errorf("RemoveBlock = %+v, %v", rm, err)
	}
	if _, err := s.RemoveBlock(ctx, b1.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second RemoveBlock = %v, want ErrNotFound", err)
	}
}

func testKillSwitches(t *testing.T, open func() store.Store) {
	s := handle(t, open)
	ctx := context.Background()
	if err := s.SetKillSwitch(ctx, store.KillSwitch{Tenant: ""}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("empty tenant: %v, want ErrInvalid", err)
	}
	if err := s.SetKillSwitch(ctx, store.KillSwitch{Tenant: "acme", Active: true, Reason: "incident", By: "ops", Since: t0}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetKillSwitch(ctx, store.KillSwitch{Tenant: "*", Active: true}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetKillSwitch(ctx, store.KillSwitch{Tenant: "acme", Active: false, Reason: "over", Since: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	ks, err := s.KillSwitches(ctx)
	if err != nil || len(ks) != 2 {
		t.Fatalf("KillSwitches = %+v, %v", ks, err)
	}
	if ks[0].Tenant != "*" || !ks[0].Active || ks[1].Tenant != "acme" || ks[1].Active || ks[1].Reason != "over" || !ks[1].Since.Equal(t0.Add(time.Hour)) {
		t.Errorf("KillSwitches = %+v", ks)
	}
}

func decision(id string, at time.Time, ext string) store.Decision {
	return store.Decision{CallID: id, Time: at, Tenant: "acme", Extension: ext, Caller: "+12125550100", Callee: "011442071234567",
		E164: "+442071234567", Country: "GB", Type: "fixed", Direction: "outbound", Action: "allow", Enforced: "allow",
		Risk: 5, MaxDuration: 3600, Rate: 0.02, Reasons: json.RawMessage(`[{"code":"ok","text":"fine"}]`), Node: "n1"}
}

func testDecisions(t *testing.T, open func() store.Store) {
	s := handle(t, open)
	ctx := context.Background()
	var ds []store.Decision
	for i := range 50 {
		// Spread over two months so a partitioned store uses two partitions.
		ds = append(ds, decision(fmt.Sprint("c", i), t0.Add(time.Duration(i)*24*time.Hour), fmt.Sprint(1000+i%3)))
	}
	dup := decision("c0", t0.Add(time.Minute), "9999") // same call id: the first wins
	if err := s.AppendDecisions(ctx, append(ds, dup)); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendDecisions(ctx, ds[:10]); err != nil { // a retried batch
		t.Fatal(err)
	}
	all, err := s.DecisionsSince(ctx, time.Time{})
	if err != nil || len(all) != 50 {
		t.Fatalf("DecisionsSince(zero) = %d decisions, %v; want 50", len(all), err)
	}
	if all[0].CallID != "c0" || all[0].Extension != "1000" || !all[0].Time.Equal(t0) || string(all[0].Reasons) != string(ds[0].Reasons) {
		t.Errorf("first decision = %+v", all[0])
	}
	if !slices.IsSortedFunc(all, func(a, b store.Decision) int { return a.Time.Compare(b.Time) }) {
		t.Error("DecisionsSince not oldest first")
	}
	q, err := s.QueryDecisions(ctx, store.DecisionQuery{Extension: "1001", From: t0, To: t0.Add(30 * 24 * time.Hour), Limit: 5})
	if err != nil || len(q) != 5 || q[0].Time.Before(q[4].Time) {
		t.Fatalf("QueryDecisions = %d, %v; want 5 newest first", len(q), err)
	}
	for _, d := range q {
		if d.Extension != "1001" || !d.Time.Before(t0.Add(30*24*time.Hour)) {
			t.Errorf("QueryDecisions returned %+v", d)
		}
	}
	if q, _ := s.QueryDecisions(ctx, store.DecisionQuery{CallID: "c7"}); len(q) != 1 || q[0].CallID != "c7" {
		t.Errorf("QueryDecisions(call id) = %+v", q)
	}
	if q, _ := s.QueryDecisions(ctx, store.DecisionQuery{Number: "+442071234567", Limit: 100000}); len(q) != 50 {
		t.Errorf("QueryDecisions(number) = %d, want 50", len(q))
	}
	since, _ := s.DecisionsSince(ctx, t0.Add(40*24*time.Hour))
	if len(since) != 10 {
		t.Errorf("DecisionsSince(+40d) = %d, want 10", len(since))
	}
	for _, bad := range []store.Decision{{Time: t0}, {CallID: "x"}, {CallID: "x", Time: t0, Reasons: json.RawMessage("{")}} {
		if err := s.AppendDecisions(ctx, []store.Decision{bad}); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("AppendDecisions(%+v) = %v, want ErrInvalid", bad, err)
		}
	}
}

func testCallEvents(t *testing.T, open func() store.Store) {
	s := handle(t, open)
	ctx := context.Background()
	es := []store.CallEvent{
		{CallID: "c1", Type: "answer", Time: t0, Tenant: "acme"},
		{CallID: "c1", Type: "end", Time: t0.Add(2 * time.Minute), Tenant: "acme", Duration: 120, Cost: 0.04, International: true},
		{CallID: "c1", Type: "end", Time: t0.Add(3 * time.Minute), Duration: 999},
	}
	if err := s.AppendCallEvents(ctx, es); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendCallEvents(ctx, es); err != nil {
		t.Fatal(err)
	}
	got, err := s.CallEventsSince(ctx, t0)
	if err != nil || len(got) != 2 {
		t.Fatalf("CallEventsSince = %+v, %v; want 2", got, err)
	}
	if got[1].Duration != 120 || got[1].Cost != 0.04 || !got[1].International || !got[1].Time.Equal(t0.Add(2*time.Minute)) {
		t.Errorf("end event = %+v", got[1])
	}
	if err := s.AppendCallEvents(ctx, []store.CallEvent{{CallID: "x", Time: t0}}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("event without type: %v, want ErrInvalid", err)
	}
}

func testAlerts(t *testing.T, open func() store.Store) {
	s := handle(t, open)
	ctx := context.Background()
	a, err := s.AddAlert(ctx, store.Alert{Time: t0, Tenant: "acme", Severity: "critical", Code: "spend", Text: "high", Details: json.RawMessage(`{"sum": 10}`)})
	if err != nil || a.ID == 0 || a.Status != "open" {
		t.Fatalf("AddAlert = %+v, %v", a, err)
	}
	if _, err := s.AddAlert(ctx, store.Alert{Time: t0.Add(time.Minute), Severity: "info", Code: "x"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddAlert(ctx, store.Alert{Severity: "loud", Code: "x"}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("bad severity: %v", err)
	}
	if err := s.SetAlertStatus(ctx, a.ID, "acknowledged"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetAlertStatus(ctx, a.ID+1000, "resolved"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown alert: %v, want ErrNotFound", err)
	}
	if err := s.SetAlertStatus(ctx, a.ID, "gone"); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("bad status: %v, want ErrInvalid", err)
	}
	got, err := s.ListAlerts(ctx, store.AlertQuery{Status: "acknowledged"})
	if err != nil || len(got) != 1 || got[0].ID != a.ID || string(got[0].Details) != `{"sum": 10}` || !got[0].Time.Equal(t0) {
		t.Errorf("ListAlerts(acknowledged) = %+v, %v", got, err)
	}
	if got, _ := s.ListAlerts(ctx, store.AlertQuery{}); len(got) != 2 || got[0].Code != "x" {
		t.Errorf("ListAlerts = %+v, want 2 newest first", got)
	}
}

func testTokens(t *testing.T, open func() store.Store) {
	s := handle(t, open)
	ctx := context.Background()
	h := "0000000000000000000000000000000000000000000000000000000000000001"
	if err := s.PutToken(ctx, store.Token{Name: "k", Role: "screen", Hash: h}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutToken(ctx, store.Token{Name: "k", Role: "read", Hash: h}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutToken(ctx, store.Token{Name: "bad", Role: "read", Hash: "xyz"}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("bad hash: %v", err)
	}
	ts, err := s.ListTokens(ctx)
	if err != nil || len(ts) != 1 || ts[0].Role != "read" || ts[0].Hash != h {
		t.Errorf("ListTokens = %+v, %v", ts, err)
	}
	// Expiry, revocation and last use, read back on another handle.
	other := handle(t, open)
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	h2 := "0000000000000000000000000000000000000000000000000000000000000002"
	if err := s.PutToken(ctx, store.Token{Name: "temp", Role: "screen", Hash: h2, Created: now, Expires: now.Add(720 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := s.TouchTokens(ctx, map[string]time.Time{"temp": now.Add(time.Minute), "k": now.Add(2 * time.Minute), "not-stored": now}); err != nil {
		t.Fatal(err)
	}
	// An older time does not move last use back.
	if err := other.TouchTokens(ctx, map[string]time.Time{"temp": now}); err != nil {
		t.Fatal(err)
	}
	if err := other.RevokeToken(ctx, "k", now.Add(3*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeToken(ctx, "k", now.Add(4*time.Minute)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("revoking twice = %v, want ErrNotFound", err)
	}
	if err := s.RevokeToken(ctx, "nobody", now); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("revoking an unknown token = %v, want ErrNotFound", err)
	}
	ts, err = other.ListTokens(ctx)
	if err != nil || len(ts) != 2 {
		t.Fatalf("ListTokens = %+v, %v", ts, err)
	}
	k, temp := ts[0], ts[1]
	if !k.Revoked.Equal(now.Add(3*time.Minute)) || !k.LastUsed.Equal(now.Add(2*time.Minute)) {
		t.Errorf("token k: revoked %v, last used %v; want %v, %v", k.Revoked, k.LastUsed, now.Add(3*time.Minute), now.Add(2*time.Minute))
	}
	if !temp.Expires.Equal(now.Add(720*time.Hour)) || !temp.LastUsed.Equal(now.Add(time.Minute)) || !temp.Revoked.IsZero() {
		t.Errorf("token temp: expires %v, last used %v, revoked %v", temp.Expires, temp.LastUsed, temp.Revoked)
	}
	// Replacing a revoked token makes a fresh one.
	if err := s.PutToken(ctx, store.Token{Name: "k", Role: "read", Hash: h}); err != nil {
		t.Fatal(err)
	}
	if ts, _ := other.ListTokens(ctx); !ts[0].Revoked.IsZero() || !ts[0].LastUsed.IsZero() {
		t.Errorf("replaced token still revoked/used: %+v", ts[0])
	}
}

func testAudit(t *testing.T, open func() store.Store) {
	s := handle(t, open)
	ctx := context.Background()
	for i := range 5 {
		e, err := s.AppendAudit(ctx, store.AuditEntry{Time: t0.Add(time.Duration(i) * time.Second), Actor: "ops", Action: "block.add", Object: fmt.Sprint("block/", i), Details: json.RawMessage(`{"a":1}`)})
		if err != nil || e.Hash == "" || e.ID == 0 {
			t.Fatalf("AppendAudit = %+v, %v", e, err)
		}
	}
	if _, err := s.AppendAudit(ctx, store.AuditEntry{Action: "x"}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("no actor: %v", err)
	}
	if err := s.VerifyAudit(ctx); err != nil {
		t.Fatalf("VerifyAudit = %v", err)
	}
	es, err := s.ListAudit(ctx, t0.Add(2*time.Second), 2)
	if err != nil || len(es) != 2 || es[0].Object != "block/2" || es[1].Object != "block/3" {
		t.Errorf("ListAudit = %+v, %v", es, err)
	}
}

// testAuditConcurrent appends from three handles at once (three nodes):
// the entries form one chain.
func testAuditConcurrent(t *testing.T, open func() store.Store) {
	ss := []store.Store{handle(t, open), handle(t, open), handle(t, open)}
	ctx := context.Background()
	var wg sync.WaitGroup
	for n, s := range ss {
		for i := range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := s.AppendAudit(ctx, store.AuditEntry{Actor: fmt.Sprint("node", n), Action: "token.create", Object: fmt.Sprint(i)}); err != nil {
					t.Error(err)
				}
			}()
		}
	}
	wg.Wait()
	if err := ss[1].VerifyAudit(ctx); err != nil {
		t.Fatalf("VerifyAudit after concurrent appends from three handles: %v", err)
	}
	es, _ := ss[2].ListAudit(ctx, time.Time{}, 1000)
	if len(es) != 60 {
		t.Errorf("%d audit entries, want 60", len(es))
	}
}

// testDecisionsConcurrent writes overlapping batches from three handles:
// every call id is stored exactly once.
func testDecisionsConcurrent(t *testing.T, open func() store.Store) {
	ss := []store.Store{handle(t, open), handle(t, open), handle(t, open)}
	ctx := context.Background()
	var wg sync.WaitGroup
	for n, s := range ss {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range 10 {
				var ds []store.Decision
				for i := range 30 {
					id := b*20 + i // batches overlap
					ds = append(ds, decision(fmt.Sprint("k", id), t0.Add(time.Duration(id)*time.Second), "1"))
					ds[len(ds)-1].Node = fmt.Sprint("n", n)
				}
				if err := s.AppendDecisions(ctx, ds); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	all, err := ss[0].DecisionsSince(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, d := range all {
		seen[d.CallID]++
	}
	if len(all) != 9*20+30 || len(seen) != len(all) {
		t.Errorf("%d decisions for %d call ids, want %d each once", len(all), len(seen), 9*20+30)
	}
}
