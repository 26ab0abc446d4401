package reputation

import (
	"context"
	"slices"
	"strings"
)

// A decision is a write to entries or bans made by this process, laid
// over the store's lists from the moment it is decided until a refresh
// that began after its commit has read the store.
//
// What makes screening stricter (a ban, an entry) is laid before the
// store commits it: the node that decides a ban refuses the address at
// once, while other readers of the store (the API, the other nodes) may
// not see it yet. What makes screening more lenient (a ban released, an
// entry removed) is laid only after the commit succeeded, so a release
// the store refused leaves the ban in force.
type decision struct {
	ban     *Ban     // a ban to enforce
	entries []Entry  // entries to enforce (merged into the listed ones)
	lock    *Lockout // a lockout to enforce

	released int64     // a ban id to withdraw from the lists
	removed  [2]string // an entry's kind and value to withdraw
	unlocked [3]string // a lockout's kind, tenant and subject to withdraw

	committed bool
	seen      uint64 // refreshes begun when the commit returned
}

// decide lays d over the set at once. A withdrawal drops the earlier
// decisions it undoes (a local ban then released, an entry upserted then
// removed), so the decisions left are laid withdrawals first, then
// additions, whatever their order.
func (l *Live) decide(d *decision) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if d.committed {
		d.seen = l.begun
	}
	if d.released != 0 || d.removed[0] != "" || d.unlocked[0] != "" {
		l.local = slices.DeleteFunc(l.local, func(o *decision) bool {
			if o.ban != nil && o.ban.ID != 0 && o.ban.ID == d.released {
				return true
			}
			if o.lock != nil && [3]string{o.lock.Kind, o.lock.Tenant, o.lock.Subject} == d.unlocked {
				o.lock = nil
			}
			o.entries = slices.DeleteFunc(o.entries, func(e Entry) bool { return e.Kind == d.removed[0] && e.Value == d.removed[1] })
			return o.ban == nil && o.lock == nil && len(o.entries) == 0 && o.released == 0 && o.removed[0] == "" && o.unlocked[0] == ""
		})
	}
	l.local = append(l.local, d)
	l.installLocked()
}

// settle records the store's answer to a decision laid before its
// commit: on success it stays until a refresh begun afterwards has read
// the store; on failure it is withdrawn (the write did not happen).
func (l *Live) settle(d *decision, err error, stored func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		l.local = slices.DeleteFunc(l.local, func(o *decision) bool { return o == d })
		l.installLocked()
		return
	}
	if stored != nil {
		stored()
	}
	d.committed, d.seen = true, l.begun
}

// deciding reports whether decisions are laid over the store's lists.
func (l *Live) deciding() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.local) > 0
}

// Overlay implements Overlayer: the entries and bans this process decided
// that the last refresh may not have read from the store.
func (l *Live) Overlay() ([]Entry, []Ban) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.overlayLocked()
}

func (l *Live) overlayLocked() ([]Entry, []Ban) {
	var es []Entry
	var bs []Ban
	for _, d := range l.local {
		es = append(es, d.entries...)
		if d.ban != nil {
			bs = append(bs, *d.ban)
		}
	}
	return es, bs
}

// localLocksLocked returns the lockouts this process decided. l.mu is
// held.
func (l *Live) localLocksLocked() []Lockout {
	var ls []Lockout
	for _, d := range l.local {
		if d.lock != nil {
			ls = append(ls, *d.lock)
		}
	}
	return ls
}

// withdraw returns es, bs and ls without the bans released, the entries
// removed and the lockouts lifted by ds (new slices when anything is
// withdrawn; es, bs and ls are not changed).
func withdraw(es []Entry, bs []Ban, ls []Lockout, ds []*decision) ([]Entry, []Ban, []Lockout) {
	released := map[int64]bool{}
	removed := map[[2]string]bool{}
	unlocked := map[[3]string]bool{}
	for _, d := range ds {
		if d.released != 0 {
			released[d.released] = true
		}
		if d.removed[0] != "" {
			removed[d.removed] = true
		}
		if d.unlocked[0] != "" {
			unlocked[d.unlocked] = true
		}
	}
	if len(unlocked) > 0 {
		ls = slices.DeleteFunc(slices.Clone(ls), func(x Lockout) bool { return unlocked[[3]string{x.Kind, x.Tenant, x.Subject}] })
	}
	if len(removed) > 0 {
		es = slices.DeleteFunc(slices.Clone(es), func(e Entry) bool { return removed[[2]string{e.Kind, e.Value}] })
	}
	if len(released) > 0 {
		bs = slices.DeleteFunc(slices.Clone(bs), func(b Ban) bool { return released[b.ID] })
	}
	return es, bs, ls
}

