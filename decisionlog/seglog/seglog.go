// Package seglog keeps the decision log and the call-event log of an
// embedded node in append-only segment files: each batch the decision
// writer hands over becomes one checksummed frame, written with one
// write and one fdatasync (group commit), its records dictionary- and
// varint-encoded (codec.go) behind a Bloom filter of the keys queries
// look them up by (bloom.go). Retention drops whole segments.
//
// A Log implements the decision half of store.Decisions; Wrap puts it in
// front of a store.Store (SQLite) that keeps everything else.
package seglog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tollgate-voip/tollgate/store"
)

// Options tunes a Log. Zero fields take the defaults shown.
type Options struct {
	// ReadOnly opens the log for queries only, beside a process that may
	// be writing it (no lock is taken and nothing is repaired).
	ReadOnly bool
	// SegmentBytes and SegmentSpan start a new segment once the active
	// one holds this many bytes (64 MiB) or was started this long ago
	// (1h); retention drops whole segments.
	SegmentBytes int64
	SegmentSpan  time.Duration
	// DedupWindow is how long a call id is remembered to skip a second
	// decision for the same call (2m); reads drop any that get through.
	DedupWindow time.Duration
	// CachedSegments is how many sealed segments keep their frame list
	// in memory between queries (48).
	CachedSegments int
	// DeferSync makes appends write without waiting for the disk: what
	// they wrote survives the process being killed (it is in the page
	// cache) but not a power cut until Sync. decisionlog.Writer calls
	// Sync before it acknowledges a waiter and once a second (through
	// Store.SyncRecords), so only decisions nobody waits for (SIP
	// answers) ride on the page cache for up to a second. Off: every
	// append is fdatasynced before it returns.
	DeferSync bool
	// Now is the clock (time.Now).
	Now func() time.Time
	// Logger receives warnings (slog.Default()).
	Logger *slog.Logger
}

func (o *Options) setDefaults() {
	if o.SegmentBytes <= 0 {
		o.SegmentBytes = 64 << 20
	}
	if o.SegmentSpan <= 0 {
		o.SegmentSpan = time.Hour
	}
	if o.DedupWindow <= 0 {
		o.DedupWindow = 2 * time.Minute
	}
	if o.CachedSegments <= 0 {
		o.CachedSegments = 48
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Stream kinds, in segment headers.
const (
	kindDecisions = 1
	kindEvents    = 2
)

// Log is the decision and call-event log in one directory. Its methods
// are safe for concurrent use.
type Log struct {
	opts Options
	lock *os.File // flock held by the writing process
	dec  *stream
	ev   *stream
	seen recent // decisions' call ids
	evs  recent // events' call id and type
}

// Open opens the log in dir, creating it unless read-only. Only one
// process may open a directory for writing.
func Open(dir string, o Options) (*Log, error) {
	o.setDefaults()
	l := &Log{opts: o}
	l.seen.window, l.evs.window = o.DedupWindow, o.DedupWindow
	if !o.ReadOnly {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("seglog: %w", err)
		}
		f, err := os.OpenFile(filepath.Join(dir, "LOCK"), os.O_RDWR|os.O_CREATE, 0o640)
		if err != nil {
			return nil, fmt.Errorf("seglog: %w", err)
		}
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
			f.Close()
			return nil, fmt.Errorf("seglog: %s is in use by another process: %w", dir, err)
		}
		l.lock = f
	}
	l.dec = &stream{name: 'd', kind: kindDecisions, path: filepath.Join(dir, "decisions"), readOnly: o.ReadOnly, opts: &l.opts}
	l.ev = &stream{name: 'e', kind: kindEvents, path: filepath.Join(dir, "events"), readOnly: o.ReadOnly, opts: &l.opts}
	for _, s := range []*stream{l.dec, l.ev} {
		if err := s.open(); err != nil {
			l.Close()
			return nil, err
		}
	}
	return l, nil
}

// Sync makes every append so far durable (see Options.DeferSync).
func (l *Log) Sync() error {
	if l.opts.ReadOnly {
		return nil
	}
	return errors.Join(l.dec.sync(), l.ev.sync())
}

