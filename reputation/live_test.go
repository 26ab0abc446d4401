package reputation

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"
)

// overlayStore is a Store whose lists can fail, with writes it still
// holds (an Overlayer).
type overlayStore struct {
	Store
	es   []Entry
	bs   []Ban
	down bool
	oe   []Entry
	ob   []Ban
}

func (s *overlayStore) List(context.Context, Query) ([]Entry, error) {
	if s.down {
		return nil, errors.New("connection refused")
	}
	return append([]Entry(nil), s.es...), nil
}

func (s *overlayStore) Bans(context.Context, time.Time, bool) ([]Ban, error) {
	if s.down {
		return nil, errors.New("connection refused")
	}
	return append([]Ban(nil), s.bs...), nil
}

func (s *overlayStore) Lockouts(context.Context, time.Time) ([]Lockout, error) {
	if s.down {
		return nil, errors.New("connection refused")
	}
	return nil, nil
}

func (s *overlayStore) Overlay() ([]Entry, []Ban) { return s.oe, s.ob }

// TestRefreshOverlay: held entries are merged into stored ones (a manual
// score 100 stays 100 under a honeypot sighting scoring 50), held bans
// are added, and when the store fails the last lists read stay in force
// with what is held laid over them.
func TestRefreshOverlay(t *testing.T) {
	now := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	a, b, c := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2"), netip.MustParseAddr("192.0.2.3")
	st := &overlayStore{
		es: []Entry{{Kind: KindIP, Value: "192.0.2.1", Source: SourceManual, Score: 100, Hits: 1}},
		bs: []Ban{{IP: "192.0.2.2", Expires: now.Add(time.Hour)}},
		oe: []Entry{{Kind: KindIP, Value: "192.0.2.1", Source: SourceHoneypot, Score: 50, Hits: 2}},
	}
	l := NewLive(DefaultPolicy)
	if err := Refresh(context.Background(), st, l, now); err != nil {
		t.Fatal(err)
	}
	if e := l.Load().Addr(a, now); e == nil || e.Score != 100 || e.Hits != 3 || e.Source != SourceManual {
		t.Fatalf("stored entry with a held sighting = %+v; want score 100, 3 hits, manual", e)
	}
	if st.es[0].Hits != 1 {
		t.Fatal("the overlay changed the store's list in place")
	}
	st.down = true
	st.ob = []Ban{{IP: "192.0.2.3", Expires: now.Add(time.Hour)}}
	if err := Refresh(context.Background(), st, l, now); err == nil {
		t.Fatal("refresh with the store down succeeded")
	}
	s := l.Load()
	if s.Banned(c, now) == nil || s.Banned(b, now) == nil || s.Addr(a, now) == nil {
		t.Fatal("with the store down the snapshot lost the held ban or what was read before")
	}
	// Without anything held, a failing refresh leaves the set as it was.
	st.oe, st.ob = nil, nil
	before := l.Load()
	if err := Refresh(context.Background(), st, l, now); err == nil || l.Load() != before {
		t.Fatal("a failing refresh without an overlay replaced the set")
	}
}

// versionedOverlay is an overlayStore with a version, as cluster mode's
// buffered PostgreSQL store is.
type versionedOverlay struct {
	*overlayStore
	v     int64
	lists int
}

func (s *versionedOverlay) Version(context.Context) (int64, error) {
	if s.down {
		return 0, errors.New("connection refused")
	}
	return s.v, nil
}

func (s *versionedOverlay) List(ctx context.Context, q Query) ([]Entry, error) {
	s.lists++
	return s.overlayStore.List(ctx, q)
}

// TestRefresherOverlay: a Refresher on a versioned store that buffers
// writes enforces a held ban when the version cannot be read (the store is
// away), keeps re-reading while something is held even though the version
// stands still, and returns to one version read per call once the buffer
// is written.
func TestRefresherOverlay(t *testing.T) {
	now := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	a, c := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.3")
	st := &versionedOverlay{overlayStore: &overlayStore{
		es: []Entry{{Kind: KindIP, Value: "192.0.2.1", Source: SourceManual, Score: 100}},
	}}
	l := NewLive(DefaultPolicy)
	r := &Refresher{Store: st, Live: l, Full: time.Minute}
	ctx := context.Background()
	if _, err := r.Refresh(ctx, now); err != nil {
		t.Fatal(err)
	}
	st.down = true
	st.ob = []Ban{{IP: "192.0.2.3", Expires: now.Add(time.Hour)}}
	if _, err := r.Refresh(ctx, now.Add(time.Second)); err == nil {
		t.Fatal("refresh with the store away succeeded")
	}
	if l.Load().Banned(c, now) == nil || l.Load().Addr(a, now) == nil {
		t.Fatal("with the version unreadable the held ban is not enforced, or the entries read before were lost")
	}
	// The store answers again but has not got the ban yet: the version
	// stands still, yet the held ban must stay laid over the lists.
	st.down = false
	lists := st.lists
	if read, err := r.Refresh(ctx, now.Add(2*time.Second)); err != nil || !read || st.lists != lists+1 {
		t.Fatalf("refresh with writes held: read %v, err %v, %d lists; want a re-read", read, err, st.lists-lists)
	}
	if l.Load().Banned(c, now) == nil {
		t.Fatal("held ban dropped by a refresh")
	}
	// Written: the store has it, the buffer is empty, the version moved.
	st.bs, st.ob = st.ob, nil
	st.v++
	if read, _ := r.Refresh(ctx, now.Add(3*time.Second)); !read || l.Load().Banned(c, now) == nil {
		t.Fatal("the written ban was not read from the store")
	}
	if read, _ := r.Refresh(ctx, now.Add(4*time.Second)); read {
		t.Fatal("re-read with nothing held and the version unchanged")
	}
}
