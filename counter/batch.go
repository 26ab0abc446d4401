package counter

import (
	"math"
	"slices"
	"time"
)

// OpKind says what an Op does.
type OpKind uint8

// Kinds of operation in a decision's batch.
const (
	// OpWindow records event ID at the batch's time in a sliding window of
	// Window if fewer than Limit events lie in it (Reserve).
	OpWindow OpKind = iota + 1
	// OpSlot takes a concurrency slot for ID until Lease if fewer than
	// Limit are held (Acquire).
	OpSlot
	// OpSumBelow admits the call if the key's sum is below Max and reports
	// the sum; it changes nothing.
	OpSumBelow
)

// Op is one counter operation of a decision.
type Op struct {
	Kind   OpKind
	Key    Key
	ID     string
	Window time.Duration // OpWindow
	Limit  int           // OpWindow, OpSlot
	Lease  time.Time     // OpSlot
	Max    float64       // OpSumBelow
}

// Result is what one Op found.
type Result struct {
	N     int     // events in the window, or slots held, including this call when admitted
	Sum   float64 // OpSumBelow: the key's sum
	OK    bool    // admitted
	Added bool    // the op counted something new (not a retry of the same id)
}

// Unavailable is what Apply returns when a shared store could not be
// reached: the ops were admitted by a bounded local count instead (res
// says what it found), and the caller should treat the decision as one
// tollgate could not make (the tenant's on_error). Memory never returns it.
const Unavailable = -2

// Apply runs a decision's operations atomically at t: either every op is
// admitted and applied, or none is applied and the index of the first
// refused op is returned (-1 when all were admitted). res must be as long
// as ops. A shared store does this in one round trip.
func (m *Memory) Apply(t time.Time, ops []Op, res []Result) int {
	// Lock every shard involved, in index order, so the check and the
	// update of all ops happen as one step.
	var idx [32]int
	shardsOf := idx[:0]
	for i := range ops {
		shardsOf = append(shardsOf, m.shardIndex(ops[i].Key))
	}
	var lk [32]int
	locked := append(lk[:0], shardsOf...)
	slices.Sort(locked)
	locked = slices.Compact(locked)
	for _, i := range locked {
		m.shards[i].mu.Lock()
	}
	defer func() {
		for _, i := range locked {
			m.shards[i].mu.Unlock()
		}
	}()
	ts := t.UnixNano()
	failed := -1
	var hs [32]uint64
	ids := hs[:0]
	for i := range ops {
		op := &ops[i]
		s := &m.shards[shardsOf[i]]
		r := Result{}
		ids = append(ids, 0)
		if op.Kind == OpWindow || op.Kind == OpSlot {
			ids[i] = m.ids.hash(op.ID)
		}
		switch op.Kind {
		case OpWindow:
			r.N, r.OK, r.Added = s.peekWindow(op, ids[i], ts)
		case OpSlot:
			r.N, r.OK, r.Added = s.peekSlot(op, ids[i], ts)
		case OpSumBelow:
			if x := s.sums[op.Key]; x != nil {
				r.Sum = x.v
			}
			r.OK = r.Sum < op.Max
		}
		res[i] = r
		if !r.OK && failed < 0 {
			failed = i
		}
	}
	if failed >= 0 {
		return failed
	}
	for i := range ops {
		op := &ops[i]
		s := &m.shards[shardsOf[i]]
		switch op.Kind {
		case OpWindow:
			if res[i].Added {
				w := s.windows[op.Key]
				if w == nil {
					w = &window{}
					s.windows[op.Key] = w
				}
				w.ev = append(w.ev, event{t: ts, id: ids[i]})
				w.last = max(w.last, ts)
			}
		case OpSlot:
			held := s.slots[op.Key]
			if held == nil {
				held = make(map[uint64]int64, 2)
				s.slots[op.Key] = held
			}
			held[ids[i]] = op.Lease.UnixNano()
		}
	}
	return -1
}

// peekWindow reports what Reserve would do, pruning old events only.
func (s *shard) peekWindow(op *Op, id uint64, ts int64) (n int, ok, added bool) {
	w := s.windows[op.Key]
	if w == nil {
		return 1, op.Limit > 0, op.Limit > 0
	}
	from := ts - int64(op.Window)
	w.prune(min(from, max(w.last, ts)-int64(op.Window)-int64(LateGrace)))
	n = w.count(from, math.MaxInt64) // every event in the window, as Reserve
	for _, e := range w.ev {
		if e.id == id {
			return n, true, false
		}
	}
	if n >= op.Limit {
		return n, false, false
	}
	return n + 1, true, true
}

// peekSlot reports what Acquire would do, expiring old leases only.
func (s *shard) peekSlot(op *Op, id uint64, ts int64) (held int, ok, added bool) {
	h := s.slots[op.Key]
	if h == nil {
		return 1, op.Limit > 0, op.Limit > 0
	}
	expireSlots(h, ts)
	if _, ok := h[id]; ok {
		return len(h), true, false
	}
	if len(h) >= op.Limit {
		return len(h), false, false
	}
	return len(h) + 1, true, true
}
