package detect

import (
	"errors"
	"fmt"

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
}

// Engine runs the detectors over calls. It is not safe for concurrent
// use: one pipeline goroutine owns it.
type Engine struct {
	cfg   *config.Detect
	res   Resolver
	base  *baseline.Learner
	dets  []Detector
	sink  Emit
	seen  idSet
	cache map[string]cached
	max   int64
	stats Stats
	call  Call
	quiet bool // Warm: findings are not emitted
}

type cached struct {
	info number.Info
	home int
}

// ErrDuplicate is returned for a call id already observed.
var ErrDuplicate = errors.New("duplicate call id")

// NewEngine returns an engine feeding sink.
func NewEngine(cfg *config.Detect, res Resolver, base *baseline.Learner, dets []Detector, sink Emit) *Engine {
	if base == nil {
		base = baseline.New()
	}
	e := &Engine{cfg: cfg, res: res, base: base, dets: dets, cache: map[string]cached{}}
	e.sink = func(f Finding) {
		if e.quiet {
			return
		}
		e.stats.Findings++
		if sink != nil {
			sink(f)
		}
	}
	e.seen.init()
	return e
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

func (e *Engine) observe(r *cdr.Record, attempt bool) error {
	if !e.seen.add(r.CallID, r.Start.Unix()) {
		e.stats.Duplicates++
		return ErrDuplicate
	}
	c := &e.call
	if err := e.enrich(r, c); err != nil {
		e.stats.Rejected++
		return err
	}
	c.Attempt = attempt
	ts := r.Start.Unix()
	judge := true
	if ts < e.max {
		e.stats.Late++
		if e.cfg.LatenessS > 0 && ts < e.max-int64(e.cfg.LatenessS) {
			e.stats.TooLate++
			judge = false
		}
	} else {
		e.max = ts
	}
	if attempt {
		e.stats.Attempts++
	} else {
		e.stats.Observed++
	}
	conc := 0
	if !attempt && r.Direction != screen.Inbound {
		conc = e.base.Concurrent(r.Tenant, r.Extension, ts, ts+int64(max(r.Duration, r.Billsec)))
	}
	c.Concurrent = conc
	if judge && e.cfg.Enabled {
		for _, d := range e.dets {
			d.Observe(c, r.Start, e.sink)
		}
	}
	if !attempt && r.Direction != screen.Inbound {
		e.base.Learn(r.Tenant, r.Extension, r.Start, c.Local, c.Dest.Country, c.International, r.Billsec, conc)
	}
	return nil
}

func (e *Engine) enrich(r *cdr.Record, c *Call) error {
	t, err := e.res.Tenant(r.Tenant)
	if err != nil {
		return err
	}
	far := r.Callee
	if r.Direction == screen.Inbound && !r.Forwarded {
		far = r.Caller
	}
	k := r.Tenant + "\x00" + far
	ce, ok := e.cache[k]
	if !ok {
		info, err := e.res.Lookup(far, r.Tenant)
		if err != nil {
			return fmt.Errorf("number %q: %w", far, err)
		}
		ce = cached{info: info, home: number.CallingCodeFor(t.Country)}
		if len(e.cache) > 200000 {
			clear(e.cache)
		}
		e.cache[k] = ce
	}
	info := ce.info
	*c = Call{Rec: *r, Policy: t, Dest: info, Local: r.Start.In(t.Location)}
	c.International = info.Kind == number.Subscriber && info.CallingCode != 0 &&
		(info.CallingCode != ce.home || info.Country != "" && info.Country != t.Country)
	c.Premium = info.Type == number.PremiumRate
	for _, rg := range info.Risk {
		if rg.Category == "premium" || rg.Category == "irsf" {
			c.Premium = true
		}
	}
	c.Cost = r.Cost
	if c.Cost == 0 && r.Billsec > 0 {
		c.Cost = float64(r.Billsec) / 60 * info.Rate
		r.Cost = c.Cost // estimated from the rate deck, kept for the archive
		c.Rec.Cost = c.Cost
	}
	return nil
}

// idSet remembers call ids of the last two generations (each spans about
// a day of event time), so retried CDRs are recognised without growing
// forever.
type idSet struct {
	cur, old map[string]struct{}
	start    int64
}

func (s *idSet) init() { s.cur, s.old = map[string]struct{}{}, map[string]struct{}{} }

func (s *idSet) add(id string, t int64) bool {
	if _, ok := s.cur[id]; ok {
		return false
	}
	if _, ok := s.old[id]; ok {
		return false
	}
	if s.start == 0 {
		s.start = t
	}
	if t > s.start+86400 || len(s.cur) > 4<<20 {
		s.old, s.cur, s.start = s.cur, make(map[string]struct{}, len(s.cur)), t
	}
	s.cur[id] = struct{}{}
	return true
}
