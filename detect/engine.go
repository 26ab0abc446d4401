package detect

import (
	"errors"
	"fmt"
	"hash/maphash"
	"strconv"
	"strings"
	"time"

	"github.com/tollgate-voip/tollgate/baseline"
	"github.com/tollgate-voip/tollgate/cdr"
	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/number"
	"github.com/tollgate-voip/tollgate/screen"
)

// Resolver is the screening engine's view of tenants and numbers
// (*engine.Engine implements it).
type Resolver interface {
	Tenant(name string) (*config.Tenant, error)
	Lookup(dialed, tenant string) (number.Info, error)
}

// Stats counts what the engine saw.
type Stats struct {
	Observed   int64 `json:"observed"`
	Attempts   int64 `json:"attempts"`
	Duplicates int64 `json:"duplicates"`
	Rejected   int64 `json:"rejected"` // unknown tenant or unreadable number
	Late       int64 `json:"late"`     // placed before the latest event time seen
	TooLate    int64 `json:"too_late"` // older than lateness_s: learned, not judged
	Findings   int64 `json:"findings"`
	Started    int64 `json:"started"`   // calls judged at their start
	Forgotten  int64 `json:"forgotten"` // started calls the screening engine stopped waiting for (Forget)
}

// Engine runs the detectors over calls. It is not safe for concurrent
// use: one pipeline goroutine owns it.
type Engine struct {
	cfg  *config.Detect
	res  Resolver
	base *baseline.Learner
	dets []Detector
	// startDets are the detectors that judge a call at its start, endDets
	// the EndOnly ones (dets split once, not per call).
	startDets, endDets []Detector
	sink               Emit
	seen               idSet
	// forgotten holds the calls started and then forgotten before their
	// CDR (Forget), as hashes, for up to two hours of event time and at
	// most about a million of them (forgetSet).
	forgotten forgetSet
	// tenants caches, per tenant, its policy, its numbers' intelligence
	// and its extensions' baseline handles: a CDR costs two map lookups
	// (no key built) where it cost a dozen.
	tenants map[string]*tenantCache
	// plans shares number look-ups between tenants dialing alike (same
	// country, international and national prefixes): the same dialed
	// string means the same number for all of them.
	plans map[string]map[string]*numEntry
	nnums int
	max   int64 // latest start seen
	// maxEnd is the latest end seen: the stream's clock for lateness.
	maxEnd int64
	stats  Stats
	call   Call
	// live holds calls started (Start) and not yet ended; now is the
	// latest event time seen and watched when Watch last looked.
	live         liveSet
	now, watched int64
	// watching holds the answered chargeable calls of live (those Watch
	// accrues cost for), in no particular order (watch, unwatch: a look
	// walks a slice, not a map); oldest is at most the earliest start in
	// live.
	watching []*started
	oldest   int64
	sfree    []*started               // ended calls' records, reused by Start
	ending   bool                     // endWatched judges a call at its CDR: no EndCalls
	groups   map[groupKey]*watchGroup // Watch's scratch, reused
	gpool    []*watchGroup
	over     []overCost    // Watch's scratch, reused
	qual     []*watchGroup // likewise
	quiet    bool          // Warm: findings are not emitted
	// spend is each tenant's recent spend per premium class (watchClass).
	spend map[string]*classSpend
	// spread holds, per tenant, until when its calls to destinations it
	// does not usually call are ended at their start (spreadStart): it
	// tripped a group across such destinations.
	spread map[string]int64
	// enriched is the record e.call was last enriched from by Enrich (nil
	// once anything else enriched); used is what that enrichment looked up.
	enriched *cdr.Record
	used     used
	// cur is the call Start's detectors judge, nil else.
	cur  *started
	hint Resolved // EnrichResolved's look-up, for its enrich only
	// idh is the call id's HashID given to EnrichResolvedID, for the
	// Start right after it (hasIDH).
	idh    uint64
	hasIDH bool
}

type tenantCache struct {
	t    *config.Tenant
	home int // the tenant's calling code
	nums map[string]*numEntry
	exts map[string]*baseline.Handle
}

