package detect

import "sort"

// Window holds timed values in time order, accepting late ones at their
// own place. Times are Unix seconds. Values that share a second share one
// bucket, with running totals, so a window costs memory per second, not
// per event, and Peak for the newest event (the live case) is a binary
// search rather than a walk over every event in the span.
type Window struct {
	ev []wev
}

// idsPerSecond is how many ids a bucket keeps: IDs lists evidence
// (at most 50 calls, 1000 for a Wangiri wave), oldest first.
const idsPerSecond = 64

type wev struct {
	t   int64
	n   int      // events at t
	v   float64  // their sum
	id0 string   // the first of their ids (most seconds hold one event)
	ids []string // the next idsPerSecond-1
	cn  int      // events in this and every earlier bucket still held or pruned
	cv  float64  // likewise for the values
}

// Add inserts a value at t.
func (w *Window) Add(t int64, v float64, id string) {
	n := len(w.ev)
	i := n
	if n > 0 && w.ev[n-1].t >= t {
		i = sort.Search(n, func(i int) bool { return w.ev[i].t >= t })
	}
	if i == n || w.ev[i].t != t {
		b := wev{t: t} // its running totals start where the previous bucket's end
		if i > 0 {
			b.cn, b.cv = w.ev[i-1].cn, w.ev[i-1].cv
		} else if n > 0 {
			b.cn, b.cv = w.ev[0].cn-w.ev[0].n, w.ev[0].cv-w.ev[0].v
		}
		w.ev = append(w.ev, wev{})
		copy(w.ev[i+1:], w.ev[i:])
		w.ev[i] = b
	}
	b := &w.ev[i]
	b.n++
	b.v += v
	if id != "" {
		if b.id0 == "" {
			b.id0 = id
		} else if len(b.ids) < idsPerSecond-1 {
			b.ids = append(b.ids, id)
		}
	}
	for j := i; j < len(w.ev); j++ { // only the last bucket, unless late
		w.ev[j].cn++
		w.ev[j].cv += v
	}
}

// span returns the events and sum of buckets [i, j).
func (w *Window) span(i, j int) (int, float64) {
	a, b := &w.ev[i], &w.ev[j-1]
	return b.cn - (a.cn - a.n), b.cv - (a.cv - a.v)
}

// Peak finds, among the windows [s, s+span) that contain t, the one with
// the largest count (ties: the largest sum). It returns that count and
// sum, the window's first event time and the time of its last event (when
// a live detector would have seen the pattern complete).
func (w *Window) Peak(t, span int64) (n int, sum float64, first, last int64) {
	ev := w.ev
	lo := sort.Search(len(ev), func(i int) bool { return ev[i].t > t-span })
	if k := len(ev); k > 0 && ev[k-1].t <= t {
		// Nothing after t: the window starting at the oldest event in
		// the span holds every later one.
		if lo == k || ev[k-1].t < t {
			return 0, 0, t, t
		}
		n, sum = w.span(lo, k)
		return n, sum, ev[lo].t, ev[k-1].t
	}
	j := lo
	for i := lo; i < len(ev) && ev[i].t <= t; i++ {
		j = max(j, i)
		for j < len(ev) && ev[j].t < ev[i].t+span {
			j++
		}
		if k, s := w.span(i, j); k > n || k == n && s > sum {
			if ev[j-1].t >= t {
				n, sum, first, last = k, s, ev[i].t, ev[j-1].t
			}
		}
	}
	if n == 0 {
		return 0, 0, t, t
	}
	return n, sum, first, last
}

// IDs returns the ids of the events in [from, to] (at most idsPerSecond
// of each second's).
func (w *Window) IDs(from, to int64, max int) []string {
	var out []string
	for _, e := range w.ev {
		if e.t < from || e.t > to {
			continue
		}
		if e.id0 == "" {
			continue
		}
		out = append(out, e.id0)
		if len(out) == max {
			return out
		}
		for _, id := range e.ids {
			out = append(out, id)
			if len(out) == max {
				return out
			}
		}
	}
	return out
}

// Prune drops events before t; it reports whether the window is empty.
func (w *Window) Prune(t int64) bool {
	i := sort.Search(len(w.ev), func(i int) bool { return w.ev[i].t >= t })
	if i > 0 {
		w.ev = append(w.ev[:0], w.ev[i:]...)
		clear(w.ev[len(w.ev) : len(w.ev)+i]) // let the ids go
	}
	return len(w.ev) == 0
}

// Len is the number of events held.
func (w *Window) Len() int {
	if len(w.ev) == 0 {
		return 0
	}
	n, _ := w.span(0, len(w.ev))
	return n
}

// Windows is a set of windows by key, pruned as event time advances.
type Windows struct {
	m     map[string]*Window
	keep  int64
	max   int64
	count int
}

// NewWindows keeps events for keep seconds behind the latest event time.
func NewWindows(keep int64) *Windows { return &Windows{m: map[string]*Window{}, keep: keep} }

// Add inserts a value and returns the key's window.
func (ws *Windows) Add(key string, t int64, v float64, id string) *Window {
	w := ws.m[key]
	if w == nil {
		w = &Window{}
		ws.m[key] = w
	}
	ws.add(w, t, v, id)
	return w
}

// AddBytes is Add with the key in a caller's buffer (AppendKey): the key
// is made a string only when it is new (a look-up by a converted byte
// slice allocates nothing).
func (ws *Windows) AddBytes(key []byte, t int64, v float64, id string) *Window {
	w := ws.m[string(key)]
	if w == nil {
		w = &Window{}
		ws.m[string(key)] = w
	}
	ws.add(w, t, v, id)
	return w
}

func (ws *Windows) add(w *Window, t int64, v float64, id string) {
	w.Add(t, v, id)
	if t > ws.max {
		ws.max = t
	}
	if ws.count++; ws.count%4096 == 0 {
		for k, w := range ws.m {
			if w.Prune(ws.max - ws.keep) {
				delete(ws.m, k)
			}
		}
	}
}

// Latch remembers triggered keys until their time runs out.
type Latch map[string]int64

// Active reports whether key fired and is still active at t.
func (l Latch) Active(key string, t int64) bool {
	u, ok := l[key]
	return ok && t < u
}

// ActiveBytes is Active with the key in a caller's buffer (AppendKey).
func (l Latch) ActiveBytes(key []byte, t int64) bool {
	u, ok := l[string(key)]
	return ok && t < u
}

// Set marks key active until until.
func (l Latch) Set(key string, until int64) {
	l[key] = until
	if len(l) > 100000 {
		for k, u := range l {
			if u < until-86400*7 {
				delete(l, k)
			}
		}
	}
}