// AddBan stores b in st, enforcing it in l first: screening refuses the
// address before the store has the ban (and before the API lists it).
func (l *Live) AddBan(ctx context.Context, st Store, b Ban) (Ban, error) {
	local := b
	d := &decision{ban: &local}
	l.decide(d)
	stored, err := st.AddBan(ctx, b)
	l.settle(d, err, func() { *d.ban = stored })
	return stored, err
}

// ReleaseBan releases the ban in st and, once the store has done so,
// withdraws it (and the learned entry released with it) from l at once.
func (l *Live) ReleaseBan(ctx context.Context, st Store, id int64) (Ban, error) {
	b, err := st.ReleaseBan(ctx, id)
	if err != nil {
		return b, err
	}
	d := &decision{released: id, committed: true}
	if kind, value, ok := strings.Cut(b.Freed, "/"); ok {
		d.removed = [2]string{kind, value}
	}
	l.decide(d)
	return b, nil
}

// Upsert stores e in st, enforcing it in l first (merged into the entry
// listed, as the store merges it).
func (l *Live) Upsert(ctx context.Context, st Store, e Entry) (Entry, error) {
	d := &decision{entries: []Entry{e}}
	l.decide(d)
	stored, err := st.Upsert(ctx, e)
	l.settle(d, err, nil)
	return stored, err
}

// UpsertBatch stores es in st, enforcing them in l first.
func (l *Live) UpsertBatch(ctx context.Context, st BatchUpserter, es []Entry) error {
	if len(es) == 0 {
		return st.UpsertBatch(ctx, es)
	}
	d := &decision{entries: slices.Clone(es)}
	l.decide(d)
	err := st.UpsertBatch(ctx, es)
	l.settle(d, err, nil)
	return err
}

// Remove removes the entry from st and, once the store has done so,
// withdraws it from l at once.
func (l *Live) Remove(ctx context.Context, st Store, kind, value string) error {
	if err := st.Remove(ctx, kind, value); err != nil {
		return err
	}
	l.decide(&decision{removed: [2]string{kind, value}, committed: true})
	return nil
}

// PutLockout stores lo in st, enforcing it in l first: screening refuses
// the account (from sources the lockout does not allow) before the store
// has the lockout.
func (l *Live) PutLockout(ctx context.Context, st Store, lo Lockout) error {
	local := lo
	local.Allowed = slices.Clone(lo.Allowed)
	d := &decision{lock: &local}
	l.decide(d)
	err := st.PutLockout(ctx, lo)
	l.settle(d, err, nil)
	return err
}

// ReleaseLockout lifts the lockout in st and, once the store has done so,
// withdraws it from l at once.
func (l *Live) ReleaseLockout(ctx context.Context, st Store, kind, tenant, subject string) error {
	if err := st.ReleaseLockout(ctx, kind, tenant, subject); err != nil {
		return err
	}
	l.decide(&decision{unlocked: [3]string{kind, tenant, subject}, committed: true})
	return nil
}

// OverlayLockouts implements LockOverlayer: the lockouts this process
// decided that the last refresh may not have read from the store.
func (l *Live) OverlayLockouts() []Lockout {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.localLocksLocked()
}

// Enforcing is a Store whose writes to entries and bans are decisions
// of this process: Live enforces them at once (see Live.AddBan).
type Enforcing struct {
	Store
	Live *Live
}

// AddBan implements Store (see Live.AddBan).
func (s Enforcing) AddBan(ctx context.Context, b Ban) (Ban, error) {
	return s.Live.AddBan(ctx, s.Store, b)
}

// ReleaseBan implements Store (see Live.ReleaseBan).
func (s Enforcing) ReleaseBan(ctx context.Context, id int64) (Ban, error) {
	return s.Live.ReleaseBan(ctx, s.Store, id)
}

// Upsert implements Store (see Live.Upsert).
func (s Enforcing) Upsert(ctx context.Context, e Entry) (Entry, error) {
	return s.Live.Upsert(ctx, s.Store, e)
}

// Remove implements Store (see Live.Remove).
func (s Enforcing) Remove(ctx context.Context, kind, value string) error {
	return s.Live.Remove(ctx, s.Store, kind, value)
}

// PutLockout implements Store (see Live.PutLockout).
func (s Enforcing) PutLockout(ctx context.Context, lo Lockout) error {
	return s.Live.PutLockout(ctx, s.Store, lo)
}

// ReleaseLockout implements Store (see Live.ReleaseLockout).
func (s Enforcing) ReleaseLockout(ctx context.Context, kind, tenant, subject string) error {
	return s.Live.ReleaseLockout(ctx, s.Store, kind, tenant, subject)
}
