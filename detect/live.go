package detect

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/tollgate-voip/tollgate/cdr"
	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/screen"
)

// EndOnly is implemented by detectors that judge a call by what only its
// end tells (duration, cost, how it ended, concurrency over its length):
// they see a call from its CDR alone. Every other detector judges a call
// screening let through at its start (Start) — by destination, count and
// per-minute rate — and does not see it again at its end.
type EndOnly interface{ EndOnly() bool }

// started is a call let through, from its start until its CDR: what the
// detectors judge it by while it runs, and what its CDR needs when only an
// end event comes (Ended) — the one record a running call costs detection.
type started struct {
	id             string // the call id
	tenant, ext    string
	caller, callee string // as the record named them
	srcIP          string
	rng            string
	// class is the destination class when the call is priced at
	// ChargeableRate or more and its tenant does not call that class as a
	// matter of course (fewer than UsualCalls in its baseline); "" else.
	// Watch adds up such calls per tenant and class, across ranges and
	// extensions.
	class string
	// country is the destination as a prefix to block (Call.Country),
	// kept when class is set.
	country string
	// pclass keys its tenant's spend on its premium class (premiumClass;
	// "" when not premium) and plimit is that spend's limit (classLimit).
	pclass string
	plimit float64
	// longS is how long (seconds) a call to an unusual class (class set)
	// may run before longCall judges it: its tenant's learned
	// LongQuantile duration (0: no warm baseline, not judged so).
	longS                     int64
	rate                      float64
	start                     int64  // Unix seconds
	answered                  int64  // 0 until answered
	idh                       uint64 // the call id's hash in Engine.seen
	used                             // what its enrichment looked up (reused by its CDR)
	startNs                   int32  // start's nanoseconds
	dir                       screen.Direction
	fwd                       bool // the record's Forwarded
	chargeable, intl, premium bool
	latched                   bool
	// usual: its tenant calls its class as a matter of course (UsualCalls
	// or more in its baseline).
	usual bool
	// offHours: its start drew an off_hours_international finding that
	// did not end it (a night, or an hour of the week the tenant does
	// not call in).
	offHours bool
	// wi is 1 + its index in Engine.watching, 0 when not watched.
	wi int
	// next is the next started call of the same id hash (liveSet).
	next *started
}

// watch adds s, answered and chargeable, to the calls Watch accrues.
func (e *Engine) watch(s *started) {
	if s.wi == 0 {
		e.watching = append(e.watching, s)
		s.wi = len(e.watching)
	}
}

// unwatch removes s from the calls Watch accrues, if there: the last
// one takes its place.
func (e *Engine) unwatch(s *started) {
	if s.wi == 0 {
		return
	}
	i, n := s.wi-1, len(e.watching)-1
	last := e.watching[n]
	e.watching[i], last.wi = last, i+1
	e.watching[n] = nil
	e.watching = e.watching[:n]
	s.wi = 0
}

// since is when the call began to cost: its answer, or its start before.
func (s *started) since() int64 {
	if s.answered != 0 {
		return s.answered
	}
	return s.start
}

// far is the far end's number, digits only (Call.Far).
func (s *started) far() string {
	if d := s.ne.info.E164; len(d) > 1 && d[0] == '+' {
		return d[1:]
	}
	return s.ne.info.E164
}

// farRaw is the far end as the record named it (farOf).
func (s *started) farRaw() string {
	if s.dir == screen.Inbound && !s.fwd {
		return s.caller
	}
	return s.callee
}

