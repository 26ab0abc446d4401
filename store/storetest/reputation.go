package storetest

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/honeypot"
	"github.com/tollgate-voip/tollgate/reputation"
)

// ReputationDB is what a reputation database offers tollgate: the store,
// batched upserts, the honeypot's event sink, purge and close.
type ReputationDB interface {
	reputation.Store
	reputation.BatchUpserter
	reputation.Versioned
	honeypot.EventStore
	reputation.KnownGoodStore
	Purge(ctx context.Context, now time.Time, keepBans time.Duration) (int64, error)
	Close() error
}

// ReputationOpener makes one empty database for t and returns how to open
// a handle on it; each handle is what one node holds. Handles are closed
// by the test (or at its end by the opener's own cleanup).
type ReputationOpener func(t *testing.T) (open func() ReputationDB)

// RunReputation runs the reputation store conformance suite against a
// backend (store/sqlite.Reputation, store/postgres.Reputation): the same
// merges, canonical values, expiry, purge, ban counts, lockouts and
// honeypot events, and two handles on one database acting as two nodes.
func RunReputation(t *testing.T, fresh ReputationOpener) {
	run(t, fresh, []test[ReputationDB]{
		{"Basics", repBasics},
		{"MergeRules", repMergeRules},
		{"ListFilters", repListFilters},
		{"RoundTrip", repRoundTrip},
		{"Bans", repBans},
		{"Lockouts", repLockouts},
		{"TenantLockouts", repTenantLockouts},
		{"KnownGood", repKnownGood},
		{"KnownGoodTwoNodes", repKnownGoodTwoNodes},
		{"Events", repEvents},
		{"TwoNodes", repTwoNodes},
		{"Version", repVersion},
		{"RefresherTwoNodes", repRefresherTwoNodes},
		{"ConcurrentUpserts", repConcurrentUpserts},
		{"Learning", repLearning},
		{"ReleaseBanFreesLearned", repReleaseBanFreesLearned},
	})
}

var repCtx = context.Background()