// numEntry is a far-end number as one tenant sees it.
type numEntry struct {
	info          number.Info
	international bool
	premium       bool
	chargeable    bool
	rate          float64
	far           string // the number's digits (Call.Far)
	class, rng    string
	country       string // the destination country as a prefix (see Call.Country)
}

// typeRate is what a minute to a chargeable number type costs when the rate
// deck prices it no higher than ordinary calls: a premium-rate line earns
// its owner about this much, whatever the deck says.
var typeRate = map[number.Type]float64{
	number.PremiumRate:    1.50,
	number.SharedCost:     0.15,
	number.PersonalNumber: 0.40,
	number.UAN:            0.15,
}

// ChargeableRate is the price per minute from which a destination counts as
// chargeable whatever its type (satellite, special services, costly mobile
// ranges).
const ChargeableRate = 0.10

// classify fills what the detectors judge a number by beyond its country:
// whether calls to it are chargeable (international, a premium/IRSF risk
// range, a chargeable number type — premium-rate, shared-cost, personal,
// UAN — or a price per minute of at least ChargeableRate), the price per
// minute they are scored by, the destination class the baselines learn
// (the country, or country/type for chargeable domestic numbers) and the
// range actions name.
func classify(ne *numEntry, home int) {
	info := &ne.info
	ne.rate = info.Rate
	if r, ok := typeRate[info.Type]; ok && r > ne.rate {
		ne.rate = r
	}
	ne.chargeable = ne.international || ne.premium || ne.rate >= ChargeableRate
	ne.class = info.Country
	if !ne.international && ne.chargeable {
		ne.class = info.Country + "/" + info.Type.String()
	}
	d := strings.TrimPrefix(info.E164, "+")
	ne.far = d
	if len(info.E164) <= 1 {
		ne.far = info.E164 // as Call.Far
	}
	switch {
	case len(info.RatePrefix) > len(strconv.Itoa(info.CallingCode)) && len(info.RatePrefix) < len(d):
		ne.rng = info.RatePrefix
	case len(d) > 7:
		ne.rng = d[:len(d)-4]
	default:
		ne.rng = d
	}
	ne.country = strconv.Itoa(info.CallingCode)
	if !ne.international || info.CallingCode == home || number.SharedCallingCode(info.CallingCode) {
		// A country sharing the tenant's calling code (+1 809 for a US
		// tenant), a domestic number, or a calling code several countries
		// share (+1 809 for a South African tenant: "1" would be the US and
		// Canada too): its range, never the whole code.
		ne.country = ne.rng
	}
}

// maxCachedNumbers bounds the number cache (all tenants together).
const maxCachedNumbers = 200000

// ErrDuplicate is returned for a call id already observed.
var ErrDuplicate = errors.New("duplicate call id")

// NewEngine returns an engine feeding sink.
func NewEngine(cfg *config.Detect, res Resolver, base *baseline.Learner, dets []Detector, sink Emit) *Engine {
	if base == nil {
		base = baseline.New()
	}
	e := &Engine{cfg: cfg, res: res, base: base, dets: dets, tenants: map[string]*tenantCache{}, plans: map[string]map[string]*numEntry{}}
	e.sink = func(f Finding) {
		if e.quiet {
			return
		}
		e.stats.Findings++
		if e.cur != nil && f.Code == "off_hours_international" && len(f.EndCalls) == 0 {
			e.cur.offHours = true // the call Start judges (started.long)
		}
		if sink != nil {
			sink(f)
		}
	}
	for _, d := range dets {
		if eo, ok := d.(EndOnly); ok && eo.EndOnly() {
			e.endDets = append(e.endDets, d)
		} else {
			e.startDets = append(e.startDets, d)
		}
	}
	e.seen.init()
	return e
}

// Limits returns the learned normals of every warm profile at event time
// now (only for the owning goroutine).
func (e *Engine) Limits(now time.Time) *baseline.Limits {
	return e.base.Limits(now.Unix(), e.cfg.Baseline.WarmupDays, e.cfg.Baseline.MinCalls)
}

// Baseline returns the learner (only for the owning goroutine).
func (e *Engine) Baseline() *baseline.Learner { return e.base }

// Stats returns the counts so far.
func (e *Engine) Stats() Stats { return e.stats }

