package decisionlog_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/decisionlog"
	"github.com/tollgate-voip/tollgate/store"
	"github.com/tollgate-voip/tollgate/store/sqlite"
)

var t0 = time.Date(2026, 11, 23, 10, 30, 0, 0, time.UTC)

func openStore(t testing.TB) (*sqlite.Store, string) {
	t.Helper()
	dir := t.TempDir()
	if base := os.Getenv("TOLLGATE_BENCH_DIR"); base != "" { // see store/sqlite's dbPath
		var err error
		if dir, err = os.MkdirTemp(base, "tollgate-bench-"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
	}
	path := filepath.Join(dir, "tollgate.db")
	s, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

func rows(t *testing.T, path, table string) int {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM ` + table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func decision(id string) store.Decision {
	return store.Decision{CallID: id, Time: t0, Tenant: "acme", Action: "allow", Enforced: "allow"}
}

func closeWriter(t *testing.T, w *decisionlog.Writer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := w.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// quiet is a logger for tests that expect warnings.
func quiet() (*slog.Logger, *syncBuffer) {
	var b syncBuffer
	return slog.New(slog.NewTextHandler(&b, nil)), &b
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func TestConcurrentWritersLoseNothing(t *testing.T) {
	s, path := openStore(t)
	w := decisionlog.New(s, decisionlog.Options{BatchSize: 64, FlushInterval: 10 * time.Millisecond})
	const goroutines, each = 32, 300
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				id := fmt.Sprintf("g%d-%d", g, i)
				if !w.Decision(decision(id)) {
					t.Errorf("Decision(%s) refused", id)
				}
				if !w.Event(store.CallEvent{CallID: id, Type: "end", Time: t0, Duration: i}) {
					t.Errorf("Event(%s) refused", id)
				}
			}
		})
	}
	wg.Wait()
	closeWriter(t, w)

	const want = goroutines * each
	if n := rows(t, path, "decisions"); n != want {
		t.Errorf("decisions rows = %d, want %d", n, want)
	}
	if n := rows(t, path, "call_events"); n != want {
		t.Errorf("call_events rows = %d, want %d", n, want)
	}
	st := w.Stats()
	if st.Written != 2*want || st.Dropped != 0 || st.Queued != 0 || st.FailedBatches != 0 || st.LastError != nil {
		t.Errorf("Stats = %+v, want %d written and nothing else", st, 2*want)
	}
}

func TestFlush(t *testing.T) {
	s, path := openStore(t)
	w := decisionlog.New(s, decisionlog.Options{FlushInterval: time.Hour})
	defer closeWriter(t, w)
	for i := range 10 {
		w.Decision(decision(fmt.Sprint(i)))
	}
	w.Event(store.CallEvent{CallID: "0", Type: "answer", Time: t0})
	if err := w.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := rows(t, path, "decisions"); n != 10 {
		t.Errorf("after Flush decisions rows = %d, want 10", n)
	}
	if n := rows(t, path, "call_events"); n != 1 {
		t.Errorf("after Flush call_events rows = %d, want 1", n)
	}
	if st := w.Stats(); st.Queued != 0 || st.Written != 11 {
		t.Errorf("after Flush Stats = %+v, want 11 written, none queued", st)
	}
}

// lockFile takes the database write lock from another connection, as a
// second process in a long transaction would, and returns its release.
func lockFile(t *testing.T, path string) (release func()) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(context.Background(), "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	release = func() {
		once.Do(func() {
			conn.ExecContext(context.Background(), "ROLLBACK")
			conn.Close()
			db.Close()
		})
	}
	t.Cleanup(release)
	return release
}

func TestBoundWhileStoreBlocked(t *testing.T) {
	s, path := openStore(t)
	log, logs := quiet()
	const queue, batch, total = 8, 4, 200
	w := decisionlog.New(s, decisionlog.Options{QueueSize: queue, BatchSize: batch,
		FlushInterval: time.Millisecond, Logger: log})
	release := lockFile(t, path)

	accepted := 0
	for i := range total {
		if w.Decision(decision(fmt.Sprint(i))) {
			accepted++
		}
		if i == batch {
			time.Sleep(20 * time.Millisecond) // let the writer take a batch and block on the lock
		}
	}
	st := w.Stats()
	if accepted > queue+batch+1 {
		t.Errorf("accepted %d records with a blocked store, want at most %d", accepted, queue+batch+1)
	}
	if got := st.Dropped; got != uint64(total-accepted) {
		t.Errorf("Dropped = %d, want %d", got, total-accepted)
	}
	if st.Queued != int64(accepted) {
		t.Errorf("Queued = %d, want %d", st.Queued, accepted)
	}
	if n := strings.Count(logs.String(), "records dropped"); n != 1 {
		t.Errorf("logged %d drop warnings, want 1 (rate-limited):\n%s", n, logs)
	}

	release()
	closeWriter(t, w)
	if n := rows(t, path, "decisions"); n != accepted {
		t.Errorf("decisions rows = %d, want every accepted record (%d)", n, accepted)
	}
	if st := w.Stats(); st.Written != uint64(accepted) || st.Queued != 0 {
		t.Errorf("after Close Stats = %+v, want %d written", st, accepted)
	}
	if w.Decision(decision("late")) {
		t.Error("Decision after Close was accepted")
	}
	if got := w.Dropped(); got != uint64(total-accepted+1) {
		t.Errorf("Dropped after a late record = %d, want %d", got, total-accepted+1)
	}
}

func TestCloseGivesUpWhenStoreIsStuck(t *testing.T) {
	s, path := openStore(t)
	log, _ := quiet()
	w := decisionlog.New(s, decisionlog.Options{BatchSize: 4, FlushInterval: time.Millisecond, Logger: log})
	release := lockFile(t, path)
	for i := range 20 {
		if !w.Decision(decision(fmt.Sprint(i))) {
			t.Fatalf("Decision(%d) refused", i)
		}
	}
	time.AfterFunc(300*time.Millisecond, release)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err := w.Close(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close with a stuck store = %v, want a deadline error", err)
	}
	st := w.Stats()
	written := rows(t, path, "decisions")
	if st.Written != uint64(written) || st.Written+st.Dropped != 20 || st.Dropped == 0 || st.Queued != 0 {
		t.Errorf("Stats = %+v with %d rows; want every record written or counted as dropped", st, written)
	}
	if !strings.Contains(err.Error(), fmt.Sprintf("%d records not written", st.Dropped)) {
		t.Errorf("Close error %q does not say how many records were lost (%d)", err, st.Dropped)
	}
}

// flaky fails its first calls, as a store does while its disk is full or its
// server restarts, and then passes through to a real store.
type flaky struct {
	store.Decisions
	failures atomic.Int32
}

var errFlaky = errors.New("disk full")

func (f *flaky) AppendDecisions(ctx context.Context, ds []store.Decision) error {
	if f.failures.Add(-1) >= 0 {
		return errFlaky
	}
	return f.Decisions.AppendDecisions(ctx, ds)
}

func TestRetryAfterStoreFailure(t *testing.T) {
	s, path := openStore(t)
	f := &flaky{Decisions: s}
	f.failures.Store(3)
	log, logs := quiet()
	w := decisionlog.New(f, decisionlog.Options{RetryMin: time.Millisecond, RetryMax: 4 * time.Millisecond, Logger: log})
	for i := range 10 {
		w.Decision(decision(fmt.Sprint(i)))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	st := w.Stats()
	if st.Written != 10 || st.FailedBatches != 3 || !errors.Is(st.LastError, errFlaky) || st.LastErrorTime.IsZero() {
		t.Errorf("Stats = %+v, want 10 written after 3 failed batches", st)
	}
	if n := rows(t, path, "decisions"); n != 10 {
		t.Errorf("decisions rows = %d, want 10", n)
	}
	if !strings.Contains(logs.String(), "retrying") {
		t.Errorf("no retry warning logged:\n%s", logs)
	}
	closeWriter(t, w)
}

func TestInvalidRecordIsDroppedAlone(t *testing.T) {
	s, path := openStore(t)
	log, logs := quiet()
	w := decisionlog.New(s, decisionlog.Options{FlushInterval: time.Hour, Logger: log})
	w.Decision(decision("a"))
	w.Decision(store.Decision{Time: t0}) // no call id
	w.Decision(decision("b"))
	w.Event(store.CallEvent{CallID: "a", Type: "end"}) // no time
	w.Event(store.CallEvent{CallID: "a", Type: "answer", Time: t0})
	closeWriter(t, w)
	if n := rows(t, path, "decisions"); n != 2 {
		t.Errorf("decisions rows = %d, want 2", n)
	}
	if n := rows(t, path, "call_events"); n != 1 {
		t.Errorf("call_events rows = %d, want 1", n)
	}
	if st := w.Stats(); st.Written != 3 || st.Dropped != 2 || st.Queued != 0 || !errors.Is(st.LastError, store.ErrInvalid) {
		t.Errorf("Stats = %+v, want 3 written, 2 dropped", st)
	}
	if !strings.Contains(logs.String(), "invalid record dropped") {
		t.Errorf("invalid records not logged:\n%s", logs)
	}
}

// countingStore counts store calls (each is one SQLite transaction, one
// fsync under synchronous=FULL).
type countingStore struct {
	*sqlite.Store
	calls atomic.Int64
	ids   sync.Map // call IDs the store has committed
}

func (c *countingStore) AppendDecisions(ctx context.Context, ds []store.Decision) error {
	c.calls.Add(1)
	if err := c.Store.AppendDecisions(ctx, ds); err != nil {
		return err
	}
	for _, d := range ds {
		c.ids.Store(d.CallID, true)
	}
	return nil
}

// TestSyncWaitsForTheStoreAndGroupsCommits: Sync returns only once the
// record queued before it is in the store, without waiting for the flush
// interval, and concurrent waiters share store commits.
func TestSyncWaitsForTheStoreAndGroupsCommits(t *testing.T) {
	s, path := openStore(t)
	cs := &countingStore{Store: s}
	w := decisionlog.New(cs, decisionlog.Options{FlushInterval: time.Hour})
	defer w.Close(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if !w.Decision(decision("one")) {
		t.Fatal("not accepted")
	}
	if err := w.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if n := rows(t, path, "decisions"); n != 1 {
		t.Fatalf("after Sync: %d rows, want 1", n)
	}

	const n = 200
	var wg sync.WaitGroup
	var stored atomic.Int64
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprint("g-", i)
			w.Decision(decision(id))
			if err := w.Sync(ctx); err != nil {
				t.Error(err)
				return
			}
			if _, ok := cs.ids.Load(id); !ok {
				t.Errorf("%s acknowledged by Sync before the store committed it", id)
				return
			}
			stored.Add(1)
		}()
	}
	wg.Wait()
	if stored.Load() != n {
		t.Fatalf("%d of %d synced decisions stored", stored.Load(), n)
	}
	if got := rows(t, path, "decisions"); got != n+1 {
		t.Fatalf("%d rows, want %d", got, n+1)
	}
	if calls := cs.calls.Load(); calls >= n {
		t.Errorf("%d store commits for %d concurrent waiters: no group commit", calls, n)
	} else {
		t.Logf("%d waiters, %d store commits", n, calls)
	}
}

// TestSyncReturnsWhenTheStoreStaysDown: a waiter's context bounds the
// wait while the store refuses writes; the record stays queued and is
// written once the store is back.
func TestSyncReturnsWhenTheStoreStaysDown(t *testing.T) {
	s, path := openStore(t)
	fs := &failingStore{Store: s}
	fs.fail.Store(true)
	w := decisionlog.New(fs, decisionlog.Options{FlushInterval: time.Hour, RetryMin: time.Millisecond, RetryMax: 5 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil))})
	defer w.Close(context.Background())
	w.Decision(decision("late"))
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	err := w.Sync(ctx)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Sync with the store down: %v, want a deadline error", err)
	}
	fs.fail.Store(false)
	if err := w.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := rows(t, path, "decisions"); n != 1 {
		t.Fatalf("%d rows after recovery, want 1", n)
	}
}

type failingStore struct {
	*sqlite.Store
	fail atomic.Bool
}

func (f *failingStore) AppendDecisions(ctx context.Context, ds []store.Decision) error {
	if f.fail.Load() {
		return errors.New("disk full")
	}
	return f.Store.AppendDecisions(ctx, ds)
}

// TestFullBatchWrittenBeforeTick: below a batch the writer waits for its
// tick (an hour here), but a full batch of decisions or of events is
// written at once.
func TestFullBatchWrittenBeforeTick(t *testing.T) {
	s, _ := openStore(t)
	cs := &countingStore{Store: s}
	w := decisionlog.New(cs, decisionlog.Options{BatchSize: 8, FlushInterval: time.Hour})
	defer closeWriter(t, w)
	for i := range 8 {
		w.Decision(decision(fmt.Sprintf("full-%d", i)))
	}
	for i := range 8 {
		w.Event(store.CallEvent{CallID: fmt.Sprintf("full-%d", i), Type: "answer", Time: time.Unix(1_700_000_000, 0)})
	}
	deadline := time.Now().Add(10 * time.Second)
	for w.Stats().Written < 16 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if st := w.Stats(); st.Written != 16 || st.Queued != 0 {
		t.Fatalf("Stats = %+v, want the two full batches written before the hour's tick", st)
	}
	if n := cs.calls.Load(); n != 1 {
		t.Errorf("%d decision batches stored, want 1", n)
	}
}
