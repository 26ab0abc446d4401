package attack

import (
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tollgate-voip/tollgate/counter"
)

// FailKind says what a failure window counts.
type FailKind uint8

// Failure windows of the guard.
const (
	FailIP        FailKind = iota // failures from one source address
	FailAccount                   // failed authentications of one account
	FailVoicemail                 // wrong PINs for one voicemail box
	failKinds
)

// FailKey names one failure window: a kind and an address (in its
// canonical text form) or an account.
type FailKey struct {
	Kind    FailKind
	Subject string
	// Tenant is the account's tenant when the event named one: the same
	// username in two tenants is two accounts. Empty for addresses.
	Tenant string
}

// id is the key of k's window among those of its kind.
func (k FailKey) id() string {
	if k.Tenant == "" {
		return k.Subject
	}
	return k.Tenant + "\x00" + k.Subject // a NUL is in no tenant name
}

// Failures counts the guard's failures in sliding windows. The guard calls
// it from its own goroutine (Run) or from an API request, never from the
// SIP path, so an implementation may make a bounded network call.
type Failures interface {
	// Fail records one failure of k at t and returns how many of k's
	// failures fall within window of t, and whether this failure is the
	// one that reached limit (and so bans or locks). Once reached, a
	// window reports reached again only after it has been cleared or has
	// slid below the limit.
	Fail(k FailKey, t time.Time, window time.Duration, limit int) (n int, reached bool)
	// Clear forgets k's failures (a successful login, a released ban).
	Clear(k FailKey)
	// Sweep forgets windows idle for longer than their window at now.
	Sweep(now time.Time)
	// Tracked is how many windows this process holds.
	Tracked() int
}

// MemoryFailures counts in this process: each node counts what it sees.
// It is the guard's default. A window holds at most limit times, and at
// most maxTracked windows of each kind are kept (a flood of spoofed
// sources evicts arbitrary windows rather than growing without bound).
type MemoryFailures struct {
	max int
	mu  sync.Mutex
	m   [failKinds]map[string]*window
}

// NewMemoryFailures returns an empty in-process counter keeping at most
// maxTracked windows of each kind (0: 100000).
func NewMemoryFailures(maxTracked int) *MemoryFailures {
	if maxTracked <= 0 {
		maxTracked = 100000
	}
	f := &MemoryFailures{max: maxTracked}
	for i := range f.m {
		f.m[i] = map[string]*window{}
	}
	return f
}

type window struct {
	times []time.Time // most recent last; at most the limit
	last  time.Time
	span  time.Duration
}

// add records t and returns how many events fall within w of t.
func (win *window) add(t time.Time, w time.Duration, keep int) int {
	win.times = append(win.times, t)
	if len(win.times) > keep {
		win.times = win.times[len(win.times)-keep:]
	}
	n := 0
	for _, x := range win.times {
		if t.Sub(x) < w {
			n++
		}
	}
	if t.After(win.last) {
		win.last = t
	}
	win.span = w
	return n
}

// Fail implements Failures. A window that reaches the limit is dropped,
// so the next failures count from zero.
func (f *MemoryFailures) Fail(k FailKey, t time.Time, w time.Duration, limit int) (int, bool) {
	if k.Kind >= failKinds {
		return 0, false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	m := f.m[k.Kind]
	id := k.id()
	win := m[id]
	if win == nil {
		if len(m) >= f.max {
			for s := range m {
				delete(m, s)
				break
			}
		}
		win = &window{}
		m[id] = win
	}
	n := win.add(t, w, max(limit, 1))
	if n >= limit {
		delete(m, id)
		return n, true
	}
	return n, false
}

// Clear implements Failures.
func (f *MemoryFailures) Clear(k FailKey) {
	if k.Kind >= failKinds {
		return
	}
	f.mu.Lock()
	delete(f.m[k.Kind], k.id())
	f.mu.Unlock()
}

// Sweep implements Failures.
func (f *MemoryFailures) Sweep(now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, m := range f.m {
		for s, w := range m {
			if now.Sub(w.last) > w.span {
				delete(m, s)
			}
		}
	}
}

// Tracked implements Failures.
func (f *MemoryFailures) Tracked() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, m := range f.m {
		n += len(m)
	}
	return n
}

// SharedFailures counts in a counter.Store shared by every node (Redis in
// cluster mode), so failures spread over the nodes behind a load-balancing
// proxy add up to one count. Each failure is one event of an exact sliding
// window (counter.Store.Reserve) under an id unique to this process, so
// no two nodes' failures are taken for one and a retried write never
// counts twice. The store bounds each call (counter/redis: a timeout, then
// local counting until Redis answers again, written back afterwards), so
// with Redis away a node counts what it sees, as MemoryFailures would.
//
// Keys are system-wide (no tenant: one Redis Cluster hash tag with the
// engine's system keys) with scopes counter.AttackIPFailures,
// AttackAccountFailures and AttackVoicemailFailures; the subject is the
// address or the account.
type SharedFailures struct {
	st  counter.Store
	id  string // "node/start/", then a sequence number
	seq atomic.Uint64
}

// NewSharedFailures counts in st. node names this process among the
// nodes; its start time is added to the event ids so a restarted node
// never reuses the ids of its previous run.
func NewSharedFailures(st counter.Store, node string) *SharedFailures {
	return &SharedFailures{st: st, id: node + "/" + strconv.FormatInt(time.Now().UnixNano(), 36) + "/"}
}

var failScopes = [failKinds]counter.Scope{counter.AttackIPFailures, counter.AttackAccountFailures, counter.AttackVoicemailFailures}

func (f *SharedFailures) key(k FailKey) counter.Key {
	return counter.Key{Scope: failScopes[k.Kind], Tenant: k.Tenant, Subject: k.Subject}
}

// Fail implements Failures. The window keeps at most limit failures: a
// failure beyond them is refused by the store and reports the full count
// without reached, so while one node bans, the others' failures of the
// same window do not ban again (which would escalate the ban).
func (f *SharedFailures) Fail(k FailKey, t time.Time, w time.Duration, limit int) (int, bool) {
	if k.Kind >= failKinds {
		return 0, false
	}
	id := f.id + strconv.FormatUint(f.seq.Add(1), 36)
	n, ok, added := f.st.Reserve(f.key(k), id, t, w, max(limit, 1))
	return n, ok && added && n >= limit
}

// Clear implements Failures.
func (f *SharedFailures) Clear(k FailKey) {
	if k.Kind < failKinds {
		f.st.Delete(f.key(k))
	}
}

// Sweep implements Failures: the store expires its windows itself.
func (f *SharedFailures) Sweep(time.Time) {}

// Tracked implements Failures: the windows are in the shared store.
func (f *SharedFailures) Tracked() int { return 0 }