// Detectors returns the detectors' names.
func (e *Engine) Detectors() []string {
	out := make([]string, len(e.dets))
	for i, d := range e.dets {
		out[i] = d.Name()
	}
	return out
}

// Observe runs one completed call (a CDR) through the detectors and then
// learns it. It fills r.Cost from the rate deck when the CDR had none. A call id seen before returns ErrDuplicate and changes nothing.
func (e *Engine) Observe(r *cdr.Record) error { return e.observe(r, false) }

// Attempt runs a call screening refused through the detectors (attempts
// to high-risk countries, Wangiri callbacks); it is not learned.
func (e *Engine) Attempt(r *cdr.Record) error { return e.observe(r, true) }

// Warm runs a call another node already judged (cluster mode, when a
// tenant's partition moves here): windows, latches, the call-id set and
// the baseline are rebuilt as if it had been observed, and no finding is
// emitted.
func (e *Engine) Warm(r *cdr.Record, attempt bool) error {
	e.quiet = true
	defer func() { e.quiet = false }()
	return e.observe(r, attempt)
}

// ObserveID is Observe with the call id's HashID computed ahead (a
// replay's parsing goroutine computed it).
func (e *Engine) ObserveID(r *cdr.Record, idh uint64) error { return e.observeID(r, false, idh) }

func (e *Engine) observe(r *cdr.Record, attempt bool) error {
	return e.observeID(r, attempt, e.seen.hash(r.CallID))
}

// observeID is observe with idh, the id's hash in seen and live.
func (e *Engine) observeID(r *cdr.Record, attempt bool, idh uint64) error {
	// A started call is never in seen (Start refuses seen ids, observe
	// moves an id from live to seen): its lookups are reused when the CDR
	// names the same tenant, extension and far end.
	s := e.live.get(idh, r.CallID)
	if s == nil && e.seen.hasHashed(r.CallID, idh) { // (a started call's id was looked up by Start)
		e.stats.Duplicates++
		return ErrDuplicate
	}
	// Started, then forgotten before its CDR (Forget): judged at its start.
	forgotten := s == nil && e.forgotten.take(idh, e.now)
	c := &e.call
	if s != nil && s.tc != nil && s.tenant == r.Tenant && s.ext == r.Extension && s.farRaw() == farOf(r) {
		e.enriched = nil
		e.fill(r, c, s.tc, s.ne, s.h)
	} else if err := e.enrich(r, c); err != nil {
		e.stats.Rejected++
		return err
	}
	c.Attempt = attempt
	ts := r.Start.Unix()
	// A call judged at its start meets only the EndOnly detectors now.
	wasStarted := s != nil || forgotten
	if s != nil {
		e.endWatched(r.CallID, s, max(r.Billsec, 0))
		e.live.remove(s)
		if s.answered != 0 { // only answered calls are watched (Answer)
			e.unwatch(s)
		}
		*s = started{} // nothing else holds it: kept for a later Start
		e.sfree = append(e.sfree, s)
	}
	outbound := !attempt && r.Direction != screen.Inbound
	paid := 0.0 // what the tenant paid for the call, kept with its id
	if outbound {
		paid = c.Cost
	}
	e.seen.addHashed(r.CallID, idh, ts, paid)
	// A CDR is written when its call ends: lateness counts from the end,
	// so a long call reported at its end is on time however long it lasted
	// (it is still placed at its start).
	end := ts + int64(max(r.Duration, r.Billsec))
	judge := true
	if ts < e.max {
		e.stats.Late++
	} else {
		e.max = ts
	}
	if end > e.maxEnd {
		e.maxEnd = end
	} else if e.cfg.LatenessS > 0 && end < e.maxEnd-int64(e.cfg.LatenessS) {
		e.stats.TooLate++
		judge = false
	}
	if outbound {
		e.spent(premiumClass(c), c.Range, end, c.Cost)
	}
	if attempt {
		if r.Direction != screen.Inbound && !wasStarted {
			// A refused call to a premium class counts among its
			// tenant's tries there (classStart).
			e.tried(premiumClass(c), ts)
		}
		e.stats.Attempts++
	} else {
		e.stats.Observed++
	}
	conc := 0
	if outbound {
		conc = c.Handle.Concurrent(ts, ts+int64(max(r.Duration, r.Billsec)))
	}
	c.Concurrent = conc
	if judge && e.cfg.Enabled {
		dets := e.dets
		if wasStarted {
			dets = e.endDets
		}
		for _, d := range dets {
			d.Observe(c, r.Start, e.sink)
		}
	}
	if outbound {
		e.base.LearnHandle(c.Handle, ts, c.Local, c.Class, c.International, r.Billsec, conc)
		e.base.LearnSource(c.Handle, r.SourceIP, ts)
	}
	return nil
}

