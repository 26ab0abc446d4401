package console

import (
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tollgate-voip/tollgate/engine"
	"github.com/tollgate-voip/tollgate/store"
)

// Minutes is how much history the live view keeps.
const Minutes = 60

// topWindow is how many recent minutes the top lists cover.
const topWindow = 15

// maxKeys bounds the distinct extensions and countries kept per minute
// and tenant, so a flood of random extensions cannot grow memory.
const maxKeys = 2000

// Verdicts in the order the charts stack them.
var Verdicts = [...]string{"allow", "challenge", "honeypot", "reject"}

func verdictIndex(a string) int {
	for i, v := range Verdicts {
		if v == a {
			return i
		}
	}
	return 0
}

// Live counts this node's screening decisions by minute for the
// dashboard. It wraps the engine's Recorder: Decision and Event hand the
// record to the next recorder, then queue it for counting without
// blocking (a full queue drops and counts the drop).
type Live struct {
	next engine.Recorder
	ch   chan store.Decision
	kick chan struct{}
	quit chan struct{}
	now  func() time.Time

	mu      sync.Mutex
	tenants map[string]*ring

	dropped atomic.Int64
	counted atomic.Int64
	done    chan struct{}
}

var (
	_ engine.Recorder  = (*Live)(nil)
	_ engine.Forgetter = (*Live)(nil)
)

type keyStat struct {
	Calls   int
	Refused int
	MaxRisk int
}

type minute struct {
	at        int64 // Unix minute
	verdicts  [len(Verdicts)]int
	countries map[string]*keyStat
	exts      map[string]*keyStat
}

// second counts verdicts in one second, so that "last minute" means
// the last sixty seconds rather than the calendar minute (which is
// nearly empty just after it turns).
type second struct {
	at       int64 // Unix second
	verdicts [len(Verdicts)]int
}

type ring struct {
	min [Minutes]minute
	sec [60]second
}

// NewLive returns a Live in front of next (which may be nil).
func NewLive(next engine.Recorder) *Live {
	l := &Live{next: next, ch: make(chan store.Decision, 4096), kick: make(chan struct{}, 1), quit: make(chan struct{}), now: time.Now, tenants: map[string]*ring{}, done: make(chan struct{})}
	go l.run()
	return l
}

// Decision implements engine.Recorder.
func (l *Live) Decision(d store.Decision) bool {
	ok := true
	if l.next != nil {
		ok = l.next.Decision(d)
	}
	select {
	case l.ch <- d:
		if len(l.ch) >= liveKick {
			select {
			case l.kick <- struct{}{}:
			default:
			}
		}
	default:
		l.dropped.Add(1)
	}
	return ok
}

// The counter takes queued decisions every liveTick, or as soon as
// liveKick wait, so that counting a decision does not wake a goroutine
// for each call.
const (
	liveTick = 50 * time.Millisecond
	liveKick = 1024
)

// Event implements engine.Recorder.
func (l *Live) Event(e store.CallEvent) bool {
	if l.next != nil {
		return l.next.Event(e)
	}
	return true
}

// Forget implements engine.Forgetter: it passes the calls on.
func (l *Live) Forget(callIDs []string) { engine.ForgetNext(l.next, callIDs) }

// Close stops counting.
func (l *Live) Close() {
	close(l.quit)
	<-l.done
}

func (l *Live) run() {
	defer close(l.done)
	tick := time.NewTicker(liveTick)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
		case <-l.kick:
		case <-l.quit:
			l.drain()
			return
		}
		l.drain()
	}
}

// drain counts every queued decision.
func (l *Live) drain() {
	for {
		select {
		case d := <-l.ch:
			l.add(d, l.now())
		default:
			return
		}
	}
}

// Dropped returns how many decisions were not counted because the queue was full.
func (l *Live) Dropped() int64 { return l.dropped.Load() }

// Queued returns how many decisions wait to be counted.
func (l *Live) Queued() int { return len(l.ch) }

