package seglog

import (
	"hash/maphash"
	"time"
)

// recentSlots is the most slots one generation of recent may have (8
// bytes each: 2 MiB); it starts at recentMinSlots and doubles as keys
// come, so a quiet log holds 64 KiB per stream and a busy one at most
// 8 MiB for both streams.
const (
	recentMinSlots = 1 << 12
	recentSlots    = 1 << 18
)

// recent remembers the keys stored in the last one or two dedup windows,
// in two open-addressed tables of 64-bit keys. A generation holds at most
// 3/4 of recentSlots keys: at more than that a window's worth (about
// 1,600 decisions a second over the default 2 minutes) it is retired
// early, so a flood shortens how long a call id is remembered instead of
// growing memory (a decision that gets past is dropped by reads). Keys
// are hashed with a seed of this process, so call ids chosen by a caller
// cannot be made to collide or to crowd one part of a table.
type recent struct {
	window    time.Duration
	seed      maphash.Seed
	cur, prev keyTable
	since     time.Time
	keys      []uint64 // scratch for AppendDecisions
	batch     []uint64 // scratch: the keys of the batch being written
}

// key is the key of a call id and a record type ("" for decisions).
func (r *recent) key(callID, typ string) uint64 {
	k := maphash.String(r.seed, callID)
	if typ != "" {
		k ^= maphash.String(r.seed, typ) * 0x9e3779b97f4a7c15
	}
	return k | 1 // 0 marks an empty slot
}

// rotate starts a new generation once the window has passed or the
// current one is full.
func (r *recent) rotate(now time.Time) {
	if r.cur.slots == nil {
		r.seed = maphash.MakeSeed()
		r.cur.init(recentMinSlots)
		r.prev.init(recentMinSlots)
		r.since = now
	}
	if now.Sub(r.since) >= r.window || r.cur.full() {
		r.prev, r.cur = r.cur, r.prev
		r.cur.reset()
		r.since = now
	}
}

func (r *recent) has(k uint64) bool { return r.cur.has(k) || r.prev.has(k) }

// add remembers k in the current generation (not when a single batch
// has filled it: dedup is then skipped for the rest of the batch).
func (r *recent) add(k uint64) { r.cur.add(k) }

// remove forgets keys added to the current generation since the last
// rotate (a write that failed).
func (r *recent) remove(ks []uint64) {
	for _, k := range ks {
		r.cur.remove(k)
	}
}

// keyTable is a set of non-zero 64-bit keys with linear probing, indexed
// by a key's top bits.
type keyTable struct {
	slots []uint64
	shift uint // 64 - log2(len(slots))
	n     int
}

func (t *keyTable) init(size int) {
	t.slots, t.n = make([]uint64, size), 0
	t.shift = 64
	for s := size; s > 1; s >>= 1 {
		t.shift--
	}
}

// reset empties t, keeping its size.
func (t *keyTable) reset() {
	clear(t.slots)
	t.n = 0
}

// full reports whether t holds 3/4 of the most slots it may have.
func (t *keyTable) full() bool { return t.n >= recentSlots/4*3 }

func (t *keyTable) home(k uint64) int { return int(k >> t.shift) }

func (t *keyTable) has(k uint64) bool {
	mask := len(t.slots) - 1
	for i := t.home(k); ; i = (i + 1) & mask {
		switch t.slots[i] {
		case k:
			return true
		case 0:
			return false
		}
	}
}

func (t *keyTable) add(k uint64) {
	if 4*(t.n+1) > 3*len(t.slots) {
		if len(t.slots) >= recentSlots {
			if 16*(t.n+1) > 15*len(t.slots) {
				return
			}
		} else {
			t.grow()
		}
	}
	mask := len(t.slots) - 1
	for i := t.home(k); ; i = (i + 1) & mask {
		switch t.slots[i] {
		case k:
			return
		case 0:
			t.slots[i] = k
			t.n++
			return
		}
	}
}

func (t *keyTable) grow() {
	old := t.slots
	t.init(2 * len(old))
	for _, k := range old {
		if k != 0 {
			t.add(k)
		}
	}
}

// remove deletes k, shifting the keys after it back so that no look-up
// stops early at the hole.
func (t *keyTable) remove(k uint64) {
	mask := len(t.slots) - 1
	i := t.home(k)
	for ; t.slots[i] != k; i = (i + 1) & mask {
		if t.slots[i] == 0 {
			return
		}
	}
	for j := (i + 1) & mask; t.slots[j] != 0; j = (j + 1) & mask {
		// The key at j may move to the hole at i unless its home lies
		// cyclically in (i, j].
		if h := t.home(t.slots[j]); (j > i && (h <= i || h > j)) || (j < i && h <= i && h > j) {
			t.slots[i] = t.slots[j]
			i = j
		}
	}
	t.slots[i] = 0
	t.n--
}
