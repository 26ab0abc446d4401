package counter

import (
	"github.com/tollgate-voip/tollgate/internal/snapfile"
)

// Snapshotter is a Store whose whole state can be written to a snapshot
// and read back after a restart (Memory; a shared store keeps its own).
type Snapshotter interface {
	WriteSnapshot(e *snapfile.Enc)
	ReadSnapshot(d *snapfile.Dec) error
}

var _ Snapshotter = (*Memory)(nil)

const (
	tagWindow = 1
	tagSlots  = 2
	tagSum    = 3
)

func writeKey(e *snapfile.Enc, k Key) {
	e.Uvarint(uint64(k.Scope))
	e.String(k.Tenant)
	e.String(k.Subject)
	e.Varint(k.Bucket)
}

func readKey(d *snapfile.Dec) Key {
	sc := d.Uvarint()
	if sc == 0 || sc >= uint64(len(scopeNames)) {
		d.Fail("counter scope")
	}
	return Key{Scope: Scope(sc), Tenant: d.Intern(), Subject: d.Intern(), Bucket: d.Varint()}
}

func writeIDs(e *snapfile.Enc, ids map[uint64]struct{}) {
	e.Uvarint(uint64(len(ids)))
	for id := range ids {
		e.Uint64(id)
	}
}

// readIDs reads a set of ids: hashes, or (a version 1 snapshot) strings
// hashed under the store's key.
func (m *Memory) readIDs(d *snapfile.Dec, strs bool) map[uint64]struct{} {
	n := d.Count(1)
	if n == 0 {
		return nil
	}
	ids := make(map[uint64]struct{}, n)
	for range n {
		ids[m.readID(d, strs)] = struct{}{}
	}
	return ids
}

func (m *Memory) readID(d *snapfile.Dec, strs bool) uint64 {
	if strs {
		return m.ids.hash(d.String())
	}
	return d.Uint64()
}

// WriteSnapshot writes the id hash key, then every window, slot and sum.
// Each shard is copied under its own lock; a decision applied while the
// snapshot is taken may be in one shard's copy and not in another's,
// which the replay of the decision log's tail after a restart makes whole
// (every op is idempotent by id).
func (m *Memory) WriteSnapshot(e *snapfile.Enc) {
	n := 0
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		n += len(s.windows) + len(s.slots) + len(s.sums)
		s.mu.Unlock()
	}
	// The count is a hint for the reader's maps; the list ends with a 0 tag.
	e.Uvarint(uint64(n))
	e.Uint64(m.ids.k0)
	e.Uint64(m.ids.k1)
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		for k, w := range s.windows {
			e.Uvarint(tagWindow)
			writeKey(e, k)
			e.Varint(w.last)
			e.Uvarint(uint64(len(w.ev)))
			for _, ev := range w.ev {
				e.Varint(w.last - ev.t)
				e.Uint64(ev.id)
			}
		}
		for k, held := range s.slots {
			e.Uvarint(tagSlots)
			writeKey(e, k)
			e.Uvarint(uint64(len(held)))
			for id, lease := range held {
				e.Uint64(id)
				e.Varint(lease)
			}
		}
		for k, x := range s.sums {
			e.Uvarint(tagSum)
			writeKey(e, k)
			e.Float64(x.v)
			e.Uvarint(uint64(x.n))
			e.Varint(x.turned)
			writeIDs(e, x.ids)
			writeIDs(e, x.old)
		}
		s.mu.Unlock()
	}
	e.Uvarint(0)
}

// ReadSnapshot replaces the store's contents, and its id hash key, with
// a snapshot's. On an error the store is left empty. It must run before
// the store is used. Keys are interned through d, so a tenant or an
// extension named by many counters (and by the engine's call table, read
// through the same decoder) is kept once.
func (m *Memory) ReadSnapshot(d *snapfile.Dec) error { return m.readSnapshot(d, false) }

// ReadSnapshotV1 reads a snapshot written before ids were hashed (engine
// state snapshot version 1): its string ids are hashed under the store's
// own key.
func (m *Memory) ReadSnapshotV1(d *snapfile.Dec) error { return m.readSnapshot(d, true) }

func (m *Memory) readSnapshot(d *snapfile.Dec, strs bool) error {
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		clear(s.windows)
		clear(s.slots)
		clear(s.sums)
		s.mu.Unlock()
	}
	hint := d.Count(1)
	if !strs {
		m.ids = idKey{d.Uint64(), d.Uint64()}
	}
	for i := range m.shards {
		// Sized once for what the snapshot holds (most of it windows),
		// rather than grown by doubling while it loads.
		if s := &m.shards[i]; len(s.windows) == 0 && hint > 0 {
			s.windows = make(map[Key]*window, hint/shards)
		}
	}
	for d.Err() == nil {
		tag := d.Uvarint()
		if tag == 0 || d.Err() != nil {
			break
		}
		k := readKey(d)
		s := m.shard(k)
		switch tag {
		case tagWindow:
			w := &window{last: d.Varint()}
			n := d.Count(2)
			w.ev = make([]event, 0, n)
			for range n {
				w.ev = append(w.ev, event{t: w.last - d.Varint(), id: m.readID(d, strs)})
			}
			s.windows[k] = w
		case tagSlots:
			n := d.Count(2)
			held := make(map[uint64]int64, n)
			for range n {
				id := m.readID(d, strs)
				held[id] = d.Varint()
			}
			s.slots[k] = held
		case tagSum:
			x := &sum{v: d.Float64(), n: int(min(d.Uvarint(), 1<<40)), turned: d.Varint()}
			x.ids = m.readIDs(d, strs)
			x.old = m.readIDs(d, strs)
			if x.ids == nil {
				x.ids = make(map[uint64]struct{})
			}
			s.sums[k] = x
		default:
			d.Fail("counter record tag")
		}
	}
	if err := d.Err(); err != nil {
		m.Reset(0, "", "")
		return err
	}
	return nil
}
