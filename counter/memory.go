package counter

import (
	"hash/maphash"
	"math"
	"sync"
	"time"
)

const shards = 64

// Memory is an in-process Store. Sliding windows keep one timestamp per
// admitted event: at most the limit within the window, plus the events of
// LateGrace before it, so a window is exact and its memory is bounded by
// the limit and the rate.
//
// Ids are kept as their keyed 64-bit hash (idhash.go), never as strings:
// a window's events and a key's slots hold no pointers, which keeps a
// busy node's counters small and cheap for the garbage collector to
// skip.
type Memory struct {
	seed   maphash.Seed
	ids    idKey
	shards [shards]shard
	// maxWindow is how long Sweep keeps window events and sums; it must
	// cover the longest window in use.
	maxWindow time.Duration
}

type shard struct {
	mu      sync.Mutex
	windows map[Key]*window
	slots   map[Key]map[uint64]int64 // id hash → lease end (unix ns)
	sums    map[Key]*sum
}

type event struct {
	t  int64
	id uint64 // hash
}

type window struct {
	ev   []event // in insertion order; times may be out of order (replays)
	last int64   // newest event time seen
}

type sum struct {
	v float64
	n int // ids counted
	// ids and old remember the ids added recently, so an Add retried or
	// replayed is not counted twice; Sweep turns ids into old and drops
	// the previous old every sumIDTurn of event time, so an id is known
	// for at least sumIDTurn and memory stays bounded by the recent rate
	// (a day's worth of ids at 1,000 calls/s would not be).
	ids, old map[uint64]struct{}
	turned   int64 // Sweep time at which ids started (unix ns); 0 before any Sweep
}

// sumIDTurn is how long (in Sweep time) a sum remembers the ids it
// counted, at the least; at most twice as long. The engine's own call
// table refuses a repeated end for an hour, and a restart's replay finds
// the calls that ended before the snapshot in the snapshot's call table,
// so this only has to cover quick retries and an end applied while a
// snapshot was being taken (between the copy of the call table and that
// of the counters). At 1,000 calls/s each minute kept costs ~50k ids.
const sumIDTurn = 2 * time.Minute

// LateGrace is how long events are kept past the end of the newest
// event's window: a call stamped up to this much earlier than the newest
// event of its key still finds every event of its own window, whatever
// the order in which they arrived. Live serving bounds how far a call's
// time may lie from the clock (server.max_clock_skew_s) well inside it.
const LateGrace = 10 * time.Minute

// NewMemory returns an empty in-process Store whose Sweep keeps windows up
// to maxWindow (at least 31 days).
func NewMemory(maxWindow time.Duration) *Memory {
	if maxWindow < 31*24*time.Hour {
		maxWindow = 31 * 24 * time.Hour
	}
	m := &Memory{seed: maphash.MakeSeed(), ids: newIDKey(), maxWindow: maxWindow}
	for i := range m.shards {
		m.shards[i].windows = make(map[Key]*window)
		m.shards[i].slots = make(map[Key]map[uint64]int64)
		m.shards[i].sums = make(map[Key]*sum)
	}
	return m
}

var _ Store = (*Memory)(nil)

func (m *Memory) shardIndex(k Key) int {
	var h maphash.Hash
	h.SetSeed(m.seed)
	h.WriteByte(byte(k.Scope))
	h.WriteString(k.Tenant)
	h.WriteByte(0)
	h.WriteString(k.Subject)
	return int(h.Sum64() % shards)
}

func (m *Memory) shard(k Key) *shard { return &m.shards[m.shardIndex(k)] }

// prune drops events that can no longer fall into a window ending at or
// after t, keeping events newer than t (out-of-order replays).
func (w *window) prune(from int64) {
	j := 0
	for _, e := range w.ev {
		if e.t > from {
			w.ev[j] = e
			j++
		}
	}
	clear(w.ev[j:])
	w.ev = w.ev[:j]
}

func (w *window) count(from, to int64) int {
	n := 0
	for _, e := range w.ev {
		if e.t > from && e.t <= to {
			n++
		}
	}
	return n
}

