package engine

import (
	"errors"
	"fmt"
	"math"
	"os"
	"time"

	"github.com/tollgate-voip/tollgate/counter"
	"github.com/tollgate-voip/tollgate/internal/snapfile"
)

// snapMagic opens a state snapshot file; the version is in it. Version 2
// adds the decision log's write position (SnapshotInfo.Mark); version 1
// files are still read.
const (
	snapMagic   = "tollgate state snapshot v2\n"
	snapMagicV1 = "tollgate state snapshot v1\n"
)

// SnapshotInfo describes a state snapshot.
type SnapshotInfo struct {
	// Taken is the wall-clock time the snapshot was taken.
	Taken time.Time
	// Calls is how many entries of the call table it holds.
	Calls int
	// Counters says whether it holds the counters (embedded mode); a
	// shared counter store keeps its own state.
	Counters bool
	// Bytes is the size of the file.
	Bytes int64
	// Mark is the decision log's write position taken just before the
	// state was copied (opaque to the engine; decisionlog/seglog.Mark),
	// so a restart replays exactly the records written after it. Empty
	// when the log has none (cluster mode, or a version 1 file).
	Mark []byte
}

// WriteSnapshot writes the engine's state to path (atomically replaced,
// checksummed; internal/snapfile): the event clock, the call table and,
// when the counter store can be snapshotted, every counter. Calls that
// ended are kept only if screened at or after keepEnded: those are the
// calls whose decisions a restart replays from the decision log's tail,
// which then finds them and applies nothing twice.
//
// The call table is copied before the counters. A call screened in
// between is then in the counters and not in the table, and the replay
// screens it again, which the counters' idempotence by id makes harmless;
// the other order could leave a call in the table whose counts are not.
//
// mark, when not nil, is called once before anything is copied; what it
// returns is stored as SnapshotInfo.Mark.
func (e *Engine) WriteSnapshot(path string, now, keepEnded time.Time, mark func() []byte) (SnapshotInfo, error) {
	info := SnapshotInfo{Taken: now}
	cs, hasCounters := e.counters.(counter.Snapshotter)
	info.Counters = hasCounters
	err := snapfile.Write(path, snapMagic, func(enc *snapfile.Enc) error {
		enc.Varint(now.UnixNano())
		off, started := int64(0), e.Clock().Started()
		if started {
			off = int64(e.Clock().Now().Sub(now))
		}
		enc.Uvarint(b2u(started))
		enc.Varint(off)
		if mark != nil {
			info.Mark = mark()
		}
		enc.String(string(info.Mark))
		info.Calls = e.calls.writeSnapshot(enc, keepEnded.UnixNano())
		enc.Uvarint(b2u(hasCounters))
		if hasCounters {
			cs.WriteSnapshot(enc)
		}
		return nil
	})
	if err != nil {
		return info, fmt.Errorf("engine: writing the state snapshot: %w", err)
	}
	return info, nil
}

// ErrSnapshotCounters is returned by LoadSnapshot for a snapshot taken
// without counters (a cluster node's) when this engine's counters live in
// memory: it cannot stand in for them.
var ErrSnapshotCounters = errors.New("engine: the snapshot holds no counters")

// LoadSnapshot replaces the engine's call table, counters (when the
// snapshot has them and the store takes them) and event-clock offset with
// a snapshot's. It must run before the engine serves; on an error nothing
// usable was loaded and the engine is left empty. Restore then replays
// the decisions taken since (see WriteSnapshot).
//
// The file is decoded as it is read (internal/snapfile), never held
// whole, and the strings it repeats (tenants, extensions, call ids) are
// kept once.
func (e *Engine) LoadSnapshot(path string) (SnapshotInfo, error) {
	d, err := snapfile.Read(path, snapMagic, snapMagicV1)
	if err != nil {
		return SnapshotInfo{}, err
	}
	defer d.Close()
	info, err := e.loadSnapshot(d, e.now())
	if fi, serr := os.Stat(path); serr == nil {
		info.Bytes = fi.Size()
	}
	if err != nil {
		// Counter.ReadSnapshot leaves the counters empty on its own errors.
		e.calls.reset()
	}
	return info, err
}

// LoadSnapshotBytes is LoadSnapshot on a file held in memory (fuzzing).
func (e *Engine) LoadSnapshotBytes(b []byte, now time.Time) (SnapshotInfo, error) {
	d, err := snapfile.Parse(b, snapMagic, snapMagicV1)
	if err != nil {
		return SnapshotInfo{}, err
	}
	info, err := e.loadSnapshot(d, now)
	if err != nil {
		e.calls.reset()
	}
	return info, err
}