// repBasics is the original SQLite store test: merge, batch, expiry, invalid
// input, removal, bans, lockouts, reopening and purge.
func repBasics(t *testing.T, open func() ReputationDB) {
	db := open()
	now := time.Now().UTC().Truncate(time.Second)
	if _, err := db.Upsert(repCtx, reputation.Entry{Kind: "ip", Value: "192.0.2.1", Source: "honeypot", Score: 50, LastSeen: now, Expires: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	e, err := db.Upsert(repCtx, reputation.Entry{Kind: "ip", Value: "::ffff:192.0.2.1", Source: "honeypot", Score: 80, Hits: 2, LastSeen: now.Add(time.Minute), Expires: now.Add(2 * time.Hour)})
	if err != nil || e.Hits != 3 || e.Score != 80 || !e.Expires.Equal(now.Add(2*time.Hour)) || !e.FirstSeen.Equal(now) || !e.LastSeen.Equal(now.Add(time.Minute)) {
		t.Fatalf("merged = %+v, %v", e, err)
	}
	if err := db.UpsertBatch(repCtx, []reputation.Entry{{Kind: "number", Value: "+4420", Source: "honeypot", Expires: now.Add(-time.Second), LastSeen: now}, {Kind: "ua", Value: "SIPcli", Source: "feed", LastSeen: now}}); err != nil {
		t.Fatal(err)
	}
	es, err := db.List(repCtx, reputation.Query{Now: now})
	if err != nil || len(es) != 2 || es[0].Value != "192.0.2.1" || es[1].Value != "sipcli" {
		t.Fatalf("unexpired = %+v, %v; want the ip, then the ua", es, err)
	}
	if es, _ := db.List(repCtx, reputation.Query{}); len(es) != 3 {
		t.Fatalf("all = %+v, want 3 with the expired number", es)
	}
	if _, err := db.Upsert(repCtx, reputation.Entry{Kind: "ip", Value: "x"}); !errors.Is(err, reputation.ErrInvalid) {
		t.Fatalf("bad entry: %v", err)
	}
	if err := db.UpsertBatch(repCtx, []reputation.Entry{{Kind: "ua", Value: "fine"}, {Kind: "number", Value: "abc"}}); !errors.Is(err, reputation.ErrInvalid) {
		t.Fatalf("bad batch: %v", err)
	}
	if _, err := db.Get(repCtx, "ua", "fine"); !errors.Is(err, reputation.ErrNotFound) {
		t.Fatalf("a rejected batch left %v", err)
	}
	if err := db.Remove(repCtx, "ua", "sipcli"); err != nil {
		t.Fatal(err)
	}
	if err := db.Remove(repCtx, "ua", "sipcli"); !errors.Is(err, reputation.ErrNotFound) {
		t.Fatalf("second remove: %v", err)
	}
	if _, err := db.Get(repCtx, "ua", "SIPcli"); !errors.Is(err, reputation.ErrNotFound) {
		t.Fatalf("removed entry: %v", err)
	}
	b, err := db.AddBan(repCtx, reputation.Ban{IP: "192.0.2.9", Reason: "r", Source: "asterisk", Created: now, Expires: now.Add(time.Hour)})
	if err != nil || b.ID == 0 {
		t.Fatalf("ban = %+v, %v", b, err)
	}
	if _, err := db.AddBan(repCtx, reputation.Ban{IP: "192.0.2.9", Created: now.Add(-48 * time.Hour), Expires: now.Add(-24 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if n, err := db.BanCount(repCtx, "192.0.2.9"); n != 2 || err != nil {
		t.Fatalf("ban count = %d, %v", n, err)
	}
	if bs, _ := db.Bans(repCtx, now, false); len(bs) != 1 || bs[0].ID != b.ID {
		t.Fatalf("active bans = %+v", bs)
	}
	if _, err := db.ReleaseBan(repCtx, b.ID); err != nil {
		t.Fatal(err)
	}
	if bs, _ := db.Bans(repCtx, now, false); len(bs) != 0 {
		t.Fatalf("after release = %+v", bs)
	}
	if _, err := db.AddBan(repCtx, reputation.Ban{IP: "192.0.2.9", Created: now, Expires: now}); !errors.Is(err, reputation.ErrInvalid) {
		t.Fatalf("ban ending at its start: %v", err)
	}
	if _, err := db.AddBan(repCtx, reputation.Ban{IP: "nope", Created: now, Expires: now.Add(time.Hour)}); !errors.Is(err, reputation.ErrInvalid) {
		t.Fatalf("ban of no address: %v", err)
	}
	if err := db.PutLockout(repCtx, reputation.Lockout{Kind: "account", Subject: "100", Since: now, Until: now.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if ls, _ := db.Lockouts(repCtx, now); len(ls) != 1 {
		t.Fatalf("lockouts = %+v", ls)
	}
	if ls, _ := db.Lockouts(repCtx, now.Add(2*time.Minute)); len(ls) != 0 {
		t.Fatalf("expired lockouts = %+v", ls)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	// Reopening keeps everything and does not re-run the migration.
	db = open()
	if e, err := db.Get(repCtx, "ip", "192.0.2.1"); err != nil || e.Hits != 3 {
		t.Fatalf("after reopening: %+v, %v", e, err)
	}
	if n, err := db.Purge(repCtx, now, 0); err != nil || n != 2 {
		t.Fatalf("purge = %d, %v; want the expired number and the expired ban", n, err)
	}
	if n, err := db.Purge(repCtx, now, 0); err != nil || n != 0 {
		t.Fatalf("second purge = %d, %v", n, err)
	}
	if es, _ := db.List(repCtx, reputation.Query{}); len(es) != 1 {
		t.Fatalf("after purge = %+v, want the ip", es)
	}
	// The ban ending in an hour is kept by a purge a day later that keeps
	// ended bans for two days, and goes with one that keeps them a minute.
	if n, _ := db.Purge(repCtx, now.Add(24*time.Hour), 48*time.Hour); n != 1 {
		t.Fatalf("purge a day later, keeping bans two days = %d, want the ip only", n)
	}
	if n, _ := db.Purge(repCtx, now.Add(24*time.Hour), time.Minute); n != 1 {
		t.Fatalf("purge a day later, keeping bans a minute = %d, want the ban", n)
	}
}

// repMergeRules checks Merge's rules as the store applies them.
func repMergeRules(t *testing.T, open func() ReputationDB) {
	db := open()
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	up := func(e reputation.Entry) reputation.Entry {
		t.Helper()
		out, err := db.Upsert(repCtx, e)
		if err != nil {
			t.Fatal(err)
		}
		got, err := db.Get(repCtx, e.Kind, e.Value)
		if err != nil || got != out {
			t.Fatalf("stored %+v, %v; Upsert returned %+v", got, err, out)
		}
		return out
	}
	// A manual entry that never expires: a honeypot sighting neither
	// downgrades its source nor gives it an expiry; the newer reason wins.
	up(reputation.Entry{Kind: "number", Value: "+44 (20) 7946-0000", Source: "manual", Reason: "fraud desk", Score: 90, LastSeen: now})
	e := up(reputation.Entry{Kind: "number", Value: "+442079460000", Source: "honeypot", Reason: "dialed", Score: 10, LastSeen: now.Add(-time.Hour), Expires: now.Add(time.Hour)})
	if e.Source != "manual" || e.Reason != "dialed" || e.Score != 90 || !e.Expires.IsZero() || e.Hits != 2 ||
		!e.FirstSeen.Equal(now.Add(-time.Hour)) || !e.LastSeen.Equal(now) {
		t.Fatalf("manual entry after a sighting = %+v", e)
	}
	// An automatic entry takes the newer source; an empty reason keeps the
	// old one; the later expiry wins, an earlier one does not shorten it.
	up(reputation.Entry{Kind: "range", Value: "88216", Source: "feed", Reason: "feed", Score: 40, LastSeen: now, Expires: now.Add(2 * time.Hour)})
	e = up(reputation.Entry{Kind: "range", Value: "+88216", Source: "detector", Score: 30, Hits: 5, LastSeen: now, Expires: now.Add(time.Hour)})
	if e.Source != "detector" || e.Reason != "feed" || e.Score != 40 || !e.Expires.Equal(now.Add(2*time.Hour)) || e.Hits != 6 {
		t.Fatalf("feed entry after a detector sighting = %+v", e)
	}
	// A never-expiring sighting makes the entry permanent.
	e = up(reputation.Entry{Kind: "range", Value: "+88216", Source: "detector", LastSeen: now})
	if !e.Expires.IsZero() {
		t.Fatalf("never-expiring sighting left expiry %v", e.Expires)
	}
	// Networks are stored masked; a User-Agent lower-cased and trimmed.
	if e := up(reputation.Entry{Kind: "ip", Value: "198.51.100.77/24", LastSeen: now}); e.Value != "198.51.100.0/24" {
		t.Fatalf("network stored as %q", e.Value)
	}
	if e := up(reputation.Entry{Kind: "UA", Value: "  Friendly-Scanner ", LastSeen: now}); e.Kind != "ua" || e.Value != "friendly-scanner" {
		t.Fatalf("user agent stored as %s %q", e.Kind, e.Value)
	}
	if _, err := db.Get(repCtx, "ua", "FRIENDLY-scanner"); err != nil {
		t.Fatalf("lookup by another spelling: %v", err)
	}
	// A batch with one entry twice merges both sightings.
	if err := db.UpsertBatch(repCtx, []reputation.Entry{
		{Kind: "ip", Value: "203.0.113.5", Source: "honeypot", Score: 20, LastSeen: now},
		{Kind: "ua", Value: "sipvicious", Source: "honeypot", LastSeen: now},
		{Kind: "ip", Value: "::ffff:203.0.113.5", Source: "honeypot", Score: 60, Hits: 2, LastSeen: now.Add(time.Second)},
	}); err != nil {
		t.Fatal(err)
	}
	if e, err := db.Get(repCtx, "ip", "203.0.113.5"); err != nil || e.Hits != 3 || e.Score != 60 || !e.LastSeen.Equal(now.Add(time.Second)) {
		t.Fatalf("batch with one address twice = %+v, %v", e, err)
	}
}

func repListFilters(t *testing.T, open func() ReputationDB) {
	db := open()
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	in := []reputation.Entry{
		{Kind: "ip", Value: "192.0.2.1", Source: "honeypot", LastSeen: now.Add(-3 * time.Minute)},
		{Kind: "ip", Value: "192.0.2.2", Source: "feed", LastSeen: now.Add(-time.Minute), Expires: now},
		{Kind: "number", Value: "+15550001", Source: "manual", LastSeen: now.Add(-2 * time.Minute)},
		{Kind: "ua", Value: "b-scanner", Source: "feed", LastSeen: now.Add(-2 * time.Minute), Expires: now.Add(time.Nanosecond)},
		{Kind: "ua", Value: "a-scanner", Source: "feed", LastSeen: now.Add(-2 * time.Minute)},
	}
	for _, e := range in {
		if _, err := db.Upsert(repCtx, e); err != nil {
			t.Fatal(err)
		}
	}
	values := func(q reputation.Query) []string {
		t.Helper()
		es, err := db.List(repCtx, q)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range es {
			out = append(out, e.Value)
		}
		return out
	}
	for _, c := range []struct {
		q    reputation.Query
		want []string
	}{
		// Newest first; ties by kind, then value.
		{reputation.Query{}, []string{"192.0.2.2", "+15550001", "a-scanner", "b-scanner", "192.0.2.1"}},
		// Expired at Now: an entry expiring exactly at Now is out, one a
		// nanosecond later is in.
		{reputation.Query{Now: now}, []string{"+15550001", "a-scanner", "b-scanner", "192.0.2.1"}},
		{reputation.Query{Kind: "ip"}, []string{"192.0.2.2", "192.0.2.1"}},
		{reputation.Query{Source: "feed"}, []string{"192.0.2.2", "a-scanner", "b-scanner"}},
		{reputation.Query{Source: "feed", Kind: "ua", Now: now.Add(time.Nanosecond)}, []string{"a-scanner"}},
		{reputation.Query{Limit: 2}, []string{"192.0.2.2", "+15550001"}},
		{reputation.Query{Kind: "ip\x00"}, nil},
		{reputation.Query{Source: "\xfe"}, nil},
	} {
		if got := values(c.q); !slices.Equal(got, c.want) {
			t.Errorf("List(%+v) = %q, want %q", c.q, got, c.want)
		}
	}
}

// repRoundTrip checks that what goes in comes out: times to the nanosecond
// and text whatever its bytes.
func repRoundTrip(t *testing.T, open func() ReputationDB) {
	db := open()
	first := time.Date(2026, 12, 1, 10, 0, 0, 123456789, time.FixedZone("X", 3600))
	odd := "nul\x00 bad utf-8 \xff\xfe, ünïcödé"
	e, err := db.Upsert(repCtx, reputation.Entry{Kind: "ua", Value: "Scanner/1.0 ñ", Source: "honeypot", Reason: odd, Score: 77, Hits: 9,
		FirstSeen: first, LastSeen: first.Add(time.Nanosecond), Expires: first.Add(time.Hour + time.Nanosecond)})
	if err != nil {
		t.Fatal(err)
	}
	got, err := db.Get(repCtx, "ua", "scanner/1.0 Ñ")
	want := reputation.Entry{Kind: "ua", Value: "scanner/1.0 ñ", Source: "honeypot", Reason: odd, Score: 77, Hits: 9,
		FirstSeen: first.UTC(), LastSeen: first.Add(time.Nanosecond).UTC(), Expires: first.Add(time.Hour + time.Nanosecond).UTC(),
		Status: reputation.StatusConfirmed}
	if err != nil || got != want || e != want {
		t.Fatalf("stored %+v, %v;\nreturned %+v;\nwant %+v", got, err, e, want)
	}
	b, err := db.AddBan(repCtx, reputation.Ban{IP: "2001:db8::1/64", Reason: odd, Source: "manual\x00", Created: first, Expires: first.Add(time.Nanosecond), Level: 3})
	if err != nil {
		t.Fatal(err)
	}
	bs, err := db.Bans(repCtx, time.Time{}, true)
	wantBan := reputation.Ban{ID: b.ID, IP: "2001:db8::/64", Reason: odd, Source: "manual\x00", Created: first.UTC(), Expires: first.Add(time.Nanosecond).UTC(), Level: 3}
	if err != nil || len(bs) != 1 || bs[0] != wantBan || b != wantBan {
		t.Fatalf("bans = %+v, %v; AddBan returned %+v; want %+v", bs, err, b, wantBan)
	}
	if bs, _ := db.Bans(repCtx, first, false); len(bs) != 1 {
		t.Fatalf("a ban a nanosecond from its end is not active: %+v", bs)
	}
	if bs, _ := db.Bans(repCtx, first.Add(time.Nanosecond), false); len(bs) != 0 {
		t.Fatalf("a ban at its end is still active: %+v", bs)
	}
	l := reputation.Lockout{Kind: "voicemail", Subject: "box\xff\x00", Reason: odd, Failures: 7, Since: first.UTC(), Until: first.Add(time.Minute).UTC()}
	if err := db.PutLockout(repCtx, l); err != nil {
		t.Fatal(err)
	}
	if ls, err := db.Lockouts(repCtx, first); err != nil || len(ls) != 1 || !reflect.DeepEqual(ls[0], l) {
		t.Fatalf("lockouts = %+v, %v; want %+v", ls, err, l)
	}
	if err := db.ReleaseLockout(repCtx, "voicemail", "", "box\xff\x00"); err != nil {
		t.Fatal(err)
	}
}

func repBans(t *testing.T, open func() ReputationDB) {
	db := open()
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	var ids []int64
	for i, ip := range []string{"192.0.2.7", "::ffff:192.0.2.7", "192.0.2.8", "192.0.2.7/32"} {
		b, err := db.AddBan(repCtx, reputation.Ban{IP: ip, Source: "kamailio", Reason: fmt.Sprint("ban ", i), Created: now.Add(time.Duration(i) * time.Second),
			Expires: now.Add(time.Hour), Level: i})
		if err != nil {
			t.Fatal(err)
		}
		if i > 0 && b.ID <= ids[len(ids)-1] {
			t.Fatalf("ban ids not increasing: %d after %v", b.ID, ids)
		}
		ids = append(ids, b.ID)
	}
	// Counts for escalation take every spelling of the address.
	for ip, want := range map[string]int{"192.0.2.7": 3, "::ffff:192.0.2.7": 3, "192.0.2.8": 1, "192.0.2.9": 0} {
		if n, err := db.BanCount(repCtx, ip); err != nil || n != want {
			t.Errorf("BanCount(%s) = %d, %v; want %d", ip, n, err, want)
		}
	}
	if _, err := db.BanCount(repCtx, "nope"); !errors.Is(err, reputation.ErrInvalid) {
		t.Errorf("BanCount(nope): %v", err)
	}
	r, err := db.ReleaseBan(repCtx, ids[1])
	if err != nil || !r.Released || r.ID != ids[1] || r.IP != "192.0.2.7" || r.Reason != "ban 1" || r.Level != 1 {
		t.Fatalf("released = %+v, %v", r, err)
	}
	if _, err := db.ReleaseBan(repCtx, ids[3]+1000); !errors.Is(err, reputation.ErrNotFound) {
		t.Fatalf("release of an unknown ban: %v", err)
	}
	active, _ := db.Bans(repCtx, now, false)
	all, _ := db.Bans(repCtx, now.Add(2*time.Hour), true)
	expired, _ := db.Bans(repCtx, now.Add(2*time.Hour), false)
	idsOf := func(bs []reputation.Ban) []int64 {
		var out []int64
		for _, b := range bs {
			out = append(out, b.ID)
		}
		return out
	}
	if got, want := idsOf(active), []int64{ids[3], ids[2], ids[0]}; !slices.Equal(got, want) {
		t.Errorf("active = %v, want %v (newest first, released left out)", got, want)
	}
	if got, want := idsOf(all), []int64{ids[3], ids[2], ids[1], ids[0]}; !slices.Equal(got, want) || !all[2].Released || all[0].Released {
		t.Errorf("all = %+v, want ids %v with the released one marked", all, want)
	}
	if len(expired) != 0 {
		t.Errorf("active after expiry = %+v", expired)
	}
	// A released ban still counts for escalation.
	if n, _ := db.BanCount(repCtx, "192.0.2.7"); n != 3 {
		t.Errorf("count after release = %d", n)
	}
}

func repLockouts(t *testing.T, open func() ReputationDB) {
	db := open()
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	put := func(l reputation.Lockout) {
		t.Helper()
		if err := db.PutLockout(repCtx, l); err != nil {
			t.Fatal(err)
		}
	}
	put(reputation.Lockout{Kind: "account", Subject: "100", Reason: "r1", Failures: 5, Since: now, Until: now.Add(time.Minute)})
	put(reputation.Lockout{Kind: "voicemail", Subject: "100", Failures: 3, Since: now.Add(time.Second), Until: now.Add(time.Hour)})
	// Locking one subject again replaces its lockout.
	put(reputation.Lockout{Kind: "account", Subject: "100", Reason: "r2", Failures: 9, Since: now.Add(2 * time.Second), Until: now.Add(2 * time.Minute)})
	ls, err := db.Lockouts(repCtx, now)
	if err != nil || len(ls) != 2 || ls[0].Kind != "account" || ls[0].Failures != 9 || ls[0].Reason != "r2" || !ls[0].Until.Equal(now.Add(2*time.Minute)) || ls[1].Kind != "voicemail" {
		t.Fatalf("lockouts = %+v, %v; want the replaced account lockout first", ls, err)
	}
	if ls, _ := db.Lockouts(repCtx, now.Add(2*time.Minute)); len(ls) != 1 || ls[0].Kind != "voicemail" {
		t.Fatalf("lockouts at the account's end = %+v", ls)
	}
	if err := db.ReleaseLockout(repCtx, "account", "", "100"); err != nil {
		t.Fatal(err)
	}
	if err := db.ReleaseLockout(repCtx, "account", "", "100"); !errors.Is(err, reputation.ErrNotFound) {
		t.Fatalf("second release: %v", err)
	}
	if err := db.ReleaseLockout(repCtx, "account\xff\x00", "", "100"); !errors.Is(err, reputation.ErrNotFound) {
		t.Fatalf("release of an odd kind: %v", err)
	}
	if ls, _ := db.Lockouts(repCtx, now); len(ls) != 1 || ls[0].Kind != "voicemail" {
		t.Fatalf("after release = %+v", ls)
	}
	// The sources a lockout allows come back canonical, sorted and once
	// each; a bad one is refused with nothing stored.
	put(reputation.Lockout{Kind: "account", Subject: "300", Failures: 5, Since: now, Until: now.Add(time.Hour),
		Allowed: []string{"198.51.100.7", "2001:db8:1:2::9/64", "::ffff:198.51.100.7"}})
	ls, err = db.Lockouts(repCtx, now)
	want := []string{"198.51.100.7", "2001:db8:1:2::/64"}
	i := slices.IndexFunc(ls, func(l reputation.Lockout) bool { return l.Subject == "300" })
	if err != nil || len(ls) != 2 || i < 0 || !reflect.DeepEqual(ls[i].Allowed, want) || ls[1-i].Allowed != nil {
		t.Fatalf("lockouts = %+v, %v; want 300 allowing %v beside the voicemail lockout allowing none", ls, err, want)
	}
	if err := db.PutLockout(repCtx, reputation.Lockout{Kind: "account", Subject: "301", Failures: 5, Since: now, Until: now.Add(time.Hour),
		Allowed: []string{"not-an-address"}}); !errors.Is(err, reputation.ErrInvalid) {
		t.Fatalf("lockout allowing a bad source: %v; want ErrInvalid", err)
	}
}

func repEvents(t *testing.T, open func() ReputationDB) {
	db := open()
	now := time.Date(2026, 12, 1, 10, 0, 0, 987654321, time.UTC)
	msg := []byte("INVITE sip:0044@x SIP/2.0\r\n\x00\xff\r\n")
	var evs []honeypot.Event
	for i := range 30 {
		ip := "192.0.2.1"
		if i%3 == 0 {
			ip = "2001:db8::9"
		}
		kind := "register"
		if i%2 == 0 {
			kind = "invite"
		}
		evs = append(evs, honeypot.Event{Time: now.Add(time.Duration(i) * time.Second), Kind: kind, SourceIP: ip, SourcePort: 5060 + i, Transport: "udp",
			Method: "INVITE", UserAgent: "friendly-scanner\xff", From: "<sip:100@x>", To: "<sip:0044@x>", RequestURI: "sip:0044@x",
			CallID: fmt.Sprint("call-", i), Dialed: "0044", E164: "+44", Username: "100\x00", Password: "1234", Digits: "12#", Detail: "d", Message: msg})
	}
	evs[5].Message = nil
	if err := db.AppendEvents(repCtx, evs[:20]); err != nil {
		t.Fatal(err)
	}
	if err := db.AppendEvents(repCtx, evs[20:]); err != nil {
		t.Fatal(err)
	}
	if err := db.AppendEvents(repCtx, nil); err != nil {
		t.Fatal(err)
	}
	all, err := db.Events(repCtx, honeypot.EventQuery{})
	if err != nil || len(all) != 30 {
		t.Fatalf("events = %d, %v", len(all), err)
	}
	// Newest first, everything as recorded.
	for i, e := range all {
		w := evs[29-i]
		w.ID = e.ID
		if i > 0 && e.ID >= all[i-1].ID {
			t.Fatalf("event %d id %d not below %d", i, e.ID, all[i-1].ID)
		}
		if fmt.Sprintf("%+v", e) != fmt.Sprintf("%+v", w) || (e.Message == nil) != (w.Message == nil) {
			t.Fatalf("event %d = %+v\nwant %+v", i, e, w)
		}
	}
	count := func(q honeypot.EventQuery) int {
		t.Helper()
		es, err := db.Events(repCtx, q)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			if q.SourceIP != "" && e.SourceIP != q.SourceIP || q.Kind != "" && e.Kind != q.Kind || e.Time.Before(q.Since) {
				t.Fatalf("Events(%+v) returned %+v", q, e)
			}
		}
		return len(es)
	}
	for _, c := range []struct {
		q    honeypot.EventQuery
		want int
	}{
		{honeypot.EventQuery{SourceIP: "2001:db8::9"}, 10},
		{honeypot.EventQuery{Kind: "invite"}, 15},
		{honeypot.EventQuery{SourceIP: "192.0.2.1", Kind: "register"}, 10},
		{honeypot.EventQuery{Since: now.Add(25 * time.Second)}, 5},
		{honeypot.EventQuery{Since: now.Add(25*time.Second + time.Nanosecond)}, 4},
		{honeypot.EventQuery{Limit: 7}, 7},
		{honeypot.EventQuery{Limit: 20000}, 30},
		// Filters no stored value can match (as an API query string may
		// carry) find nothing; they are not errors.
		{honeypot.EventQuery{SourceIP: "\xff"}, 0},
		{honeypot.EventQuery{Kind: "invite\x00"}, 0},
	} {
		if got := count(c.q); got != c.want {
			t.Errorf("Events(%+v) = %d events, want %d", c.q, got, c.want)
		}
	}
}

// repTwoNodes opens two handles on one database, as two tollgate nodes do,
// and checks each sees what the other writes, through the same refresh
// the server runs every second.
func repTwoNodes(t *testing.T, open func() ReputationDB) {
	a, b := open(), open()
	now := time.Now()
	liveA, liveB := reputation.NewLive(reputation.Policy{}), reputation.NewLive(reputation.Policy{})
	refresh := func() {
		t.Helper()
		if err := reputation.Refresh(repCtx, a, liveA, now); err != nil {
			t.Fatal(err)
		}
		if err := reputation.Refresh(repCtx, b, liveB, now); err != nil {
			t.Fatal(err)
		}
	}
	ip := netip.MustParseAddr("198.51.100.23")
	refresh()
	if liveB.Load().Banned(ip, now) != nil {
		t.Fatal("banned before any ban")
	}
	ban, err := a.AddBan(repCtx, reputation.Ban{IP: ip.String(), Source: "manual", Reason: "node a", Created: now, Expires: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	refresh()
	if got := liveB.Load().Banned(ip, now); got == nil || got.ID != ban.ID || got.Reason != "node a" {
		t.Fatalf("node b's ban on %s = %+v, want node a's %+v", ip, got, ban)
	}
	if n, _ := b.BanCount(repCtx, ip.String()); n != 1 {
		t.Fatalf("node b counts %d bans", n)
	}
	if _, err := b.ReleaseBan(repCtx, ban.ID); err != nil {
		t.Fatal(err)
	}
	refresh()
	if got := liveA.Load().Banned(ip, now); got != nil {
		t.Fatalf("node a still bans %s after node b released it: %+v", ip, got)
	}
	if _, err := a.Upsert(repCtx, reputation.Entry{Kind: "number", Value: "+882161234", Source: "manual", Score: 100}); err != nil {
		t.Fatal(err)
	}
	refresh()
	if got := liveB.Load().Number("882161234", now); got == nil || got.Source != "manual" {
		t.Fatalf("node b's entry for +882161234 = %+v", got)
	}
	if err := b.Remove(repCtx, "number", "+882161234"); err != nil {
		t.Fatal(err)
	}
	refresh()
	if got := liveA.Load().Number("882161234", now); got != nil {
		t.Fatalf("node a still lists +882161234 after node b removed it: %+v", got)
	}
	if err := a.PutLockout(repCtx, reputation.Lockout{Kind: "account", Subject: "200", Failures: 5, Since: now, Until: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if ls, _ := b.Lockouts(repCtx, now); len(ls) != 1 || ls[0].Subject != "200" {
		t.Fatalf("node b's lockouts = %+v", ls)
	}
	if err := b.ReleaseLockout(repCtx, "account", "", "200"); err != nil {
		t.Fatal(err)
	}
	if ls, _ := a.Lockouts(repCtx, now); len(ls) != 0 {
		t.Fatalf("node a's lockouts after node b's release = %+v", ls)
	}
	if err := a.AppendEvents(repCtx, []honeypot.Event{{Time: now, Kind: "options", SourceIP: "198.51.100.23", SourcePort: 1, Transport: "udp"}}); err != nil {
		t.Fatal(err)
	}
	if es, _ := b.Events(repCtx, honeypot.EventQuery{SourceIP: "198.51.100.23"}); len(es) != 1 {
		t.Fatalf("node b's events = %+v", es)
	}
}

// repConcurrentUpserts has two nodes fold sightings of the same entries at
// once, singly and in overlapping batches listed in opposite orders:
// every hit must count, and the score, times and expiry must be the
// largest of all.
func repConcurrentUpserts(t *testing.T, open func() ReputationDB) {
	nodes := []ReputationDB{open(), open()}
	const workers, rounds = 4, 15
	base := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	values := []string{"+1555000", "+1555001", "+1555002", "+1555003"}
	var wg sync.WaitGroup
	errs := make(chan error, 2*workers*rounds)
	for n, db := range nodes {
		for w := range workers {
			wg.Go(func() {
				for r := range rounds {
					k := (n*workers+w)*rounds + r // unique per sighting
					seen := base.Add(time.Duration(k) * time.Second)
					e := reputation.Entry{Kind: "ip", Value: "192.0.2.200", Source: "honeypot", Score: k % 101, Hits: 1, LastSeen: seen, Expires: seen.Add(time.Hour)}
					if _, err := db.Upsert(repCtx, e); err != nil {
						errs <- err
						return
					}
					batch := make([]reputation.Entry, len(values))
					for i, v := range values {
						batch[i] = reputation.Entry{Kind: "number", Value: v, Source: "honeypot", Hits: 2, Score: k % 101, LastSeen: seen}
					}
					if (n+w+r)%2 == 1 {
						slices.Reverse(batch)
					}
					if err := db.UpsertBatch(repCtx, batch); err != nil {
						errs <- err
						return
					}
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	total := int64(len(nodes) * workers * rounds)
	last := base.Add(time.Duration(total-1) * time.Second)
	maxScore := 0
	for k := range int(total) {
		maxScore = max(maxScore, k%101)
	}
	check := func(db ReputationDB) {
		t.Helper()
		e, err := db.Get(repCtx, "ip", "192.0.2.200")
		if err != nil || e.Hits != total || e.Score != maxScore || !e.FirstSeen.Equal(base) || !e.LastSeen.Equal(last) || !e.Expires.Equal(last.Add(time.Hour)) {
			t.Fatalf("after %d concurrent sightings: %+v, %v; want hits %d, score %d, seen %v to %v", total, e, err, total, maxScore, base, last)
		}
		for _, v := range values {
			e, err := db.Get(repCtx, "number", v)
			if err != nil || e.Hits != 2*total || e.Score != maxScore || !e.FirstSeen.Equal(base) || !e.LastSeen.Equal(last) {
				t.Fatalf("%s after %d concurrent batches: %+v, %v; want hits %d", v, total, e, err, 2*total)
			}
		}
	}
	check(nodes[0])
	check(nodes[1])
}

// repVersion checks the change version: every write that changes entries,
// repBans or lockouts moves it (as seen from a second handle, another
// node), and a refused write, a no-op and honeypot events do not.
func repVersion(t *testing.T, open func() ReputationDB) {
	a, b := open(), open()
	now := time.Now().UTC().Truncate(time.Second)
	cur := func(db ReputationDB) int64 {
		t.Helper()
		v, err := db.Version(repCtx)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	last := cur(a)
	if vb := cur(b); vb != last {
		t.Fatalf("two handles read versions %d and %d", last, vb)
	}
	moved := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		va, vb := cur(a), cur(b)
		if va <= last || vb != va {
			t.Fatalf("%s: version %d (handle a) / %d (handle b), want both above %d", what, va, vb, last)
		}
		last = va
	}
	stayed := func(what string, err error) {
		t.Helper()
		if va, vb := cur(a), cur(b); va != last || vb != last {
			t.Fatalf("%s (err %v): version moved from %d to %d / %d", what, err, last, va, vb)
		}
	}

	_, err := a.Upsert(repCtx, reputation.Entry{Kind: "ip", Value: "192.0.2.1", Source: "manual", Score: 90})
	moved("upsert (new)", err)
	_, err = b.Upsert(repCtx, reputation.Entry{Kind: "ip", Value: "192.0.2.1", Source: "honeypot", Hits: 1})
	moved("upsert (merge) on handle b", err)
	moved("batch upsert", a.UpsertBatch(repCtx, []reputation.Entry{{Kind: "number", Value: "+4420", Source: "honeypot"},
		{Kind: "ua", Value: "sipvicious", Source: "feed", Expires: now.Add(-time.Hour), LastSeen: now.Add(-2 * time.Hour)}}))
	moved("remove", a.Remove(repCtx, "number", "+4420"))
	ban, err := a.AddBan(repCtx, reputation.Ban{IP: "198.51.100.9", Source: "manual", Created: now, Expires: now.Add(time.Hour)})
	moved("add ban", err)
	_, err = b.ReleaseBan(repCtx, ban.ID)
	moved("release ban on handle b", err)
	moved("put lockout", a.PutLockout(repCtx, reputation.Lockout{Kind: "account", Subject: "100", Failures: 5, Since: now, Until: now.Add(time.Hour)}))
	moved("release lockout", a.ReleaseLockout(repCtx, "account", "", "100"))
	n, err := a.Purge(repCtx, now, 90*24*time.Hour) // the expired ua goes
	if n != 1 {
		t.Fatalf("purge removed %d rows, want the expired ua", n)
	}
	moved("purge", err)

	_, err = a.Upsert(repCtx, reputation.Entry{Kind: "ip", Value: "not an address"})
	stayed("invalid upsert", err)
	stayed("batch with an invalid entry", a.UpsertBatch(repCtx, []reputation.Entry{{Kind: "number", Value: "+4421", Source: "honeypot"}, {Kind: "ip", Value: "x"}}))
	if _, err := a.Get(repCtx, "number", "+4421"); !errors.Is(err, reputation.ErrNotFound) {
		t.Fatalf("refused batch left its valid entry: %v", err)
	}
	stayed("empty batch", a.UpsertBatch(repCtx, nil))
	stayed("remove of an unknown entry", a.Remove(repCtx, "number", "+4499"))
	_, err = a.AddBan(repCtx, reputation.Ban{IP: "bogus", Created: now, Expires: now.Add(time.Hour)})
	stayed("invalid ban", err)
	_, err = a.AddBan(repCtx, reputation.Ban{IP: "198.51.100.10", Created: now, Expires: now})
	stayed("ban ending at its start", err)
	_, err = b.ReleaseBan(repCtx, ban.ID+1000)
	stayed("release of an unknown ban", err)
	stayed("release of an unknown lockout", a.ReleaseLockout(repCtx, "account", "", "999"))
	n, err = a.Purge(repCtx, now, 90*24*time.Hour)
	if n != 0 {
		t.Fatalf("second purge removed %d rows", n)
	}
	stayed("purge with nothing to purge", err)
	stayed("honeypot events", a.AppendEvents(repCtx, []honeypot.Event{{Time: now, Kind: "register", SourceIP: "192.0.2.7", SourcePort: 5060, Transport: "udp"}}))
}

// repCountingStore counts the lists a Refresher makes.
type repCountingStore struct {
	ReputationDB
	lists atomic.Int64
}

func (c *repCountingStore) List(ctx context.Context, q reputation.Query) ([]reputation.Entry, error) {
	c.lists.Add(1)
	return c.ReputationDB.List(ctx, q)
}

// repRefresherTwoNodes runs a Refresher on handle b while handle a writes:
// b re-lists only when a changed something (or the full-refresh interval
// passed), and then sees the change.
func repRefresherTwoNodes(t *testing.T, open func() ReputationDB) {
	a := open()
	b := &repCountingStore{ReputationDB: open()}
	live := reputation.NewLive(reputation.Policy{})
	r := &reputation.Refresher{Store: b, Live: live, Full: time.Minute}
	now := time.Now()
	step := func(at time.Time, wantRead bool) {
		t.Helper()
		before := b.lists.Load()
		read, err := r.Refresh(repCtx, at)
		if err != nil {
			t.Fatal(err)
		}
		if read != wantRead || (b.lists.Load() > before) != wantRead {
			t.Fatalf("refresh at +%v: read %v (%d lists), want %v", at.Sub(now), read, b.lists.Load()-before, wantRead)
		}
	}
	step(now, true) // the first call reads
	for i := range 5 {
		step(now.Add(time.Duration(i)*time.Second), false)
	}
	ip := netip.MustParseAddr("203.0.113.77")
	if _, err := a.AddBan(repCtx, reputation.Ban{IP: ip.String(), Source: "manual", Created: now, Expires: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	step(now.Add(6*time.Second), true)
	if live.Load().Banned(ip, now.Add(6*time.Second)) == nil {
		t.Fatal("handle b's snapshot misses the ban handle a set")
	}
	step(now.Add(7*time.Second), false)
	// A refused write on a moves nothing.
	if err := a.Remove(repCtx, "number", "+4499"); !errors.Is(err, reputation.ErrNotFound) {
		t.Fatalf("remove of an unknown entry: %v", err)
	}
	step(now.Add(8*time.Second), false)
	// The ban's expiry needs no re-read: lookups compare it.
	if live.Load().Banned(ip, now.Add(time.Hour)) != nil {
		t.Fatal("an expired ban is still in force in the snapshot")
	}
	// The safety net: a full read once Full has passed since the last.
	step(now.Add(6*time.Second+time.Minute), true)
	step(now.Add(7*time.Second+time.Minute), false)
	// Reload reads whatever the version says.
	before := b.lists.Load()
	if err := r.Reload(repCtx, now.Add(8*time.Second+time.Minute)); err != nil || b.lists.Load() != before+1 {
		t.Fatalf("reload: %v, %d lists", err, b.lists.Load()-before)
	}
	if checks, reads := r.Stats(); reads != 4 || checks < 10 {
		t.Fatalf("stats: %d checks, %d reads; want 4 reads", checks, reads)
	}
}

// repSighting is one honeypot sighting of number from addr at t, proven
// (the source completed a call) or not, under the rule need.
func repSighting(number, addr string, t time.Time, proven bool, need reputation.Need) reputation.Entry {
	a := netip.MustParseAddr(addr)
	s := reputation.Sighting{Network: reputation.NetworkOf(a).String(), Addr: a.String(), First: t, Last: t, Hits: 1}
	if proven {
		s.Proven = t
	}
	return reputation.Entry{Kind: "number", Value: number, Source: "honeypot", Reason: "dialed at the honeypot", Score: 90,
		FirstSeen: t, LastSeen: t, Expires: t.Add(24 * time.Hour), Status: reputation.StatusSuspected,
		Evidence: &reputation.Evidence{Sightings: []reputation.Sighting{s}, Need: need}}
}

// repLearning has two nodes fold honeypot sightings of a number: unproven
// sightings from many networks and proven ones from one network, or
// from enough networks too close together in time, leave it suspected;
// proven sightings from enough networks spread over the rule's span
// confirm it, with the evidence kept and explained. A confirmed entry is
// not downgraded by later suspected sightings.
func repLearning(t *testing.T, open func() ReputationDB) {
	a, b := open(), open()
	t0 := time.Date(2026, 12, 7, 4, 0, 0, 0, time.UTC)
	need := reputation.Need{Networks: 3, SpanS: 600}
	const num = "+19005550142"
	must := func(db ReputationDB, e reputation.Entry) reputation.Entry {
		t.Helper()
		got, err := db.Upsert(repCtx, e)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	// Unproven sightings from 40 networks: any source can be forged.
	for i := range 40 {
		must([]ReputationDB{a, b}[i%2], repSighting(num, fmt.Sprintf("203.0.%d.7", i), t0.Add(time.Duration(i)*time.Minute), false, need))
	}
	e, err := b.Get(repCtx, "number", num)
	if err != nil || e.Status != reputation.StatusSuspected || e.Evidence == nil {
		t.Fatalf("after 40 unproven networks: %+v, %v; want suspected with evidence", e, err)
	}
	if len(e.Evidence.Sightings) != reputation.MaxSightings || e.Evidence.MoreNetworks != 40-reputation.MaxSightings || e.Hits != 40 {
		t.Fatalf("evidence keeps %d sightings and counts %d more, hits %d; want %d and %d, 40",
			len(e.Evidence.Sightings), e.Evidence.MoreNetworks, e.Hits, reputation.MaxSightings, 40-reputation.MaxSightings)
	}
	// Proven sightings from three addresses of one /24: one network.
	for i := range 3 {
		e = must(a, repSighting(num, fmt.Sprintf("198.51.100.%d", 10+i), t0.Add(time.Duration(i)*10*time.Minute), true, need))
	}
	if e.Status != reputation.StatusSuspected {
		t.Fatalf("three addresses of one /24: %s, want suspected", e.Status)
	}
	// Two more networks, proven within a minute of the first proof: the
	// count is met, the span is not.
	e = must(b, repSighting(num, "192.0.2.1", t0.Add(30*time.Second), true, need))
	e = must(a, repSighting(num, "2001:db8:1::5", t0.Add(50*time.Second), true, need))
	if e.Status != reputation.StatusSuspected {
		t.Fatalf("three networks within a minute: %s, want suspected", e.Status)
	}
	if n, _, _ := e.Evidence.Proven(); n != 3 {
		t.Fatalf("proven networks = %d, want 3 (198.51.100.0/24, 192.0.2.0/24, 2001:db8:1::/48)", n)
	}
	if es, _ := a.List(repCtx, reputation.Query{Status: reputation.StatusConfirmed, Kind: "number"}); len(es) != 0 {
		t.Fatalf("confirmed numbers = %+v, want none", es)
	}
	// A fourth network eleven minutes later spreads the proofs enough.
	e = must(b, repSighting(num, "2001:db8:2::9", t0.Add(11*time.Minute), true, need))
	if e.Status != reputation.StatusConfirmed || !e.Evidence.Confirmed.Equal(t0.Add(11*time.Minute)) || e.Evidence.Why == "" {
		t.Fatalf("after a proof 11 minutes on: %+v %+v, want confirmed at that time, explained", e, e.Evidence)
	}
	got, err := a.Get(repCtx, "number", num)
	if err != nil || got.Status != reputation.StatusConfirmed || got.Evidence.Why != e.Evidence.Why || len(got.Evidence.Sightings) != reputation.MaxSightings {
		t.Fatalf("node a reads %+v, %v", got, err)
	}
	if n, first, last := got.Evidence.Proven(); n != 4 || !first.Equal(t0) || !last.Equal(t0.Add(11*time.Minute)) {
		t.Fatalf("stored proofs: %d networks %s..%s", n, first, last)
	}
	if es, _ := a.List(repCtx, reputation.Query{Status: reputation.StatusConfirmed, Kind: "number"}); len(es) != 1 || es[0].Value != num {
		t.Fatalf("confirmed numbers = %+v, want %s", es, num)
	}
	// Suspected sightings do not downgrade it, nor a manual entry.
	e = must(a, repSighting(num, "203.0.113.1", t0.Add(time.Hour), false, need))
	if e.Status != reputation.StatusConfirmed {
		t.Fatalf("a later suspected sighting made it %s", e.Status)
	}
	must(a, reputation.Entry{Kind: "number", Value: "+12125550199", Source: "manual", Reason: "operator", Score: 100})
	e = must(b, repSighting("+12125550199", "203.0.113.1", t0, false, need))
	if e.Status != reputation.StatusConfirmed || e.Source != "manual" || e.Reason != "operator" || e.Evidence == nil {
		t.Fatalf("manual entry after a suspected sighting: %+v", e)
	}
	// Invalid evidence is refused and writes nothing.
	bad := repSighting("+12125550100", "203.0.113.1", t0, false, need)
	bad.Evidence.Sightings[0].Network = "not a network"
	if _, err := a.Upsert(repCtx, bad); !errors.Is(err, reputation.ErrInvalid) {
		t.Fatalf("bad evidence: %v", err)
	}
	bad = repSighting("+12125550100", "203.0.113.1", t0, false, need)
	bad.Status = "trusted"
	if _, err := a.Upsert(repCtx, bad); !errors.Is(err, reputation.ErrInvalid) {
		t.Fatalf("bad status: %v", err)
	}
	if _, err := a.Get(repCtx, "number", "+12125550100"); !errors.Is(err, reputation.ErrNotFound) {
		t.Fatalf("refused entries left %v", err)
	}
	// Both stores keep an entry without evidence as confirmed.
	if e := must(b, reputation.Entry{Kind: "ua", Value: "sipcli", Source: "feed"}); e.Status != reputation.StatusConfirmed || e.Evidence != nil {
		t.Fatalf("feed entry: %+v", e)
	}
}

// repReleaseBanFreesLearned releases bans: the learned IP entry for the
// banned address goes with it (named in Freed), an operator's entry for
// the same address stays, and another address's entry is untouched.
func repReleaseBanFreesLearned(t *testing.T, open func() ReputationDB) {
	a, b := open(), open()
	now := time.Now().UTC()
	for _, e := range []reputation.Entry{
		{Kind: "ip", Value: "198.51.100.5", Source: "honeypot", Score: 90},
		{Kind: "ip", Value: "198.51.100.6", Source: "honeypot", Score: 90},
		{Kind: "ip", Value: "198.51.100.7", Source: "manual", Score: 100},
	} {
		if _, err := a.Upsert(repCtx, e); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		ip, freed string
		left      bool
	}{{"198.51.100.5", "ip/198.51.100.5", false}, {"198.51.100.7", "", true}, {"198.51.100.8", "", false}} {
		ban, err := a.AddBan(repCtx, reputation.Ban{IP: c.ip, Source: "honeypot", Reason: "scan", Created: now, Expires: now.Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		got, err := b.ReleaseBan(repCtx, ban.ID)
		if err != nil || !got.Released || got.Freed != c.freed {
			t.Fatalf("release of the ban on %s = %+v, %v; want freed %q", c.ip, got, err, c.freed)
		}
		_, err = a.Get(repCtx, "ip", c.ip)
		if left := err == nil; left != c.left {
			t.Fatalf("%s: entry left %v after the release, want %v (%v)", c.ip, left, c.left, err)
		}
	}
	if _, err := a.Get(repCtx, "ip", "198.51.100.6"); err != nil {
		t.Fatalf("another address's entry went: %v", err)
	}
}

// repTenantLockouts: one username locked in tenant a, in tenant b and
// with no tenant are three lockouts; releasing one leaves the others.
func repTenantLockouts(t *testing.T, open func() ReputationDB) {
	db := open()
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	for _, tn := range []string{"a", "b", ""} {
		l := reputation.Lockout{Kind: "account", Tenant: tn, Subject: "1001", Reason: "r " + tn, Failures: 5, Since: now, Until: now.Add(time.Hour), Allowed: []string{"192.0.2.1"}}
		if err := db.PutLockout(repCtx, l); err != nil {
			t.Fatal(err)
		}
	}
	ls, err := db.Lockouts(repCtx, now)
	if err != nil || len(ls) != 3 {
		t.Fatalf("lockouts = %+v, %v; want three (tenants a, b and none)", ls, err)
	}
	got := map[string]string{}
	for _, l := range ls {
		got[l.Tenant] = l.Reason
	}
	if got["a"] != "r a" || got["b"] != "r b" || got[""] != "r " {
		t.Fatalf("lockouts by tenant = %q", got)
	}
	if err := db.ReleaseLockout(repCtx, "account", "a", "1001"); err != nil {
		t.Fatal(err)
	}
	if err := db.ReleaseLockout(repCtx, "account", "a", "1001"); !errors.Is(err, reputation.ErrNotFound) {
		t.Fatalf("second release of tenant a's lockout: %v", err)
	}
	if ls, _ := db.Lockouts(repCtx, now); len(ls) != 2 || ls[0].Tenant == "a" || ls[1].Tenant == "a" {
		t.Fatalf("after releasing tenant a's = %+v", ls)
	}
	if err := db.PutLockout(repCtx, reputation.Lockout{Kind: "account", Tenant: strings.Repeat("t", reputation.MaxTenant+1), Subject: "1", Since: now, Until: now.Add(time.Hour)}); !errors.Is(err, reputation.ErrInvalid) {
		t.Fatalf("a tenant longer than %d bytes: %v", reputation.MaxTenant, err)
	}
}

// repKnownGood: a source's last success only moves forward, the list of
// an account in a tenant is bounded (an account logged into from many
// addresses keeps the most recent), a tenant's query sees its own and
// the tenant-less sources but not another tenant's, and purge drops the
// old ones.
func repKnownGood(t *testing.T, open func() ReputationDB) {
	db := open()
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	put := func(k reputation.KnownGood) {
		t.Helper()
		if err := db.PutKnownGood(repCtx, k); err != nil {
			t.Fatal(err)
		}
	}
	put(reputation.KnownGood{Tenant: "a", Account: "1001", Source: "::ffff:192.0.2.1", Last: now})
	put(reputation.KnownGood{Tenant: "a", Account: "1001", Source: "192.0.2.1", Last: now.Add(-time.Hour)}) // older: does not go back
	put(reputation.KnownGood{Tenant: "b", Account: "1001", Source: "198.51.100.1", Last: now})
	put(reputation.KnownGood{Account: "1001", Source: "2001:db8:1::/64", Last: now.Add(-time.Minute)})
	ks, err := db.KnownGood(repCtx, "a", "1001", now.Add(-24*time.Hour))
	if err != nil || len(ks) != 2 || ks[0].Source != "192.0.2.1" || !ks[0].Last.Equal(now) || ks[0].Tenant != "a" || ks[1].Source != "2001:db8:1::/64" || ks[1].Tenant != "" {
		t.Fatalf("tenant a's known-good = %+v, %v; want 192.0.2.1 at %v and the tenant-less network", ks, err, now)
	}
	if ks, _ := db.KnownGood(repCtx, "", "1001", now.Add(-24*time.Hour)); len(ks) != 3 {
		t.Fatalf("every tenant's known-good = %+v; want 3", ks)
	}
	if ks, _ := db.KnownGood(repCtx, "a", "1001", now); len(ks) != 1 {
		t.Fatalf("known-good since now = %+v; want only the source that succeeded at now", ks)
	}
	// Many correct logins from many addresses: the list stays bounded
	// and keeps the most recent.
	for i := range 3 * reputation.MaxKnownGood {
		put(reputation.KnownGood{Tenant: "a", Account: "1001", Source: fmt.Sprintf("203.0.113.%d", i), Last: now.Add(time.Duration(i+1) * time.Second)})
	}
	ks, err = db.KnownGood(repCtx, "a", "1001", time.Time{})
	var own int
	for _, k := range ks {
		if k.Tenant == "a" {
			own++
		}
	}
	if err != nil || own != reputation.MaxKnownGood || ks[0].Source != fmt.Sprintf("203.0.113.%d", 3*reputation.MaxKnownGood-1) {
		t.Fatalf("after %d sources: %d of tenant a kept (want %d), newest %+v, %v", 3*reputation.MaxKnownGood, own, reputation.MaxKnownGood, ks[0], err)
	}
	if ks, _ := db.KnownGood(repCtx, "b", "1001", time.Time{}); len(ks) != 2 {
		t.Fatalf("tenant b's list was trimmed by tenant a's successes: %+v", ks)
	}
	for _, bad := range []reputation.KnownGood{{Account: "", Source: "192.0.2.1", Last: now}, {Account: "1", Source: "no address", Last: now},
		{Account: "1", Source: "192.0.2.1"}, {Account: strings.Repeat("x", reputation.MaxSubject+1), Source: "192.0.2.1", Last: now}} {
		if err := db.PutKnownGood(repCtx, bad); !errors.Is(err, reputation.ErrInvalid) {
			t.Errorf("PutKnownGood(%+v) = %v; want ErrInvalid", bad, err)
		}
	}
	n, err := db.PurgeKnownGood(repCtx, now)
	if err != nil || n != 1 {
		t.Fatalf("purge before now removed %d, %v; want the tenant-less network", n, err)
	}
	if ks, _ := db.KnownGood(repCtx, "", "1001", time.Time{}); len(ks) != reputation.MaxKnownGood+1 {
		t.Fatalf("after purge: %d sources", len(ks))
	}
}

// repKnownGoodTwoNodes: what one node learns the other reads, and two
// nodes recording many successes of one account at once leave it
// bounded.
func repKnownGoodTwoNodes(t *testing.T, open func() ReputationDB) {
	a, b := open(), open()
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	if err := a.PutKnownGood(repCtx, reputation.KnownGood{Tenant: "a", Account: "1001", Source: "192.0.2.1", Last: now}); err != nil {
		t.Fatal(err)
	}
	if ks, err := b.KnownGood(repCtx, "a", "1001", now.Add(-time.Hour)); err != nil || len(ks) != 1 || ks[0].Source != "192.0.2.1" {
		t.Fatalf("node b reads %+v, %v; want node a's source", ks, err)
	}
	var wg sync.WaitGroup
	for n, db := range []ReputationDB{a, b} {
		wg.Go(func() {
			for i := range 20 {
				if err := db.PutKnownGood(repCtx, reputation.KnownGood{Tenant: "a", Account: "1001", Source: fmt.Sprintf("203.0.%d.%d", n, i), Last: now.Add(time.Duration(i) * time.Second)}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	// One more success trims whatever the race left.
	if err := a.PutKnownGood(repCtx, reputation.KnownGood{Tenant: "a", Account: "1001", Source: "192.0.2.1", Last: now.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	ks, err := b.KnownGood(repCtx, "a", "1001", time.Time{})
	if err != nil || len(ks) != reputation.MaxKnownGood || ks[0].Source != "192.0.2.1" {
		t.Fatalf("after two nodes' 40 successes and one more: %d sources (want %d), first %+v, %v", len(ks), reputation.MaxKnownGood, ks, err)
	}
}
