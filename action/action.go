// Package action carries out what a detector's rule says: alert,
// require_pin (later calls of the extension are challenged), block_and_alert
// (a block of the extension's international calling, the destination
// range or the source address, through store.Blocks), divert to the
// honeypot, remembering Wangiri callers, and the kill switch. Every action
// has an expiry, can be released by hand and leaves an audit entry.
//
// Actions that are not blocks (challenge, honeypot, Wangiri callbacks) are
// records in a Store; screening reads them from an immutable Set swapped
// atomically (check/detected), like blocks.
package action

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tollgate-voip/tollgate/internal/errkind"
)

// Verdicts an action record imposes on matching calls.
const (
	Challenge = "challenge"
	Reject    = "reject"
	Honeypot  = "honeypot"
)

// Record is one non-block action in force.
type Record struct {
	ID      int64     `json:"id"`
	Tenant  string    `json:"tenant,omitempty"`
	Kind    string    `json:"kind"` // extension, number, prefix
	Value   string    `json:"value"`
	Verdict string    `json:"verdict"` // challenge, reject, honeypot
	Reason  string    `json:"reason"`
	Source  string    `json:"source"` // the detector
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires,omitzero"`
}

// KillSwitchKind is the kind of record that keeps when a kill switch a
// detector set expires (Value: the tenant); screening ignores it.
const KillSwitchKind = "killswitch"

// ErrNotFound is returned for an unknown record id.
var ErrNotFound = errkind.New(errkind.NotFound, "action: not found")

// Store keeps action records; several nodes may share one.
type Store interface {
	AddAction(ctx context.Context, r Record) (Record, error)
	RemoveAction(ctx context.Context, id int64) (Record, error)
	// ListActions returns the records unexpired at now; the zero time
	// lists them all.
	ListActions(ctx context.Context, now time.Time) ([]Record, error)
}

// Validate checks a record before it is stored: a known kind and
// verdict, and a value of 1 to 64 bytes.
func (r Record) Validate() error {
	switch {
	case r.Kind != "extension" && r.Kind != "number" && r.Kind != "prefix" && r.Kind != KillSwitchKind:
		return fmt.Errorf("action kind %q: want extension, number, prefix or killswitch", r.Kind)
	case r.Verdict != Challenge && r.Verdict != Reject && r.Verdict != Honeypot:
		return fmt.Errorf("action verdict %q: want challenge, reject or honeypot", r.Verdict)
	case r.Value == "" || len(r.Value) > 64:
		return errors.New("action value: 1–64 bytes")
	}
	return nil
}

// Memory is a Store in memory (replay, tests, single node).
type Memory struct {
	mu   sync.Mutex
	next int64
	rs   map[int64]Record
}

// NewMemory returns an empty Memory store.
func NewMemory() *Memory { return &Memory{rs: map[int64]Record{}} }

// AddAction implements Store.
func (m *Memory) AddAction(_ context.Context, r Record) (Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.next++
	r.ID = m.next
	m.rs[r.ID] = r
	return r, nil
}

// RemoveAction implements Store.
func (m *Memory) RemoveAction(_ context.Context, id int64) (Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.rs[id]
	if !ok {
		return Record{}, ErrNotFound
	}
	delete(m.rs, id)
	return r, nil
}

// ListActions implements Store.
func (m *Memory) ListActions(_ context.Context, now time.Time) ([]Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Record, 0, len(m.rs))
	for _, r := range m.rs {
		if r.Expires.IsZero() || now.IsZero() || r.Expires.After(now) {
			out = append(out, r)
		}
	}
	return out, nil
}

// Set is an immutable index of action records.
type Set struct {
	ext, num map[[2]string]*Record
	prefix   map[[2]string]*Record
	maxLen   int
	plens    uint64 // bit l set: some prefix of l digits has a record (bit 63: 63 or more)
	n        int
	// kinds has, per tenant ("" for records of every tenant), a bit for
	// each kind of record it holds, and global is kinds[""]: a call of a
	// tenant without any costs one look-up by its name.
	kinds  map[string]uint8
	global uint8
}

// Kinds of record in Set.kinds.
const (
	hasExt uint8 = 1 << iota
	hasNum
	hasPrefix
)

// Build indexes records.
func Build(rs []Record) *Set {
	s := &Set{ext: map[[2]string]*Record{}, num: map[[2]string]*Record{}, prefix: map[[2]string]*Record{}, kinds: map[string]uint8{}}
	for i := range rs {
		r := &rs[i]
		v := strings.TrimPrefix(r.Value, "+")
		switch r.Kind {
		case "extension":
			s.ext[[2]string{r.Tenant, r.Value}] = r
			s.kinds[r.Tenant] |= hasExt
		case "number":
			s.num[[2]string{r.Tenant, v}] = r
			s.kinds[r.Tenant] |= hasNum
		case "prefix":
			s.prefix[[2]string{r.Tenant, v}] = r
			s.maxLen = max(s.maxLen, len(v))
			s.plens |= 1 << min(len(v), 63)
			s.kinds[r.Tenant] |= hasPrefix
		default:
			continue
		}
		s.n++
	}
	s.global = s.kinds[""]
	return s
}

// Len is the number of records indexed.
func (s *Set) Len() int {
	if s == nil {
		return 0
	}
	return s.n
}

func live(r *Record, t time.Time) *Record {
	if r == nil || !r.Expires.IsZero() && !t.Before(r.Expires) {
		return nil
	}
	return r
}

