package attack_test

import (
	"context"
	"errors"
	"net/netip"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	. "github.com/tollgate-voip/tollgate/attack"
	checkrep "github.com/tollgate-voip/tollgate/check/reputation"
	"github.com/tollgate-voip/tollgate/reputation"
	"github.com/tollgate-voip/tollgate/screen"
	"github.com/tollgate-voip/tollgate/store/sqlite"
)

// sharedRig is a lockRig whose guard keeps known-good sources in kg.
func sharedRig(t *testing.T, st reputation.Store, kg reputation.KnownGoodStore, pol Policy) *lockRig {
	r := newLockRig(t, st, pol)
	r.g.SetKnownGood(kg)
	return r
}

// TestKnownGoodAcrossNodes: node A sees the phone authenticate; node B
// (another guard and snapshot on the same store, or A after a restart)
// counts the guessers' failures and locks the account. The lockout B
// decides allows the phone's source it never saw itself, and B's
// screening lets the phone through while it refuses a guesser.
func TestKnownGoodAcrossNodes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tollgate.db")
	open := func() *sqlite.Reputation {
		db, err := sqlite.OpenReputation(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	dbA, dbB := open(), open()
	a := sharedRig(t, dbA, dbA, Policy{})
	a.observe(Event{Time: lockT0.Add(-time.Hour), IP: ownIP, Kind: KindAuthSuccess, Source: SourceKamailio, Username: "1001"})
	b := sharedRig(t, dbB, dbB, Policy{})
	var out Outcome
	for i := range 5 {
		out = b.observe(Event{Time: lockT0.Add(time.Duration(i) * time.Second), IP: guessIP(i), Kind: KindAuthFailure, Source: SourceKamailio, Username: "1001"})
	}
	if out.Lockout == nil || !slices.Equal(out.Lockout.Allowed, []string{ownIP.String()}) {
		t.Fatalf("node B's lockout %+v; want one allowing %s (node A saw the phone)", out.Lockout, ownIP)
	}
	at := lockT0.Add(time.Minute)
	if v := b.screen("1001", "1001", ownIP, at); v.Has("account_locked") {
		t.Errorf("node B refuses the phone node A saw: %+v", v.Reasons())
	}
	if v := b.screen("1001", "1001", guessIP(7), at); !v.Has("account_locked") {
		t.Errorf("node B lets a new guesser through: %+v", v.Reasons())
	}
	// Without the shared store (the node's memory only, as before), B's
	// lockout would have allowed nothing: the phone would be locked out.
	c := newLockRig(t, openDB(t), Policy{})
	for i := range 5 {
		out = c.observe(Event{Time: lockT0.Add(time.Duration(i) * time.Second), IP: guessIP(i), Kind: KindAuthFailure, Source: SourceKamailio, Username: "1001"})
	}
	if out.Lockout == nil || len(out.Lockout.Allowed) != 0 {
		t.Fatalf("control (no shared known-good): lockout %+v", out.Lockout)
	}
}

// TestKnownGoodBoundedUnderManyLogins: a thief who knows the password
// logs in from 500 addresses; the store keeps MaxKnownGood sources for
// the account, and a later lockout allows at most those.
func TestKnownGoodBoundedUnderManyLogins(t *testing.T) {
	db := openDB(t)
	r := sharedRig(t, db, db, Policy{})
	for i := range 500 {
		ip := netip.AddrFrom4([4]byte{10, 9, byte(i >> 8), byte(i)})
		r.observe(Event{Time: lockT0.Add(-time.Hour + time.Duration(i)*time.Second), IP: ip, Kind: KindAuthSuccess, Source: SourceAPI, Username: "1001"})
	}
	ks, err := db.KnownGood(context.Background(), "", "1001", time.Time{})
	if err != nil || len(ks) != reputation.MaxKnownGood {
		t.Fatalf("store holds %d sources after 500 logins, %v; want %d", len(ks), err, reputation.MaxKnownGood)
	}
	var out Outcome
	for i := range 5 {
		out = r.observe(Event{Time: lockT0.Add(time.Duration(i) * time.Second), IP: guessIP(i), Kind: KindAuthFailure, Source: SourceAPI, Username: "1001"})
	}
	if out.Lockout == nil || len(out.Lockout.Allowed) > reputation.MaxKnownGood {
		t.Fatalf("lockout %+v; want at most %d allowed", out.Lockout, reputation.MaxKnownGood)
	}
}

// failingKG is a known-good store that is away.
type failingKG struct{}

var errAway = errors.New("store away")

func (failingKG) PutKnownGood(context.Context, reputation.KnownGood) error { return errAway }
func (failingKG) KnownGood(context.Context, string, string, time.Time) ([]reputation.KnownGood, error) {
	return nil, errAway
}
func (failingKG) PurgeKnownGood(context.Context, time.Time) (int64, error) { return 0, errAway }

// TestKnownGoodStoreAway: with the known-good store failing, the
// success is still remembered by the node, and its lockout allows the
// phone.
func TestKnownGoodStoreAway(t *testing.T) {
	r := sharedRig(t, openDB(t), failingKG{}, Policy{})
	if _, err := r.g.Observe(context.Background(), Event{Time: lockT0.Add(-time.Hour), IP: ownIP, Kind: KindAuthSuccess, Source: SourceAPI, Username: "1001"}); !errors.Is(err, errAway) {
		t.Fatalf("success with the store away: %v; want its error reported", err)
	}
	var out Outcome
	for i := range 5 {
		out = r.observe(Event{Time: lockT0.Add(time.Duration(i) * time.Second), IP: guessIP(i), Kind: KindAuthFailure, Source: SourceAPI, Username: "1001"})
	}
	if out.Lockout == nil || !slices.Equal(out.Lockout.Allowed, []string{ownIP.String()}) {
		t.Fatalf("lockout %+v; want the phone allowed from the node's memory", out.Lockout)
	}
}

// TestTenantLockoutIsolated: a failed-login flood against 1001 of tenant
// a (the reporter named the tenant) locks 1001 of tenant a only; 1001 of
// tenant b still calls from anywhere. Failures naming no tenant lock
// 1001 in every tenant (the fallback), and a tenant's known-good source
// is allowed by its tenant's lockout, not by another tenant's.
func TestTenantLockoutIsolated(t *testing.T) {
	db := openDB(t)
	r := sharedRig(t, db, db, Policy{})
	r.observe(Event{Time: lockT0.Add(-time.Hour), IP: ownIP, Kind: KindAuthSuccess, Source: SourceKamailio, Username: "1001", Tenant: "a"})
	otherPhone := netip.MustParseAddr("198.51.100.99")
	r.observe(Event{Time: lockT0.Add(-time.Hour), IP: otherPhone, Kind: KindAuthSuccess, Source: SourceKamailio, Username: "1001", Tenant: "b"})
	var out Outcome
	for i := range 5 {
		out = r.observe(Event{Time: lockT0.Add(time.Duration(i) * time.Second), IP: guessIP(i), Kind: KindAuthFailure, Source: SourceKamailio, Username: "1001", Tenant: "a"})
	}
	if out.Lockout == nil || out.Lockout.Tenant != "a" || !slices.Equal(out.Lockout.Allowed, []string{ownIP.String()}) {
		t.Fatalf("lockout %+v; want tenant a's, allowing tenant a's phone only", out.Lockout)
	}
	at := lockT0.Add(time.Minute)
	call := func(tenant string, src netip.Addr) *screen.Verdict {
		var v screen.Verdict
		r.check.Check(context.Background(), &screen.Call{Tenant: tenant, Extension: "1001", AuthUser: "1001", SourceIP: src, Time: at, Digits: "12125550100"}, &v)
		return &v
	}
	if v := call("a", guessIP(9)); !v.Has("account_locked") {
		t.Errorf("tenant a's 1001 from a guesser: %+v; want account_locked", v.Reasons())
	}
	if v := call("b", guessIP(9)); v.Has("account_locked") {
		t.Errorf("tenant b's 1001 refused after tenant a's flood: %+v", v.Reasons())
	}
	if v := call("a", ownIP); v.Has("account_locked") {
		t.Errorf("tenant a's phone refused: %+v", v.Reasons())
	}
	// Four more failures of tenant b's 1001 do not add up with tenant a's.
	for i := range 4 {
		if out := r.observe(Event{Time: lockT0.Add(time.Duration(10+i) * time.Second), IP: guessIP(i), Kind: KindAuthFailure, Source: SourceKamailio, Username: "1001", Tenant: "b"}); out.Lockout != nil {
			t.Fatalf("tenant b locked after %d of its own failures: %+v", i+1, out.Lockout)
		}
	}
	// Failures naming no tenant (a PBX log) lock 1001 everywhere; both
	// tenants' phones stay allowed.
	for i := range 5 {
		out = r.observe(Event{Time: lockT0.Add(time.Duration(20+i) * time.Second), IP: guessIP(i), Kind: KindAuthFailure, Source: SourceAsterisk, Username: "1001"})
	}
	if out.Lockout == nil || out.Lockout.Tenant != "" || !slices.Equal(out.Lockout.Allowed, []string{ownIP.String(), otherPhone.String()}) {
		t.Fatalf("tenant-less lockout %+v; want both tenants' phones allowed", out.Lockout)
	}
	at = lockT0.Add(2 * time.Minute)
	if v := call("b", guessIP(9)); !v.Has("account_locked") {
		t.Errorf("tenant b's 1001 after the tenant-less lockout: %+v; want account_locked", v.Reasons())
	}
	if v := call("b", otherPhone); v.Has("account_locked") {
		t.Errorf("tenant b's phone refused by the tenant-less lockout: %+v", v.Reasons())
	}
}

// TestForgedSuccessDuringTenantLock: while acme's 1001 is locked, an
// attacker who guessed right reports (or gets reported, by a PBX log
// that names no tenant) a success from its address, naming no tenant or
// naming another tenant. Neither teaches anything: a later lockout of
// acme's 1001, and one naming no tenant, do not allow the attacker.
func TestForgedSuccessDuringTenantLock(t *testing.T) {
	db := openDB(t)
	r := sharedRig(t, db, db, Policy{})
	for i := range 5 {
		r.observe(Event{Time: lockT0.Add(time.Duration(i) * time.Second), IP: guessIP(i), Kind: KindAuthFailure, Source: SourceKamailio, Username: "1001", Tenant: "acme"})
	}
	thief := guessIP(20)
	r.observe(Event{Time: lockT0.Add(time.Minute), IP: thief, Kind: KindAuthSuccess, Source: SourceAsterisk, Username: "1001"})
	// A tenant-less lock, then a success naming another tenant.
	for i := range 5 {
		r.observe(Event{Time: lockT0.Add(2*time.Minute + time.Duration(i)*time.Second), IP: guessIP(i), Kind: KindAuthFailure, Source: SourceAsterisk, Username: "2002"})
	}
	r.observe(Event{Time: lockT0.Add(3 * time.Minute), IP: thief, Kind: KindAuthSuccess, Source: SourceAPI, Username: "2002", Tenant: "acme"})
	ks, err := db.KnownGood(context.Background(), "", "1001", time.Time{})
	if err != nil || len(ks) != 0 {
		t.Fatalf("known-good of 1001 after the thief's success during acme's lock: %+v, %v; want none", ks, err)
	}
	if ks, _ := db.KnownGood(context.Background(), "", "2002", time.Time{}); len(ks) != 0 {
		t.Fatalf("known-good of 2002 after the thief's success naming acme during the tenant-less lock: %+v; want none", ks)
	}
	// After both locks end, a new lock of acme's 1001 does not allow it.
	later := lockT0.Add(2 * time.Hour)
	var out Outcome
	for i := range 5 {
		out = r.observe(Event{Time: later.Add(time.Duration(i) * time.Second), IP: guessIP(i), Kind: KindAuthFailure, Source: SourceKamailio, Username: "1001", Tenant: "acme"})
	}
	if out.Lockout == nil || slices.Contains(out.Lockout.Allowed, thief.String()) {
		t.Fatalf("acme's new lockout %+v; must not allow the thief", out.Lockout)
	}
}

// TestKnownGoodRaceTwoNodes: two guards on one store record successes
// and failures of one account at once (the race two nodes behind a
// load balancer run); whichever decides the lockout allows the phone,
// and the store's list stays bounded.
func TestKnownGoodRaceTwoNodes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tollgate.db")
	var dbs []*sqlite.Reputation
	for range 2 {
		db, err := sqlite.OpenReputation(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		dbs = append(dbs, db)
	}
	a, b := sharedRig(t, dbs[0], dbs[0], Policy{}), sharedRig(t, dbs[1], dbs[1], Policy{})
	a.observe(Event{Time: lockT0.Add(-time.Hour), IP: ownIP, Kind: KindAuthSuccess, Source: SourceAPI, Username: "1001"})
	var wg sync.WaitGroup
	for n, r := range []*lockRig{a, b} {
		wg.Go(func() {
			for i := range 40 {
				ip := netip.AddrFrom4([4]byte{10, byte(n), 0, byte(i)})
				if _, err := r.g.Observe(context.Background(), Event{Time: lockT0.Add(-30*time.Minute + time.Duration(i)*time.Second), IP: ip, Kind: KindAuthSuccess, Source: SourceAPI, Username: "2002"}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	var out Outcome
	for i := range 5 {
		out = b.observe(Event{Time: lockT0.Add(time.Duration(i) * time.Second), IP: guessIP(i), Kind: KindAuthFailure, Source: SourceAPI, Username: "1001"})
	}
	if out.Lockout == nil || !slices.Contains(out.Lockout.Allowed, ownIP.String()) {
		t.Fatalf("lockout %+v; want the phone allowed", out.Lockout)
	}
	ks, err := dbs[0].KnownGood(context.Background(), "", "2002", time.Time{})
	if err != nil || len(ks) > reputation.MaxKnownGood+1 {
		t.Fatalf("2002 holds %d sources after two nodes' 80 logins, %v; want at most %d", len(ks), err, reputation.MaxKnownGood+1)
	}
}

// TestVoicemailLockoutScreened: three wrong PINs for box 1001 lock it;
// a call to the voicemail number from the account's known-good phone
// goes through, from anywhere else it is refused (voicemail_locked);
// calls to other numbers and other boxes are not touched.
func TestVoicemailLockoutScreened(t *testing.T) {
	db := openDB(t)
	live := reputation.NewLive(reputation.Policy{IPAction: "honeypot", NumberAction: "reject", VoicemailNumbers: []string{"*97"}})
	g := NewGuard(Policy{}, reputation.Enforcing{Store: db, Live: live}, nil, quiet)
	g.SetKnownGood(db)
	g.Locked = func(kind, tenant, subject string, at time.Time) *reputation.Lockout {
		return live.Load().Lockout(kind, tenant, subject, at)
	}
	ctx := context.Background()
	if _, err := g.Observe(ctx, Event{Time: lockT0.Add(-time.Hour), IP: ownIP, Kind: KindAuthSuccess, Source: SourceAsterisk, Username: "1001"}); err != nil {
		t.Fatal(err)
	}
	var out Outcome
	for i := range 3 {
		var err error
		if out, err = g.Observe(ctx, Event{Time: lockT0.Add(time.Duration(i) * time.Second), IP: guessIP(i), Kind: KindVoicemailPIN, Source: SourceAsterisk, Username: "1001"}); err != nil {
			t.Fatal(err)
		}
	}
	if out.Lockout == nil || out.Lockout.Kind != reputation.LockVoicemail || !slices.Equal(out.Lockout.Allowed, []string{ownIP.String()}) {
		t.Fatalf("lockout %+v; want voicemail 1001 allowing the phone", out.Lockout)
	}
	at := lockT0.Add(time.Minute)
	check := checkrep.New(live)
	for _, c := range []struct {
		name         string
		chk          *checkrep.Reputation
		callee, auth string
		src          netip.Addr
		refused      bool
	}{
		{"voicemail from a guesser", check, "*97", "1001", guessIP(5), true},
		{"voicemail from a guesser, extension only", check, "*97", "", guessIP(5), true},
		{"voicemail from the phone", check, "*97", "1001", ownIP, false},
		{"another number from a guesser", check, "12125550100", "1001", guessIP(5), false},
		{"voicemail of another box", check, "*97", "1002", guessIP(5), false},
	} {
		ext := "1001"
		if c.auth == "1002" {
			ext = "1002"
		}
		var v screen.Verdict
		c.chk.Check(ctx, &screen.Call{Extension: ext, AuthUser: c.auth, Callee: c.callee, SourceIP: c.src, Time: at}, &v)
		if got := v.Has("voicemail_locked"); got != c.refused || (c.refused && v.Action != screen.Reject) {
			t.Errorf("%s: %v %+v; want refused %v", c.name, v.Action, v.Reasons(), c.refused)
		}
	}
}
