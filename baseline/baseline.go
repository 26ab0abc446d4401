// Package baseline learns each extension's and each tenant's normal from
// their calls: the hour-of-week profile, destination countries, the
// distribution of call durations and the daily peak of concurrent calls.
// It uses robust statistics (medians, median absolute deviation,
// quantiles of a log histogram), judges nothing before a warm-up period,
// persists as JSON and hands readers immutable snapshots.
package baseline

import (
	"encoding/json"
	"io"
	"math"
	"sort"
	"strings"
	"sync/atomic"
	"time"
)

// Days is how many daily peaks a profile keeps.
const Days = 28

// Profile is one extension's or tenant's normal.
type Profile struct {
	Calls     int               `json:"calls"`
	Intl      int               `json:"international"`
	First     int64             `json:"first"` // Unix seconds of the first and last call
	Last      int64             `json:"last"`
	Hours     [168]uint32       `json:"hours"` // calls by local hour of the week, Monday 00:00 first
	Countries map[string]uint32 `json:"countries"`
	// Durations is a histogram of answered durations in buckets of
	// doubling width: bucket i holds durations in [2^(i-1), 2^i) seconds.
	Durations [20]uint32 `json:"durations"`
	// Peaks holds the highest concurrency seen on each of the last Days
	// days (by day number, Unix day).
	Peaks   [Days]uint16 `json:"peaks"`
	PeakDay [Days]int32  `json:"peak_days"`
	// Per day as well: the most international calls in any sliding hour
	// and in any sliding BurstWindow, and the day's international calls —
	// what learned rate limits are set from (Learner.Limits).
	IntlHour  [Days]uint16 `json:"intl_hour_peaks"`
	IntlBurst [Days]uint16 `json:"intl_burst_peaks"`
	IntlDay   [Days]uint32 `json:"intl_days"`
	// OutDay is each day's calls learned (detect learns outbound calls
	// only): the bound learned for distinct numbers called per day.
	OutDay [Days]uint32 `json:"out_days,omitempty"`
	// Sources: source addresses seen, with the Unix day first seen (a
	// tenant's; at most maxSources).
	Sources map[string]int32 `json:"sources,omitempty"`
	// recent holds the start times of the last hour's international
	// calls, in order (not persisted: a restart relearns within the hour).
	recent []int64
}

const maxSources = 1024

// KnowsSource reports whether the address was seen on a day before t's.
func (p *Profile) KnowsSource(ip string, t int64) bool {
	d, ok := p.Sources[ip]
	return ok && d < int32(t/86400)
}

// LearnSource records a tenant's call from a source address at t.
func (l *Learner) LearnSource(h *Handle, ip string, t int64) {
	p := h.Tenant
	if p == nil || ip == "" {
		return
	}
	day := int32(t / 86400)
	if d, ok := p.Sources[ip]; ok {
		if day < d {
			p.Sources[ip] = day
		}
		return
	}
	if p.Sources == nil {
		p.Sources = map[string]int32{}
	}
	if len(p.Sources) < maxSources {
		p.Sources[ip] = day
	}
}

// BurstWindow is the sliding window of IntlBurst (seconds).
const BurstWindow = 300

// HourOfWeek is the index into Hours for a local time.
func HourOfWeek(local time.Time) int {
	wd := (int(local.Weekday()) + 6) % 7 // Monday = 0
	return wd*24 + local.Hour()
}

// Warm reports whether the profile has seen enough to judge by at t.
func (p *Profile) Warm(t int64, days, minCalls int) bool {
	return p != nil && p.Calls >= minCalls && t-p.First >= int64(days)*86400
}

// HourShare is the share of calls made in the hour of the week of local.
func (p *Profile) HourShare(local time.Time) float64 {
	if p == nil || p.Calls == 0 {
		return 0
	}
	return float64(p.Hours[HourOfWeek(local)]) / float64(p.Calls)
}

