package cluster

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/honeypot"
	"github.com/tollgate-voip/tollgate/internal/pgschema"
	"github.com/tollgate-voip/tollgate/internal/testenv"
	"github.com/tollgate-voip/tollgate/reputation"
	"github.com/tollgate-voip/tollgate/store/postgres"
)

// TestRepSpoolOutageCrashAndReplay runs the reputation buffer in front of
// a real PostgreSQL that is stopped: bans, entries, a lockout and events
// are acknowledged and kept on disk; the node's snapshot enforces the
// ban and the entry at once; the buffer survives a "crash" (closed
// without draining, with a torn last line); the replay writes everything
// in order once PostgreSQL is back; and replaying the same file again
// (a crash between writing and emptying it) changes nothing.
func TestRepSpoolOutageCrashAndReplay(t *testing.T) {
	pg := testenv.NewPostgres(t)
	dsn, err := pg.CreateDatabase("repspool")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	pool, err := pgschema.Connect(ctx, "test", dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	db, err := postgres.NewReputation(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	dir := t.TempDir()
	sp, err := OpenRepSpool(db, dir, "rep.jsonl", 1<<20, quiet())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	const x, y, stored = "203.0.113.7", "198.51.100.9", "192.0.2.1"

	// Up: written through, nothing buffered.
	if b, err := sp.AddBan(ctx, reputation.Ban{IP: stored, Reason: "up", Source: "manual", Created: now, Expires: now.Add(time.Hour)}); err != nil || b.ID == 0 {
		t.Fatalf("ban with PostgreSQL up = %+v, %v", b, err)
	}
	if sp.Pending() != 0 {
		t.Fatalf("buffered %d bytes with PostgreSQL up", sp.Pending())
	}
	live := reputation.NewLive(reputation.DefaultPolicy)
	if err := reputation.Refresh(ctx, sp, live, now); err != nil {
		t.Fatal(err)
	}

	pg.Stop()
	b1, err := sp.AddBan(ctx, reputation.Ban{IP: x, Reason: "first", Source: "sipfront", Created: now, Expires: now.Add(time.Hour)})
	if err != nil || b1.ID != 0 || sp.Pending() == 0 {
		t.Fatalf("ban with PostgreSQL down = %+v, %v (pending %d)", b1, err, sp.Pending())
	}
	if n, err := sp.BanCount(ctx, x); err != nil || n != 1 {
		t.Fatalf("ban count while down = %d, %v; want the buffered 1", n, err)
	}
	if _, err := sp.AddBan(ctx, reputation.Ban{IP: x, Reason: "second", Source: "sipfront", Created: now.Add(time.Second), Expires: now.Add(2 * time.Hour), Level: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := sp.Upsert(ctx, reputation.Entry{Kind: "number", Value: "+4930111", Reason: "first", Score: 60, Source: "honeypot"}); err != nil {
		t.Fatal(err)
	}
	if err := sp.UpsertBatch(ctx, []reputation.Entry{
		{Kind: "number", Value: "+4930111", Reason: "second", Score: 40, Hits: 2, Source: "honeypot"},
		{Kind: "ip", Value: y, Score: 50, Source: "honeypot"},
	}); err != nil {
		t.Fatal(err)
	}
	if err := sp.PutLockout(ctx, reputation.Lockout{Kind: "account", Subject: "200", Failures: 5, Since: now, Until: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := sp.AppendEvents(ctx, []honeypot.Event{{Time: now, Kind: "register", SourceIP: y, SourcePort: 5060, Transport: "udp", Message: []byte("REGISTER \x00\xff")},
		{Time: now, Kind: "invite", SourceIP: y, SourcePort: 5060, Transport: "udp", Dialed: "4930111"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := sp.Upsert(ctx, reputation.Entry{Kind: "bogus", Value: "x"}); !errors.Is(err, reputation.ErrInvalid) {
		t.Fatalf("invalid entry while down: %v, want ErrInvalid (not buffered)", err)
	}
	if st := sp.Stats(); st.Records != 6 || st.Spooled != 6 || !st.Down {
		t.Fatalf("stats while down = %+v, want 6 records buffered", st)
	}

	// The node enforces what it buffered although the store fails, and
	// keeps what it had read before.
	if err := reputation.Refresh(ctx, sp, live, now); err == nil {
		t.Fatal("refresh with PostgreSQL down succeeded")
	}
	set := live.Load()
	if set.Banned(netip.MustParseAddr(x), now) == nil || set.Banned(netip.MustParseAddr(stored), now) == nil {
		t.Fatal("the snapshot lost the buffered ban or the stored one while PostgreSQL is down")
	}
	if e := set.Number("4930111", now); e == nil || e.Score != 60 {
		t.Fatalf("buffered number in the snapshot = %+v, want score 60", e)
	}
	if set.Addr(netip.MustParseAddr(y), now) == nil {
		t.Fatal("buffered address entry missing from the snapshot")
	}

	// Crash: the file is left as it is, with a torn last line.
	if err := sp.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "rep.jsonl")
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"k":"torn","op":"ban","b":{"ip":"10.9.9.9"`)
	f.Close()
	if err := pg.Start(); err != nil {
		t.Fatal(err)
	}
	sp, err = OpenRepSpool(db, dir, "rep.jsonl", 1<<20, quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	if es, bs := sp.Overlay(); len(es) != 3 || len(bs) != 2 {
		t.Fatalf("overlay after reopening = %d entries, %d bans; want 3 and 2", len(es), len(bs))
	}
	saved, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := drainWithin(ctx, sp); err != nil {
		t.Fatal(err)
	}
	if sp.Pending() != 0 || sp.Stats().Drained != 6 {
		t.Fatalf("after the replay: %+v", sp.Stats())
	}
	check := func(when string) {
		t.Helper()
		bs, err := db.Bans(ctx, now, true)
		if err != nil {
			t.Fatal(err)
		}
		var onX []reputation.Ban
		for _, b := range bs {
			if b.IP == x {
				onX = append(onX, b)
			}
			if b.IP == "10.9.9.9" {
				t.Errorf("%s: the torn (never acknowledged) ban was stored", when)
			}
		}
		// Bans come newest first: the second buffered one has the higher id.
		if len(onX) != 2 || onX[0].Reason != "second" || onX[1].Reason != "first" || onX[0].ID <= onX[1].ID {
			t.Errorf("%s: bans on %s = %+v; want first then second, once each", when, x, onX)
		}
		e, err := db.Get(ctx, "number", "+4930111")
		if err != nil || e.Hits != 3 || e.Reason != "second" || e.Score != 60 {
			t.Errorf("%s: number entry = %+v, %v; want 3 hits, reason second, score 60", when, e, err)
		}
		if _, err := db.Get(ctx, "ip", y); err != nil {
			t.Errorf("%s: address entry: %v", when, err)
		}
		if ls, err := db.Lockouts(ctx, now); err != nil || len(ls) != 1 || ls[0].Subject != "200" {
			t.Errorf("%s: lockouts = %+v, %v", when, ls, err)
		}
		evs, err := db.Events(ctx, honeypot.EventQuery{SourceIP: y})
		if err != nil || len(evs) != 2 {
			t.Errorf("%s: %d events, %v; want 2", when, len(evs), err)
		}
	}
	check("after the replay")
	if n, err := sp.BanCount(ctx, x); err != nil || n != 2 {
		t.Errorf("ban count after the replay = %d, %v; want 2", n, err)
	}

	// A crash after the writes and before the file was emptied: the same
	// records are replayed on the next start, to no further effect.
	sp.Close()
	if err := os.WriteFile(path, saved, 0o640); err != nil {
		t.Fatal(err)
	}
	sp, err = OpenRepSpool(db, dir, "rep.jsonl", 1<<20, quiet())
	if err != nil {
		t.Fatal(err)
	}
	if err := drainWithin(ctx, sp); err != nil {
		t.Fatal(err)
	}
	check("after replaying the same records again")
}

func drainWithin(ctx context.Context, sp *RepSpool) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var err error
	for ctx.Err() == nil {
		if err = sp.Drain(ctx); err == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return err
}

// deadTarget is a shared store that is away.
type deadTarget struct{ RepTarget }

var errAway = errors.New("connection refused")

func (deadTarget) AddBanOnce(context.Context, string, reputation.Ban) (reputation.Ban, error) {
	return reputation.Ban{}, errAway
}
func (deadTarget) UpsertBatchOnce(context.Context, string, []reputation.Entry) error { return errAway }
func (deadTarget) AppendEventsOnce(context.Context, string, []honeypot.Event) error  { return errAway }
func (deadTarget) PutLockout(context.Context, reputation.Lockout) error              { return errAway }

// TestRepSpoolBound fills a small buffer: past its bound writes are
// refused with ErrSpoolFull and counted, nothing already acknowledged is
// touched, and what it holds is what was acknowledged, in order.
func TestRepSpoolBound(t *testing.T) {
	dir := t.TempDir()
	sp, err := OpenRepSpool(deadTarget{}, dir, "rep.jsonl", 2048, quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	now := time.Now()
	var acked []string
	full := 0
	for i := range 40 {
		ip := netip.AddrFrom4([4]byte{203, 0, 113, byte(i)}).String()
		_, err := sp.AddBan(context.Background(), reputation.Ban{IP: ip, Reason: "scan", Created: now, Expires: now.Add(time.Hour)})
		switch {
		case err == nil:
			acked = append(acked, ip)
		case errors.Is(err, ErrSpoolFull):
			full++
		default:
			t.Fatal(err)
		}
	}
	if full == 0 || len(acked) == 0 || sp.Full.Load() != int64(full) {
		t.Fatalf("acked %d, full %d (counted %d): the bound did not bite", len(acked), full, sp.Full.Load())
	}
	if sp.Pending() > 2048 {
		t.Fatalf("buffer holds %d bytes, bound 2048", sp.Pending())
	}
	sp.Close()
	sp, err = OpenRepSpool(deadTarget{}, dir, "rep.jsonl", 2048, quiet())
	if err != nil {
		t.Fatal(err)
	}
	_, bs := sp.Overlay()
	if len(bs) != len(acked) {
		t.Fatalf("reopened buffer holds %d bans, %d were acknowledged", len(bs), len(acked))
	}
	for i := range bs {
		if bs[i].IP != acked[i] {
			t.Fatalf("ban %d is %s, want %s (order)", i, bs[i].IP, acked[i])
		}
	}
	if err := sp.Drain(context.Background()); !errors.Is(err, errAway) || sp.Pending() == 0 {
		t.Fatalf("drain to a dead store = %v, pending %d; want the error and everything kept", err, sp.Pending())
	}
}

// slowTarget takes bans, the first one only when released.
type slowTarget struct {
	RepTarget
	mu      sync.Mutex
	down    bool
	got     []string
	entered chan struct{}
	release chan struct{}
}

func (s *slowTarget) AddBanOnce(_ context.Context, key string, b reputation.Ban) (reputation.Ban, error) {
	s.mu.Lock()
	first, down := len(s.got) == 0, s.down
	s.mu.Unlock()
	if down {
		return b, errAway
	}
	if first {
		close(s.entered)
		<-s.release
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got = append(s.got, b.IP)
	b.ID = int64(len(s.got))
	return b, nil
}

func (s *slowTarget) BanCount(context.Context, string) (int, error) { return 0, nil }

// TestRepSpoolWritesDuringDrain: a drain does not hold writes while it
// talks to the store; a write made meanwhile is buffered behind the
// records being replayed, stays buffered (and in the overlay) when they
// are cut off the file, survives a reopen, and reaches the store after
// them.
func TestRepSpoolWritesDuringDrain(t *testing.T) {
	dir := t.TempDir()
	tg := &slowTarget{down: true, entered: make(chan struct{}), release: make(chan struct{})}
	sp, err := OpenRepSpool(tg, dir, "rep.jsonl", 1<<20, quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { sp.Close() }()
	ctx := context.Background()
	now := time.Now()
	ban := func(ip string) {
		t.Helper()
		if _, err := sp.AddBan(ctx, reputation.Ban{IP: ip, Created: now, Expires: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	ban("192.0.2.1")
	ban("192.0.2.2")
	tg.mu.Lock()
	tg.down = false
	tg.mu.Unlock()
	done := make(chan error, 1)
	go func() { done <- sp.Drain(ctx) }()
	<-tg.entered
	ban("192.0.2.3") // returns while the drain waits on the store
	close(tg.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	tg.mu.Lock()
	got := append([]string(nil), tg.got...)
	tg.mu.Unlock()
	if len(got) != 2 || got[0] != "192.0.2.1" || got[1] != "192.0.2.2" {
		t.Fatalf("first drain wrote %v, want the two bans buffered before it", got)
	}
	if _, bs := sp.Overlay(); len(bs) != 1 || bs[0].IP != "192.0.2.3" || sp.Stats().Records != 1 {
		t.Fatalf("after the first drain the overlay holds %+v (stats %+v); want the ban made during it", bs, sp.Stats())
	}
	sp.Close()
	if sp, err = OpenRepSpool(tg, dir, "rep.jsonl", 1<<20, quiet()); err != nil {
		t.Fatal(err)
	}
	if _, bs := sp.Overlay(); len(bs) != 1 || bs[0].IP != "192.0.2.3" {
		t.Fatalf("reopened buffer holds %+v, want the one ban not yet written", bs)
	}
	if err := sp.Drain(ctx); err != nil || sp.Pending() != 0 {
		t.Fatalf("second drain: %v, pending %d", err, sp.Pending())
	}
	tg.mu.Lock()
	defer tg.mu.Unlock()
	if len(tg.got) != 3 || tg.got[2] != "192.0.2.3" {
		t.Fatalf("store got %v, want the third ban last", tg.got)
	}
}
