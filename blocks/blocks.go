// Package blocks holds the in-memory, read-only snapshot of blocks and kill
// switches that the screening checks consult. The store is the source of
// truth; a new snapshot replaces the old one atomically whenever the store
// changes, so checks read it without locks or I/O.
package blocks

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tollgate-voip/tollgate/eventclock"
	"github.com/tollgate-voip/tollgate/store"
)

// Set is an immutable index of blocks and kill switches.
type Set struct {
	numbers    map[tkey]*store.Block
	prefixes   map[tkey]*store.Block
	maxPrefix  int
	plens      uint64 // bit l set: some prefix of l digits is blocked (bit 63: 63 or more)
	extensions map[tkey][]*store.Block
	addrs      map[netip.Addr][]*store.Block
	nets       []*netBlock
	kills      map[string]*store.KillSwitch
	built      time.Time
	n          int
	// kinds has, per tenant ("" for blocks of every tenant), a bit for
	// each kind of number, prefix and extension block it holds; global is
	// kinds[""]. A tenant without a kind costs one look-up by its name, not
	// a look-up by tenant and value per kind (most calls meet none).
	kinds  map[string]uint8
	global uint8
}

type tkey struct{ tenant, value string }

// Kinds of block in Set.kinds.
const (
	hasNumber uint8 = 1 << iota
	hasPrefix
	hasExtension
)

type netBlock struct {
	p netip.Prefix
	b *store.Block
}

// Build indexes blocks and kill switches. Invalid entries are skipped (the
// store validates them on the way in).
func Build(bs []store.Block, ks []store.KillSwitch, now time.Time) *Set {
	s := &Set{
		numbers:    map[tkey]*store.Block{},
		prefixes:   map[tkey]*store.Block{},
		extensions: map[tkey][]*store.Block{},
		addrs:      map[netip.Addr][]*store.Block{},
		kills:      map[string]*store.KillSwitch{},
		built:      now,
		kinds:      map[string]uint8{},
	}
	for i := range bs {
		b := &bs[i]
		switch b.Kind {
		case store.BlockNumber:
			s.numbers[tkey{b.Tenant, strings.TrimPrefix(b.Value, "+")}] = b
			s.kinds[b.Tenant] |= hasNumber
		case store.BlockPrefix:
			v := strings.TrimPrefix(b.Value, "+")
			s.prefixes[tkey{b.Tenant, v}] = b
			s.maxPrefix = max(s.maxPrefix, len(v))
			s.plens |= 1 << min(len(v), 63)
			s.kinds[b.Tenant] |= hasPrefix
		case store.BlockExtension:
			// An extension may hold blocks of several scopes (a short
			// costly-calls block beside an earlier international one):
			// Extension returns the broadest live one.
			k := tkey{b.Tenant, b.Value}
			s.extensions[k] = append(s.extensions[k], b)
			s.kinds[b.Tenant] |= hasExtension
		case store.BlockIP:
			if p, err := netip.ParsePrefix(b.Value); err == nil {
				if p.IsSingleIP() {
					s.addrs[p.Addr().Unmap()] = append(s.addrs[p.Addr().Unmap()], b)
				} else {
					s.nets = append(s.nets, &netBlock{p.Masked(), b})
				}
			} else if a, err := netip.ParseAddr(b.Value); err == nil {
				s.addrs[a.Unmap()] = append(s.addrs[a.Unmap()], b)
			} else {
				continue
			}
		default:
			continue
		}
		s.n++
	}
	s.global = s.kinds[""]
	for i := range ks {
		if ks[i].Active {
			s.kills[ks[i].Tenant] = &ks[i]
		}
	}
	return s
}

// Len is the number of blocks indexed.
func (s *Set) Len() int { return s.n }

func live(b *store.Block, t time.Time) bool {
	return b != nil && (b.Expires.IsZero() || t.Before(b.Expires))
}

// Number returns the block on an exact number (digits without "+") for
// the tenant or for every tenant.
func (s *Set) Number(tenant, digits string, t time.Time) *store.Block {
	if len(s.numbers) == 0 {
		return nil
	}
	if s.kinds[tenant]&hasNumber != 0 {
		if b := s.numbers[tkey{tenant, digits}]; live(b, t) {
			return b
		}
	}
	if s.global&hasNumber != 0 {
		if b := s.numbers[tkey{"", digits}]; live(b, t) {
			return b
		}
	}
	return nil
}