// Regular reports whether the profile calls country regularly: at least
// KnownCalls calls that are at least KnownShare of all its calls.
func (p *Profile) Regular(country string) bool {
	if p == nil {
		return false
	}
	n := p.Countries[country]
	return n >= KnownCalls && float64(n) >= KnownShare*float64(p.Calls)
}

// Knows reports whether the profile has calls to country.
func (p *Profile) Knows(country string) bool { return p != nil && p.Countries[country] > 0 }

// DurationQuantile estimates the q-quantile of answered durations (seconds).
func (p *Profile) DurationQuantile(q float64) float64 {
	if p == nil {
		return 0
	}
	var total uint32
	for _, n := range p.Durations {
		total += n
	}
	if total == 0 {
		return 0
	}
	want := q * float64(total)
	var acc float64
	for i, n := range p.Durations {
		acc += float64(n)
		if acc >= want {
			return math.Exp2(float64(i))
		}
	}
	return math.Exp2(float64(len(p.Durations)))
}

// PeakConcurrency is a robust upper bound of the daily peak: median + 3 ×
// MAD over the days with calls (1 when none). A nil profile has none.
func (p *Profile) PeakConcurrency() float64 {
	if p == nil {
		return 1
	}
	var xs []float64
	for i, v := range p.Peaks {
		if p.PeakDay[i] != 0 && v > 0 {
			xs = append(xs, float64(v))
		}
	}
	if len(xs) == 0 {
		return 1
	}
	med := median(xs)
	dev := make([]float64, len(xs))
	for i, x := range xs {
		dev[i] = math.Abs(x - med)
	}
	return med + 3*1.4826*median(dev)
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func (p *Profile) learn(t int64, how int, country string, intl bool, billsec, concurrent int) {
	if p.Calls == 0 || t < p.First {
		p.First = t
	}
	if t > p.Last {
		p.Last = t
	}
	p.Calls++
	if intl {
		p.Intl++
	}
	p.Hours[how]++
	if country != "" {
		if p.Countries == nil {
			p.Countries = map[string]uint32{}
		}
		if len(p.Countries) < 256 {
			p.Countries[country]++
		} else if n := p.Countries[country]; n > 0 {
			p.Countries[country] = n + 1
		}
	}
	if billsec > 0 {
		b := min(bits(billsec), len(p.Durations)-1)
		p.Durations[b]++
	}
	day := int32(t / 86400)
	i := int(day) % Days
	if p.PeakDay[i] != day {
		if day < p.PeakDay[i] {
			return // older than the days kept
		}
		p.PeakDay[i], p.Peaks[i] = day, 0
		p.IntlHour[i], p.IntlBurst[i], p.IntlDay[i] = 0, 0, 0
		p.OutDay[i] = 0
	}
	p.OutDay[i]++
	if intl {
		p.IntlDay[i]++
		h, b := p.window(t)
		p.IntlHour[i] = max(p.IntlHour[i], uint16(min(h, math.MaxUint16)))
		p.IntlBurst[i] = max(p.IntlBurst[i], uint16(min(b, math.MaxUint16)))
	}
	if c := uint16(min(concurrent, math.MaxUint16)); c > p.Peaks[i] {
		p.Peaks[i] = c
	}
}

// window adds an international call at t to recent and returns how many
// of recent fall in the hour and the BurstWindow ending at t.
func (p *Profile) window(t int64) (hour, burst int) {
	r := p.recent
	drop := 0
	for drop < len(r) && r[drop] <= t-3600 {
		drop++
	}
	if drop > 0 || len(r) >= 4096 {
		drop = max(drop, len(r)-4095)
		r = append(r[:0], r[drop:]...)
	}
	i := len(r)
	if i > 0 && r[i-1] > t { // late: its own place
		i = sort.Search(len(r), func(i int) bool { return r[i] > t })
	}
	r = append(r, 0)
	copy(r[i+1:], r[i:])
	r[i] = t
	p.recent = r
	// Every call left before i is in (t-3600, t] (the older ones were
	// dropped above): the hour holds r[:i+1], the burst window the calls
	// of those after t-BurstWindow.
	b := sort.Search(i+1, func(j int) bool { return r[j] > t-BurstWindow })
	return i + 1, i + 1 - b
}

func bits(n int) int {
	b := 0
	for n > 0 {
		b++
		n >>= 1
	}
	return b
}

func (p *Profile) clone() *Profile {
	q := *p
	q.recent = nil
	if p.Sources != nil {
		q.Sources = make(map[string]int32, len(p.Sources))
		for k, v := range p.Sources {
			q.Sources[k] = v
		}
	}
	if p.Countries != nil {
		q.Countries = make(map[string]uint32, len(p.Countries))
		for k, v := range p.Countries {
			q.Countries[k] = v
		}
	}
	return &q
}

// Learner holds the profiles being learned. It is owned by one goroutine
// (the detection pipeline); others read Snapshots.
type Learner struct {
	Ext    map[string]*Profile // by tenant "\x00" extension
	Tenant map[string]*Profile
	hs     map[string]map[string]*Handle // tenant → extension → handle
}

// Handle is one extension's place in a Learner, found once and kept by
// the caller so that a call costs no map lookups: the extension's and its
// tenant's profiles (nil until the first call is learned) and its recent
// calls for concurrency.
type Handle struct {
	Ext, Tenant *Profile
	// Key is tenant "\x00" extension (detect.Key of the two).
	Key         string
	tenant, ext string
	live        []interval
}

type interval struct{ start, end int64 }

// New returns an empty learner.
func New() *Learner {
	return &Learner{Ext: map[string]*Profile{}, Tenant: map[string]*Profile{}, hs: map[string]map[string]*Handle{}}
}

// Handle returns the extension's handle, making it on first use.
func (l *Learner) Handle(tenant, ext string) *Handle {
	m := l.hs[tenant]
	if m == nil {
		m = map[string]*Handle{}
		l.hs[tenant] = m
	}
	h := m[ext]
	if h == nil {
		k := extKey(tenant, ext)
		h = &Handle{Ext: l.Ext[k], Tenant: l.Tenant[tenant], Key: k, tenant: tenant, ext: ext}
		m[ext] = h
	}
	return h
}

func extKey(tenant, ext string) string { return tenant + "\x00" + ext }

// Extension returns an extension's profile, or nil.
func (l *Learner) Extension(tenant, ext string) *Profile { return l.Ext[extKey(tenant, ext)] }

// TenantProfile returns a tenant's profile, or nil.
func (l *Learner) TenantProfile(tenant string) *Profile { return l.Tenant[tenant] }

// Concurrent records the call [start, end) of an extension and returns how
// many of its recent calls (this one included) were up at start.
func (l *Learner) Concurrent(tenant, ext string, start, end int64) int {
	return l.Handle(tenant, ext).Concurrent(start, end)
}

// Concurrent is Learner.Concurrent through a handle.
func (h *Handle) Concurrent(start, end int64) int {
	iv := h.live
	n := 1
	keep := iv[:0]
	for _, x := range iv {
		if x.end > start-4*3600 || x.end > end-4*3600 {
			keep = append(keep, x)
		}
		if x.start <= start && start < x.end {
			n++
		}
	}
	if end <= start {
		end = start + 1
	}
	if len(keep) >= 64 {
		keep = keep[1:]
	}
	h.live = append(keep, interval{start, end})
	return n
}

// Learn adds one call to the extension's and the tenant's profiles.
func (l *Learner) Learn(tenant, ext string, t time.Time, local time.Time, country string, intl bool, billsec, concurrent int) {
	l.LearnHandle(l.Handle(tenant, ext), t.Unix(), local, country, intl, billsec, concurrent)
}

// LearnHandle is Learn through a handle, t in Unix seconds.
func (l *Learner) LearnHandle(h *Handle, t int64, local time.Time, country string, intl bool, billsec, concurrent int) {
	if h.Ext == nil {
		h.Ext = l.Ext[h.Key]
		if h.Ext == nil {
			h.Ext = &Profile{}
			l.Ext[h.Key] = h.Ext
		}
	}
	if h.Tenant == nil {
		h.Tenant = l.Tenant[h.tenant]
		if h.Tenant == nil {
			h.Tenant = &Profile{}
			l.Tenant[h.tenant] = h.Tenant
			for _, o := range l.hs[h.tenant] { // the tenant's other handles share it
				o.Tenant = h.Tenant
			}
		}
	}
	how := HourOfWeek(local)
	h.Ext.learn(t, how, country, intl, billsec, concurrent)
	h.Tenant.learn(t, how, country, intl, billsec, 0)
}

// Snapshot is an immutable copy of every profile.
type Snapshot struct {
	Taken  time.Time           `json:"taken"`
	Ext    map[string]*Profile `json:"extensions"` // by "tenant/extension"
	Tenant map[string]*Profile `json:"tenants"`
}

// Snapshot copies the profiles for readers.
func (l *Learner) Snapshot(now time.Time) *Snapshot {
	s := &Snapshot{Taken: now, Ext: make(map[string]*Profile, len(l.Ext)), Tenant: make(map[string]*Profile, len(l.Tenant))}
	for k, p := range l.Ext {
		s.Ext[k] = p.clone()
	}
	for k, p := range l.Tenant {
		s.Tenant[k] = p.clone()
	}
	return s
}

// Extension returns an extension's profile in the snapshot, or nil.
func (s *Snapshot) Extension(tenant, ext string) *Profile { return s.Ext[extKey(tenant, ext)] }

// Save writes the learner as JSON.
func (l *Learner) Save(w io.Writer) error {
	return json.NewEncoder(w).Encode(struct {
		Version int                 `json:"version"`
		Ext     map[string]*Profile `json:"extensions"`
		Tenant  map[string]*Profile `json:"tenants"`
	}{1, l.Ext, l.Tenant})
}

// Load reads what Save wrote.
func Load(r io.Reader) (*Learner, error) {
	var v struct {
		Version int                 `json:"version"`
		Ext     map[string]*Profile `json:"extensions"`
		Tenant  map[string]*Profile `json:"tenants"`
	}
	if err := json.NewDecoder(r).Decode(&v); err != nil {
		return nil, err
	}
	l := New()
	for k, p := range v.Ext {
		if p != nil {
			l.Ext[k] = p
		}
	}
	for k, p := range v.Tenant {
		if p != nil {
			l.Tenant[k] = p
		}
	}
	return l, nil
}

// Learned is what a warm profile's history allows: its largest day, in
// the days kept, of international calls in a sliding hour and in a
// sliding BurstWindow (an extension), or international calls per day (a
// tenant). Zero: not warm, nothing learned.
type Learned struct {
	IntlHour, IntlBurst, IntlDay int
	// OutDay is the most calls on any day kept (an upper bound of the
	// distinct numbers called that day).
	OutDay int
	// Concurrent is the most calls up at once on any day kept.
	Concurrent int
}

// peak is the largest of xs over the days kept.
func peak[T uint16 | uint32](xs *[Days]T, days *[Days]int32) int {
	m := 0
	for i, v := range xs {
		if days[i] != 0 && int(v) > m {
			m = int(v)
		}
	}
	return m
}

// Learned returns what the profile learned, if warm at t.
func (p *Profile) Learned(t int64, warmDays, minCalls int) Learned {
	if !p.Warm(t, warmDays, minCalls) {
		return Learned{}
	}
	return Learned{IntlHour: peak(&p.IntlHour, &p.PeakDay), IntlBurst: peak(&p.IntlBurst, &p.PeakDay), IntlDay: peak(&p.IntlDay, &p.PeakDay),
		OutDay: peak(&p.OutDay, &p.PeakDay), Concurrent: peak(&p.Peaks, &p.PeakDay)}
}

// Limits is an immutable table of learned normals, read on the screening
// hot path (no I/O, no allocation: keys are arrays of strings).
type Limits struct {
	Ext    map[[2]string]Learned
	Tenant map[string]Learned
	// Typical is, per tenant, the median of its warm extensions' learned
	// normals: what an extension without a warm baseline of its own (a
	// new hire, a hot desk) is held to instead of the policy's floor.
	Typical map[string]Learned
	// Known holds, per warm tenant, the destination countries it calls
	// regularly (KnownCalls calls and KnownShare of its calls in its
	// history): where an outbound campaign of that tenant is ordinary
	// business (check/ratelimit's campaign allowance).
	Known map[[2]string]bool
}

// A country is known to a tenant after KnownCalls calls that are at
// least KnownShare of all its calls.
const (
	KnownCalls = 20
	KnownShare = 0.005
)

// KnowsCountry reports whether tenant calls country regularly.
func (x *Limits) KnowsCountry(tenant, country string) bool {
	return x.Known[[2]string{tenant, country}]
}

// TypicalMin is how many warm extensions a tenant needs before their
// median stands for its typical extension.
const TypicalMin = 3

// ExtOrTypical returns an extension's learned normal, or its tenant's typical
// extension's when it has none of its own.
func (x *Limits) ExtOrTypical(tenant, ext string) Learned {
	if l, ok := x.Ext[[2]string{tenant, ext}]; ok {
		return l
	}
	return x.Typical[tenant]
}

// Limits computes the learned normals of every warm profile at t.
func (l *Learner) Limits(t int64, warmDays, minCalls int) *Limits {
	out := &Limits{Ext: make(map[[2]string]Learned, len(l.Ext)), Tenant: make(map[string]Learned, len(l.Tenant)), Typical: map[string]Learned{},
		Known: map[[2]string]bool{}}
	per := map[string][]Learned{}
	for k, p := range l.Ext {
		if x := p.Learned(t, warmDays, minCalls); x != (Learned{}) {
			tenant, ext, _ := strings.Cut(k, "\x00")
			out.Ext[[2]string{tenant, ext}] = x
			per[tenant] = append(per[tenant], x)
		}
	}
	for tenant, xs := range per {
		if len(xs) < TypicalMin {
			continue
		}
		med := func(f func(Learned) int) int {
			v := make([]int, len(xs))
			for i, x := range xs {
				v[i] = f(x)
			}
			sort.Ints(v)
			return v[len(v)/2]
		}
		out.Typical[tenant] = Learned{IntlHour: med(func(x Learned) int { return x.IntlHour }), IntlBurst: med(func(x Learned) int { return x.IntlBurst }),
			IntlDay: med(func(x Learned) int { return x.IntlDay }), OutDay: med(func(x Learned) int { return x.OutDay }),
			Concurrent: med(func(x Learned) int { return x.Concurrent })}
	}
	for k, p := range l.Tenant {
		if x := p.Learned(t, warmDays, minCalls); x != (Learned{}) {
			out.Tenant[k] = x
			for country := range p.Countries {
				if p.Regular(country) {
					out.Known[[2]string{k, country}] = true
				}
			}
		}
	}
	return out
}

// LiveLimits holds the current Limits, swapped atomically.
type LiveLimits struct{ p atomic.Pointer[Limits] }

// Load returns the current table (nil before the first).
func (l *LiveLimits) Load() *Limits {
	if l == nil {
		return nil
	}
	return l.p.Load()
}

// Store replaces the table.
func (l *LiveLimits) Store(x *Limits) { l.p.Store(x) }