// CostOf returns what the tenant paid for a call observed recently (the
// last day or two of event time): its stated or estimated cost for an
// outbound call, 0 for others.
func (e *Engine) CostOf(callID string) (float64, bool) { return e.seen.get(callID) }

func (e *Engine) tenant(name string) (*tenantCache, error) {
	if tc := e.tenants[name]; tc != nil {
		return tc, nil
	}
	t, err := e.res.Tenant(name)
	if err != nil {
		return nil, err
	}
	plan := t.Country + "\x00" + strings.Join(t.IntlPrefixes, ",") + "\x00" + t.NationalPrefix
	nums := e.plans[plan]
	if nums == nil {
		nums = map[string]*numEntry{}
		e.plans[plan] = nums
	}
	tc := &tenantCache{t: t, home: number.CallingCodeFor(t.Country), nums: nums, exts: map[string]*baseline.Handle{}}
	e.tenants[name] = tc
	return tc, nil
}

// Enrich returns the call as the detectors would see it (number
// intelligence, chargeable, rate, range) without judging or learning it;
// the result is valid until the next call into the engine.
//
// Start of the same, unchanged record right after Enrich reuses this
// enrichment.
func (e *Engine) Enrich(r *cdr.Record) (*Call, error) {
	c := &e.call
	if err := e.enrich(r, c); err != nil {
		return nil, err
	}
	e.enriched = r
	return c, nil
}

// EnrichResolved is Enrich with the far end looked up ahead by Numbers.
func (e *Engine) EnrichResolved(r *cdr.Record, h Resolved) (*Call, error) {
	e.hint = h
	c, err := e.Enrich(r)
	e.hint = Resolved{}
	return c, err
}

// HashID is the hash the engine keeps a call id by. It only reads what
// NewEngine set, so another goroutine (a replay's parser) may compute it
// ahead and hand it to EnrichResolvedID.
func (e *Engine) HashID(id string) uint64 { return e.seen.hash(id) }

// EnrichResolvedID is EnrichResolved with the call id's HashID computed
// ahead: a Start of the same record right after it does not hash the id.
func (e *Engine) EnrichResolvedID(r *cdr.Record, h Resolved, idh uint64) (*Call, error) {
	c, err := e.EnrichResolved(r, h)
	if err == nil {
		e.idh, e.hasIDH = idh, true
	}
	return c, err
}

// farOf is the far end's number as the record has it.
func farOf(r *cdr.Record) string {
	if r.Direction == screen.Inbound && !r.Forwarded {
		return r.Caller
	}
	return r.Callee
}

func (e *Engine) enrich(r *cdr.Record, c *Call) error {
	e.enriched, e.hasIDH = nil, false
	hint := &e.hint
	same := hint.ne != nil && hint.tenant == r.Tenant && hint.ext == r.Extension && hint.far == farOf(r)
	if x := hint.x; same && x.tc != nil { // met before through this slot
		e.fill(r, c, x.tc, hint.ne, x.h)
		return nil
	}
	tc, err := e.tenant(r.Tenant)
	if err != nil {
		return err
	}
	t := tc.t
	far := farOf(r)
	var ne *numEntry
	if same {
		ne = hint.ne // looked up ahead (Numbers)
	} else if ne = tc.nums[far]; ne == nil {
		info, err := e.res.Lookup(far, r.Tenant)
		if err != nil {
			return fmt.Errorf("number %q: %w", far, err)
		}
		if e.nnums >= maxCachedNumbers {
			for _, m := range e.plans {
				clear(m)
			}
			e.nnums = 0
		}
		ne = newNumEntry(info, t, tc.home)
		tc.nums[strings.Clone(far)] = ne
		e.nnums++
	}
	h := tc.exts[r.Extension]
	if h == nil {
		h = e.base.Handle(r.Tenant, r.Extension)
		tc.exts[strings.Clone(r.Extension)] = h
	}
	if same {
		hint.x.tc, hint.x.h = tc, h
	}
	e.fill(r, c, tc, ne, h)
	return nil
}