// Start runs a call screening let through at its start (event time
// r.Start): the detectors that are not EndOnly judge it now, so a burst of
// long calls is seen as it starts, not once its calls have ended. Its CDR
// (Observe) later runs only the EndOnly detectors and the baseline. A
// call id already started or observed changes nothing.
func (e *Engine) Start(r *cdr.Record) error {
	pre := e.enriched == r // Enrich(r) just ran
	e.enriched = nil
	hashed := pre && e.hasIDH // and was given the id's hash
	e.hasIDH = false
	idh := e.idh // kept for observe's add
	if !hashed {
		idh = e.seen.hash(r.CallID)
	}
	if e.live.get(idh, r.CallID) != nil {
		return ErrDuplicate
	}
	if _, dup := e.seen.getHashed(r.CallID, idh); dup || e.forgotten.has(idh, e.now) {
		return ErrDuplicate
	}
	c := &e.call
	if !pre {
		if err := e.enrich(r, c); err != nil {
			e.stats.Rejected++
			return err
		}
	}
	ts := r.Start.Unix()
	var st *started
	if n := len(e.sfree); n > 0 {
		st = e.sfree[n-1]
		e.sfree = e.sfree[:n-1]
	} else {
		st = new(started)
	}
	*st = started{id: r.CallID, tenant: r.Tenant, ext: r.Extension, caller: r.Caller, callee: r.Callee, srcIP: r.SourceIP, dir: r.Direction, fwd: r.Forwarded,
		rng: c.Range, rate: c.Rate, chargeable: c.Chargeable, intl: c.International, premium: c.Premium,
		start: ts, startNs: int32(r.Start.Nanosecond()), used: e.used, idh: idh, class: unusualClass(c)}
	if st.class != "" {
		st.country = c.Country
	}
	if e.cfg.InCall.ClassCost > 0 {
		if st.pclass = premiumClass(c); st.pclass != "" {
			st.plimit = classLimit(e.cfg, c, ts)
			st.usual = usualClass(c)
		}
	}
	e.live.add(st)
	if e.live.len() == 1 || ts < e.oldest {
		e.oldest = ts
	}
	if ts > e.now {
		e.now = ts
	}
	e.stats.Started++
	e.classStart(r.CallID, st, ts)
	e.spreadStart(r.CallID, st, ts)
	if e.cfg.Enabled {
		c.Running = true
		e.cur = st
		for _, d := range e.startDets {
			d.Observe(c, r.Start, e.sink)
		}
		e.cur = nil
		c.Running = false
	}
	if st.class != "" || st.offHours {
		st.longS = longLimit(e.cfg, c, ts)
	}
	if e.live.len() > 1<<20 {
		e.pruneLive(ts)
	}
	return nil
}

// Ended returns the CDR of a running call from its end event (at end,
// duration seconds long, costing cost; 0: from the rate deck): tenant,
// extension, numbers, direction, source and start as Start was given
// them. ok is false when the call is not running: never started here,
// forgotten (Forget) or its CDR already observed. The call runs until
// that CDR is observed.
func (e *Engine) Ended(callID string, end time.Time, duration int, cost float64) (r cdr.Record, ok bool) {
	s := e.liveCall(callID)
	if s == nil {
		return r, false
	}
	r = cdr.Record{CallID: callID, Tenant: s.tenant, Extension: s.ext, Caller: s.caller, Callee: s.callee, Direction: s.dir,
		Forwarded: s.fwd, SourceIP: s.srcIP, Start: time.Unix(s.start, int64(s.startNs)).UTC(), End: end,
		Billsec: duration, Duration: duration, Cost: cost}
	r.Normalize()
	return r, true
}

// usualClass reports whether c's tenant calls c's class as a matter of
// course (UsualCalls or more in its baseline).
func usualClass(c *Call) bool {
	return c.Handle != nil && c.Handle.Tenant != nil && c.Handle.Tenant.Countries[c.Class] >= UsualCalls
}

// unusualClass is c's class when c is priced at ChargeableRate or more to
// a class its tenant does not call as a matter of course, else "".
func unusualClass(c *Call) string {
	if c.Rate < ChargeableRate || c.Class == "" {
		return ""
	}
	if usualClass(c) {
		return ""
	}
	return c.Class
}