// Prefix returns the longest blocked prefix of digits.
func (s *Set) Prefix(tenant, digits string, t time.Time) *store.Block {
	if len(s.prefixes) == 0 {
		return nil
	}
	own, all := s.kinds[tenant]&hasPrefix != 0, s.global&hasPrefix != 0
	if !own && !all {
		return nil
	}
	for l := min(len(digits), s.maxPrefix); l > 0; l-- {
		if s.plens&(1<<min(l, 63)) == 0 {
			continue // no prefix this long
		}
		if own {
			if b := s.prefixes[tkey{tenant, digits[:l]}]; live(b, t) {
				return b
			}
		}
		if all {
			if b := s.prefixes[tkey{"", digits[:l]}]; live(b, t) {
				return b
			}
		}
	}
	return nil
}

// Extension returns the block on a tenant's extension.
func (s *Set) Extension(tenant, ext string, t time.Time) *store.Block {
	if ext == "" || s.kinds[tenant]&hasExtension == 0 {
		return nil
	}
	var best *store.Block
	// The extension's own blocks, then those of every extension of the
	// tenant ("*"); of the live ones the broadest scope holds.
	for _, v := range [2]string{ext, "*"} {
		for _, b := range s.extensions[tkey{tenant, v}] {
			if live(b, t) && (best == nil || store.ScopeRank(b.Scope) > store.ScopeRank(best.Scope)) {
				best = b
			}
		}
	}
	return best
}

// Addr returns a block covering the address for the tenant or every tenant.
func (s *Set) Addr(tenant string, a netip.Addr, t time.Time) *store.Block {
	if !a.IsValid() {
		return nil
	}
	a = a.Unmap()
	for _, b := range s.addrs[a] {
		if (b.Tenant == "" || b.Tenant == tenant) && live(b, t) {
			return b
		}
	}
	for _, nb := range s.nets {
		if (nb.b.Tenant == "" || nb.b.Tenant == tenant) && nb.p.Contains(a) && live(nb.b, t) {
			return nb.b
		}
	}
	return nil
}

// Kill returns the active kill switch for the tenant, or the global one.
func (s *Set) Kill(tenant string) *store.KillSwitch {
	if k := s.kills[tenant]; k != nil {
		return k
	}
	return s.kills["*"]
}

// Live holds the current Set and when it was last confirmed fresh.
type Live struct {
	set       atomic.Pointer[Set]
	confirmed atomic.Int64 // unix ns of the last successful refresh
	// refreshing serializes Refresh: a read that started before another
	// refresh's write must not install its older snapshot after it.
	refreshing sync.Mutex
	// clock is the event clock of the node screening with this snapshot
	// (eventclock): the engine, the detectors and the actions share it.
	clock *eventclock.Clock

	// The last lists read and the blocks and kill switches this process
	// decided that a refresh begun after their commit has not read yet
	// (see AddBlock).
	mu     sync.Mutex
	lastBs []store.Block
	lastKs []store.KillSwitch
	local  []*decision
	begun  uint64 // refreshes begun
}

// NewLive returns a Live holding an empty set, with a new event clock over
// the wall clock.
func NewLive() *Live {
	l := &Live{clock: eventclock.New(time.Now)}
	l.Replace(Build(nil, nil, time.Now()), time.Now())
	return l
}

// NewLiveWith returns a Live holding an empty set, on the given event
// clock (a replay's, which only events move).
func NewLiveWith(c *eventclock.Clock) *Live {
	l := &Live{clock: c}
	l.Replace(Build(nil, nil, time.Now()), time.Now())
	return l
}

// Clock is the event clock shared by everything that screens with this
// snapshot.
func (l *Live) Clock() *eventclock.Clock { return l.clock }

// listTime is the time a refresh lists blocks at: the earlier of now and
// the event clock, so a block a detector set in event time (a drive of
// history, a replay) stays in the snapshot until event time passes its
// expiry. Lookups compare expiries with each call's own time.
func (l *Live) listTime(now time.Time) time.Time { return l.ListTime(now) }

// ListTime is the time blocks in force are listed at: the earlier of now
// and the event clock (what the API and console show agrees with what
// screening enforces in event time).
func (l *Live) ListTime(now time.Time) time.Time {
	if l.clock.Started() {
		if ev := l.clock.Now(); ev.Before(now) {
			return ev
		}
	}
	return now
}

// Load returns the current set.
func (l *Live) Load() *Set { return l.set.Load() }

// Replace installs a new set, confirmed fresh at now.
func (l *Live) Replace(s *Set, now time.Time) {
	l.set.Store(s)
	l.confirmed.Store(now.UnixNano())
}

// Confirm records that the current set was found fresh at now.
func (l *Live) Confirm(now time.Time) { l.confirmed.Store(now.UnixNano()) }