func (e *Engine) loadSnapshot(d *snapfile.Dec, now time.Time) (SnapshotInfo, error) {
	var info SnapshotInfo
	info.Taken = time.Unix(0, d.Varint()).UTC()
	started := d.Uvarint() == 1
	off := d.Varint()
	if d.Magic() != snapMagicV1 {
		if m := d.String(); m != "" {
			info.Mark = []byte(m)
		}
	}
	var err error
	if info.Calls, err = e.calls.readSnapshot(d); err != nil {
		return info, err
	}
	info.Counters = d.Uvarint() == 1
	if err := d.Err(); err != nil {
		return info, err
	}
	cs, memory := e.counters.(counter.Snapshotter)
	read := func(cs counter.Snapshotter) error {
		if m, ok := cs.(*counter.Memory); ok && d.Magic() == snapMagicV1 {
			return m.ReadSnapshotV1(d) // string ids
		}
		return cs.ReadSnapshot(d)
	}
	switch {
	case info.Counters && memory:
		if err := read(cs); err != nil {
			return info, err
		}
	case !info.Counters && memory:
		return info, ErrSnapshotCounters
	case info.Counters:
		// A shared store keeps its own counters: read past the
		// snapshot's into nothing, so the checksum is checked.
		if err := read(counter.NewMemory(0)); err != nil {
			return info, err
		}
	}
	d.ForgetInterned()
	// The whole body read and its checksum right, or nothing is kept.
	if err := d.Done(); err != nil {
		if memory {
			e.counters.Reset(0, "", "")
		}
		return info, err
	}
	if started {
		// The clock runs on at wall speed from where it was (Observe
		// bounds it to eventclock.MaxLead ahead of the wall clock).
		e.Clock().Observe(now.Add(time.Duration(off)))
	}
	return info, nil
}

// ClearState drops the call table and in-memory counters (a snapshot
// loaded and then found too old to use). A shared counter store is left
// alone.
func (e *Engine) ClearState() {
	e.calls.reset()
	if _, memory := e.counters.(counter.Snapshotter); memory {
		e.counters.Reset(0, "", "")
	}
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// has reports whether the call table knows id.
func (t *callTable) has(id string) bool {
	s := &t.shards[t.shard(id)]
	s.mu.Lock()
	_, ok := s.m[id]
	s.mu.Unlock()
	return ok
}

func (t *callTable) reset() {
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		clear(s.m)
		s.mu.Unlock()
	}
}

func writeCKey(enc *snapfile.Enc, k counter.Key) {
	enc.Uvarint(uint64(k.Scope))
	enc.String(k.Tenant)
	enc.String(k.Subject)
	enc.Varint(k.Bucket)
}

func readCKey(d *snapfile.Dec) counter.Key {
	return counter.Key{Scope: counter.Scope(min(d.Uvarint(), 255)), Tenant: d.Intern(), Subject: d.Intern(), Bucket: d.Varint()}
}

// writeSnapshot writes the live calls and the ended calls screened at or
// after keepEnded; it returns how many.
func (t *callTable) writeSnapshot(enc *snapfile.Enc, keepEnded int64) int {
	total := 0
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		n := 0
		for _, c := range s.m {
			if c.ended == 0 || c.screened >= keepEnded {
				n++
			}
		}
		enc.Uvarint(uint64(n))
		for id, c := range s.m {
			if c.ended != 0 && c.screened < keepEnded {
				continue
			}
			enc.String(id)
			enc.String(c.tenant)
			enc.Uvarint(b2u(c.intl))
			enc.Float64(c.rate)
			enc.Varint(int64(c.maxDur))
			// Times as Unix nanoseconds, 0 for none.
			enc.Varint(c.screened)
			enc.Varint(c.answered)
			enc.Varint(c.ended)
			enc.Varint(c.lease)
			slots := c.slotKeys()
			enc.Uvarint(uint64(len(slots)))
			for _, k := range slots {
				writeCKey(enc, k)
			}
			writeCKey(enc, c.spendKey())
			enc.Varint(int64(c.duration))
			enc.Float64(c.cost)
		}
		total += n
		s.mu.Unlock()
	}
	return total
}

func (t *callTable) readSnapshot(d *snapfile.Dec) (int, error) {
	t.reset()
	total := 0
	for range callShards {
		n := d.Count(8)
		for range n {
			id := d.Intern()
			c := &liveCall{tenant: d.Intern(), intl: d.Uvarint() == 1, rate: d.Float64()}
			maxDur := d.Varint()
			c.screened, c.answered, c.ended, c.lease = d.Varint(), d.Varint(), d.Varint(), d.Varint()
			var ks callKeys
			ns := d.Uvarint()
			if ns > uint64(len(ks.slots)) {
				d.Fail("call slots")
				break
			}
			ks.nslots = int(ns)
			for j := range ks.nslots {
				ks.slots[j] = readCKey(d)
			}
			ks.spendKey = readCKey(d)
			if ks.nslots > 0 || c.intl || ks.spendKey != (counter.Key{}) {
				c.keys = &ks
			}
			dur := d.Varint()
			c.cost = d.Float64()
			if d.Err() != nil {
				break
			}
			if maxDur < math.MinInt32 || maxDur > math.MaxInt32 || dur < math.MinInt32 || dur > math.MaxInt32 {
				d.Fail("call durations")
				break
			}
			c.maxDur, c.duration = int32(maxDur), int32(dur)
			if id == "" || c.screened == 0 {
				d.Fail("call")
				break
			}
			s := &t.shards[t.shard(id)]
			s.mu.Lock()
			s.m[id] = c
			s.mu.Unlock()
			total++
		}
		if err := d.Err(); err != nil {
			return total, err
		}
	}
	return total, nil
}
