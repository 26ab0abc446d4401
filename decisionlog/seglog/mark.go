package seglog

import (
	"context"
	"encoding/binary"
	"errors"
	"os"
	"slices"

	"github.com/tollgate-voip/tollgate/store"
)

// A Mark is a write position of the log: the end of each stream's active
// segment at the moment it was taken. Every record appended after Mark
// returned lies after it, so a reader that saved a Mark (the state
// snapshot) reads exactly what was written since with After, whatever
// the records' own times.
type Mark struct {
	Decisions, Events Pos
}

// Pos is a position in one stream: a segment and a byte offset in it.
type Pos struct {
	Seq uint64
	Off int64
}

// MarkLen is the length of a Mark's binary form.
const MarkLen = 32

// ErrMarkUnusable is returned by After for a mark this log cannot honour:
// the log is not the one the mark was taken on (replaced, or cut shorter
// than the mark, as a lost disk cache may leave it). The caller falls
// back to reading by time.
var ErrMarkUnusable = errors.New("seglog: the mark does not fit this log")

// AppendBinary appends m's binary form (MarkLen bytes) to b.
func (m Mark) AppendBinary(b []byte) ([]byte, error) {
	for _, p := range []Pos{m.Decisions, m.Events} {
		b = binary.LittleEndian.AppendUint64(b, p.Seq)
		b = binary.LittleEndian.AppendUint64(b, uint64(p.Off))
	}
	return b, nil
}

// UnmarshalBinary reads what AppendBinary wrote.
func (m *Mark) UnmarshalBinary(b []byte) error {
	if len(b) != MarkLen {
		return errors.New("seglog: a mark is 32 bytes")
	}
	ps := []*Pos{&m.Decisions, &m.Events}
	for i, p := range ps {
		p.Seq = binary.LittleEndian.Uint64(b[16*i:])
		p.Off = int64(binary.LittleEndian.Uint64(b[16*i+8:]))
		if p.Off < 0 {
			return errors.New("seglog: a mark's offset is negative")
		}
	}
	return nil
}

// Mark returns the log's current write position. A read-only log has none
// (the zero Mark).
func (l *Log) Mark() Mark {
	if l.opts.ReadOnly {
		return Mark{}
	}
	return Mark{Decisions: l.dec.mark(), Events: l.ev.mark()}
}

func (s *stream) mark() Pos {
	s.mu.Lock()
	defer s.mu.Unlock()
	act := s.segs[len(s.segs)-1]
	return Pos{Seq: act.seq, Off: act.size}
}

// After returns the decisions and call events appended after m, each
// oldest first (one decision per call id, one event per call id and
// type, as DecisionsSince and CallEventsSince), reading only the frames
// written since: the segment m names from its offset on, and every later
// segment. It returns ErrMarkUnusable when m does not fit the log.
func (l *Log) After(ctx context.Context, m Mark) ([]store.Decision, []store.CallEvent, error) {
	var ds []store.Decision
	err := l.dec.after(ctx, m.Decisions, func(dec *decoder, n int) error {
		for range n {
			ds = append(ds, store.Decision{})
			decodeDecision(dec, &ds[len(ds)-1])
			if dec.err != nil {
				return dec.err
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	var es []store.CallEvent
	err = l.ev.after(ctx, m.Events, func(dec *decoder, n int) error {
		for range n {
			es = append(es, store.CallEvent{})
			decodeEvent(dec, &es[len(es)-1])
			if dec.err != nil {
				return dec.err
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return firstDecisions(ds), firstEvents(es), nil
}

// after calls fn over every frame at or after p, oldest first.
func (s *stream) after(ctx context.Context, p Pos, fn func(dec *decoder, n int) error) error {
	s.mu.Lock()
	segs := slices.Clone(s.segs)
	views := make([]view, len(segs))
	for i, g := range segs {
		views[i] = view{seg: g, minT: g.minT, maxT: g.maxT, blocks: g.blocks}
	}
	s.mu.Unlock()
	if p.Seq == 0 {
		return ErrMarkUnusable // the zero Mark: taken on no log
	}
	// The mark's segment must still be there, at least as long as it was
	// then; or it was dropped by retention, and every segment left is
	// younger than it.
	found := false
	for _, v := range views {
		switch {
		case v.seg.seq == p.Seq:
			if v.seg.size < p.Off {
				return ErrMarkUnusable
			}
			found = true
		case v.seg.seq > p.Seq:
			found = true // a later segment: the mark's own was pruned or left empty
		}
	}
	if !found && len(views) > 0 {
		return ErrMarkUnusable
	}
	var (
		dec decoder
		buf []byte
	)
	for _, v := range views {
		if v.seg.seq < p.Seq || v.seg.count == 0 {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		err := s.withBlocks(v, func(f *os.File, bs []blockInfo) error {
			return frames(f, bs, func(b blockInfo) bool { return v.seg.seq != p.Seq || b.off >= p.Off }, &dec, &buf, fn)
		})
		if err != nil {
			return err
		}
	}
	return nil
}
