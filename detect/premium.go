package detect

import (
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/tollgate-voip/tollgate/cdr"
	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/screen"
)

// classSpend is what one tenant spent on one premium destination class
// (in_call.class_cost): its ended calls there within in_call.class_window_s,
// oldest first, and — during one look of Watch — its calls there still
// running. Premium pumping from a tenant's own PBX hides in business
// hours, spreads over extensions and ranges and lets each call run only
// as long as the per-call limit allows; what it cannot hide is that the
// tenant's premium spend over hours is many times its normal.
type classSpend struct {
	at    []int64 // end of each ended call, in order
	cost  []float64
	rng   []string // its range
	sum   float64  // of cost
	until int64    // tripped: the class's calls are ended until then
	// tries holds the start of each call the tenant placed to the class
	// within the window, in order: let through, challenged or refused.
	tries []int64
	// One look's running calls of the class (Watch's scratch): those to
	// end (ids), how many in all (n, with those in_call.call_cost ends),
	// their accrued cost, the highest limit among them and the first id.
	ids   []string
	n     int
	run   float64
	limit float64
	first string
	why   string // classStart's text when tries, not spend, tripped it
	// byTries: the class last tripped on its tries, not its spend.
	byTries bool
}

// ClassMargin is how many times its learned daily spend on a premium class
// a tenant may spend on it within in_call.class_window_s (never less than
// in_call.class_cost).
const ClassMargin = 3

// CostlyRate is the price per minute from which a call counts as premium
// for in_call.class_cost whatever its number type (a shared-cost or
// non-geographic range priced like premium-rate).
const CostlyRate = 0.50

// ClassTries is how many calls to a premium class its tenant does not
// call as a matter of course (fewer than UsualCalls in its baseline) the
// tenant may place within in_call.class_window_s — let through,
// challenged or refused alike — before its next one there is ended at
// its start: half of what makes a class usual over the whole baseline,
// in hours. Pumping that screening keeps refusing (PINs, blocked ranges)
// costs nothing and so never reaches in_call.class_cost, yet each PIN
// that expires and each new range lets one more call run to
// in_call.call_cost.
const ClassTries = UsualCalls / 2

// premiumClass is the key of c's tenant's spend on c's class when c is a
// premium call (premium-rate type or premium/IRSF risk range) priced at
// ChargeableRate or more, or any call priced at CostlyRate or more; else
// "".
func premiumClass(c *Call) string {
	if !(c.Premium && c.Rate >= ChargeableRate || c.Rate >= CostlyRate) || c.Class == "" || c.Rec == nil {
		return ""
	}
	return c.Rec.Tenant + "\x00" + c.Class
}

// classLimit is what c's tenant may spend on c's class within the window:
// in_call.class_cost, or ClassMargin × its learned daily spend there
// (calls per day of its baseline × c's rate × its median call length) when
// that is more and the tenant's baseline is warm.
func classLimit(cfg *config.Detect, c *Call, t int64) float64 {
	lim := cfg.InCall.ClassCost
	if c.Handle == nil || !c.Handle.Tenant.Warm(t, cfg.Baseline.WarmupDays, cfg.Baseline.MinCalls) {
		return lim
	}
	p := c.Handle.Tenant
	days := float64(p.Last-p.First) / 86400
	if days < 1 {
		return lim
	}
	daily := float64(p.Countries[c.Class]) / days * c.Rate * p.DurationQuantile(0.5) / 60
	return max(lim, ClassMargin*daily)
}

// classSpend returns the tenant's spend record for a premium class,
// creating it on first use.
func (e *Engine) classSpend(key string) *classSpend {
	if e.spend == nil {
		e.spend = map[string]*classSpend{}
	}
	cs := e.spend[key]
	if cs == nil {
		cs = &classSpend{}
		e.spend[key] = cs
	}
	return cs
}

// spent adds an ended premium call's cost to its tenant's class spend.
func (e *Engine) spent(key, rng string, end int64, cost float64) {
	if key == "" || cost <= 0 || e.cfg.InCall.ClassCost <= 0 {
		return
	}
	cs := e.classSpend(key)
	// CDRs come nearly in order of end: keep at sorted.
	i := backPos(cs.at, end)
	cs.at = slices.Insert(cs.at, i, end)
	cs.cost = slices.Insert(cs.cost, i, cost)
	cs.rng = slices.Insert(cs.rng, i, rng)
	cs.sum += cost
}

