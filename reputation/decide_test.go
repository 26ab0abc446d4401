package reputation

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"
)

// gatedStore is a store of bans and entries whose commits and reads can
// be held: a write waits on commit (when set) after saying so on
// committing; a read of the bans waits on read (when set) after saying
// so on reading, and then returns what the store held when the read
// began.
type gatedStore struct {
	Store
	mu      sync.Mutex
	bans    []Ban
	es      []Entry
	locks   []Lockout
	nextID  int64
	fail    error
	commit  chan struct{}
	writing chan struct{}
	read    chan struct{}
	reading chan struct{}
}

func (s *gatedStore) gate(wait, say chan struct{}) {
	if wait != nil {
		say <- struct{}{}
		<-wait
	}
}

func (s *gatedStore) AddBan(_ context.Context, b Ban) (Ban, error) {
	s.gate(s.commit, s.writing)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return Ban{}, s.fail
	}
	s.nextID++
	b.ID = s.nextID
	s.bans = append(s.bans, b)
	return b, nil
}

func (s *gatedStore) ReleaseBan(_ context.Context, id int64) (Ban, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return Ban{}, s.fail
	}
	for i, b := range s.bans {
		if b.ID == id {
			s.bans = append(s.bans[:i:i], s.bans[i+1:]...)
			b.Released = true
			return b, nil
		}
	}
	return Ban{}, ErrNotFound
}

func (s *gatedStore) Upsert(_ context.Context, e Entry) (Entry, error) {
	s.gate(s.commit, s.writing)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return Entry{}, s.fail
	}
	s.es = append(s.es, e)
	return e, nil
}

func (s *gatedStore) Remove(_ context.Context, kind, value string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	for i, e := range s.es {
		if e.Kind == kind && e.Value == value {
			s.es = append(s.es[:i:i], s.es[i+1:]...)
			return nil
		}
	}
	return ErrNotFound
}

func (s *gatedStore) List(context.Context, Query) ([]Entry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Entry(nil), s.es...), nil
}

func (s *gatedStore) Bans(context.Context, time.Time, bool) ([]Ban, error) {
	s.mu.Lock()
	bs := append([]Ban(nil), s.bans...)
	s.mu.Unlock()
	s.gate(s.read, s.reading)
	return bs, nil
}

func (s *gatedStore) PutLockout(_ context.Context, l Lockout) error {
	s.gate(s.commit, s.writing)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	s.locks = append(s.locks, l)
	return nil
}

func (s *gatedStore) Lockouts(context.Context, time.Time) ([]Lockout, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Lockout(nil), s.locks...), nil
}

func (s *gatedStore) ReleaseLockout(_ context.Context, kind, tenant, subject string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	n := len(s.locks)
	s.locks = slices.DeleteFunc(s.locks, func(l Lockout) bool { return l.Kind == kind && l.Tenant == tenant && l.Subject == subject })
	if len(s.locks) == n {
		return ErrNotFound
	}
	return nil
}

var (
	decideT0   = time.Date(2026, 12, 7, 18, 0, 0, 0, time.UTC)
	decideAddr = netip.MustParseAddr("198.51.100.23")
)

func decideBan() Ban {
	return Ban{IP: decideAddr.String(), Reason: "3 failures", Source: "sipfront", Created: decideT0, Expires: decideT0.Add(time.Hour)}
}

func banned(l *Live) bool { return l.Load().Banned(decideAddr, decideT0.Add(time.Minute)) != nil }

// TestAddBanEnforcedBeforeCommit: while the store's commit of a ban is
// held, the address is already banned in the set screening reads, and a
// refresh that reads the store meanwhile (which does not list the ban
// yet) does not drop it. Once a refresh begun after the commit has read
// the ban back, the store speaks for it alone.
func TestAddBanEnforcedBeforeCommit(t *testing.T) {
	ctx := context.Background()
	st := &gatedStore{commit: make(chan struct{}), writing: make(chan struct{})}
	l := NewLive(Policy{})
	if err := Refresh(ctx, st, l, decideT0); err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() { _, err := l.AddBan(ctx, st, decideBan()); done <- err }()
	<-st.writing // the commit has begun and is held
	if !banned(l) {
		t.Fatal("address not banned while the store commits its ban")
	}
	if err := Refresh(ctx, st, l, decideT0); err != nil {
		t.Fatal(err)
	}
	if !banned(l) {
		t.Fatal("a refresh before the store commit dropped the ban decided here")
	}
	close(st.commit)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !banned(l) {
		t.Fatal("address not banned after the commit")
	}
	if err := Refresh(ctx, st, l, decideT0); err != nil {
		t.Fatal(err)
	}
	if !banned(l) || l.deciding() {
		t.Fatalf("after a refresh that read the ban back: banned %v, still laid over %v; want true, false", banned(l), l.deciding())
	}
	if b := l.Load().Banned(decideAddr, decideT0); b == nil || b.ID != 1 {
		t.Fatalf("ban in the set: %+v; want the stored one (id 1)", b)
	}
}

