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