// Close seals the active segments and releases the directory.
func (l *Log) Close() error {
	var err error
	for _, s := range []*stream{l.dec, l.ev} {
		if s != nil && !s.readOnly {
			err = errors.Join(err, s.close())
		}
	}
	if l.lock != nil {
		err = errors.Join(err, l.lock.Close())
		l.lock = nil
	}
	return err
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", store.ErrInvalid, fmt.Sprintf(format, args...))
}

func checkDecision(d *store.Decision) error {
	switch {
	case d.CallID == "":
		return invalid("decision call id is empty")
	case d.Time.IsZero():
		return invalid("decision %q time is zero", d.CallID)
	case d.Time.Year() < 1678 || d.Time.Year() > 2261:
		return invalid("decision time %s out of range", d.Time.Format(time.RFC3339))
	case d.Reasons != nil && !jsonValid(d.Reasons):
		return invalid("decision reasons: not JSON")
	}
	return nil
}

// AppendDecisions stores ds in one durable frame. A decision for a call
// id already stored within the dedup window (or earlier in ds) is
// skipped, so a retried batch does not duplicate records and the first
// decision for a call wins.
func (l *Log) AppendDecisions(ctx context.Context, ds []store.Decision) error {
	if l.opts.ReadOnly {
		return errors.New("seglog: read-only")
	}
	for i := range ds {
		if err := checkDecision(&ds[i]); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	s := l.dec
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if err := s.rollIfDue(); err != nil {
		return err
	}
	now := l.opts.Now()
	l.seen.rotate(now)
	var (
		n          int
		minT, maxT int64 = math.MaxInt64, math.MinInt64
		keys             = l.seen.keys[:0]
		ids              = l.seen.batch[:0]
	)
	for i := range ds {
		d := &ds[i]
		id := hashKey(keyCall, d.CallID)
		dk := l.seen.key(d.CallID, "")
		if l.seen.has(dk) {
			continue
		}
		l.seen.add(dk) // taken back if the write fails
		t := d.Time.UnixNano()
		if n == 0 {
			s.enc.reset(t)
		}
		ids = append(ids, dk)
		minT, maxT = min(minT, t), max(maxT, t)
		encodeDecision(&s.enc, d)
		keys = append(keys, id, hashKey(keyExtension, d.Extension), hashKey(keyNumber, d.Callee))
		if d.E164 != d.Callee {
			keys = append(keys, hashKey(keyNumber, d.E164))
		}
		if d.Caller != d.Callee && d.Caller != d.E164 {
			keys = append(keys, hashKey(keyNumber, d.Caller))
		}
		n++
	}
	l.seen.keys, l.seen.batch = keys, ids
	if n == 0 {
		return nil
	}
	filter := make([]byte, bloomLen(len(keys)))
	for _, k := range keys {
		bloomAdd(filter, k)
	}
	if err := s.append(n, minT, maxT, filter); err != nil {
		l.seen.remove(ids)
		return err
	}
	return nil
}

// AppendCallEvents stores es in one durable frame. An event whose call
// id and type were stored within the dedup window is skipped.
func (l *Log) AppendCallEvents(ctx context.Context, es []store.CallEvent) error {
	if l.opts.ReadOnly {
		return errors.New("seglog: read-only")
	}
	for i := range es {
		e := &es[i]
		switch {
		case e.CallID == "":
			return invalid("call event call id is empty")
		case e.Type == "":
			return invalid("call event %q type is empty", e.CallID)
		case e.Time.IsZero():
			return invalid("call event %q time is zero", e.CallID)
		case e.Time.Year() < 1678 || e.Time.Year() > 2261:
			return invalid("call event time %s out of range", e.Time.Format(time.RFC3339))
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	s := l.ev
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if err := s.rollIfDue(); err != nil {
		return err
	}
	l.evs.rotate(l.opts.Now())
	var (
		n          int
		minT, maxT int64 = math.MaxInt64, math.MinInt64
		ids              = l.evs.batch[:0]
	)
	for i := range es {
		e := &es[i]
		id := l.evs.key(e.CallID, e.Type)
		if l.evs.has(id) {
			continue
		}
		l.evs.add(id) // taken back if the write fails
		t := e.Time.UnixNano()
		if n == 0 {
			s.enc.reset(t)
		}
		ids = append(ids, id)
		minT, maxT = min(minT, t), max(maxT, t)
		encodeEvent(&s.enc, e)
		n++
	}
	l.evs.batch = ids
	if n == 0 {
		return nil
	}
	if err := s.append(n, minT, maxT, nil); err != nil {
		l.evs.remove(ids)
		return err
	}
	return nil
}

func jsonValid(b []byte) bool { return json.Valid(b) }

// DecisionsSince returns every decision at or after since, oldest first;
// of two decisions for one call id only the first is returned.
func (l *Log) DecisionsSince(ctx context.Context, since time.Time) ([]store.Decision, error) {
	from := int64(math.MinInt64)
	if !since.IsZero() {
		from = since.UnixNano()
	}
	var out []store.Decision
	err := l.dec.each(ctx, from, math.MaxInt64, func(dec *decoder, n int) error {
		for range n {
			var d store.Decision
			decodeDecision(dec, &d)
			if dec.err != nil {
				return dec.err
			}
			if d.Time.UnixNano() >= from {
				out = append(out, d)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return firstDecisions(out), nil
}

// firstDecisions sorts ds oldest first and keeps the first decision of
// each call id.
func firstDecisions(ds []store.Decision) []store.Decision {
	slices.SortStableFunc(ds, func(a, b store.Decision) int { return a.Time.Compare(b.Time) })
	seen := make(map[string]struct{}, len(ds))
	return slices.DeleteFunc(ds, func(d store.Decision) bool {
		if _, dup := seen[d.CallID]; dup {
			return true
		}
		seen[d.CallID] = struct{}{}
		return false
	})
}

// CallEventsSince returns every call event at or after since, oldest
// first, one per call id and type.
func (l *Log) CallEventsSince(ctx context.Context, since time.Time) ([]store.CallEvent, error) {
	from := int64(math.MinInt64)
	if !since.IsZero() {
		from = since.UnixNano()
	}
	var out []store.CallEvent
	err := l.ev.each(ctx, from, math.MaxInt64, func(dec *decoder, n int) error {
		for range n {
			var e store.CallEvent
			decodeEvent(dec, &e)
			if dec.err != nil {
				return dec.err
			}
			if e.Time.UnixNano() >= from {
				out = append(out, e)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return firstEvents(out), nil
}

// firstEvents sorts es oldest first and keeps the first event of each
// call id and type.
func firstEvents(es []store.CallEvent) []store.CallEvent {
	slices.SortStableFunc(es, func(a, b store.CallEvent) int { return a.Time.Compare(b.Time) })
	seen := make(map[[2]string]struct{}, len(es))
	return slices.DeleteFunc(es, func(e store.CallEvent) bool {
		k := [2]string{e.CallID, e.Type}
		if _, dup := seen[k]; dup {
			return true
		}
		seen[k] = struct{}{}
		return false
	})
}

const (
	defaultLimit = 100
	maxLimit     = 10000
)

// QueryDecisions returns the decisions matching q, newest first. From is
// inclusive and To exclusive. Only segments and frames whose time range
// overlaps the query and whose filter may hold the call id, extension or
// number asked for are read, and the newest first: a query for the
// latest decisions reads the last frames only.
func (l *Log) QueryDecisions(ctx context.Context, q store.DecisionQuery) ([]store.Decision, error) {
	lim := q.Limit
	switch {
	case lim <= 0:
		lim = defaultLimit
	case lim > maxLimit:
		lim = maxLimit
	}
	from, to := int64(math.MinInt64), int64(math.MaxInt64)
	if !q.From.IsZero() {
		from = q.From.UnixNano()
	}
	if !q.To.IsZero() {
		to = q.To.UnixNano() - 1
	}
	if from > to {
		return nil, nil
	}
	var key uint64
	switch {
	case q.CallID != "":
		key = hashKey(keyCall, q.CallID)
	case q.Extension != "":
		key = hashKey(keyExtension, q.Extension)
	case q.Number != "":
		key = hashKey(keyNumber, q.Number)
	}
	type hit struct {
		d   store.Decision
		ord int // read order: later frames of the newest-first walk are older
	}
	var (
		hits []hit
		ord  int
	)
	order := func(a, b hit) int {
		if c := b.d.Time.Compare(a.d.Time); c != 0 {
			return c
		}
		return a.ord - b.ord
	}
	floor := int64(math.MinInt64) // once lim hits are held: the oldest time among the newest lim
	trim := func() {
		slices.SortFunc(hits, order)
		if len(hits) >= lim {
			hits = hits[:lim]
			floor = hits[lim-1].d.Time.UnixNano()
		}
	}
	err := l.dec.eachNewest(ctx, from, to, key, func() int64 { return floor }, func(dec *decoder, n int) error {
		var recs []hit
		for range n {
			var d store.Decision
			decodeDecision(dec, &d)
			if dec.err != nil {
				return dec.err
			}
			if t := d.Time.UnixNano(); t < from || t > to || !matches(&q, &d) {
				continue
			}
			recs = append(recs, hit{d: d})
		}
		for i := len(recs) - 1; i >= 0; i-- { // later in a frame = newer
			recs[i].ord = ord
			ord++
			hits = append(hits, recs[i])
		}
		if len(hits) >= 2*lim {
			trim()
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	trim()
	// A second decision for a call id that got past the dedup window:
	// keep the first.
	first := map[string]int64{}
	for _, h := range hits {
		if t, ok := first[h.d.CallID]; !ok || h.d.Time.UnixNano() < t {
			first[h.d.CallID] = h.d.Time.UnixNano()
		}
	}
	out := make([]store.Decision, 0, len(hits))
	for _, h := range hits {
		if first[h.d.CallID] == h.d.Time.UnixNano() {
			first[h.d.CallID] = math.MinInt64 // once
			out = append(out, h.d)
		}
	}
	return out, nil
}

func matches(q *store.DecisionQuery, d *store.Decision) bool {
	return (q.CallID == "" || d.CallID == q.CallID) &&
		(q.Tenant == "" || d.Tenant == q.Tenant) &&
		(q.Extension == "" || d.Extension == q.Extension) &&
		(q.Number == "" || d.Callee == q.Number || d.E164 == q.Number || d.Caller == q.Number) &&
		(q.Action == "" || d.Action == q.Action)
}

// Retention is how long each stream is kept; zero keeps it forever.
type Retention struct {
	Decisions, Events time.Duration
}

// PruneStats says what Prune removed.
type PruneStats struct {
	DecisionSegments, EventSegments int
	Decisions, Events               int64
}

// Prune drops the sealed segments whose newest record is older than its
// stream's retention before now.
func (l *Log) Prune(now time.Time, r Retention) (PruneStats, error) {
	var (
		st        PruneStats
		err, err2 error
	)
	if r.Decisions > 0 {
		st.DecisionSegments, st.Decisions, err = l.dec.prune(now.Add(-r.Decisions).UnixNano())
	}
	if r.Events > 0 {
		st.EventSegments, st.Events, err2 = l.ev.prune(now.Add(-r.Events).UnixNano())
	}
	return st, errors.Join(err, err2)
}

// Size reports the bytes on disk and the records held, per stream.
type Size struct {
	DecisionBytes, Decisions int64
	EventBytes, Events       int64
}

// Size returns the log's current size.
func (l *Log) Size() Size {
	var z Size
	z.DecisionBytes, z.Decisions = l.dec.size()
	z.EventBytes, z.Events = l.ev.size()
	return z
}

// Roll seals the active segments and starts new ones (a test and
// benchmark hook; segments otherwise roll by size and age).
func (l *Log) Roll() error {
	var err error
	for _, s := range []*stream{l.dec, l.ev} {
		s.wmu.Lock()
		s.mu.Lock()
		err = errors.Join(err, s.rollLocked())
		s.mu.Unlock()
		s.wmu.Unlock()
	}
	return err
}
