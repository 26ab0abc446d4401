package decisionlog_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/decisionlog"
	"github.com/tollgate-voip/tollgate/store"
)

// syncing is a Syncer store: it records how many decisions were appended
// and how many of them the last SyncRecords covered.
type syncing struct {
	mu               sync.Mutex
	appended, synced int
	syncs            int
}

func (s *syncing) AppendDecisions(_ context.Context, ds []store.Decision) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.appended += len(ds)
	return nil
}
func (s *syncing) AppendCallEvents(context.Context, []store.CallEvent) error { return nil }
func (s *syncing) QueryDecisions(context.Context, store.DecisionQuery) ([]store.Decision, error) {
	return nil, nil
}
func (s *syncing) CallEventsSince(context.Context, time.Time) ([]store.CallEvent, error) {
	return nil, nil
}
func (s *syncing) DecisionsSince(context.Context, time.Time) ([]store.Decision, error) {
	return nil, nil
}
func (s *syncing) SyncRecords(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.synced, s.syncs = s.appended, s.syncs+1
	return nil
}

func (s *syncing) state() (appended, synced, syncs int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.appended, s.synced, s.syncs
}

// TestSyncerIsSyncedBeforeAWaiterIsReleased: on a store whose appends
// are durable only once synced, Sync returns after the sync that covers
// its records; records nobody waits for are synced within SyncInterval.
func TestSyncerIsSyncedBeforeAWaiterIsReleased(t *testing.T) {
	st := &syncing{}
	w := decisionlog.New(st, decisionlog.Options{FlushInterval: 10 * time.Millisecond, SyncInterval: 200 * time.Millisecond})
	defer w.Close(context.Background())
	for i := range 5 {
		w.Decision(decision(string(rune('a' + i))))
	}
	if err := w.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if a, s, _ := st.state(); a != 5 || s != 5 {
		t.Fatalf("after Sync: %d appended, %d synced; want 5, 5", a, s)
	}
	_, _, before := st.state()
	w.Decision(decision("late"))
	deadline := time.Now().Add(5 * time.Second)
	for {
		a, s, n := st.state()
		if a == 6 && s == 6 && n > before {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("an unawaited decision: %d appended, %d synced after 5 s; want 6, 6", a, s)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
