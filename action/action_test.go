package action_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/tollgate-voip/tollgate/action"
	"github.com/tollgate-voip/tollgate/alert"
	"github.com/tollgate-voip/tollgate/blocks"
	"github.com/tollgate-voip/tollgate/detect"
	"github.com/tollgate-voip/tollgate/internal/testenv"
	"github.com/tollgate-voip/tollgate/store"
	"github.com/tollgate-voip/tollgate/store/postgres"
	"github.com/tollgate-voip/tollgate/store/sqlite"
)

var t0 = time.Date(2026, 11, 23, 15, 0, 0, 0, time.UTC)

var pg *testenv.Postgres

// TestMain runs a real PostgreSQL on loopback for the shared action store.
func TestMain(m *testing.M) {
	var err error
	if pg, err = testenv.StartPostgres(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	pg.Close()
	os.Exit(code)
}

type pgHandle struct {
	*postgres.Actions
	dsn string
}

var pgDBs atomic.Int64

// pgStore makes a fresh database and opens the store on it.
func pgStore(t *testing.T) pgHandle {
	t.Helper()
	dsn, err := pg.CreateDatabase(fmt.Sprint("a", pgDBs.Add(1)))
	if err != nil {
		t.Fatal(err)
	}
	return pgStoreOn(t, dsn)
}

func pgStoreOn(t *testing.T, dsn string) pgHandle {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	s, err := postgres.NewActions(context.Background(), pool)
	if err != nil {
		t.Fatal(err)
	}
	return pgHandle{Actions: s, dsn: dsn}
}

func TestSet(t *testing.T) {
	s := action.Build([]action.Record{
		{ID: 1, Tenant: "acme", Kind: "extension", Value: "1001", Verdict: action.Challenge, Expires: t0.Add(time.Hour)},
		{ID: 2, Kind: "number", Value: "+2250708123456", Verdict: action.Reject}, // every tenant, no expiry
		{ID: 3, Tenant: "acme", Kind: "prefix", Value: "3719", Verdict: action.Reject},
		{ID: 4, Tenant: "acme", Kind: "prefix", Value: "37190", Verdict: action.Honeypot},
		{ID: 5, Tenant: "acme", Kind: action.KillSwitchKind, Value: "acme", Verdict: action.Reject}, // not for screening
	})
	if s.Len() != 4 {
		t.Errorf("Len = %d; want 4 (the kill-switch expiry is not indexed)", s.Len())
	}
	for _, c := range []struct {
		name string
		got  *action.Record
		want int64
	}{
		{"extension in force", s.Extension("acme", "1001", t0.Add(59*time.Minute)), 1},
		{"extension expired", s.Extension("acme", "1001", t0.Add(time.Hour)), 0},
		{"extension of another tenant", s.Extension("other", "1001", t0), 0},
		{"number, any tenant", s.Destination("other", "2250708123456", t0.Add(1000*time.Hour)), 2},
		{"longest prefix", s.Destination("acme", "37190123456", t0), 4},
		{"shorter prefix", s.Destination("acme", "37191123456", t0), 3},
		{"prefix of another tenant", s.Destination("other", "37190123456", t0), 0},
		{"no match", s.Destination("acme", "4930123456", t0), 0},
	} {
		var id int64
		if c.got != nil {
			id = c.got.ID
		}
		if id != c.want {
			t.Errorf("%s: record %d; want %d", c.name, id, c.want)
		}
	}
	var none *action.Set
	if none.Len() != 0 || none.Extension("a", "b", t0) != nil || none.Destination("a", "1", t0) != nil {
		t.Error("a nil set matched")
	}
}

// TestStores: the in-memory and the SQLite store keep, list (unexpired
// only, or all with the zero time) and remove records alike.
func TestStores(t *testing.T) {
	sq, err := sqlite.OpenActions(filepath.Join(t.TempDir(), "actions.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer sq.Close()
	ctx := context.Background()
	pgs := pgStore(t)
	for name, st := range map[string]action.Store{"memory": action.NewMemory(), "sqlite": sq, "postgres": pgs} {
		a, err := st.AddAction(ctx, action.Record{Tenant: "acme", Kind: "extension", Value: "1001", Verdict: action.Challenge, Reason: "r", Expires: t0.Add(time.Hour)})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		b, _ := st.AddAction(ctx, action.Record{Kind: "number", Value: "2250708123456", Verdict: action.Reject})
		if a.ID == 0 || b.ID == a.ID {
			t.Errorf("%s: ids %d, %d", name, a.ID, b.ID)
		}
		for _, c := range []struct {
			at   time.Time
			want int
		}{{t0, 2}, {t0.Add(time.Hour), 1}, {time.Time{}, 2}} {
			rs, err := st.ListActions(ctx, c.at)
			if err != nil || len(rs) != c.want {
				t.Errorf("%s: ListActions(%s) = %d records, %v; want %d", name, c.at, len(rs), err, c.want)
			}
		}
		got, err := st.RemoveAction(ctx, a.ID)
		if err != nil || got.Value != "1001" || !got.Expires.Equal(t0.Add(time.Hour)) {
			t.Errorf("%s: RemoveAction = %+v, %v", name, got, err)
		}
		if _, err := st.RemoveAction(ctx, a.ID); !errors.Is(err, action.ErrNotFound) {
			t.Errorf("%s: second RemoveAction = %v; want ErrNotFound", name, err)
		}
	}
	// A second handle on the PostgreSQL database (another node) sees what
	// the first wrote, and a removal by one is a not-found for the other.
	other := pgStoreOn(t, pgs.dsn)
	r, _ := pgs.AddAction(ctx, action.Record{Tenant: "acme", Kind: action.KillSwitchKind, Value: "acme", Verdict: action.Reject, Expires: t0})
	if rs, err := other.ListActions(ctx, time.Time{}); err != nil || len(rs) != 2 {
		t.Errorf("other node lists %d records, %v; want 2", len(rs), err)
	}
	if _, err := other.RemoveAction(ctx, r.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := pgs.RemoveAction(ctx, r.ID); !errors.Is(err, action.ErrNotFound) {
		t.Errorf("removed by the other node, then = %v; want ErrNotFound", err)
	}
	for _, bad := range []action.Record{
		{Kind: "tenant", Value: "x", Verdict: action.Reject},
		{Kind: "number", Value: "1", Verdict: "allow"},
		{Kind: "number", Value: "", Verdict: action.Reject},
		{Kind: "number", Value: strings.Repeat("1", 65), Verdict: action.Reject},
	} {
		if _, err := sq.AddAction(ctx, bad); err == nil {
			t.Errorf("AddAction(%+v) succeeded", bad)
		}
	}
}

type rig struct {
	st      *sqlite.Store
	acts    *sqlite.Actions
	m       *action.Manager
	blkLive *blocks.Live
	actLive *action.Live
	now     time.Time
}

func newRig(t *testing.T) *rig {
	t.Helper()
	dir := t.TempDir()
	st, err := sqlite.Open(filepath.Join(dir, "tollgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	acts, err := sqlite.OpenActions(filepath.Join(dir, "actions.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { acts.Close() })
	r := &rig{st: st, acts: acts, blkLive: blocks.NewLive(), actLive: action.NewLive(), now: t0.Add(10 * time.Minute)}
	r.m = &action.Manager{Blocks: st, Audit: st, Actions: acts, BlockLive: r.blkLive, ActionLive: r.actLive,
		Alerts: alert.New(alert.Options{Store: st, Dedup: 15 * time.Minute}), Clock: r.blkLive.Clock(), Remember: 24 * time.Hour}
	return r
}

func audits(t *testing.T, st store.Audit) string {
	t.Helper()
	es, err := st.ListAudit(context.Background(), time.Time{}, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, e := range es {
		b.WriteString(e.Action + " " + e.Object + " by " + e.Actor + "\n")
	}
	return b.String()
}

// TestRequirePinExpiryAndRelease: a require_pin finding puts a challenge
// record in force until the finding's event time plus expires_s — never
// counted from the wall clock, which in a fast drive of history is days
// ahead of the stream (issue 15, cause 1); it is not repeated while in
// force; a release by hand lifts it at once, audited, and the next finding
// applies it again.
func TestRequirePinExpiryAndRelease(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	f := detect.Finding{Detector: "off_hours_international", Code: "off_hours_international", Severity: "warning", Tenant: "acme", Extension: "1001",
		Text: "called at 03:00", Time: t0, Action: "require_pin", Target: detect.Target{Kind: "extension", Value: "1001"}, Expires: time.Hour}
	d, err := r.m.Handle(ctx, f)
	if err != nil || d == nil {
		t.Fatalf("Handle = %v, %v", d, err)
	}
	// The wall clock is far later than the finding (t0): expiry counts
	// from the finding's event time all the same.
	if want := t0.Add(time.Hour); !d.Expires.Equal(want) {
		t.Errorf("expires %s; want %s", d.Expires, want)
	}
	set := r.actLive.Load()
	if set.Extension("acme", "1001", t0.Add(59*time.Minute)) == nil || set.Extension("acme", "1001", t0.Add(60*time.Minute)) != nil {
		t.Error("the challenge is not in force exactly until its expiry in event time")
	}
	if d2, _ := r.m.Handle(ctx, f); d2 != nil {
		t.Errorf("the same finding applied twice: %+v", d2)
	}
	if _, err := r.m.Release(ctx, d.ID, "token:noc"); err != nil {
		t.Fatal(err)
	}
	if r.actLive.Load().Extension("acme", "1001", r.now) != nil {
		t.Error("released, still in force")
	}
	if _, err := r.m.Release(ctx, d.ID, "token:noc"); !errors.Is(err, action.ErrNotFound) {
		t.Errorf("second release = %v", err)
	}
	if d3, _ := r.m.Handle(ctx, f); d3 == nil {
		t.Error("after a release the next finding is not applied")
	}
	a := audits(t, r.st)
	for _, want := range []string{"action.require_pin action/1 by detector:off_hours_international", "action.release action/1 by token:noc", "action.require_pin action/2"} {
		if !strings.Contains(a, want) {
			t.Errorf("audit lacks %q:\n%s", want, a)
		}
	}
	if err := r.st.VerifyAudit(ctx); err != nil {
		t.Error(err)
	}
	// An alert was raised once (deduplicated).
	as, _ := r.st.ListAlerts(ctx, store.AlertQuery{})
	if len(as) != 1 || as[0].Code != "off_hours_international" {
		t.Errorf("alerts = %+v", as)
	}
}

// TestBlockAndAlert: a block_and_alert finding stores an expiring block of
// the extension's international calling, audited, in the engine's snapshot.
func TestBlockAndAlert(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	f := detect.Finding{Detector: "international_burst", Code: "international_burst", Severity: "critical", Tenant: "acme", Extension: "1001",
		Text: "burst", Time: t0.Add(time.Hour), Action: "block_and_alert", Target: detect.Target{Kind: "extension", Value: "1001", Scope: "international"}, Expires: time.Hour}
	d, err := r.m.Handle(ctx, f)
	if err != nil || d == nil || d.ID == 0 {
		t.Fatalf("Handle = %+v, %v", d, err)
	}
	// Expiry counts from the finding's event time.
	if want := t0.Add(2 * time.Hour); !d.Expires.Equal(want) {
		t.Errorf("expires %s; want %s", d.Expires, want)
	}
	b := r.blkLive.Load().Extension("acme", "1001", t0.Add(90*time.Minute))
	if b == nil || b.Scope != "international" || b.Source != "detector" {
		t.Fatalf("block in the snapshot = %+v", b)
	}
	if r.blkLive.Load().Extension("acme", "1001", t0.Add(2*time.Hour)) != nil {
		t.Error("the block outlives its expiry")
	}
	if !strings.Contains(audits(t, r.st), "block.add block/1 by detector:international_burst") {
		t.Error("no audit entry for the block")
	}
	for _, bad := range []detect.Target{{Kind: "number", Value: ""}, {Kind: "galaxy", Value: "x"}} {
		f.Target = bad
		if d, err := r.m.Handle(ctx, f); d != nil || err != nil {
			t.Errorf("target %+v: %+v, %v; want nothing done", bad, d, err)
		}
	}
}

// TestKillSwitchExpiry: a detector's kill switch is lifted by Sweep once
// its expiry passes — the expiry lives in the action store, so a second
// manager sharing it (another node, or this one after a restart) lifts it
// — audited, and the block snapshot follows. A switch changed by hand in
// the meantime is left alone.
func TestKillSwitchExpiry(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	f := detect.Finding{Detector: "theft_of_service", Code: "theft_of_service", Severity: "critical", Tenant: "acme",
		Text: "theft", Time: t0, Action: "block_and_alert", Target: detect.Target{Kind: "tenant", Value: "acme"}, Expires: 30 * time.Minute}
	d, err := r.m.Handle(ctx, f)
	if err != nil || d == nil || d.Action != "kill_switch" {
		t.Fatalf("Handle = %+v, %v", d, err)
	}
	if r.blkLive.Load().Kill("acme") == nil {
		t.Fatal("the kill switch is not in the snapshot")
	}
	// Another node: its own manager on the same stores, its own memory.
	other := &action.Manager{Blocks: r.st, Audit: r.st, Actions: r.acts, BlockLive: blocks.NewLive()}
	if err := other.Sweep(ctx, t0.Add(29*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if ks, _ := r.st.KillSwitches(ctx); len(ks) != 1 || !ks[0].Active {
		t.Fatalf("lifted before its expiry: %+v", ks)
	}
	if err := other.Sweep(ctx, t0.Add(30*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if ks, _ := r.st.KillSwitches(ctx); len(ks) != 1 || ks[0].Active {
		t.Fatalf("not lifted at its expiry: %+v", ks)
	}
	if other.BlockLive.Load().Kill("acme") != nil {
		t.Error("the sweeping node's snapshot still has the kill switch")
	}
	if err := r.m.Sweep(ctx, t0.Add(31*time.Minute)); err != nil { // nothing left to lift
		t.Fatal(err)
	}
	if n := strings.Count(audits(t, r.st), "killswitch.expire killswitch/acme"); n != 1 {
		t.Errorf("%d expiry audit entries; want 1", n)
	}
	// Set again by the detector, then taken over by an operator: the
	// detector's expiry must not lift the operator's switch.
	f.Time = t0.Add(2 * time.Hour)
	if d, err := r.m.Handle(ctx, f); err != nil || d == nil {
		t.Fatalf("second kill = %+v, %v", d, err)
	}
	if err := r.st.SetKillSwitch(ctx, store.KillSwitch{Tenant: "acme", Active: true, Reason: "incident 42", By: "token:noc", Since: t0}); err != nil {
		t.Fatal(err)
	}
	if err := r.m.Sweep(ctx, t0.Add(10*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if ks, _ := r.st.KillSwitches(ctx); len(ks) != 1 || !ks[0].Active || ks[0].By != "token:noc" {
		t.Errorf("the operator's kill switch was lifted: %+v", ks)
	}
	if rs, _ := r.acts.ListActions(ctx, time.Time{}); len(rs) != 0 {
		t.Errorf("expiry records left: %+v", rs)
	}
}

// TestScopeAcrossExtensionsAndTenants (issue 15, cause 4): a pumping
// finding blocks the pumped range for every tenant and the extension
// that dialed it, so an attack spread over many extensions (or tenants)
// gets no free call per extension; a "tenant" block stops every
// extension's international calling.
func TestScopeAcrossExtensionsAndTenants(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	f := detect.Finding{Detector: "fast_pumping", Code: "fast_pumping", Severity: "critical", Tenant: "acme", Extension: "1006",
		Text: "pumped", Time: t0, Action: "block_and_alert", Expires: time.Hour,
		Target: detect.Target{Kind: "prefix", Value: "1900234", AllTenants: true},
		Also:   []detect.Target{{Kind: "extension", Value: "1006", Scope: "international"}}}
	if d, err := r.m.Handle(ctx, f); err != nil || d == nil {
		t.Fatalf("Handle = %+v, %v", d, err)
	}
	set := r.blkLive.Load()
	for _, tenant := range []string{"acme", "globex"} {
		if set.Prefix(tenant, "19002345699", t0.Add(time.Minute)) == nil {
			t.Errorf("tenant %s may still call the pumped range", tenant)
		}
	}
	if b := set.Extension("acme", "1006", t0.Add(time.Minute)); b == nil || b.Scope != "international" {
		t.Errorf("the dialing extension is not blocked: %+v", b)
	}
	if set.Extension("acme", "1007", t0.Add(time.Minute)) != nil {
		t.Error("another extension was blocked by a finding about 1006")
	}
	f2 := detect.Finding{Detector: "theft_of_service", Code: "theft_of_service", Severity: "critical", Tenant: "acme",
		Text: "spread", Time: t0, Action: "block_and_alert", Expires: time.Hour,
		Target: detect.Target{Kind: "extension", Value: detect.WildcardExtension, Scope: "international"}}
	if d, err := r.m.Handle(ctx, f2); err != nil || d == nil {
		t.Fatalf("Handle = %+v, %v", d, err)
	}
	set = r.blkLive.Load()
	if set.Extension("acme", "1007", t0.Add(time.Minute)) == nil || set.Extension("globex", "1007", t0.Add(time.Minute)) != nil {
		t.Error("a tenant-wide block does not cover every extension of that tenant only")
	}
}

// TestRequirePinOnDestination: a require_pin finding aimed at a range
// (new_destination: a never-called, chargeable country) challenges the
// tenant's calls there, from any extension, not the extension's calls.
func TestRequirePinOnDestination(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	f := detect.Finding{Detector: "new_destination", Code: "new_destination", Severity: "warning", Tenant: "acme", Extension: "1001",
		Text: "tenant acme called CI for the first time", Time: t0, Action: "require_pin", Target: detect.Target{Kind: "prefix", Value: "225"}, Expires: time.Hour}
	if d, err := r.m.Handle(ctx, f); err != nil || d == nil {
		t.Fatalf("Handle = %v, %v", d, err)
	}
	set := r.actLive.Load()
	rec := set.Destination("acme", "22507010000", t0.Add(time.Minute))
	if rec == nil || rec.Verdict != action.Challenge {
		t.Fatalf("a call of acme to +225: record %+v; want a challenge", rec)
	}
	if set.Destination("other", "22507010000", t0.Add(time.Minute)) != nil || set.Extension("acme", "1001", t0.Add(time.Minute)) != nil {
		t.Error("the challenge reaches another tenant or the extension's other calls")
	}
}

// TestKillSwitchWithoutTenant: calls that carry no tenant are screened
// with the defaults; a detector's kill switch raised on them must reach
// the store (which refuses an empty tenant) and stop those calls.
func TestKillSwitchWithoutTenant(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	f := detect.Finding{Detector: "theft_of_service", Code: "theft_of_service", Severity: "critical",
		Text: "theft", Time: t0, Action: "block_and_alert", Target: detect.Target{Kind: "tenant"}, Expires: 30 * time.Minute}
	d, err := r.m.Handle(ctx, f)
	if err != nil || d == nil || d.Action != "kill_switch" {
		t.Fatalf("Handle = %+v, %v", d, err)
	}
	if k := r.blkLive.Load().Kill(""); k == nil || k.Tenant != "*" {
		t.Fatalf("calls without a tenant are not stopped: %+v", k)
	}
	if err := r.m.Sweep(ctx, t0.Add(30*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if ks, _ := r.st.KillSwitches(ctx); len(ks) != 1 || ks[0].Active {
		t.Fatalf("not lifted at its expiry: %+v", ks)
	}
}

// TestEventRaisesNoAlert: an info-level event (a tenant's first call to a
// new country in business hours) carries out its action — the PIN is in
// force and recorded — but raises no alert; the same finding as an alert
// does.
func TestEventRaisesNoAlert(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	f := detect.Finding{Detector: "new_destination", Code: "new_destination", Severity: "info", Tenant: "acme", Extension: "1001",
		Text: "tenant acme called CI for the first time in business hours", Time: t0, Action: "require_pin",
		Target: detect.Target{Kind: "prefix", Value: "225"}, Expires: time.Hour, Event: true}
	if d, err := r.m.Handle(ctx, f); err != nil || d == nil {
		t.Fatalf("Handle = %v, %v", d, err)
	}
	if rec := r.actLive.Load().Destination("acme", "22507010000", t0.Add(time.Minute)); rec == nil || rec.Verdict != action.Challenge {
		t.Fatalf("the event's PIN is not in force: %+v", rec)
	}
	if as, _ := r.st.ListAlerts(ctx, store.AlertQuery{}); len(as) != 0 {
		t.Fatalf("an event raised alerts: %+v", as)
	}
	f.Event, f.Target.Value, f.Time = false, "371", t0.Add(time.Minute)
	if _, err := r.m.Handle(ctx, f); err != nil {
		t.Fatal(err)
	}
	if as, _ := r.st.ListAlerts(ctx, store.AlertQuery{}); len(as) != 1 {
		t.Fatalf("the finding as an alert: %d alerts, want 1", len(as))
	}
}