// TestRefreshBegunBeforeCommit: a refresh that began reading before the
// commit and installs after it carries lists without the ban; the ban
// stays laid over them, and goes only with a refresh begun later.
func TestRefreshBegunBeforeCommit(t *testing.T) {
	ctx := context.Background()
	st := &gatedStore{read: make(chan struct{}), reading: make(chan struct{})}
	l := NewLive(Policy{})
	done := make(chan error)
	go func() { done <- Refresh(ctx, st, l, decideT0) }()
	<-st.reading // read the (empty) bans, not installed yet
	if _, err := l.AddBan(ctx, st, decideBan()); err != nil {
		t.Fatal(err)
	}
	close(st.read)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !banned(l) {
		t.Fatal("a refresh begun before the commit dropped the ban")
	}
	st.read = nil
	if err := Refresh(ctx, st, l, decideT0); err != nil {
		t.Fatal(err)
	}
	if !banned(l) || l.deciding() {
		t.Fatalf("after a later refresh: banned %v, laid over %v; want true, false", banned(l), l.deciding())
	}
}

// TestAddBanRefused: a ban the store refuses is withdrawn (nothing lists
// it, nothing can release it).
func TestAddBanRefused(t *testing.T) {
	ctx := context.Background()
	st := &gatedStore{fail: errors.New("disk full")}
	l := NewLive(Policy{})
	if _, err := l.AddBan(ctx, st, decideBan()); err == nil {
		t.Fatal("AddBan: no error from a failing store")
	}
	if banned(l) || l.deciding() {
		t.Fatalf("refused ban: banned %v, laid over %v; want false, false", banned(l), l.deciding())
	}
}

// TestReleaseBanWithdrawnAtCommit: a released ban stops at once, also
// against a refresh that read the store before the release; a release
// the store refuses leaves the ban in force.
func TestReleaseBanWithdrawnAtCommit(t *testing.T) {
	ctx := context.Background()
	st := &gatedStore{}
	l := NewLive(Policy{})
	b, err := l.AddBan(ctx, st, decideBan())
	if err != nil {
		t.Fatal(err)
	}
	if err := Refresh(ctx, st, l, decideT0); err != nil {
		t.Fatal(err)
	}
	st.fail = errors.New("connection refused")
	if _, err := l.ReleaseBan(ctx, st, b.ID); err == nil || !banned(l) {
		t.Fatalf("refused release: err %v, banned %v; want an error and the ban in force", err, banned(l))
	}
	st.fail = nil
	st.read, st.reading = make(chan struct{}), make(chan struct{})
	done := make(chan error)
	go func() { done <- Refresh(ctx, st, l, decideT0) }()
	<-st.reading // lists the ban
	if _, err := l.ReleaseBan(ctx, st, b.ID); err != nil {
		t.Fatal(err)
	}
	if banned(l) {
		t.Fatal("released ban still in force before the next refresh")
	}
	close(st.read)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if banned(l) {
		t.Fatal("a refresh that read the store before the release put the ban back")
	}
	st.read = nil
	if err := Refresh(ctx, st, l, decideT0); err != nil || banned(l) || l.deciding() {
		t.Fatalf("after a later refresh: err %v, banned %v, laid over %v", err, banned(l), l.deciding())
	}
}

// TestEntryDecisions: an entry is enforced before its commit; removed,
// it stops at the commit; upserted again after the removal, it is back.
func TestEntryDecisions(t *testing.T) {
	ctx := context.Background()
	st := &gatedStore{commit: make(chan struct{}), writing: make(chan struct{})}
	l := NewLive(Policy{})
	e := Entry{Kind: KindIP, Value: decideAddr.String(), Source: SourceHoneypot, Score: 90, Status: StatusConfirmed}
	at := decideT0
	done := make(chan error)
	go func() { _, err := l.Upsert(ctx, st, e); done <- err }()
	<-st.writing
	if l.Load().Addr(decideAddr, at) == nil {
		t.Fatal("entry not enforced while the store commits it")
	}
	close(st.commit)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	st.commit = nil
	if err := l.Remove(ctx, st, e.Kind, e.Value); err != nil {
		t.Fatal(err)
	}
	if l.Load().Addr(decideAddr, at) != nil {
		t.Fatal("removed entry still enforced")
	}
	if _, err := l.Upsert(ctx, st, e); err != nil {
		t.Fatal(err)
	}
	if l.Load().Addr(decideAddr, at) == nil {
		t.Fatal("entry upserted after its removal not enforced")
	}
	if err := Refresh(ctx, st, l, decideT0); err != nil || l.Load().Addr(decideAddr, at) == nil || l.deciding() {
		t.Fatalf("after a refresh: err %v, laid over %v", err, l.deciding())
	}
}
