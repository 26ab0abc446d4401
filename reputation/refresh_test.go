package reputation

import (
	"context"
	"errors"
	"testing"
	"time"
)

// fakeStore serves fixed lists and counts how often they are read; its
// version and errors are set by the test.
type fakeStore struct {
	Store
	entries []Entry
	lists   int
	listErr error
}

func (f *fakeStore) List(context.Context, Query) ([]Entry, error) {
	f.lists++
	return f.entries, f.listErr
}

func (f *fakeStore) Bans(context.Context, time.Time, bool) ([]Ban, error) { return nil, nil }

func (f *fakeStore) Lockouts(context.Context, time.Time) ([]Lockout, error) { return nil, nil }

type fakeVersioned struct {
	*fakeStore
	v      int64
	vErr   error
	checks int
}

func (f *fakeVersioned) Version(context.Context) (int64, error) {
	f.checks++
	return f.v, f.vErr
}

func TestRefresherVersioned(t *testing.T) {
	st := &fakeVersioned{fakeStore: &fakeStore{entries: []Entry{{Kind: KindNumber, Value: "+4420"}}}}
	l := NewLive(Policy{})
	r := &Refresher{Store: st, Live: l, Full: 30 * time.Second}
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	ctx := context.Background()
	want := func(at time.Duration, read bool, lists int) {
		t.Helper()
		got, err := r.Refresh(ctx, t0.Add(at))
		if err != nil || got != read || st.lists != lists {
			t.Fatalf("refresh at +%v: read %v err %v, %d lists; want read %v, %d lists", at, got, err, st.lists, read, lists)
		}
	}
	want(0, true, 1)
	if l.Load().Number("4420", t0) == nil {
		t.Fatal("first refresh did not install the entries")
	}
	want(time.Second, false, 1)
	want(29*time.Second, false, 1)
	want(30*time.Second, true, 2) // the safety net
	st.v++
	want(31*time.Second, true, 3)
	want(32*time.Second, false, 3)
	// A clock that went back does not keep the snapshot forever.
	want(-time.Minute, true, 4)
	// A failing version read or list keeps the old set and reads again next time.
	st.vErr = errors.New("down")
	if _, err := r.Refresh(ctx, t0.Add(40*time.Second)); err == nil {
		t.Fatal("version error not reported")
	}
	st.vErr, st.v, st.listErr = nil, st.v+1, errors.New("down")
	st.entries = nil
	if _, err := r.Refresh(ctx, t0.Add(41*time.Second)); err == nil || l.Load().Number("4420", t0) == nil {
		t.Fatalf("list error: %v; the old set must stay", err)
	}
	st.listErr = nil
	want(42*time.Second, true, 6)
	if l.Load().Number("4420", t0) != nil {
		t.Fatal("the new (empty) set was not installed")
	}
	if checks, reads := r.Stats(); checks != int64(st.checks)-1 || reads != 5 {
		t.Fatalf("stats: %d checks (store saw %d), %d reads", checks, st.checks, reads)
	}
}

// TestRefresherUnversioned: a store without a version is re-read on
// every call, as Refresh always did.
func TestRefresherUnversioned(t *testing.T) {
	st := &fakeStore{}
	r := &Refresher{Store: st, Live: NewLive(Policy{})}
	for i := range 3 {
		if read, err := r.Refresh(context.Background(), time.Now()); err != nil || !read || st.lists != i+1 {
			t.Fatalf("call %d: read %v err %v lists %d", i, read, err, st.lists)
		}
	}
}