// tried adds a call of a tenant to a premium class (key) placed at t.
func (e *Engine) tried(key string, t int64) *classSpend {
	if key == "" || e.cfg.InCall.ClassCost <= 0 {
		return nil
	}
	cs := e.classSpend(key)
	i := backPos(cs.tries, t)
	cs.tries = slices.Insert(cs.tries, i, t)
	return cs
}

// backPos is where t goes in the sorted times ts, searched from the end
// (times arrive nearly in order).
func backPos(ts []int64, t int64) int {
	i := len(ts)
	for i > 0 && ts[i-1] > t {
		i--
	}
	return i
}

// prune drops ended calls and tries older than from.
func (cs *classSpend) prune(from int64) {
	k := 0
	for k < len(cs.tries) && cs.tries[k] < from {
		k++
	}
	if k > 0 {
		cs.tries = slices.Delete(cs.tries, 0, k)
	}
	n := 0
	for n < len(cs.at) && cs.at[n] < from {
		cs.sum -= cs.cost[n]
		n++
	}
	if n > 0 {
		cs.at = slices.Delete(cs.at, 0, n)
		cs.cost = slices.Delete(cs.cost, 0, n)
		cs.rng = slices.Delete(cs.rng, 0, n)
		if len(cs.at) == 0 {
			cs.sum = 0
		}
	}
}

// watchClass is Watch's look at premium spend at event time t: a running
// premium call (not yet latched) is added to its tenant's class, as is one
// in_call.call_cost ends in this look (over: its CDR, and so its cost in
// the spend, comes later); a class whose ended and running calls (two or
// more) within the window reached its limit — or that tripped within the
// window before — has its running calls ended and its ranges blocked for
// the tenant.
func (e *Engine) watchClass(rule *config.InCallRule, t int64, over []overCost) {
	if rule.ClassCost <= 0 {
		return
	}
	var keys []string
	add := func(id string, s *started, cost float64) {
		if e.spend == nil {
			e.spend = map[string]*classSpend{}
		}
		cs := e.spend[s.pclass]
		if cs == nil {
			cs = &classSpend{}
			e.spend[s.pclass] = cs
		}
		if cs.n == 0 {
			keys = append(keys, s.pclass)
			cs.run, cs.limit, cs.first = 0, rule.ClassCost, id
		}
		cs.n++
		cs.run += cost
		cs.limit = max(cs.limit, s.plimit)
		cs.first = min(cs.first, id)
		if !s.latched {
			cs.ids = append(cs.ids, id)
		}
	}
	for _, o := range over {
		if o.s.pclass != "" {
			add(o.id, o.s, o.cost)
		}
	}
	for _, s := range e.watching {
		if s.pclass == "" || s.latched || t <= s.answered {
			continue
		}
		add(s.id, s, s.rate*float64(t-s.answered)/60)
	}
	sort.Strings(keys)
	for _, k := range keys {
		cs := e.spend[k]
		cs.prune(t - int64(rule.ClassWindowS))
		total, n := cs.sum+cs.run, len(cs.at)+cs.n
		tripped := t < cs.until
		if tripped || n >= 2 && total >= cs.limit {
			if !tripped {
				cs.byTries = false
			}
			e.classFinding(rule, cs, total, n, tripped, t)
			cs.until = t + int64(rule.ClassWindowS)
		}
		cs.ids, cs.n = cs.ids[:0], 0
	}
	// Forget classes with nothing left to judge by.
	if len(e.spend) > 64 {
		for k, cs := range e.spend {
			cs.prune(t - int64(rule.ClassWindowS))
			if len(cs.at) == 0 && len(cs.tries) == 0 && t >= cs.until {
				delete(e.spend, k)
			}
		}
	}
}

