// Package decisionlog writes decisions and call events to a store in
// batches, from a background goroutine, so that screening never waits on I/O.
package decisionlog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tollgate-voip/tollgate/store"
)

// Options tunes a Writer. Zero fields take the defaults shown.
type Options struct {
	// BatchSize is the most records of one kind written per store call (512).
	BatchSize int
	// FlushInterval bounds how long an accepted record waits before its
	// batch is written when traffic is too light to fill one (50ms).
	FlushInterval time.Duration
	// QueueSize is how many records of each kind may wait in memory (65536).
	// While the store is failing, up to QueueSize+BatchSize records of each
	// kind are kept; beyond that new records are dropped and counted.
	QueueSize int
	// RetryMin and RetryMax bound the backoff between attempts to write a
	// batch the store refused (100ms, 5s).
	RetryMin, RetryMax time.Duration
	// SyncInterval bounds how long records written to a Syncer store
	// wait for their Sync when nobody waits for them (1s).
	SyncInterval time.Duration
	// WarnInterval is the least time between two warnings about dropped
	// records (10s).
	WarnInterval time.Duration
	// Logger receives warnings (slog.Default()).
	Logger *slog.Logger
}

func (o *Options) setDefaults() {
	if o.BatchSize <= 0 {
		o.BatchSize = 512
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = 50 * time.Millisecond
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 65536
	}
	if o.RetryMin <= 0 {
		o.RetryMin = 100 * time.Millisecond
	}
	if o.RetryMax < o.RetryMin {
		o.RetryMax = max(5*time.Second, o.RetryMin)
	}
	if o.SyncInterval <= 0 {
		o.SyncInterval = time.Second
	}
	if o.WarnInterval <= 0 {
		o.WarnInterval = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Syncer is a store whose appends are durable only once SyncRecords
// returns (decisionlog/seglog with DeferSync). A Writer on one syncs
// before it releases Sync waiters, at least every SyncInterval while it
// writes, and when it closes; with any other store each append is
// durable by itself.
type Syncer interface {
	SyncRecords(ctx context.Context) error
}

// Stats is a snapshot of a Writer's counters, for metrics and health checks.
type Stats struct {
	Queued        int64     // records accepted and not yet written or dropped
	Written       uint64    // records the store accepted
	Dropped       uint64    // records refused (queue full, writer closed) or lost
	FailedBatches uint64    // store calls that returned an error
	LastError     error     // the last store error, nil if none yet
	LastErrorTime time.Time // when LastError happened
}

// Writer queues decisions and call events and writes them to a store in
// batches. Its methods are safe for concurrent use.
type Writer struct {
	dst  store.Decisions
	opts Options
	log  *slog.Logger

	// mu is read-held while a record is queued and write-held to close, so
	// no record can slip into a queue after the final drain.
	mu     sync.RWMutex
	closed bool

	decisions chan store.Decision
	events    chan store.CallEvent
	kick      chan struct{} // a queue holds a full batch (else run takes the queues at each tick)
	flushReq  chan chan struct{}
	syncReq   chan chan struct{}
	quit      chan struct{} // closed by Close
	done      chan struct{} // closed when run returns
	ctx       context.Context
	abort     context.CancelFunc // cancels ctx: stop retrying, give up

	queued        atomic.Int64
	written       atomic.Uint64
	dropped       atomic.Uint64
	failedBatches atomic.Uint64
	lastWarn      atomic.Int64 // unix nanos of the last drop warning

	// Owned by run: records written or dropped so far, per kind, in
	// queue order; Sync waits on them.
	doneD, doneE uint64
	// Owned by run: for a Syncer store, the records counted in doneD+doneE
	// when it last synced, and when.
	syncer   Syncer
	synced   uint64
	syncedAt time.Time

	errMu     sync.Mutex
	lastErr   error
	lastErrAt time.Time
}

// New starts a Writer that writes to dst. Call Close to stop it.
func New(dst store.Decisions, opts Options) *Writer {
	opts.setDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	w := &Writer{
		dst:       dst,
		opts:      opts,
		log:       opts.Logger,
		decisions: make(chan store.Decision, opts.QueueSize),
		events:    make(chan store.CallEvent, opts.QueueSize),
		kick:      make(chan struct{}, 1),
		flushReq:  make(chan chan struct{}),
		syncReq:   make(chan chan struct{}, 4096),
		quit:      make(chan struct{}),
		done:      make(chan struct{}),
		ctx:       ctx,
		abort:     cancel,
	}
	w.syncer, _ = dst.(Syncer)
	w.syncedAt = time.Now()
	go w.run()
	return w
}

// syncStore makes the records written so far durable on a Syncer store,
// when any were written since the last sync and force or SyncInterval
// says so, retrying like a write.
func (w *Writer) syncStore(force bool) {
	done := w.doneD + w.doneE
	if w.syncer == nil || done == w.synced || !force && time.Since(w.syncedAt) < w.opts.SyncInterval {
		return
	}
	backoff := w.opts.RetryMin
	for {
		err := w.syncer.SyncRecords(w.ctx)
		if err == nil {
			break
		}
		w.failedBatches.Add(1)
		w.errMu.Lock()
		w.lastErr, w.lastErrAt = err, time.Now()
		w.errMu.Unlock()
		if w.ctx.Err() != nil {
			return
		}
		w.log.Warn("decisionlog: store sync failed; retrying", "retry_in", backoff, "err", err)
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-w.ctx.Done():
			t.Stop()
		}
		backoff = min(2*backoff, w.opts.RetryMax)
	}
	w.synced, w.syncedAt = done, time.Now()
}

// Decision queues d without blocking and reports whether it was accepted.
// A record that is not accepted is counted in Stats.Dropped.
func (w *Writer) Decision(d store.Decision) bool {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.closed {
		w.drop(1, "writer closed")
		return false
	}
	w.queued.Add(1)
	select {
	case w.decisions <- d:
		if len(w.decisions) >= w.opts.BatchSize {
			w.wake()
		}
		return true
	default:
		w.queued.Add(-1)
		w.drop(1, "decision queue full")
		return false
	}
}

// Event queues e without blocking and reports whether it was accepted.
// A record that is not accepted is counted in Stats.Dropped.
func (w *Writer) Event(e store.CallEvent) bool {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.closed {
		w.drop(1, "writer closed")
		return false
	}
	w.queued.Add(1)
	select {
	case w.events <- e:
		if len(w.events) >= w.opts.BatchSize {
			w.wake()
		}
		return true
	default:
		w.queued.Add(-1)
		w.drop(1, "event queue full")
		return false
	}
}

// wake tells run that a queue holds a full batch. Below that run takes
// the queued records at each flush tick: recording a decision does not
// wake a goroutine for each call (the records were written only when a
// batch was full or at the tick before, too).
func (w *Writer) wake() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// Flush returns once every record accepted before the call has been written
// or dropped, or when ctx is done.
func (w *Writer) Flush(ctx context.Context) error {
	ack := make(chan struct{})
	select {
	case w.flushReq <- ack:
	case <-w.done:
		return nil // Close has drained everything
	case <-ctx.Done():
		return w.ctxErr(ctx, "flush")
	}
	select {
	case <-ack:
		return nil
	case <-ctx.Done():
		return w.ctxErr(ctx, "flush")
	}
}

// Sync returns once every record accepted before the call has been
// written or dropped: what a front end waits for before it acknowledges
// a decision (group commit). Unlike Flush it does not force a write of
// its own: the writer writes at once while anyone waits, and the records
// and waiters that arrive during one write share the next one, so under
// load one store commit (one fsync) acknowledges a whole batch. It
// returns ctx's error if ctx ends first; the records stay queued.
func (w *Writer) Sync(ctx context.Context) error {
	ack := make(chan struct{})
	select {
	case w.syncReq <- ack:
	case <-w.done:
		return nil // Close has drained everything
	case <-ctx.Done():
		return w.ctxErr(ctx, "sync")
	}
	select {
	case <-ack:
		return nil
	case <-w.done:
		return nil
	case <-ctx.Done():
		return w.ctxErr(ctx, "sync")
	}
}

// Close stops accepting records and writes everything pending. If ctx ends
// first, it gives up: records not yet written are counted in Stats.Dropped
// and Close reports how many. Close may be called more than once.
func (w *Writer) Close(ctx context.Context) error {
	w.mu.Lock()
	first := !w.closed
	w.closed = true
	w.mu.Unlock()
	if first {
		close(w.quit)
	}
	before := w.dropped.Load()
	select {
	case <-w.done:
		w.abort()
		return nil
	case <-ctx.Done():
	}
	w.abort()
	<-w.done
	if lost := w.dropped.Load() - before; lost > 0 {
		return w.withLastErr(fmt.Errorf("decisionlog: close: %d records not written: %w", lost, ctx.Err()))
	}
	return nil
}

// Stats returns the current counters.
func (w *Writer) Stats() Stats {
	w.errMu.Lock()
	lastErr, lastErrAt := w.lastErr, w.lastErrAt
	w.errMu.Unlock()
	return Stats{
		Queued:        w.queued.Load(),
		Written:       w.written.Load(),
		Dropped:       w.dropped.Load(),
		FailedBatches: w.failedBatches.Load(),
		LastError:     lastErr,
		LastErrorTime: lastErrAt,
	}
}

// Dropped returns how many records were refused or lost so far.
func (w *Writer) Dropped() uint64 { return w.dropped.Load() }

// ctxErr describes the end of ctx during op.
func (w *Writer) ctxErr(ctx context.Context, op string) error {
	return w.withLastErr(fmt.Errorf("decisionlog: %s: %w", op, ctx.Err()))
}

// withLastErr adds the last store error, if any, to err: it is usually why
// a wait ran out.
func (w *Writer) withLastErr(err error) error {
	if last := w.Stats().LastError; last != nil {
		return errors.Join(err, fmt.Errorf("last store error: %w", last))
	}
	return err
}

// drop counts n records as dropped and warns, at most once per WarnInterval.
func (w *Writer) drop(n int, why string) {
	total := w.dropped.Add(uint64(n))
	now := time.Now().UnixNano()
	last := w.lastWarn.Load()
	if now-last < int64(w.opts.WarnInterval) || !w.lastWarn.CompareAndSwap(last, now) {
		return
	}
	w.log.Warn("decisionlog: records dropped", "reason", why, "dropped_total", total,
		"queue_size", w.opts.QueueSize)
}

// waiter is a Sync call: released once the records of each kind up to
// its targets (in queue order) are written or dropped.
type waiter struct {
	ack    chan struct{}
	ds, es uint64
}

// run moves records from the queues to the store until Close.
func (w *Writer) run() {
	var waiters []waiter
	defer func() {
		for _, x := range waiters {
			close(x.ack)
		}
		close(w.done)
	}()
	ds := make([]store.Decision, 0, w.opts.BatchSize)
	es := make([]store.CallEvent, 0, w.opts.BatchSize)
	tick := time.NewTicker(w.opts.FlushInterval)
	defer tick.Stop()
	for {
		select {
		case <-w.kick:
			ds, es = w.drain(ds, es)
		case <-tick.C:
			ds, es = w.drain(ds, es)
			w.syncStore(false)
		case ack := <-w.flushReq:
			ds, es = w.drain(ds, es)
			w.syncStore(true)
			close(ack)
		case ack := <-w.syncReq:
			waiters = w.commit(w.enlist(waiters, ack, ds, es), &ds, &es)
		case <-w.quit:
			w.drain(ds, es)
			w.syncStore(true)
			return
		}
	}
}

// enlist adds a Sync waiter whose records are all done, in the pending
// batches ds and es, or in the queues now: its targets count all three
// (run is the only reader, so this is exact, or over by records queued
// meanwhile).
func (w *Writer) enlist(waiters []waiter, ack chan struct{}, ds []store.Decision, es []store.CallEvent) []waiter {
	return append(waiters, waiter{ack: ack,
		ds: w.doneD + uint64(len(ds)) + uint64(len(w.decisions)),
		es: w.doneE + uint64(len(es)) + uint64(len(w.events))})
}

// commit writes until every waiter is released: each round takes the
// waiters and records that arrived during the previous write, so one
// store commit serves them all (group commit).
func (w *Writer) commit(waiters []waiter, ds *[]store.Decision, es *[]store.CallEvent) []waiter {
	for len(waiters) > 0 {
	more:
		for {
			select {
			case ack := <-w.syncReq:
				waiters = w.enlist(waiters, ack, *ds, *es)
			default:
				break more
			}
		}
		before := w.doneD + w.doneE
		*ds = fill(*ds, w.decisions, w.opts.BatchSize)
		*ds = writeBatch(w, *ds, w.dst.AppendDecisions, &w.doneD)
		*es = fill(*es, w.events, w.opts.BatchSize)
		*es = writeBatch(w, *es, w.dst.AppendCallEvents, &w.doneE)
		w.syncStore(true)
		kept := waiters[:0]
		for _, x := range waiters {
			if w.doneD >= x.ds && w.doneE >= x.es {
				close(x.ack)
			} else {
				kept = append(kept, x)
			}
		}
		clear(waiters[len(kept):])
		waiters = kept
		if w.doneD+w.doneE == before {
			break // nothing left to write (cannot happen; never spin)
		}
	}
	return waiters
}

// drain writes ds, es and everything waiting in the queues. Decisions go
// first so that a reader rarely sees an event before its decision.
func (w *Writer) drain(ds []store.Decision, es []store.CallEvent) ([]store.Decision, []store.CallEvent) {
	for {
		ds = fill(ds, w.decisions, w.opts.BatchSize)
		if len(ds) == 0 {
			break
		}
		ds = writeBatch(w, ds, w.dst.AppendDecisions, &w.doneD)
	}
	for {
		es = fill(es, w.events, w.opts.BatchSize)
		if len(es) == 0 {
			break
		}
		es = writeBatch(w, es, w.dst.AppendCallEvents, &w.doneE)
	}
	return ds, es
}

// fill moves records from q to batch without blocking until batch holds n.
func fill[T any](batch []T, q <-chan T, n int) []T {
	for len(batch) < n {
		select {
		case r := <-q:
			batch = append(batch, r)
		default:
			return batch
		}
	}
	return batch
}

// writeBatch writes batch with put, retrying with backoff until the store
// accepts it or the writer gives up, adds its length to *done and returns
// batch emptied for reuse.
func writeBatch[T any](w *Writer, batch []T, put func(context.Context, []T) error, done *uint64) []T {
	if len(batch) > 0 {
		w.write(len(batch), func(lo, hi int) error { return put(w.ctx, batch[lo:hi]) })
		*done += uint64(len(batch))
	}
	clear(batch) // let the records' memory go
	return batch[:0]
}

// write stores records [0, n) through put, retrying transient failures.
// When the store calls the batch invalid, the records are retried one at a
// time so that only the bad ones are dropped.
func (w *Writer) write(n int, put func(lo, hi int) error) {
	if w.try(0, n, put) {
		return
	}
	for i := range n {
		w.try(i, i+1, put)
	}
}

// try writes records [lo, hi) until done and reports false only when the
// store called them invalid and there is more than one to split.
func (w *Writer) try(lo, hi int, put func(lo, hi int) error) bool {
	n := hi - lo
	backoff := w.opts.RetryMin
	for {
		err := put(lo, hi)
		if err == nil {
			w.written.Add(uint64(n))
			w.queued.Add(-int64(n))
			return true
		}
		w.failedBatches.Add(1)
		w.errMu.Lock()
		w.lastErr, w.lastErrAt = err, time.Now()
		w.errMu.Unlock()
		switch {
		case errors.Is(err, store.ErrInvalid) && n > 1:
			return false
		case errors.Is(err, store.ErrInvalid):
			w.queued.Add(-1)
			w.dropped.Add(1)
			w.log.Error("decisionlog: invalid record dropped", "err", err)
			return true
		case w.ctx.Err() != nil:
			w.queued.Add(-int64(n))
			w.drop(n, "writer closed before the store accepted them")
			return true
		}
		w.log.Warn("decisionlog: store write failed; retrying", "records", n, "retry_in", backoff, "err", err)
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-w.ctx.Done():
			t.Stop()
		}
		backoff = min(2*backoff, w.opts.RetryMax)
	}
}