// LongQuantile is the share of a tenant's answered calls shorter than
// the duration from which a call to a destination it does not usually
// call (priced at ChargeableRate or more) is ended once it has also cost
// half of in_call.call_cost, and a chargeable call placed off hours
// (off_hours_international) is ended whatever it cost: a hijacked line
// held open for hours to a revenue-share number, or one drip call a
// night, runs far longer than the tenant's calls, while in_call.call_cost
// alone would let it cost the whole limit.
const LongQuantile = 0.95

// longLimit is the duration (seconds) past LongQuantile of c's tenant's
// learned calls, or 0 when its baseline is not warm.
func longLimit(cfg *config.Detect, c *Call, t int64) int64 {
	if c.Handle == nil || !c.Handle.Tenant.Warm(t, cfg.Baseline.WarmupDays, cfg.Baseline.MinCalls) {
		return 0
	}
	return int64(c.Handle.Tenant.DurationQuantile(LongQuantile))
}

// long reports whether a call to an unusual class or placed off hours
// has run past its tenant's learned long-call duration (longS) at t — the
// former having cost (accrued) half of callCost or more.
func (s *started) long(t int64, cost, callCost float64) bool {
	return s.longS > 0 && t-s.answered > s.longS && (s.offHours || cost >= callCost/2)
}

// LongAt is when the in-call watch will judge a running call long
// (started.long) if it runs on: LongQuantile of its tenant's calls past
// its answer — and, for a call that was not placed off hours, once it has
// also cost half of in_call.call_cost. Zero when it is not so judged (not
// answered, no warm baseline, a usual destination in hours, already
// judged). Known at the answer, it is the call's dialog timer: the watch
// looks at running calls only as event time moves, and a call held open
// through a quiet night would otherwise run on until the next event.
func (e *Engine) LongAt(callID string) time.Time {
	s := e.liveCall(callID)
	rule := &e.cfg.InCall
	if s == nil || s.answered == 0 || s.latched || s.longS <= 0 || !s.chargeable || s.rate <= 0 || !e.cfg.Enabled || !rule.On() {
		return time.Time{}
	}
	d := s.longS + 1
	if !s.offHours {
		// cost ≥ call_cost/2: rate × d / 60 seconds, rounded up.
		c := int64(math.Ceil(rule.CallCost / 2 * 60 / s.rate))
		if s.rate*float64(c)/60 < rule.CallCost/2 {
			c++ // the quotient's rounding
		}
		d = max(d, c)
	}
	return time.Unix(s.answered+d, 0).UTC()
}

// Answer marks a started call answered at t: from then on Watch accrues
// its cost.
func (e *Engine) Answer(callID string, t time.Time) {
	if s := e.liveCall(callID); s != nil && s.answered == 0 {
		s.answered = t.Unix()
		if s.chargeable && s.rate > 0 && s.answered != 0 {
			e.watch(s)
		}
		if s.answered > e.now {
			e.now = s.answered
		}
	}
}

// Forget drops started calls whose end the screening engine stopped
// waiting for (no event within server.call_setup_s, or a lease run out):
// the in-call watch stops accruing them, and a CDR posted for one within
// the next two hours of event time meets only the EndOnly detectors, as
// a started call's would (its id is kept as a hash: forgetSet, which holds
// the last million or so forgotten calls at most).
func (e *Engine) Forget(callIDs []string) {
	for _, id := range callIDs {
		// One not (yet) started is remembered too: its start, if it comes
		// after all (a queue running behind), is then refused.
		e.forgotten.add(e.seen.hash(id), e.now)
		s := e.liveCall(id)
		if s == nil {
			continue
		}
		e.live.remove(s)
		e.unwatch(s)
		e.stats.Forgotten++
	}
}

// Running is how many started calls have not ended.
func (e *Engine) Running() int { return e.live.len() }