// newNumEntry is a far end as a tenant with calling code home sees it.
func newNumEntry(info number.Info, t *config.Tenant, home int) *numEntry {
	ne := &numEntry{info: info}
	ne.international = info.Kind == number.Subscriber && info.CallingCode != 0 &&
		(info.CallingCode != home || info.Country != "" && info.Country != t.Country)
	ne.premium = info.Type == number.PremiumRate
	for _, rg := range info.Risk {
		if rg.Category == "premium" || rg.Category == "irsf" {
			ne.premium = true
		}
	}
	classify(ne, home)
	return ne
}

// fill makes c the call r with its tenant, far end and extension looked up.
func (e *Engine) fill(r *cdr.Record, c *Call, tc *tenantCache, ne *numEntry, h *baseline.Handle) {
	e.used = used{tc, ne, h}
	t := tc.t
	*c = Call{Rec: r, Policy: t, Dest: &ne.info, Local: r.Start.In(t.Location), International: ne.international, Premium: ne.premium, Handle: h,
		Chargeable: ne.chargeable, Rate: ne.rate, Class: ne.class, Range: ne.rng, Country: ne.country, far: ne.far}
	c.Cost = r.Cost
	if c.Cost == 0 && r.Billsec > 0 {
		c.Cost = float64(r.Billsec) / 60 * ne.rate
		r.Cost = c.Cost // estimated from the rate deck, kept for the archive
	}
}

// used is what the last enrichment looked up.
type used struct {
	tc *tenantCache
	ne *numEntry
	h  *baseline.Handle
}

// idSet remembers call ids of the last two generations (each spans about
// a day of event time), so retried CDRs are recognised without growing
// forever. The maps are keyed by a 64-bit hash of the id — a miss, the
// common case, then never reads the id strings of other calls — and a hit
// compares the id itself, so two ids sharing a hash are never taken for
// duplicates (the later one only replaces the earlier's entry).
type idSet struct {
	seed     maphash.Seed
	cur, old map[uint64]idEntry
	start    int64
	// bits has, for each hash h in cur and old, bit h>>(64-idBits) set in
	// cur's and old's filter: most ids looked up were never seen, and a
	// clear bit answers that without probing the maps. The two filters are
	// interleaved word by word (word 2i+g of generation g), so one look-up
	// reads one cache line; g is cur's.
	bits []uint64
	g    int
}

// idBits is log2 of the bits in each generation's filter (128 KiB).
const idBits = 20

type idEntry struct {
	id   string
	cost float64 // what the tenant paid
}

func (s *idSet) init() {
	s.seed = maphash.MakeSeed()
	s.cur, s.old = map[uint64]idEntry{}, map[uint64]idEntry{}
	s.bits = make([]uint64, 2<<idBits/64)
}

func (s *idSet) hash(id string) uint64 { return maphash.String(s.seed, id) }

func (s *idSet) get(id string) (float64, bool) { return s.getHashed(id, s.hash(id)) }

// getHashed is get with id's hash h already computed.
func (s *idSet) getHashed(id string, h uint64) (float64, bool) {
	b := h >> (64 - idBits)
	if (s.bits[b/64*2]|s.bits[b/64*2+1])&(1<<(b%64)) == 0 {
		return 0, false
	}
	if e, ok := s.cur[h]; ok && e.id == id {
		return e.cost, true
	}
	if e, ok := s.old[h]; ok && e.id == id {
		return e.cost, true
	}
	return 0, false
}

func (s *idSet) has(id string) bool { return s.hasHashed(id, s.hash(id)) }

// hasHashed is has with id's hash h already computed.
func (s *idSet) hasHashed(id string, h uint64) bool {
	_, ok := s.getHashed(id, h)
	return ok
}