// Reserve implements Store.
func (m *Memory) Reserve(k Key, idStr string, t time.Time, win time.Duration, limit int) (int, bool, bool) {
	id := m.ids.hash(idStr)
	s := m.shard(k)
	ts := t.UnixNano()
	from := ts - int64(win)
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.windows[k]
	if w == nil {
		if limit <= 0 {
			return 0, false, false
		}
		w = &window{}
		s.windows[k] = w
	}
	// Events older than the newest event's window can never count again
	// for this key's window size.
	newest := max(w.last, ts)
	w.prune(min(from, newest-int64(win)-int64(LateGrace)))
	// Every event after the window's start counts, whatever its arrival
	// order: a call stamped earlier than calls already counted must not
	// find a window emptier than the one they saw (the Redis store counts
	// the same way, ZCOUNT (from, +inf)).
	n := w.count(from, math.MaxInt64)
	for _, e := range w.ev {
		if e.id == id {
			return n, true, false
		}
	}
	if n >= limit {
		return n, false, false
	}
	w.ev = append(w.ev, event{t: ts, id: id})
	w.last = newest
	return n + 1, true, true
}

// Unreserve implements Store.
func (m *Memory) Unreserve(k Key, idStr string) {
	id := m.ids.hash(idStr)
	s := m.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.windows[k]
	if w == nil {
		return
	}
	for i, e := range w.ev {
		if e.id == id {
			w.ev = append(w.ev[:i], w.ev[i+1:]...)
			w.ev = w.ev[:len(w.ev):len(w.ev)]
			break
		}
	}
	if len(w.ev) == 0 {
		delete(s.windows, k)
	}
}

// Count implements Store.
func (m *Memory) Count(k Key, t time.Time, win time.Duration) int {
	s := m.shard(k)
	ts := t.UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.windows[k]
	if w == nil {
		return 0
	}
	return w.count(ts-int64(win), ts)
}

func expireSlots(held map[uint64]int64, t int64) {
	for id, lease := range held {
		if lease <= t {
			delete(held, id)
		}
	}
}

// Acquire implements Store.
func (m *Memory) Acquire(k Key, idStr string, t, lease time.Time, limit int) (int, bool, bool) {
	id := m.ids.hash(idStr)
	s := m.shard(k)
	ts := t.UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	held := s.slots[k]
	if held == nil {
		if limit <= 0 {
			return 0, false, false
		}
		held = make(map[uint64]int64, 2)
		s.slots[k] = held
	}
	expireSlots(held, ts)
	if _, ok := held[id]; ok {
		held[id] = lease.UnixNano()
		return len(held), true, false
	}
	if len(held) >= limit {
		return len(held), false, false
	}
	held[id] = lease.UnixNano()
	return len(held), true, true
}

// Extend implements Store.
func (m *Memory) Extend(k Key, idStr string, lease time.Time) bool {
	id := m.ids.hash(idStr)
	s := m.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	held := s.slots[k]
	if _, ok := held[id]; !ok {
		return false
	}
	held[id] = lease.UnixNano()
	return true
}

// Release implements Store.
func (m *Memory) Release(k Key, idStr string) bool {
	id := m.ids.hash(idStr)
	s := m.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	held := s.slots[k]
	if _, ok := held[id]; !ok {
		return false
	}
	delete(held, id)
	if len(held) == 0 {
		delete(s.slots, k)
	}
	return true
}

// Held implements Store.
func (m *Memory) Held(k Key, t time.Time) int {
	s := m.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	held := s.slots[k]
	ts := t.UnixNano()
	n := 0
	for _, lease := range held {
		if lease > ts {
			n++
		}
	}
	return n
}

// Add implements Store.
func (m *Memory) Add(k Key, idStr string, amount float64) float64 {
	id := m.ids.hash(idStr)
	s := m.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	x := s.sums[k]
	if x == nil {
		x = &sum{ids: make(map[uint64]struct{})}
		s.sums[k] = x
	}
	if _, dup := x.ids[id]; dup {
		return x.v
	}
	if _, dup := x.old[id]; dup {
		return x.v
	}
	x.ids[id] = struct{}{}
	x.n++
	x.v += amount
	return x.v
}