// pruneLive forgets started calls older than a day (their end was lost).
func (e *Engine) pruneLive(now int64) {
	e.live.each(func(s *started) {
		if s.start < now-86400 {
			e.live.remove(s)
			e.unwatch(s)
		}
	})
}

// watchEvery is how much event time passes between two looks at the
// running calls.
const watchEvery = 5

// Watch judges the answered calls still running at event time now: a call
// whose accrued cost reached in_call.call_cost, and in_call.concurrent or
// more calls up at once to one range of a tenant whose accrued cost
// together reached in_call.group_cost. Findings name the calls to end
// (Finding.EndCalls). It looks at most every watchEvery seconds of event
// time.
func (e *Engine) Watch(now time.Time) {
	t := now.Unix()
	if t > e.now {
		e.now = t
	}
	t = e.now
	rule := &e.cfg.InCall
	if !e.cfg.Enabled || !rule.On() || e.live.len() == 0 || t < e.watched+watchEvery {
		return
	}
	e.watched = t
	// Only answered chargeable calls accrue cost (e.watching); the others
	// are looked at only to forget those started over a day ago, and only
	// when one may be (e.oldest is no later than the oldest start).
	if e.oldest < t-86400 {
		oldest := t
		e.live.each(func(s *started) {
			if s.answered == 0 || s.latched || !s.chargeable || s.rate <= 0 || t <= s.answered {
				if s.start < t-86400 {
					e.live.remove(s)
					e.unwatch(s)
					return
				}
			}
			oldest = min(oldest, s.start)
		})
		e.oldest = oldest
	}
	if len(e.watching) == 0 {
		return // no answered chargeable call is up: nothing accrues
	}
	groups := e.groups
	if len(groups) > 0 {
		clear(groups)
	}
	ng := 0
	// Findings go out in a fixed order (calls by id, then groups by
	// tenant and range), not the maps' random one: the calls they end
	// play in that order, and a replay of one stream decides the same
	// every time.
	over := e.over[:0]
	// Fewer calls watched than in_call.concurrent, or less accrued by all
	// of them together than in_call.group_cost: no group can reach it.
	grouping := len(e.watching) >= rule.Concurrent && e.accrued(t) >= rule.GroupCost*(1-1e-6)
	// Backwards: unwatch moves the last call, already looked at, into the
	// place of the one it removes.
	for i := len(e.watching) - 1; i >= 0; i-- {
		s := e.watching[i]
		id := s.id
		if s.latched {
			e.unwatch(s)
			continue
		}
		if t <= s.answered {
			continue
		}
		cost := s.rate * float64(t-s.answered) / 60
		if cost >= rule.CallCost || s.long(t, cost, rule.CallCost) {
			s.latched = true
			e.unwatch(s)
			over = append(over, overCost{id, s, cost})
			continue
		}
		if !grouping {
			continue
		}
		if groups == nil {
			groups = map[groupKey]*watchGroup{}
			e.groups = groups
		}
		add := func(k groupKey) {
			g := groups[k]
			if g == nil {
				if ng == len(e.gpool) {
					e.gpool = append(e.gpool, &watchGroup{})
				}
				g = e.gpool[ng]
				ng++
				g.ids, g.rngs, g.classes, g.cost, g.s, g.class = g.ids[:0], g.rngs[:0], g.classes[:0], 0, s, k.class
				groups[k] = g
			}
			g.ids = append(g.ids, id)
			if !slices.Contains(g.rngs, s.rng) {
				g.rngs = append(g.rngs, s.rng)
			}
			if s.class != "" && !slices.Contains(g.classes, s.class) {
				g.classes = append(g.classes, s.class)
			}
			g.cost += cost
		}
		add(groupKey{tenant: s.tenant, rng: s.rng})
		if s.class != "" {
			// Costly calls to a class the tenant does not usually call,
			// added up across its ranges and extensions (an attack spread
			// over several ranges of a country, or over extensions).
			add(groupKey{tenant: s.tenant, class: s.class})
			// And across every such class: an attack spread over many
			// extensions and several countries keeps each class below
			// the rule, not the tenant's sum.
			add(groupKey{tenant: s.tenant, class: anyUnusual})
		}
	}
	e.over = over
	slices.SortFunc(over, func(a, b overCost) int { return strings.Compare(a.id, b.id) })
	for _, o := range over {
		e.overCall(rule, o, t)
	}
	e.watchClass(rule, t, over)
	clear(over)
	// Groups that may have reached the rule (a margin for the sum's
	// rounding in map order), in a fixed order.
	gs := e.qual[:0]
	for _, g := range e.gpool[:ng] {
		if len(g.ids) >= rule.Concurrent && g.cost >= rule.GroupCost*(1-1e-9) {
			gs = append(gs, g)
		}
	}
	// Range groups before class groups before a tenant's group across
	// classes (a narrower group's calls are ended before a broader one
	// counts them), then by tenant, range and class.
	slices.SortFunc(gs, func(a, b *watchGroup) int {
		if ra, rb := groupRank(a), groupRank(b); ra != rb {
			return ra - rb
		}
		if c := strings.Compare(a.s.tenant, b.s.tenant); c != 0 {
			return c
		}
		if c := strings.Compare(a.s.rng, b.s.rng); c != 0 && a.class == "" {
			return c
		}
		return strings.Compare(a.class, b.class)
	})
	e.qual = gs
	for _, g := range gs {
		all := slices.Clone(g.ids)
		sort.Strings(all)
		// The group's first call by id names it; its cost is summed and
		// its ranges listed in id order (the same whatever order the map
		// gave).
		s, cost := e.liveCall(all[0]), 0.0
		rngs := g.rngs[:0]
		for _, id := range all {
			x := e.liveCall(id)
			cost += x.rate * float64(t-x.answered) / 60
			if !slices.Contains(rngs, x.rng) {
				rngs = append(rngs, x.rng)
			}
		}
		if cost < rule.GroupCost {
			continue
		}
		ids := all[:0]
		for _, id := range all {
			if !e.liveCall(id).latched { // a range group already ended it this look
				ids = append(ids, id)
			}
		}
		if len(ids) < rule.Concurrent {
			continue
		}
		text := fmt.Sprintf("%d calls of tenant %s up at once to range +%s…, %.2f accrued (in_call.concurrent %d, group_cost %.2f)",
			len(ids), s.tenant, s.rng, cost, rule.Concurrent, rule.GroupCost)
		var countries []string
		switch g.class {
		case "":
		case anyUnusual:
			classes, exts := []string{}, []string{}
			for _, id := range ids {
				x := e.liveCall(id)
				if !slices.Contains(classes, x.class) {
					classes = append(classes, x.class)
					countries = append(countries, x.country)
				}
				if !slices.Contains(exts, x.ext) {
					exts = append(exts, x.ext)
				}
			}
			if len(classes) < 2 {
				continue // one class: its own group judges it
			}
			text = fmt.Sprintf("%d calls of tenant %s from %d extensions up at once to %d destinations it does not usually call (%s; %d ranges), %.2f accrued (in_call.concurrent %d, group_cost %.2f)",
				len(ids), s.tenant, len(exts), len(classes), strings.Join(classes, ", "), len(rngs), cost, rule.Concurrent, rule.GroupCost)
		default:
			text = fmt.Sprintf("%d calls of tenant %s up at once to %s (%d ranges), a destination it does not usually call, %.2f accrued (in_call.concurrent %d, group_cost %.2f)",
				len(ids), s.tenant, g.class, len(rngs), cost, rule.Concurrent, rule.GroupCost)
			countries = []string{e.liveCall(ids[0]).country}
		}
		e.inCall(rule, "in_call_concurrency", ids, s, cost, t, text, slices.Clone(rngs))
		for _, id := range ids {
			e.liveCall(id).latched = true
		}
		e.classPIN(rule, s, ids, cost, t, countries)
		if g.class == anyUnusual && rule.ClassWindowS > 0 {
			if e.spread == nil {
				e.spread = map[string]int64{}
			}
			e.spread[s.tenant] = t + int64(rule.ClassWindowS)
		}
	}
}

