package detect

import "sort"

// Window holds timed values in time order, accepting late ones at their
// own place. Times are Unix seconds.
type Window struct {
	ev []wev
}

type wev struct {
	t  int64
	v  float64
	id string
}

// Add inserts a value at t.
func (w *Window) Add(t int64, v float64, id string) {
	n := len(w.ev)
	if n == 0 || w.ev[n-1].t <= t {
		w.ev = append(w.ev, wev{t, v, id})
		return
	}
	i := sort.Search(n, func(i int) bool { return w.ev[i].t > t })
	w.ev = append(w.ev, wev{})
	copy(w.ev[i+1:], w.ev[i:])
	w.ev[i] = wev{t, v, id}
}

// Peak finds, among the windows [s, s+span) that contain t, the one with
// the largest count (ties: the largest sum). It returns that count and
// sum, the window's first event time and the time of its last event (when
// a live detector would have seen the pattern complete).
func (w *Window) Peak(t, span int64) (n int, sum float64, first, last int64) {
	ev := w.ev
	lo := sort.Search(len(ev), func(i int) bool { return ev[i].t > t-span })
	j := lo
	var s float64
	for i := lo; i < len(ev) && ev[i].t <= t; i++ {
		if j < i {
			j = i
			s = 0
		}
		for j < len(ev) && ev[j].t < ev[i].t+span {
			s += ev[j].v
			j++
		}
		if k := j - i; k > n || k == n && s > sum {
			if ev[j-1].t >= t {
				n, sum, first, last = k, s, ev[i].t, ev[j-1].t
			}
		}
		s -= ev[i].v
	}
	if n == 0 {
		return 0, 0, t, t
	}
	return n, sum, first, last
}

// IDs returns the ids of the events in [from, to].
func (w *Window) IDs(from, to int64, max int) []string {
	var out []string
	for _, e := range w.ev {
		if e.t >= from && e.t <= to && e.id != "" {
			out = append(out, e.id)
			if len(out) == max {
				break
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
	}
	return len(w.ev) == 0
}

// Len is the number of events held.
func (w *Window) Len() int { return len(w.ev) }

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
	return w
}

// Latch remembers triggered keys until their time runs out.
type Latch map[string]int64

// Active reports whether key fired and is still active at t.
func (l Latch) Active(key string, t int64) bool {
	u, ok := l[key]
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