func (l *Live) add(d store.Decision, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.tenants[d.Tenant]
	if r == nil {
		r = new(ring)
		l.tenants[d.Tenant] = r
	}
	us := now.Unix()
	sc := &r.sec[us%60]
	if sc.at != us {
		*sc = second{at: us}
	}
	um := us / 60
	m := &r.min[um%Minutes]
	if m.at != um {
		*m = minute{at: um, countries: map[string]*keyStat{}, exts: map[string]*keyStat{}}
	}
	act := d.Action
	if d.Enforced != "" && d.Enforced != d.Action && !d.Shadow {
		act = d.Enforced // on_error decided
	}
	m.verdicts[verdictIndex(act)]++
	sc.verdicts[verdictIndex(act)]++
	refused := act == "reject" || act == "honeypot"
	bump := func(set map[string]*keyStat, k string) {
		s := set[k]
		if s == nil {
			if len(set) >= maxKeys {
				return
			}
			s = &keyStat{}
			set[k] = s
		}
		s.Calls++
		if refused {
			s.Refused++
		}
		s.MaxRisk = max(s.MaxRisk, d.Risk)
	}
	if d.Country != "" {
		bump(m.countries, d.Country)
	}
	if d.Extension != "" {
		bump(m.exts, d.Tenant+"/"+d.Extension)
	}
	l.counted.Add(1)
}

// Point is one minute of the verdict series.
type Point struct {
	Time     time.Time          `json:"time"`
	Verdicts [len(Verdicts)]int `json:"verdicts"`
}

// Row is one line of a top list.
type Row struct {
	Key     string `json:"key"`
	Name    string `json:"name,omitempty"`
	Calls   int    `json:"calls"`
	Refused int    `json:"refused"`
	MaxRisk int    `json:"max_risk"`
}

// Stats is what the live view shows.
type Stats struct {
	Series     []Point            `json:"series"`
	LastMinute [len(Verdicts)]int `json:"last_minute"`
	Total      [len(Verdicts)]int `json:"total_hour"`
	Countries  []Row              `json:"countries"`
	Extensions []Row              `json:"extensions"`
}

// Snapshot returns the last hour for one tenant ("" = every tenant).
func (l *Live) Snapshot(tenant string, now time.Time) Stats {
	us := now.Unix()
	um := us / 60
	var st Stats
	st.Series = make([]Point, Minutes)
	for i := range st.Series {
		st.Series[i].Time = time.Unix((um-int64(Minutes-1-i))*60, 0).UTC()
	}
	countries, exts := map[string]*keyStat{}, map[string]*keyStat{}
	merge := func(dst map[string]*keyStat, src map[string]*keyStat) {
		for k, s := range src {
			d := dst[k]
			if d == nil {
				d = &keyStat{}
				dst[k] = d
			}
			d.Calls += s.Calls
			d.Refused += s.Refused
			d.MaxRisk = max(d.MaxRisk, s.MaxRisk)
		}
	}
	l.mu.Lock()
	for name, r := range l.tenants {
		if tenant != "" && name != tenant {
			continue
		}
		for i := range r.sec {
			if age := us - r.sec[i].at; age >= 0 && age < 60 {
				for v, n := range r.sec[i].verdicts {
					st.LastMinute[v] += n
				}
			}
		}
		for i := range r.min {
			m := &r.min[i]
			age := um - m.at
			if age < 0 || age >= Minutes {
				continue
			}
			p := &st.Series[Minutes-1-age]
			for v := range m.verdicts {
				p.Verdicts[v] += m.verdicts[v]
				st.Total[v] += m.verdicts[v]
			}
			if age < topWindow {
				merge(countries, m.countries)
				merge(exts, m.exts)
			}
		}
	}
	l.mu.Unlock()
	st.Countries = top(countries, 20)
	st.Extensions = top(exts, 10)
	return st
}

func top(set map[string]*keyStat, n int) []Row {
	out := make([]Row, 0, len(set))
	for k, s := range set {
		out = append(out, Row{Key: k, Calls: s.Calls, Refused: s.Refused, MaxRisk: s.MaxRisk})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Calls != out[j].Calls {
			return out[i].Calls > out[j].Calls
		}
		return out[i].Key < out[j].Key
	})
	if len(out) > n {
		out = out[:n]
	}
	return out
}
