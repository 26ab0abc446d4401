package reputation

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Set is an immutable index of entries and bans for the screening hot
// path: lookups take no locks, do no I/O and do not allocate.
type Set struct {
	addrs    map[netip.Addr]*Entry
	nets     []netEntry
	numbers  map[string]*Entry // digits without "+"
	ranges   map[string]*Entry // digits without "+"
	maxRange int
	uas      []*Entry
	banAddrs map[netip.Addr]*Ban
	banNets  []netBan
	locks    map[lockKey]*Lockout
	byUser   map[[2]string][]*Lockout // kind and subject → the lockouts of every tenant
	entries  int
	bans     int
}

type lockKey struct{ kind, tenant, subject string }

type netEntry struct {
	p netip.Prefix
	e *Entry
}

type netBan struct {
	p netip.Prefix
	b *Ban
}

// Build indexes entries and bans; invalid ones are skipped.
func Build(es []Entry, bs []Ban) *Set { return BuildAll(es, bs, nil) }

// BuildAll indexes entries, bans and lockouts; invalid ones are skipped.
// Of two lockouts of one subject the later-ending one is kept, with the
// allowed sources of both.
func BuildAll(es []Entry, bs []Ban, ls []Lockout) *Set {
	s := &Set{
		addrs:    map[netip.Addr]*Entry{},
		numbers:  map[string]*Entry{},
		ranges:   map[string]*Entry{},
		banAddrs: map[netip.Addr]*Ban{},
	}
	for i := range es {
		e := &es[i]
		switch e.Kind {
		case KindIP:
			p, err := ParsePrefix(e.Value)
			if err != nil {
				continue
			}
			if p.IsSingleIP() {
				s.addrs[p.Addr()] = e
			} else {
				s.nets = append(s.nets, netEntry{p, e})
			}
		case KindNumber:
			s.numbers[strings.TrimPrefix(e.Value, "+")] = e
		case KindRange:
			d := strings.TrimPrefix(e.Value, "+")
			s.ranges[d] = e
			s.maxRange = max(s.maxRange, len(d))
		case KindUA:
			s.uas = append(s.uas, e)
		default:
			continue
		}
		s.entries++
	}
	for i := range bs {
		b := &bs[i]
		p, err := ParsePrefix(b.IP)
		if err != nil || b.Released {
			continue
		}
		if p.IsSingleIP() {
			if old := s.banAddrs[p.Addr()]; old == nil || b.Expires.After(old.Expires) {
				s.banAddrs[p.Addr()] = b
			}
		} else {
			s.banNets = append(s.banNets, netBan{p, b})
		}
		s.bans++
	}
	for i := range ls {
		l := &ls[i]
		k := lockKey{l.Kind, l.Tenant, l.Subject}
		if s.locks == nil {
			s.locks = map[lockKey]*Lockout{}
		}
		if old := s.locks[k]; old != nil {
			m := *l
			if old.Until.After(m.Until) {
				m = *old
			}
			m.Since = minTime(old.Since, l.Since)
			m.Allowed = slices.Compact(slices.Sorted(slices.Values(append(slices.Clone(old.Allowed), l.Allowed...))))
			l = &m
		}
		s.locks[k] = l
	}
	for _, l := range s.locks {
		if s.byUser == nil {
			s.byUser = map[[2]string][]*Lockout{}
		}
		k := [2]string{l.Kind, l.Subject}
		s.byUser[k] = append(s.byUser[k], l)
	}
	return s
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// Locked returns the lockout of kind (LockAccount, LockVoicemail) in
// force on subject at t (event time) that does not allow source a, or
// nil: the tenant's own lockout of subject first, then the one naming no
// tenant (which covers the username in every tenant).
func (s *Set) Locked(kind, tenant, subject string, a netip.Addr, t time.Time) *Lockout {
	if len(s.locks) == 0 || subject == "" {
		return nil
	}
	if tenant != "" {
		if l := s.locks[lockKey{kind, tenant, subject}]; l != nil && l.Active(t) && !l.Allows(a) {
			return l
		}
	}
	if l := s.locks[lockKey{kind, "", subject}]; l != nil && l.Active(t) && !l.Allows(a) {
		return l
	}
	return nil
}

// LockedAnyTenant returns a lockout of kind on subject in force at t,
// in any tenant or naming none, that does not allow source a, or nil:
// what an event naming no tenant must respect.
func (s *Set) LockedAnyTenant(kind, subject string, a netip.Addr, t time.Time) *Lockout {
	for _, l := range s.byUser[[2]string{kind, subject}] {
		if l.Active(t) && !l.Allows(a) {
			return l
		}
	}
	return nil
}

// Lockout returns the lockout of kind on subject in tenant ("": the one
// naming no tenant) in force at t whatever the source, or nil.
func (s *Set) Lockout(kind, tenant, subject string, t time.Time) *Lockout {
	if l := s.locks[lockKey{kind, tenant, subject}]; l != nil && l.Active(t) {
		return l
	}
	return nil
}

// Len is the number of entries and of bans indexed.
func (s *Set) Len() (entries, bans int) { return s.entries, s.bans }

// Addr returns the entry covering the address (exact first, then networks).
func (s *Set) Addr(a netip.Addr, t time.Time) *Entry {
	if !a.IsValid() {
		return nil
	}
	a = a.Unmap()
	if e := s.addrs[a]; e != nil && e.Live(t) {
		return e
	}
	for i := range s.nets {
		if s.nets[i].p.Contains(a) && s.nets[i].e.Live(t) {
			return s.nets[i].e
		}
	}
	return nil
}

// Number returns the entry for an exact number (digits without "+").
func (s *Set) Number(digits string, t time.Time) *Entry {
	if e := s.numbers[digits]; e != nil && e.Live(t) {
		return e
	}
	return nil
}

// Range returns the longest range entry that digits starts with.
func (s *Set) Range(digits string, t time.Time) *Entry {
	for l := min(len(digits), s.maxRange); l > 0; l-- {
		if e := s.ranges[digits[:l]]; e != nil && e.Live(t) {
			return e
		}
	}
	return nil
}

// UserAgent returns the first fingerprint the User-Agent starts with
// (case-insensitive).
func (s *Set) UserAgent(ua string, t time.Time) *Entry {
	if ua == "" {
		return nil
	}
	for _, e := range s.uas {
		if len(ua) >= len(e.Value) && strings.EqualFold(ua[:len(e.Value)], e.Value) && e.Live(t) {
			return e
		}
	}
	return nil
}

// Banned returns the ban in force on the address at t.
func (s *Set) Banned(a netip.Addr, t time.Time) *Ban {
	if !a.IsValid() {
		return nil
	}
	a = a.Unmap()
	if b := s.banAddrs[a]; b != nil && b.Active(t) {
		return b
	}
	for i := range s.banNets {
		if s.banNets[i].p.Contains(a) && s.banNets[i].b.Active(t) {
			return s.banNets[i].b
		}
	}
	return nil
}

// Policy says what the screening chain does with a match.
type Policy struct {
	// IPAction applies to calls from an address with a reputation entry
	// or a matching User-Agent fingerprint: reject or honeypot.
	IPAction string
	// NumberAction applies to calls to a number or range attackers
	// dialed: reject, challenge or score (risk only).
	NumberAction string
	// MinScore ignores entries scoring below it.
	MinScore int
	// Trusted are networks (attack.trusted, the SIP front end's trusted
	// proxies) that learned data never blocks: calls from them skip bans
	// and address entries.
	Trusted []netip.Prefix
	// VoicemailNumbers are the numbers, as dialed, that reach the
	// caller's own voicemail box: a call to one is refused while the
	// box of the caller's account is locked (attack.voicemail_numbers).
	VoicemailNumbers []string
}

// DefaultPolicy sends scanners to the honeypot and refuses numbers
// attackers dialed.
var DefaultPolicy = Policy{IPAction: "honeypot", NumberAction: "reject"}

// Live holds the current Set, swapped atomically, and the policy the
// screening check applies.
//
// The set is what the store listed at the last refresh, with two layers
// over it: what the store's Overlayer held then (cluster mode's buffer),
// and the writes this process decided (see AddBan) that no refresh begun
// after their commit has read yet. A decision is thus enforced here from
// the moment it is made, not from the next refresh.
type Live struct {
	set    atomic.Pointer[Set]
	policy Policy

	mu     sync.Mutex
	baseEs []Entry // the last lists read from the store
	baseBs []Ban
	baseLs []Lockout
	heldEs []Entry // what the store's Overlayer held at that read
	heldBs []Ban
	heldLs []Lockout
	local  []*decision
	begun  uint64 // refreshes begun (each numbered by the count)
	shown  uint64 // the refresh whose lists are installed
}

// NewLive returns a Live holding an empty set.
func NewLive(p Policy) *Live {
	l := &Live{policy: p}
	l.set.Store(Build(nil, nil))
	return l
}

// Load returns the current set.
func (l *Live) Load() *Set { return l.set.Load() }

// Replace installs a new set as it is, until the next refresh or
// decision builds one from the store's lists (tests, benchmarks).
func (l *Live) Replace(s *Set) { l.set.Store(s) }

// Policy returns the screening policy.
func (l *Live) Policy() Policy { return l.policy }

// Overlayer is a Store that holds writes its shared store has not got
// yet (cluster mode's local buffer while PostgreSQL is away). Overlay
// returns the entries and bans among them, so that the node that decided
// them enforces them before the store has them.
type Overlayer interface {
	Overlay() ([]Entry, []Ban)
}

// LockOverlayer is an Overlayer that also holds lockouts its shared store
// has not got yet.
type LockOverlayer interface {
	OverlayLockouts() []Lockout
}

// Refresh reads unexpired entries, bans and lockouts from st and installs
// them.
// When st is an Overlayer, what it holds is laid over what it lists; if
// the store fails, the last lists it gave are used with the overlay (and
// the error is returned). Without an overlay, on error the old set stays.
// The decisions of this process (see AddBan) are laid over the lists
// until a refresh begun after their commit has read them; a refresh that
// began before another one already installed does not replace it.
func Refresh(ctx context.Context, st Store, l *Live, now time.Time) error {
	n := l.begin()
	var oe []Entry
	var ob []Ban
	var ol []Lockout
	ov, _ := st.(Overlayer)
	if ov != nil {
		// Read before the store: a write that reaches it meanwhile is then
		// seen twice rather than not at all.
		oe, ob = ov.Overlay()
	}
	if lo, ok := st.(LockOverlayer); ok {
		ol = lo.OverlayLockouts()
	}
	es, err := st.List(ctx, Query{Now: now})
	var bs []Ban
	var ls []Lockout
	if err == nil {
		bs, err = st.Bans(ctx, now, false)
	}
	if err == nil {
		ls, err = st.Lockouts(ctx, now)
	}
	if err != nil {
		l.overlayLast(oe, ob, ol)
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if n < l.shown {
		return nil // a later read is installed
	}
	l.shown = n
	l.baseEs, l.baseBs, l.baseLs, l.heldEs, l.heldBs, l.heldLs = es, bs, ls, oe, ob, ol
	// Decisions committed before this read began are in its lists (or
	// were undone meanwhile by someone else): the store speaks for them.
	l.local = slices.DeleteFunc(l.local, func(d *decision) bool { return d.committed && d.seen < n })
	l.installLocked()
	return nil
}

// DefaultFullRefresh is how often a Refresher re-reads everything even
// though the store's version did not move (a safety net, and it drops
// expired entries from the set's memory; lookups already ignore them).
const DefaultFullRefresh = 30 * time.Second

// Refresher keeps a Live current with a store that several writers (other
// processes, other nodes) change. When the store is Versioned, a call
// reads the version (one row) and re-lists entries and bans only when it
// moved, or when Full has passed since the last full read; otherwise
// every call re-lists. Expiry needs no re-read: Set lookups compare each
// entry's and ban's expiry with the time asked about. Refresher is safe
// for concurrent use; calls are serialized.
type Refresher struct {
	Store Store
	Live  *Live
	Full  time.Duration // 0: DefaultFullRefresh

	mu      sync.Mutex
	known   bool
	version int64
	last    time.Time // of the last full read

	reads, checks atomic.Int64
}

// Refresh re-reads the store into Live if it changed (see Refresher); it
// reports whether it re-read. On error the old set stays.
func (r *Refresher) Refresh(ctx context.Context, now time.Time) (bool, error) {
	return r.refresh(ctx, now, false)
}

// Reload re-reads the store into Live whatever its version says.
func (r *Refresher) Reload(ctx context.Context, now time.Time) error {
	_, err := r.refresh(ctx, now, true)
	return err
}

func (r *Refresher) refresh(ctx context.Context, now time.Time, force bool) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	full := r.Full
	if full <= 0 {
		full = DefaultFullRefresh
	}
	vs, versioned := r.Store.(Versioned)
	var v int64
	if versioned {
		// The version is read before the lists: a change committed in
		// between is in the lists and moves the version past v, so the
		// next call reads once more rather than never.
		var err error
		if v, err = vs.Version(ctx); err != nil {
			// The store is away: still enforce what this node has
			// buffered for it, over the last lists read.
			if ov, ok := r.Store.(Overlayer); ok {
				oe, ob := ov.Overlay()
				var ol []Lockout
				if lo, ok := r.Store.(LockOverlayer); ok {
					ol = lo.OverlayLockouts()
				}
				r.Live.overlayLast(oe, ob, ol)
			}
			return false, err
		}
		r.checks.Add(1)
		// Buffered writes are laid over every refresh until the store has
		// them (their arrival moves the version).
		pending := r.Live.deciding()
		if ov, ok := r.Store.(Overlayer); ok {
			oe, ob := ov.Overlay()
			pending = pending || len(oe)+len(ob) > 0
		}
		if lo, ok := r.Store.(LockOverlayer); ok {
			pending = pending || len(lo.OverlayLockouts()) > 0
		}
		if !force && !pending && r.known && v == r.version && now.Sub(r.last) < full && !now.Before(r.last) {
			return false, nil
		}
	}
	if err := Refresh(ctx, r.Store, r.Live, now); err != nil {
		return false, err
	}
	r.reads.Add(1)
	r.known, r.version, r.last = versioned, v, now
	return true, nil
}

// Stats reports how many version checks and full reads were made.
func (r *Refresher) Stats() (checks, reads int64) { return r.checks.Load(), r.reads.Load() }

// overlay returns new lists: es and bs with oe merged in (see Merge) and
// ob added. es and bs are not changed: a Set in use points into them.
func overlay(es []Entry, bs []Ban, oe []Entry, ob []Ban) ([]Entry, []Ban) {
	outE := make([]Entry, len(es), len(es)+len(oe))
	copy(outE, es)
	at := make(map[[2]string]int, len(oe))
	for _, e := range oe {
		at[[2]string{e.Kind, e.Value}] = -1
	}
	for i := range outE {
		k := [2]string{outE[i].Kind, outE[i].Value}
		if _, ok := at[k]; ok {
			at[k] = i
		}
	}
	for _, e := range oe {
		k := [2]string{e.Kind, e.Value}
		if i := at[k]; i >= 0 {
			outE[i] = Merge(outE[i], e)
		} else {
			at[k] = len(outE)
			outE = append(outE, e)
		}
	}
	outB := make([]Ban, 0, len(bs)+len(ob))
	outB = append(append(outB, bs...), ob...)
	return outE, outB
}

// overlayLast installs the last lists read from the store with oe and ob
// laid over them (and this process's decisions); with nothing to lay
// over, the current set stays.
func (l *Live) overlayLast(oe []Entry, ob []Ban, ol []Lockout) {
	if len(oe)+len(ob)+len(ol) == 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.heldEs, l.heldBs, l.heldLs = oe, ob, ol
	l.installLocked()
}

// begin numbers a refresh that is about to read the store.
func (l *Live) begin() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.begun++
	return l.begun
}

// installLocked builds the set from the last lists, what the store held
// and this process's decisions. l.mu is held.
func (l *Live) installLocked() {
	es, bs, ls := l.baseEs, l.baseBs, l.baseLs
	if len(l.heldEs)+len(l.heldBs) > 0 {
		es, bs = overlay(es, bs, l.heldEs, l.heldBs)
	}
	if len(l.heldLs) > 0 {
		ls = append(slices.Clip(ls), l.heldLs...)
	}
	if len(l.local) > 0 {
		es, bs, ls = withdraw(es, bs, ls, l.local)
		oe, ob := l.overlayLocked()
		es, bs = overlay(es, bs, oe, ob)
		ls = append(slices.Clip(ls), l.localLocksLocked()...)
	}
	l.set.Store(BuildAll(es, bs, ls))
}