// Extension returns the record on a tenant's extension in force at t.
func (s *Set) Extension(tenant, ext string, t time.Time) *Record {
	if s == nil || len(s.ext) == 0 {
		return nil
	}
	if s.kinds[tenant]&hasExt != 0 {
		if r := live(s.ext[[2]string{tenant, ext}], t); r != nil {
			return r
		}
		if r := live(s.ext[[2]string{tenant, "*"}], t); r != nil { // every extension of the tenant
			return r
		}
	}
	if s.global&hasExt == 0 {
		return nil
	}
	return live(s.ext[[2]string{"", ext}], t)
}

// Destination returns the record on a number (digits, no "+") or its
// longest matching prefix in force at t.
func (s *Set) Destination(tenant, digits string, t time.Time) *Record {
	if s == nil || len(s.num)+len(s.prefix) == 0 {
		return nil
	}
	own, all := s.kinds[tenant], s.global
	if tenant == "" {
		own = 0 // the records of every tenant are looked up as all's
	}
	if (own|all)&(hasNum|hasPrefix) == 0 {
		return nil
	}
	if own&hasNum != 0 {
		if r := live(s.num[[2]string{tenant, digits}], t); r != nil {
			return r
		}
	}
	if all&hasNum != 0 {
		if r := live(s.num[[2]string{"", digits}], t); r != nil {
			return r
		}
	}
	if (own|all)&hasPrefix == 0 {
		return nil
	}
	for l := min(len(digits), s.maxLen); l > 0; l-- {
		if s.plens&(1<<min(l, 63)) == 0 {
			continue // no prefix this long
		}
		if own&hasPrefix != 0 {
			if r := live(s.prefix[[2]string{tenant, digits[:l]}], t); r != nil {
				return r
			}
		}
		if all&hasPrefix != 0 {
			if r := live(s.prefix[[2]string{"", digits[:l]}], t); r != nil {
				return r
			}
		}
	}
	return nil
}

// Live holds the current Set: the records the store listed at the last
// refresh, with the records this process decided (see AddAction) laid
// over them until a refresh begun after their commit has read them.
type Live struct {
	p atomic.Pointer[Set]

	refreshing sync.Mutex // one refresh at a time
	mu         sync.Mutex
	last       []Record // the last list read
	local      []*decision
	begun      uint64 // refreshes begun
}

// A decision is a record this process added (laid over the list before
// the store commits it) or removed (withdrawn once the store has removed
// it). It stays until a refresh begun after the commit has read the
// store.
type decision struct {
	add       *Record
	removed   int64
	committed bool
	seen      uint64 // refreshes begun when the commit returned
}

// NewLive returns a Live holding an empty set.
func NewLive() *Live {
	l := &Live{}
	l.p.Store(Build(nil))
	return l
}

// Load returns the current set.
func (l *Live) Load() *Set { return l.p.Load() }

// Store replaces the set (until the next refresh or decision).
func (l *Live) Store(s *Set) { l.p.Store(s) }

// Refresh rebuilds live from the store, with the decisions of this
// process that no refresh begun after their commit has read laid over.
func Refresh(ctx context.Context, st Store, l *Live, now time.Time) error {
	l.refreshing.Lock()
	defer l.refreshing.Unlock()
	l.mu.Lock()
	l.begun++
	n := l.begun
	l.mu.Unlock()
	rs, err := st.ListActions(ctx, now)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.last = rs
	l.local = slices.DeleteFunc(l.local, func(d *decision) bool { return d.committed && d.seen < n })
	l.installLocked()
	return nil
}

// installLocked builds the set from the last list and the decisions.
// l.mu is held.
func (l *Live) installLocked() {
	rs := l.last
	if len(l.local) > 0 {
		rs = slices.Clone(rs)
		for _, d := range l.local {
			if d.removed != 0 {
				rs = slices.DeleteFunc(rs, func(r Record) bool { return r.ID == d.removed })
			}
		}
		for _, d := range l.local {
			if d.add != nil {
				rs = append(rs, *d.add)
			}
		}
	}
	l.p.Store(Build(rs))
}

// AddAction stores r in st, enforcing it in l first: screening
// challenges, refuses or diverts what it names before the store has it
// (and before the API lists it). A record the store refuses is withdrawn.
func (l *Live) AddAction(ctx context.Context, st Store, r Record) (Record, error) {
	local := r
	d := &decision{add: &local}
	l.mu.Lock()
	l.local = append(l.local, d)
	l.installLocked()
	l.mu.Unlock()
	stored, err := st.AddAction(ctx, r)
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		l.local = slices.DeleteFunc(l.local, func(o *decision) bool { return o == d })
		l.installLocked()
		return stored, err
	}
	*d.add = stored
	d.committed, d.seen = true, l.begun
	return stored, nil
}

// RemoveAction removes a record from st and, once the store has done so,
// withdraws it from l at once (a refused removal leaves it in force).
func (l *Live) RemoveAction(ctx context.Context, st Store, id int64) (Record, error) {
	r, err := st.RemoveAction(ctx, id)
	if err != nil {
		return r, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.local = slices.DeleteFunc(l.local, func(o *decision) bool { return o.add != nil && o.add.ID == id })
	l.local = append(l.local, &decision{removed: id, committed: true, seen: l.begun})
	l.installLocked()
	return r, nil
}