// Sum implements Store.
func (m *Memory) Sum(k Key) float64 {
	s := m.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	if x := s.sums[k]; x != nil {
		return x.v
	}
	return 0
}

func match(k Key, scope Scope, tenant, subject string) bool {
	return (scope == 0 || k.Scope == scope) && (tenant == "" || k.Tenant == tenant) &&
		(subject == "" || k.Subject == subject)
}

// Delete implements Store.
func (m *Memory) Delete(k Key) {
	s := m.shard(k)
	s.mu.Lock()
	delete(s.windows, k)
	delete(s.slots, k)
	delete(s.sums, k)
	s.mu.Unlock()
}

// Reset implements Store.
func (m *Memory) Reset(scope Scope, tenant, subject string) int {
	n := 0
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		for k := range s.windows {
			if match(k, scope, tenant, subject) {
				delete(s.windows, k)
				n++
			}
		}
		for k := range s.slots {
			if match(k, scope, tenant, subject) {
				delete(s.slots, k)
				n++
			}
		}
		for k := range s.sums {
			if match(k, scope, tenant, subject) {
				delete(s.sums, k)
				n++
			}
		}
		s.mu.Unlock()
	}
	return n
}

// Sweep implements Store: windows whose newest event is older than the
// longest window, expired slots, and sums untouched for two days go.
func (m *Memory) Sweep(t time.Time) {
	ts := t.UnixNano()
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		for k, w := range s.windows {
			if w.last <= ts-int64(m.maxWindow) {
				delete(s.windows, k)
			}
		}
		for k, held := range s.slots {
			expireSlots(held, ts)
			if len(held) == 0 {
				delete(s.slots, k)
			}
		}
		for k, x := range s.sums {
			// Buckets are day numbers; keep today's and yesterday's in
			// every time zone.
			if k.Bucket != 0 && k.Bucket < ts/int64(24*time.Hour)-2 {
				delete(s.sums, k)
				continue
			}
			switch {
			case x.turned == 0:
				x.turned = ts
			case ts-x.turned >= int64(sumIDTurn):
				x.old, x.ids, x.turned = x.ids, make(map[uint64]struct{}, len(x.ids)), ts
			}
		}
		s.mu.Unlock()
	}
}

// Snapshot describes one counter for the API.
type Snapshot struct {
	Scope   string  `json:"scope"`
	Tenant  string  `json:"tenant,omitempty"`
	Subject string  `json:"subject,omitempty"`
	Bucket  int64   `json:"bucket,omitempty"`
	Count   int     `json:"count"`
	Sum     float64 `json:"sum,omitempty"`
}

// List returns every counter matching the filter (see Reset), for the API.
func (m *Memory) List(scope Scope, tenant, subject string, t time.Time) []Snapshot {
	var out []Snapshot
	ts := t.UnixNano()
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		for k, w := range s.windows {
			if match(k, scope, tenant, subject) {
				out = append(out, Snapshot{Scope: k.Scope.String(), Tenant: k.Tenant, Subject: k.Subject, Count: w.count(ts-int64(m.maxWindow), ts)})
			}
		}
		for k, held := range s.slots {
			if match(k, scope, tenant, subject) {
				n := 0
				for _, l := range held {
					if l > ts {
						n++
					}
				}
				out = append(out, Snapshot{Scope: k.Scope.String(), Tenant: k.Tenant, Subject: k.Subject, Count: n})
			}
		}
		for k, x := range s.sums {
			if match(k, scope, tenant, subject) {
				out = append(out, Snapshot{Scope: k.Scope.String(), Tenant: k.Tenant, Subject: k.Subject, Bucket: k.Bucket, Count: x.n, Sum: x.v})
			}
		}
		s.mu.Unlock()
	}
	return out
}
