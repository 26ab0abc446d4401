package detect

import (
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/tollgate-voip/tollgate/cdr"
	"github.com/tollgate-voip/tollgate/config"
)

// EndOnly is implemented by detectors that judge a call by what only its
// end tells (duration, cost, how it ended, concurrency over its length):
// they see a call from its CDR alone. Every other detector judges a call
// screening let through at its start (Start) — by destination, count and
// per-minute rate — and does not see it again at its end.
type EndOnly interface{ EndOnly() bool }

// started is a call let through, from its start until its CDR.
type started struct {
	tenant, ext string
	far         string // digits
	rng         string
	rate        float64
	chargeable  bool
	intl        bool
	premium     bool
	start       int64
	answered    int64 // 0 until answered
	latched     bool
	farRaw      string // the far end as the record named it
	used               // what its enrichment looked up (reused by its CDR)
}

// Start runs a call screening let through at its start (event time
// r.Start): the detectors that are not EndOnly judge it now, so a burst of
// long calls is seen as it starts, not once its calls have ended. Its CDR
// (Observe) later runs only the EndOnly detectors and the baseline. A
// call id already started or observed changes nothing.
func (e *Engine) Start(r *cdr.Record) error {
	if e.live == nil {
		e.live = map[string]*started{}
	}
	pre := e.enriched == r // Enrich(r) just ran
	e.enriched = nil
	if e.live[r.CallID] != nil || e.seen.has(r.CallID) || e.forgotten.has(r.CallID) {
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
	e.live[r.CallID] = &started{tenant: r.Tenant, ext: r.Extension, far: c.Far(), rng: c.Range, rate: c.Rate, chargeable: c.Chargeable,
		intl: c.International, premium: c.Premium, start: ts, farRaw: farOf(r), used: e.used}
	if len(e.live) == 1 || ts < e.oldest {
		e.oldest = ts
	}
	if ts > e.now {
		e.now = ts
	}
	e.stats.Started++
	if e.cfg.Enabled {
		for _, d := range e.dets {
			if eo, ok := d.(EndOnly); ok && eo.EndOnly() {
				continue
			}
			d.Observe(c, r.Start, e.sink)
		}
	}
	if len(e.live) > 1<<20 {
		e.pruneLive(ts)
	}
	return nil
}

// Answer marks a started call answered at t: from then on Watch accrues
// its cost.
func (e *Engine) Answer(callID string, t time.Time) {
	if s := e.live[callID]; s != nil && s.answered == 0 {
		s.answered = t.Unix()
		if s.chargeable && s.rate > 0 && s.answered != 0 {
			if e.watching == nil {
				e.watching = map[string]*started{}
			}
			e.watching[callID] = s
		}
		if s.answered > e.now {
			e.now = s.answered
		}
	}
}

// Forget drops started calls whose end the screening engine stopped
// waiting for (no event within server.call_setup_s, or a lease run out):
// the in-call watch stops accruing them, and a CDR posted for one within
// the next hour or two of event time meets only the EndOnly detectors, as
// a started call's would (its id is kept as a hash: hashSet).
func (e *Engine) Forget(callIDs []string) {
	for _, id := range callIDs {
		// One not (yet) started is remembered too: its start, if it comes
		// after all (a queue running behind), is then refused.
		e.forgotten.add(id, e.now)
		if e.live[id] == nil {
			continue
		}
		delete(e.live, id)
		delete(e.watching, id)
		e.stats.Forgotten++
	}
}

// Running is how many started calls have not ended.
func (e *Engine) Running() int { return len(e.live) }

// pruneLive forgets started calls older than a day (their end was lost).
func (e *Engine) pruneLive(now int64) {
	for id, s := range e.live {
		if s.start < now-86400 {
			delete(e.live, id)
			delete(e.watching, id)
		}
	}
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
	if !e.cfg.Enabled || !rule.On() || len(e.live) == 0 || t < e.watched+watchEvery {
		return
	}
	e.watched = t
	// Only answered chargeable calls accrue cost (e.watching); the others
	// are looked at only to forget those started over a day ago, and only
	// when one may be (e.oldest is no later than the oldest start).
	if e.oldest < t-86400 {
		oldest := t
		for id, s := range e.live {
			if s.answered == 0 || s.latched || !s.chargeable || s.rate <= 0 || t <= s.answered {
				if s.start < t-86400 {
					delete(e.live, id)
					delete(e.watching, id)
					continue
				}
			}
			oldest = min(oldest, s.start)
		}
		e.oldest = oldest
	}
	groups := e.groups
	clear(groups)
	ng := 0
	for id, s := range e.watching {
		if s.latched {
			delete(e.watching, id)
			continue
		}
		if t <= s.answered {
			continue
		}
		cost := s.rate * float64(t-s.answered) / 60
		if cost >= rule.CallCost {
			s.latched = true
			delete(e.watching, id)
			e.inCall(rule, "in_call_cost", []string{id}, s, cost, t,
				fmt.Sprintf("call %s → +%s has run %s and cost %.2f so far (in_call.call_cost %.2f)", s.ext, s.far,
					time.Duration(t-s.answered)*time.Second, cost, rule.CallCost))
			continue
		}
		if groups == nil {
			groups = map[groupKey]*watchGroup{}
			e.groups = groups
		}
		k := groupKey{s.tenant, s.rng}
		g := groups[k]
		if g == nil {
			if ng == len(e.gpool) {
				e.gpool = append(e.gpool, &watchGroup{})
			}
			g = e.gpool[ng]
			ng++
			g.ids, g.cost, g.s = g.ids[:0], 0, s
			groups[k] = g
		}
		g.ids = append(g.ids, id)
		g.cost += cost
	}
	for _, g := range groups {
		if len(g.ids) < rule.Concurrent || g.cost < rule.GroupCost {
			continue
		}
		ids := slices.Clone(g.ids)
		sort.Strings(ids)
		e.inCall(rule, "in_call_concurrency", ids, g.s, g.cost, t,
			fmt.Sprintf("%d calls of tenant %s up at once to range +%s…, %.2f accrued (in_call.concurrent %d, group_cost %.2f)",
				len(ids), g.s.tenant, g.s.rng, g.cost, rule.Concurrent, rule.GroupCost))
		for _, id := range ids {
			e.live[id].latched = true
		}
	}
}

// watchGroup gathers, during one look of Watch, the watched calls of one
// tenant to one range; groupKey names it.
type watchGroup struct {
	ids  []string
	cost float64
	s    *started
}

type groupKey struct{ tenant, rng string }

func (e *Engine) inCall(rule *config.InCallRule, code string, ids []string, s *started, cost float64, t int64, text string) {
	f := Finding{Detector: "in_call", Code: code, Tenant: s.tenant, Extension: s.ext, Subject: "+" + s.rng, Text: text,
		Time: time.Unix(t, 0).UTC(), Since: time.Unix(s.answered, 0).UTC(), Calls: len(ids), Cost: cost, CallIDs: ids}
	if rule.EndCalls == nil || *rule.EndCalls {
		f.EndCalls = ids
	}
	dest := Target{Kind: "number", Value: s.far}
	if len(ids) > 1 {
		dest = Target{Kind: "prefix", Value: s.rng}
	}
	c := Call{Rec: &cdr.Record{Tenant: s.tenant, Extension: s.ext}, Premium: s.premium, International: s.intl}
	Apply(&f, &rule.Rule, &c, dest)
	e.sink(f)
}