// overCall reports a watched call that reached in_call.call_cost or ran
// long (started.long) at t.
func (e *Engine) overCall(rule *config.InCallRule, o overCost, t int64) {
	s := o.s
	if o.cost < rule.CallCost {
		why := fmt.Sprintf("%s, a destination the tenant does not usually call", s.class)
		if s.offHours {
			why = "placed off hours"
		}
		e.inCall(rule, "in_call_long", []string{o.id}, s, o.cost, t,
			fmt.Sprintf("call %s → +%s (%s) has run %s, longer than %.0f%% of the tenant's calls (%s), and cost %.2f so far (in_call.call_cost %.2f)",
				s.ext, s.far(), why, time.Duration(t-s.answered)*time.Second, LongQuantile*100, time.Duration(s.longS)*time.Second, o.cost, rule.CallCost), nil)
		return
	}
	e.inCall(rule, "in_call_cost", []string{o.id}, s, o.cost, t,
		fmt.Sprintf("call %s → +%s has run %s and cost %.2f so far (in_call.call_cost %.2f)", s.ext, s.far(),
			time.Duration(t-s.answered)*time.Second, o.cost, rule.CallCost), nil)
}

// endWatched judges a watched call at its end (its CDR, billsec seconds
// after its answer) as Watch would have at that moment: event time moves
// only with events, and a call that ran through a quiet night (or was
// ended by its dialog timer, LongAt) may reach its end before any look.
// The finding acts on the destination and the tenant as Watch's does; the
// call itself is over (no EndCalls).
func (e *Engine) endWatched(id string, s *started, billsec int) {
	rule := &e.cfg.InCall
	if s.answered == 0 || s.latched || billsec <= 0 || !s.chargeable || s.rate <= 0 || !e.cfg.Enabled || !rule.On() {
		return
	}
	t := s.answered + int64(billsec)
	cost := s.rate * float64(billsec) / 60
	if cost < rule.CallCost && !s.long(t, cost, rule.CallCost) {
		return
	}
	s.latched = true
	e.ending = true
	e.overCall(rule, overCost{id, s, cost}, t)
	e.ending = false
}

