package sqlite

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/reputation"
)

func TestStore(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "tollgate.db")
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	if _, err := db.Upsert(ctx, reputation.Entry{Kind: "ip", Value: "192.0.2.1", Source: "honeypot", Score: 50, LastSeen: now, Expires: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	e, err := db.Upsert(ctx, reputation.Entry{Kind: "ip", Value: "::ffff:192.0.2.1", Source: "honeypot", Score: 80, Hits: 2, LastSeen: now.Add(time.Minute), Expires: now.Add(2 * time.Hour)})
	if err != nil || e.Hits != 3 || e.Score != 80 || !e.Expires.Equal(now.Add(2*time.Hour)) || !e.FirstSeen.Equal(now) {
		t.Fatalf("merged = %+v, %v", e, err)
	}
	if err := db.UpsertBatch(ctx, []reputation.Entry{{Kind: "number", Value: "+4420", Source: "honeypot", Expires: now.Add(-time.Second), LastSeen: now}, {Kind: "ua", Value: "SIPcli", Source: "feed", LastSeen: now}}); err != nil {
		t.Fatal(err)
	}
	es, _ := db.List(ctx, reputation.Query{Now: now})
	if len(es) != 2 {
		t.Fatalf("unexpired = %+v, want the ip and the ua", es)
	}
	if _, err := db.Upsert(ctx, reputation.Entry{Kind: "ip", Value: "x"}); !errors.Is(err, reputation.ErrInvalid) {
		t.Fatalf("bad entry: %v", err)
	}
	if err := db.Remove(ctx, "ua", "sipcli"); err != nil {
		t.Fatal(err)
	}
	if err := db.Remove(ctx, "ua", "sipcli"); !errors.Is(err, reputation.ErrNotFound) {
		t.Fatalf("second remove: %v", err)
	}
	b, err := db.AddBan(ctx, reputation.Ban{IP: "192.0.2.9", Reason: "r", Source: "asterisk", Created: now, Expires: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	db.AddBan(ctx, reputation.Ban{IP: "192.0.2.9", Created: now.Add(-48 * time.Hour), Expires: now.Add(-24 * time.Hour)})
	if n, _ := db.BanCount(ctx, "192.0.2.9"); n != 2 {
		t.Fatalf("ban count = %d", n)
	}
	if bs, _ := db.Bans(ctx, now, false); len(bs) != 1 {
		t.Fatalf("active bans = %+v", bs)
	}
	if _, err := db.ReleaseBan(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	if bs, _ := db.Bans(ctx, now, false); len(bs) != 0 {
		t.Fatalf("after release = %+v", bs)
	}
	if _, err := db.AddBan(ctx, reputation.Ban{IP: "192.0.2.9", Created: now, Expires: now}); err == nil {
		t.Fatal("ban ending at its start accepted")
	}
	db.PutLockout(ctx, reputation.Lockout{Kind: "account", Subject: "100", Since: now, Until: now.Add(time.Minute)})
	if ls, _ := db.Lockouts(ctx, now); len(ls) != 1 {
		t.Fatalf("lockouts = %+v", ls)
	}
	if ls, _ := db.Lockouts(ctx, now.Add(2*time.Minute)); len(ls) != 0 {
		t.Fatalf("expired lockouts = %+v", ls)
	}
	db.Close()
	// Reopening keeps everything and does not re-run the migration.
	db, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Get(ctx, "ip", "192.0.2.1"); err != nil {
		t.Fatal(err)
	}
	if n, err := db.Purge(ctx, now, 0); err != nil || n != 2 {
		t.Fatalf("purge = %d, %v; want the expired number and the expired ban", n, err)
	}
}