// Age is how long ago the set was last confirmed fresh.
func (l *Live) Age(now time.Time) time.Duration {
	return time.Duration(now.UnixNano() - l.confirmed.Load())
}

// Source is where blocks and kill switches are kept.
type Source interface {
	ListBlocks(ctx context.Context, now time.Time) ([]store.Block, error)
	KillSwitches(ctx context.Context) ([]store.KillSwitch, error)
}

// Refresh reads blocks and kill switches from src and installs them in
// live. On error the old snapshot stays and its age keeps growing, so the
// engine can tell when it is too old to trust.
//
// The blocks and kill switches this process decided (see AddBlock) are
// laid over the lists until a refresh begun after their commit has read
// them.
func Refresh(ctx context.Context, src Source, live *Live, now time.Time) error {
	live.refreshing.Lock()
	defer live.refreshing.Unlock()
	live.mu.Lock()
	live.begun++
	n := live.begun
	live.mu.Unlock()
	bs, err := src.ListBlocks(ctx, live.listTime(now))
	if err != nil {
		return err
	}
	ks, err := src.KillSwitches(ctx)
	if err != nil {
		return err
	}
	live.mu.Lock()
	defer live.mu.Unlock()
	live.lastBs, live.lastKs = bs, ks
	live.local = slices.DeleteFunc(live.local, func(d *decision) bool { return d.committed && d.seen < n })
	live.Replace(live.buildLocked(now), now)
	return nil
}

// A decision is a block or a kill switch this process decided. A block
// or a switch turned on is laid over the lists before the store commits
// it (what screening reads refuses at once); a switch turned off only
// after the commit. It stays until a refresh begun after the commit.
type decision struct {
	block     *store.Block
	kill      *store.KillSwitch
	committed bool
	seen      uint64 // refreshes begun when the commit returned
}

// buildLocked indexes the last lists with the decisions laid over them;
// a decided kill switch replaces the listed one of its tenant. l.mu is
// held.
func (l *Live) buildLocked(now time.Time) *Set {
	bs, ks := l.lastBs, l.lastKs
	if len(l.local) > 0 {
		bs, ks = slices.Clone(bs), slices.Clone(ks)
		for _, d := range l.local {
			if d.block != nil {
				bs = append(bs, *d.block)
			}
			if d.kill != nil {
				ks = slices.DeleteFunc(ks, func(k store.KillSwitch) bool { return k.Tenant == d.kill.Tenant })
				ks = append(ks, *d.kill)
			}
		}
	}
	return Build(bs, ks, now)
}

func (l *Live) decide(d *decision) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if d.committed {
		d.seen = l.begun
	}
	if d.kill != nil {
		// The latest decision on a tenant's switch holds.
		l.local = slices.DeleteFunc(l.local, func(o *decision) bool { return o.kill != nil && o.kill.Tenant == d.kill.Tenant })
	}
	l.local = append(l.local, d)
	l.set.Store(l.buildLocked(time.Now()))
}

// settle records the store's answer to a decision laid before its
// commit: kept until a refresh begun afterwards, or withdrawn on error.
func (l *Live) settle(d *decision, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		l.local = slices.DeleteFunc(l.local, func(o *decision) bool { return o == d })
		l.set.Store(l.buildLocked(time.Now()))
		return
	}
	d.committed, d.seen = true, l.begun
}

// Writer is where blocks and kill switches are written.
type Writer interface {
	AddBlock(ctx context.Context, b store.Block) (store.Block, error)
	SetKillSwitch(ctx context.Context, k store.KillSwitch) error
}

// AddBlock stores b through w, enforcing it in l first: screening
// refuses what it blocks before the store has it (and before other nodes
// and the API list it). A block the store refuses is withdrawn.
func (l *Live) AddBlock(ctx context.Context, w Writer, b store.Block) (store.Block, error) {
	local := b
	d := &decision{block: &local}
	l.decide(d)
	stored, err := w.AddBlock(ctx, b)
	if err == nil {
		l.mu.Lock()
		*d.block = stored
		l.mu.Unlock()
	}
	l.settle(d, err)
	return stored, err
}

// SetKillSwitch stores k through w. A switch turned on is enforced in l
// before the store has it (withdrawn if the store refuses it); a switch
// turned off stops once the store has committed it.
func (l *Live) SetKillSwitch(ctx context.Context, w Writer, k store.KillSwitch) error {
	if !k.Active {
		if err := w.SetKillSwitch(ctx, k); err != nil {
			return err
		}
		l.decide(&decision{kill: &k, committed: true})
		return nil
	}
	d := &decision{kill: &k}
	l.decide(d)
	err := w.SetKillSwitch(ctx, k)
	l.settle(d, err)
	return err
}