// accrued is what the watched calls not yet latched have cost by t, all
// together (a bound on any group's cost).
func (e *Engine) accrued(t int64) float64 {
	sum := 0.0
	for _, s := range e.watching {
		if !s.latched && t > s.answered {
			sum += s.rate * float64(t-s.answered) / 60
		}
	}
	return sum
}

// watchGroup gathers, during one look of Watch, the watched calls of one
// tenant to one range; groupKey names it.
type watchGroup struct {
	ids     []string
	rngs    []string // the ranges its calls go to
	classes []string // the unusual classes its calls go to
	cost    float64
	s       *started
	class   string // set for a group by destination class (anyUnusual: across them)
}

// anyUnusual as a group's class gathers a tenant's watched calls to every
// class it does not usually call (started.class set).
const anyUnusual = "\x00"

// groupRank orders groups: by range, by class, across classes.
func groupRank(g *watchGroup) int {
	switch g.class {
	case "":
		return 0
	case anyUnusual:
		return 2
	}
	return 1
}

// spreadStart judges a call at its start to a destination its tenant
// does not usually call, priced at ChargeableRate or more, within
// in_call.class_window_s of the tenant's group across such destinations
// (Watch): the attack that tripped it moves on to further countries, one
// call at a time, and each would run to in_call.call_cost. The call is
// ended before it is answered, its number blocked and its country put
// under a PIN for the tenant.
func (e *Engine) spreadStart(id string, s *started, t int64) {
	rule := &e.cfg.InCall
	if s.class == "" || !e.cfg.Enabled || !rule.On() || t >= e.spread[s.tenant] {
		return
	}
	text := fmt.Sprintf("tenant %s calls +%s (%s), a destination it does not usually call, within %s of its concurrent calls to several such destinations; the call is ended",
		s.tenant, s.far(), s.class, rule.ClassWindowS.Duration())
	s.latched = true
	e.inCall(rule, "in_call_spread", []string{id}, s, 0, t, text, nil)
	e.classPIN(rule, s, []string{id}, 0, t, []string{s.country})
}