// add marks id (not yet present) seen at t.
func (s *idSet) add(id string, t int64, cost float64) { s.addHashed(id, s.hash(id), t, cost) }

// addHashed is add with id's hash h already computed.
func (s *idSet) addHashed(id string, h uint64, t int64, cost float64) {
	if s.start == 0 {
		s.start = t
	}
	if t > s.start+86400 || len(s.cur) > 4<<20 {
		s.old, s.cur, s.start = s.cur, make(map[uint64]idEntry, len(s.cur)), t
		s.g ^= 1 // the old filter becomes the current one, cleared
		for i := s.g; i < len(s.bits); i += 2 {
			s.bits[i] = 0
		}
	}
	s.mark(h)
	s.cur[h] = idEntry{id: id, cost: cost}
}

// mark sets h's bit in the current generation's filter.
func (s *idSet) mark(h uint64) {
	b := h >> (64 - idBits)
	s.bits[b/64*2+uint64(s.g)] |= 1 << (b % 64)
}

// forgetKeep is how long, in event time, a started call forgotten before
// its CDR (Forget) is remembered at most: its CDR within it meets only the
// EndOnly detectors, as a started call's does; a later one is judged
// whole (the start-time detectors count it a second time).
const forgetKeep = 7200

// forgetBits is log2 of the forgotten calls forgetSet remembers at most
// (8 bytes each, allocated at the first Forget: 8 MiB); forgetWays ids
// share a bucket.
const (
	forgetBits = 20
	forgetWays = 8
)

// forgetSet remembers calls forgotten before their CDR for forgetKeep
// seconds of event time, in a table of fixed size: each slot holds 31
// bits of the id's hash (its bucket is given by 17 others) and the time
// it was forgotten. A forget meeting a full bucket (8 ids) evicts the one
// forgotten longest ago, so a flood of forgotten calls holds the last
// ~2^forgetBits of them and never more memory. Two ids alike in those 48
// bits are taken for one: about 2⁻²⁸ a look-up against a full bucket.
type forgetSet struct {
	slots []uint64 // fingerprint<<32 | uint32(time); 0 = empty
}

// where is id's bucket (its first slot) and fingerprint, from h (its hash).
func (s *forgetSet) where(h uint64) (int, uint64) {
	return int(h>>(64-forgetBits+3)) * forgetWays, (h&0xffffffff | 1) << 32
}

// add remembers the id with hash h forgotten at event time t.
func (s *forgetSet) add(h uint64, t int64) {
	if s.slots == nil {
		s.slots = make([]uint64, 1<<forgetBits)
	}
	b, fp := s.where(h)
	bucket := s.slots[b : b+forgetWays]
	v := fp | uint64(uint32(t))
	free, old := -1, 0
	for i, x := range bucket {
		switch {
		case x&^0xffffffff == fp:
			bucket[i] = v // forgotten again: the later time counts
			return
		case free < 0 && (x == 0 || expired(x, t)):
			free = i
		case uint32(x) < uint32(bucket[old]):
			old = i
		}
	}
	if free < 0 {
		free = old // a full bucket: the one forgotten longest ago goes
	}
	bucket[free] = v
}

// find returns the slot of the id with hash h if it was forgotten within
// forgetKeep of now, else -1.
func (s *forgetSet) find(h uint64, now int64) int {
	if s.slots == nil {
		return -1
	}
	b, fp := s.where(h)
	for i, x := range s.slots[b : b+forgetWays] {
		if x&^0xffffffff == fp && !expired(x, now) {
			return b + i
		}
	}
	return -1
}

// expired reports whether slot x was forgotten over forgetKeep before
// now; one forgotten at time 0 (before the detectors saw any event time)
// goes only when pushed out.
func expired(x uint64, now int64) bool {
	t := int64(uint32(x))
	return t != 0 && t+forgetKeep < now
}

func (s *forgetSet) has(h uint64, now int64) bool { return s.find(h, now) >= 0 }

// take reports whether the id with hash h is in the set and removes it.
func (s *forgetSet) take(h uint64, now int64) bool {
	i := s.find(h, now)
	if i >= 0 {
		s.slots[i] = 0
	}
	return i >= 0
}
