package compliance

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Index is an immutable snapshot of the opt-outs and consents, indexed
// for lookups on the screening path.
type Index struct {
	optOuts  map[tkey]*OptOut    // latest opt-out per tenant and number
	consents map[tkey][]*Consent // newest first
	version  int64
}

type tkey struct {
	tenant string
	num    uint64
}

// NewIndex indexes opt-outs and consents; records whose number is not
// E.164 are skipped.
func NewIndex(opts []OptOut, cons []Consent, version int64) *Index {
	x := &Index{optOuts: make(map[tkey]*OptOut, len(opts)), consents: make(map[tkey][]*Consent, len(cons)), version: version}
	for i := range opts {
		o := &opts[i]
		k, ok := Key(o.Number)
		if !ok {
			continue
		}
		tk := tkey{o.Tenant, k}
		if old := x.optOuts[tk]; old == nil || o.Time.After(old.Time) {
			x.optOuts[tk] = o
		}
	}
	for i := range cons {
		c := &cons[i]
		k, ok := Key(c.Number)
		if !ok {
			continue
		}
		tk := tkey{c.Tenant, k}
		x.consents[tk] = append(x.consents[tk], c)
	}
	for _, cs := range x.consents {
		// Newest first, so the first valid one is the one to cite.
		for i := 1; i < len(cs); i++ {
			for j := i; j > 0 && cs[j].Time.After(cs[j-1].Time); j-- {
				cs[j], cs[j-1] = cs[j-1], cs[j]
			}
		}
	}
	return x
}

// OptOut returns the latest opt-out of number k that applies to tenant,
// or nil.
func (x *Index) OptOut(tenant string, k uint64) *OptOut {
	if x == nil || len(x.optOuts) == 0 {
		return nil
	}
	a := x.optOuts[tkey{tenant, k}]
	if b := x.optOuts[tkey{"", k}]; b != nil && (a == nil || b.Time.After(a.Time)) {
		a = b
	}
	return a
}

// Consent returns the newest consent of number k for tenant that is valid
// at t and of an accepted type (types nil accepts all), or nil.
func (x *Index) Consent(tenant string, k uint64, t time.Time, types map[string]bool) *Consent {
	if x == nil {
		return nil
	}
	for _, c := range x.consents[tkey{tenant, k}] {
		if c.ValidAt(t) && (types == nil || types[c.Type]) {
			return c
		}
	}
	return nil
}

// Counts returns how many opt-outs and consent numbers the index holds.
func (x *Index) Counts() (optOuts, consents int) {
	if x == nil {
		return 0, 0
	}
	return len(x.optOuts), len(x.consents)
}

// Live holds the current Index and the loaded list files. Lookups read an
// atomically swapped snapshot; Refresh rebuilds it from a Store, which
// several nodes may share.
type Live struct {
	idx       atomic.Pointer[Index]
	confirmed atomic.Int64

	mu    sync.Mutex
	lists map[string]*Set // file|format|cc → set
}

// NewLive returns a Live with an empty index.
func NewLive() *Live {
	l := &Live{lists: map[string]*Set{}}
	l.idx.Store(NewIndex(nil, nil, -1))
	return l
}

// Index returns the current snapshot.
func (l *Live) Index() *Index { return l.idx.Load() }

// Replace installs a new snapshot.
func (l *Live) Replace(x *Index) { l.idx.Store(x) }

// List loads a list file once and returns the shared set; tenants naming
// the same file share one copy.
func (l *Live) List(path, format string, callingCode int) (*Set, error) {
	key := fmt.Sprintf("%s|%s|%d", path, format, callingCode)
	l.mu.Lock()
	defer l.mu.Unlock()
	if s, ok := l.lists[key]; ok {
		return s, nil
	}
	if format != FormatRegistry {
		callingCode = 0
	}
	s, err := LoadFile(path, format, callingCode)
	if err != nil {
		return nil, err
	}
	l.lists[key] = s
	return s, nil
}

// ListStats describes the loaded list files.
func (l *Live) ListStats() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]int, len(l.lists))
	for k, s := range l.lists {
		out[k] = s.Len()
	}
	return out
}

// Refresh reloads the index from st when its version changed.
func (l *Live) Refresh(ctx context.Context, st Store) error {
	v, err := st.Version(ctx)
	if err != nil {
		return err
	}
	if cur := l.idx.Load(); cur != nil && cur.version == v {
		l.confirmed.Store(time.Now().UnixNano())
		return nil
	}
	opts, err := st.OptOuts(ctx)
	if err != nil {
		return err
	}
	cons, err := st.Consents(ctx, ConsentQuery{Limit: -1})
	if err != nil {
		return err
	}
	l.idx.Store(NewIndex(opts, cons, v))
	l.confirmed.Store(time.Now().UnixNano())
	return nil
}

// Age returns how long ago the index was last confirmed current.
func (l *Live) Age(now time.Time) time.Duration {
	c := l.confirmed.Load()
	if c == 0 {
		return 0
	}
	return now.Sub(time.Unix(0, c))
}