// classPIN follows a group of concurrent costly calls to destinations the
// tenant does not usually call (countries: those destinations as prefixes)
// with a PIN for the tenant's further calls there, for in_call.expires_s:
// the ranges the group reached are blocked, but a pumping attack moves on
// to other numbers of the same countries, from other extensions. Its
// agents' occasional genuine calls there pass with their PIN. Recorded as
// an event (the group's finding is the alert).
func (e *Engine) classPIN(rule *config.InCallRule, s *started, ids []string, cost float64, t int64, countries []string) {
	if len(countries) == 0 || rule.ExpiresS == 0 || rule.Action != config.ActionBlockAndAlert {
		return
	}
	for _, cc := range countries {
		if cc == "" {
			continue
		}
		f := Finding{Detector: "in_call", Code: "in_call_class_pin", Tenant: s.tenant, Extension: s.ext, Subject: "+" + cc,
			Text: fmt.Sprintf("tenant %s pumped +%s, a destination it does not usually call, with other concurrent calls: PIN required for its calls there", s.tenant, cc),
			Time: time.Unix(t, 0).UTC(), Since: time.Unix(s.since(), 0).UTC(), Calls: len(ids), Cost: cost, CallIDs: ids, Event: true}
		c := Call{Rec: &cdr.Record{Tenant: s.tenant, Extension: s.ext}, Premium: s.premium, International: s.intl}
		Apply(&f, &config.Rule{Action: config.ActionRequirePIN, ExpiresS: rule.ExpiresS, Severity: config.SeverityInfo}, &c, Target{})
		f.Target = Target{Kind: "prefix", Value: cc}
		e.sink(f)
	}
}

// groupKey names a group: a tenant's range, or (class set) a tenant's
// destination class.
type groupKey struct{ tenant, rng, class string }

// overCost is a watched call whose accrued cost reached in_call.call_cost.
type overCost struct {
	id   string
	s    *started
	cost float64
}

func (e *Engine) inCall(rule *config.InCallRule, code string, ids []string, s *started, cost float64, t int64, text string, rngs []string) {
	f := Finding{Detector: "in_call", Code: code, Tenant: s.tenant, Extension: s.ext, Subject: "+" + s.rng, Text: text,
		Time: time.Unix(t, 0).UTC(), Since: time.Unix(s.since(), 0).UTC(), Calls: len(ids), Cost: cost, CallIDs: ids}
	if (rule.EndCalls == nil || *rule.EndCalls) && !e.ending {
		f.EndCalls = ids
	}
	dest := Target{Kind: "number", Value: s.far()}
	if len(ids) > 1 {
		dest = Target{Kind: "prefix", Value: s.rng}
	}
	c := Call{Rec: &cdr.Record{Tenant: s.tenant, Extension: s.ext}, Premium: s.premium, International: s.intl}
	Apply(&f, &rule.Rule, &c, dest)
	if f.Action == "block_and_alert" && f.Target.Kind == "prefix" {
		// A group across ranges: every range it reached.
		for _, rg := range rngs {
			if rg != f.Target.Value {
				f.Also = append(f.Also, Target{Kind: "prefix", Value: rg, AllTenants: f.Target.AllTenants})
			}
		}
	}
	e.sink(f)
}