// classStart judges a premium call at its start: one to a class its
// tenant tripped (watchClass) within class_window_s, or whose ended calls
// there within the window already cost the limit, is ended before it is
// answered and its range blocked (the ended calls' CDRs may have come in
// after the last look at running calls).
func (e *Engine) classStart(id string, s *started, t int64) {
	rule := &e.cfg.InCall
	if s.pclass == "" || !e.cfg.Enabled || !rule.On() {
		return
	}
	var cs *classSpend
	if s.dir != screen.Inbound || s.fwd {
		cs = e.tried(s.pclass, t) // the tenant's own calls: not one-ring bait ringing it
	} else {
		cs = e.spend[s.pclass]
	}
	if cs == nil {
		return
	}
	cs.prune(t - int64(rule.ClassWindowS))
	tripped := t < cs.until
	tries := !s.usual && (s.dir != screen.Inbound || s.fwd) && len(cs.tries) > ClassTries
	if !tripped && !tries && (len(cs.at) == 0 || cs.sum < max(rule.ClassCost, s.plimit)) {
		return
	}
	cs.ids, cs.first, cs.limit = append(cs.ids[:0], id), id, max(rule.ClassCost, s.plimit)
	if tries && !tripped && (len(cs.at) == 0 || cs.sum < cs.limit) {
		cs.why = fmt.Sprintf("tenant %s placed %d calls to %s, a premium destination it does not usually call, within %s (%d allowed, let through or refused alike); the call is ended",
			s.tenant, len(cs.tries), s.pclass[len(s.tenant)+1:], rule.ClassWindowS.Duration(), ClassTries)
	}
	e.classFinding(rule, cs, cs.sum, len(cs.at)+1, tripped, t)
	if !tripped {
		cs.byTries = cs.why != ""
	}
	cs.why = ""
	cs.ids = cs.ids[:0]
	cs.until = t + int64(rule.ClassWindowS)
}

// classFinding ends cs's running calls and blocks their ranges and those
// of its ended calls in the window for the tenant (not for every tenant: the ranges are genuine services the
// tenant's PBX was made to pump).
func (e *Engine) classFinding(rule *config.InCallRule, cs *classSpend, total float64, n int, tripped bool, t int64) {
	ids := slices.Clone(cs.ids)
	sort.Strings(ids)
	s := e.liveCall(cs.first)
	rngs := []string{s.rng}
	since := t
	for _, id := range ids {
		x := e.liveCall(id)
		x.latched = true
		e.unwatch(x)
		if x.answered != 0 {
			since = min(since, x.answered)
		}
		if !slices.Contains(rngs, x.rng) {
			rngs = append(rngs, x.rng)
		}
	}
	for _, rg := range cs.rng {
		if len(rg) >= minRange && !slices.Contains(rngs, rg) {
			rngs = append(rngs, rg)
		}
	}
	class := s.pclass[len(s.tenant)+1:]
	text := fmt.Sprintf("tenant %s spent %.2f on %s over %d calls within %s (in_call.class_cost: %.2f for this tenant)",
		s.tenant, total, class, n, rule.ClassWindowS.Duration(), cs.limit)
	if tripped {
		text = fmt.Sprintf("tenant %s calls %s again after its premium spend there reached %.2f (in_call.class_cost); the call is ended",
			s.tenant, class, cs.limit)
		if cs.byTries {
			text = fmt.Sprintf("tenant %s calls %s again after placing more than %d calls there within %s; the call is ended",
				s.tenant, class, ClassTries, rule.ClassWindowS.Duration())
		}
	}
	if cs.why != "" {
		text = cs.why
	}
	f := Finding{Detector: "in_call", Code: "in_call_class_cost", Tenant: s.tenant, Extension: s.ext, Subject: class, Text: text,
		Time: time.Unix(t, 0).UTC(), Since: time.Unix(since, 0).UTC(), Calls: len(ids), Cost: total, CallIDs: ids}
	if rule.EndCalls == nil || *rule.EndCalls {
		f.EndCalls = ids
	}
	c := Call{Rec: &cdr.Record{Tenant: s.tenant, Extension: s.ext}, Premium: s.premium, International: s.intl}
	Apply(&f, &rule.Rule, &c, Target{Kind: "prefix", Value: s.rng})
	if f.Target.Kind == "prefix" {
		f.Target.AllTenants = false
		for _, rg := range rngs {
			if rg != f.Target.Value {
				f.Also = append(f.Also, Target{Kind: "prefix", Value: rg})
			}
		}
	}
	e.sink(f)
}
