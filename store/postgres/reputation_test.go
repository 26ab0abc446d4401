package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/honeypot"
	"github.com/tollgate-voip/tollgate/internal/pgschema"
	"github.com/tollgate-voip/tollgate/reputation"
	"github.com/tollgate-voip/tollgate/store/postgres"
	"github.com/tollgate-voip/tollgate/store/storetest"
)

// TestReputationSuite runs the reputation store conformance suite on a
// fresh database; every handle is on another connection pool, as another
// node holds.
func TestReputationSuite(t *testing.T) {
	storetest.RunReputation(t, func(t *testing.T) func() storetest.ReputationDB {
		dsn := newDSN(t, "rep")
		return func() storetest.ReputationDB { return mustOnOwnPool(t, dsn, postgres.NewReputation) }
	})
}

// TestReputationWritesOnce: a keyed write applied twice (a node's buffer
// replayed again after a crash) is stored once — the same ban id, hits
// added once, events stored once — and Purge forgets old keys.
func TestReputationWritesOnce(t *testing.T) {
	ctx := context.Background()
	db := mustOnOwnPool(t, newDSN(t, "rep"), postgres.NewReputation)
	now := time.Now()
	b := reputation.Ban{IP: "203.0.113.9", Reason: "scan", Source: "sipfront", Created: now, Expires: now.Add(time.Hour)}
	b1, err := db.AddBanOnce(ctx, "ban-1", b)
	if err != nil {
		t.Fatal(err)
	}
	b2, err := db.AddBanOnce(ctx, "ban-1", b)
	if err != nil || b2.ID != b1.ID || b1.ID == 0 {
		t.Fatalf("the same ban twice: ids %d and %d, %v", b1.ID, b2.ID, err)
	}
	if n, _ := db.BanCount(ctx, b.IP); n != 1 {
		t.Fatalf("ban count %d after a repeated keyed ban, want 1", n)
	}
	if _, err := db.AddBanOnce(ctx, "", b); !errors.Is(err, reputation.ErrInvalid) {
		t.Fatalf("ban without a key: %v", err)
	}
	es := []reputation.Entry{{Kind: "number", Value: "+4930111", Hits: 2, Score: 50, Source: "honeypot"}}
	for range 2 {
		if err := db.UpsertBatchOnce(ctx, "entries-1", es); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.UpsertBatchOnce(ctx, "entries-2", es); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if e, err := db.UpsertOnce(ctx, "entry-1", reputation.Entry{Kind: "number", Value: "+4930222", Hits: 3, Source: "manual"}); err != nil || e.Hits != 3 {
			t.Fatalf("the same keyed upsert = %+v, %v; want 3 hits each time", e, err)
		}
	}
	if e, err := db.Get(ctx, "number", "+4930111"); err != nil || e.Hits != 4 {
		t.Fatalf("entry after batches 1, 1 again and 2 = %+v, %v; want 4 hits", e, err)
	}
	evs := []honeypot.Event{{Time: now, Kind: "register", SourceIP: "203.0.113.9", SourcePort: 5060, Transport: "udp"}}
	for range 2 {
		if err := db.AppendEventsOnce(ctx, "events-1", evs); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := db.Events(ctx, honeypot.EventQuery{}); err != nil || len(got) != 1 {
		t.Fatalf("%d events after the same batch twice, %v; want 1", len(got), err)
	}
	if _, err := db.Purge(ctx, now.Add(time.Hour), 0); err != nil {
		t.Fatal(err)
	}
	if err := db.UpsertBatchOnce(ctx, "entries-1", es); err != nil {
		t.Fatal(err)
	}
	if e, _ := db.Get(ctx, "number", "+4930111"); e.Hits != 6 {
		t.Fatalf("a purged key still refused its batch: %d hits, want 6", e.Hits)
	}
}

// TestReputationUpgradeLearnedNumbersBecomeSuspected: numbers the
// honeypot learned before entries had a status (schema 3) were learned
// from one unproven datagram each; the upgrade makes them suspected and
// leaves operators' numbers and the honeypot's addresses confirmed.
func TestReputationUpgradeLearnedNumbersBecomeSuspected(t *testing.T) {
	ctx := context.Background()
	dsn := newDSN(t, "rep")
	pool, err := pgschema.Connect(ctx, "test", dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if err := postgres.ReputationSchemaAt(3).Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UnixNano()
	for _, r := range [][3]string{{"number", "+12125550199", "honeypot"}, {"number", "+882161234", "manual"}, {"ip", "192.0.2.7", "honeypot"}} {
		if _, err := pool.Exec(ctx, `INSERT INTO reputation_entries (kind, value, source, reason, first_seen_ns, last_seen_ns, hits, score)
			VALUES ($1, $2, $3, 'old', $4, $4, 1, 90)`, r[0], r[1], r[2], now); err != nil {
			t.Fatal(err)
		}
	}
	db, err := postgres.NewReputation(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ kind, value, status string }{
		{"number", "+12125550199", reputation.StatusSuspected},
		{"number", "+882161234", reputation.StatusConfirmed},
		{"ip", "192.0.2.7", reputation.StatusConfirmed},
	} {
		e, err := db.Get(ctx, c.kind, c.value)
		if err != nil || e.Status != c.status || e.Evidence != nil {
			t.Errorf("%s %s after the upgrade: %+v, %v; want %s", c.kind, c.value, e, err, c.status)
		}
	}
}
