package cli

import (
	"context"
	"net/netip"
	"time"

	"github.com/tollgate-voip/tollgate/action"
	"github.com/tollgate-voip/tollgate/blocks"
	"github.com/tollgate-voip/tollgate/cdr"
	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/detect"
	"github.com/tollgate-voip/tollgate/eventclock"
	"github.com/tollgate-voip/tollgate/screen"
)

// replayer plays CDRs in event time the way a live server meets them:
// each call's start, answer and end in time order, across records. At its
// start a call is checked against the blocks, kill switches and detector
// actions in force (the same blocks.Set and action.Set lookups the
// blocklist, killswitch and detected checks make): refused, it reaches the
// detectors as an attempt and costs nothing; let through, the detectors
// judge it at its start (detect.Engine.Start), its length is capped where
// live screening's max_duration_s would cap it (in_call.call_cost at its
// rate), the in-call watch runs as event time moves and may end it
// early, and its end runs the end-only detectors and the baseline on what
// it really cost. What the detectors flagged and still let through is what
// would have leaked.
type replayer struct {
	det   *detect.Engine
	nums  *detect.Numbers // for the parsing goroutine
	act   *action.Manager
	blk   *blocks.Live
	acts  *action.Live
	clock *eventclock.Clock
	ic    *config.InCallRule
	on    bool
	ctx   context.Context

	h       evHeap
	seq     uint64
	free    []*rcall // ended calls, reused
	running map[string]*rcall
	maxEnd  int64
	swept   int64

	flagged  map[string]bool
	pending  map[string]bool // flagged before their end: cost added then
	leaked   float64
	stopped  int
	cut      int
	verdicts []replayVerdict // kept when keepVerdicts (tests)
	keep     bool
}

// replayVerdict is what the replay decided for one call at its start.
type replayVerdict struct {
	CallID  string `json:"call_id"`
	Stopped bool   `json:"stopped"`
}

type rcall struct {
	rec     cdr.Record
	answer  int64
	end     int64 // as played (a cut moves it)
	billsec int
	num     detect.Resolved // its far end, looked up by the parsing goroutine
	gen     uint32          // bumped when the rcall is reused: older events skip it
	up      bool            // running: p.running[rec.CallID] == this call
}

const (
	evStart uint8 = iota
	evAnswer
	evEnd
)

// rev is one event of a call. Events play in time order; at one second
// ends before answers before starts, then in the order they were pushed
// (key packs the kind and that order).
type rev struct {
	t   int64
	key uint64 // (2-kind)<<56 | push sequence
	c   *rcall
	end int64  // evEnd: the end it was scheduled for (a cut supersedes it)
	gen uint32 // c.gen when pushed
}

func (e *rev) kind() uint8 { return uint8(2 - e.key>>56) }

func (a *rev) before(b *rev) bool {
	return a.t < b.t || a.t == b.t && a.key < b.key
}

// evHeap is a 4-ary min-heap of events (typed: no boxing per push;
// shallower than a binary heap, and a node's children share cache lines).
type evHeap []rev

func (h *evHeap) push(e rev) {
	*h = append(*h, e)
	q := *h
	i := len(q) - 1
	for i > 0 {
		j := (i - 1) / 4
		if !q[i].before(&q[j]) {
			break
		}
		q[i], q[j] = q[j], q[i]
		i = j
	}
}

func (h *evHeap) pop() rev {
	q := *h
	top := q[0]
	n := len(q) - 1
	q[0] = q[n]
	q[n] = rev{}
	q = q[:n]
	*h = q
	i := 0
	for {
		l := 4*i + 1
		if l >= n {
			break
		}
		m := l
		for k := l + 1; k < min(l+4, n); k++ {
			if q[k].before(&q[m]) {
				m = k
			}
		}
		if !q[m].before(&q[i]) {
			break
		}
		q[i], q[m] = q[m], q[i]
		i = m
	}
	return top
}

// replayHold is how far behind the latest call end the replay plays: a
// record read later may start up to this much earlier (CDR files are
// written as calls end).
const replayHold = 4 * 3600

func (p *replayer) push(t int64, kind uint8, c *rcall, end int64) {
	p.seq++
	p.h.push(rev{t: t, key: uint64(2-kind)<<56 | p.seq, c: c, end: end, gen: c.gen})
}

// add schedules one record's start, answer and end.
func (p *replayer) add(r *cdr.Record, num detect.Resolved) {
	var c *rcall
	if n := len(p.free); n > 0 {
		c = p.free[n-1]
		p.free = p.free[:n-1]
		*c = rcall{rec: *r, num: num, gen: c.gen + 1}
	} else {
		c = &rcall{rec: *r, num: num}
	}
	st := r.Start.Unix()
	dur := int64(max(r.Duration, r.Billsec))
	c.end = st + dur
	c.billsec = r.Billsec
	if r.Billsec > 0 {
		c.answer = c.end - int64(r.Billsec)
		if !r.Answer.IsZero() {
			c.answer = r.Answer.Unix()
		}
	}
	p.push(st, evStart, c, 0)
	if c.end > p.maxEnd {
		p.maxEnd = c.end
	}
	p.drain(p.maxEnd - replayHold)
}

// drain plays every event before t (all of them when t is the largest).
func (p *replayer) drain(t int64) {
	for len(p.h) > 0 && p.h[0].t < t {
		e := p.h.pop()
		if e.gen == e.c.gen {
			p.play(&e)
			continue
		}
		// The call ended and its rcall was reused: play what the event
		// still does (it moves the clock; an answer is a moment to watch).
		now := time.Unix(e.t, 0)
		p.clock.Observe(now)
		if e.kind() == evAnswer {
			p.tick(e.t, now)
		}
	}
}

func (p *replayer) finish() { p.drain(1<<62 - 1) }

func (p *replayer) play(e *rev) {
	c := e.c
	now := time.Unix(e.t, 0)
	p.clock.Observe(now)
	switch e.kind() {
	case evStart:
		p.start(c, now)
	case evAnswer:
		if c.up {
			p.det.Answer(c.rec.CallID, now)
		}
	case evEnd:
		if e.end != c.end || !c.up {
			return // superseded by a cut
		}
		p.setDown(c.rec.CallID)
		r := &c.rec
		if c.billsec < r.Billsec { // cut: billed up to the cut
			if r.Billsec > 0 && r.Cost > 0 {
				r.Cost = r.Cost * float64(c.billsec) / float64(r.Billsec)
			}
			r.Billsec = c.billsec
			r.Duration = int(c.end - r.Start.Unix())
			r.End = time.Unix(c.end, 0).UTC()
		}
		_ = p.det.Observe(r)
		if p.pending[r.CallID] {
			delete(p.pending, r.CallID)
			cost, _ := p.det.CostOf(r.CallID)
			p.leaked += cost
		}
		p.recycle(c)
	}
	p.tick(e.t, now)
}

// tick runs what each event is a moment for: the in-call watch and, every
// hour of event time, the expiry of detector kill switches.
func (p *replayer) tick(t int64, now time.Time) {
	p.det.Watch(now)
	if t >= p.swept+3600 {
		p.swept = t
		_ = p.act.Sweep(p.ctx, now) // detector kill switches expire in event time
	}
}

// refused reports whether live screening's blocklist, kill switch or
// detected check would refuse or challenge the call.
func (p *replayer) refused(c *detect.Call) bool {
	r := c.Rec
	if r.Direction == screen.Inbound && !r.Forwarded {
		return false
	}
	t := r.Start
	set := p.blk.Load()
	chargeable := c.International || c.Premium
	if set.Kill(r.Tenant) != nil {
		return true
	}
	if r.SourceIP != "" {
		if a, err := netip.ParseAddr(r.SourceIP); err == nil && set.Addr(r.Tenant, a, t) != nil {
			return true
		}
	}
	if b := set.Extension(r.Tenant, r.Extension, t); b != nil && b.CoversCall(c.International, c.Premium, c.Dest.Rate) {
		return true
	}
	digits := c.Far()
	if set.Number(r.Tenant, digits, t) != nil || set.Prefix(r.Tenant, digits, t) != nil {
		return true
	}
	as := p.acts.Load()
	if as.Len() > 0 {
		if as.Destination(r.Tenant, digits, t) != nil {
			return true
		}
		if as.Extension(r.Tenant, r.Extension, t) != nil && chargeable {
			return true
		}
	}
	return false
}

func (p *replayer) start(c *rcall, now time.Time) {
	r := &c.rec
	dc, err := p.det.EnrichResolved(r, c.num)
	if err != nil {
		_ = p.det.Observe(r) // counted as rejected, as live would
		p.recycle(c)
		return
	}
	stop := p.refused(dc)
	if p.keep {
		p.verdicts = append(p.verdicts, replayVerdict{CallID: r.CallID, Stopped: stop})
	}
	if stop {
		p.stopped++
		a := cdr.Record{CallID: "attempt:" + r.CallID, Tenant: r.Tenant, Extension: r.Extension, Caller: r.Caller, Callee: r.Callee,
			Direction: r.Direction, SourceIP: r.SourceIP, Start: r.Start, Disposition: cdr.Failed}
		_ = p.det.Attempt(&a)
		p.recycle(c)
		return
	}
	// The dialog timer live screening sets (max_duration_s): no single
	// chargeable call costs more than in_call.call_cost at its rate.
	if p.on && p.ic.CallCost > 0 && dc.Dest.Rate > 0 && (dc.International || dc.Premium) && c.billsec > 0 {
		if capS := max(60, int(p.ic.CallCost/dc.Dest.Rate*60)); c.billsec > capS {
			c.billsec = capS
			c.end = c.answer + int64(capS)
			p.cut++
		}
	}
	// Running before the detectors see it: a finding its own start raises
	// names it, and its cost counts as leaked at its end.
	p.setUp(c)
	if p.det.Start(r) != nil {
		p.setDown(r.CallID)
		delete(p.pending, r.CallID)
		p.recycle(c)
		return
	}
	if c.billsec > 0 {
		p.push(c.answer, evAnswer, c, 0)
	}
	p.push(c.end, evEnd, c, c.end)
}

// setUp makes c the running call of its id.
func (p *replayer) setUp(c *rcall) {
	if old := p.running[c.rec.CallID]; old != nil {
		old.up = false
	}
	p.running[c.rec.CallID] = c
	c.up = true
}

// setDown: no call of this id is running.
func (p *replayer) setDown(id string) {
	if old := p.running[id]; old != nil {
		old.up = false
		delete(p.running, id)
	}
}

// recycle keeps c for a later record; its events still queued are
// skipped (generation).
func (p *replayer) recycle(c *rcall) {
	if c.up {
		return
	}
	c.gen++
	c.rec, c.num = cdr.Record{}, detect.Resolved{}
	p.free = append(p.free, c)
}

// finding is the replay's sink: the action manager applies it (blocks and
// records the later calls meet), named running calls are ended now, and
// flagged calls' costs count as leaked.
func (p *replayer) finding(f detect.Finding) {
	for _, id := range f.CallIDs {
		if p.flagged[id] {
			continue
		}
		p.flagged[id] = true
		if _, up := p.running[id]; up {
			p.pending[id] = true
		} else if cost, ok := p.det.CostOf(id); ok {
			p.leaked += cost
		}
	}
	_, _ = p.act.Handle(p.ctx, f)
	t := f.Time.Unix()
	for _, id := range f.EndCalls {
		c := p.running[id]
		if c == nil || c.end <= t {
			continue
		}
		if c.answer > 0 && t >= c.answer {
			c.billsec = int(t - c.answer)
		} else {
			c.billsec = 0
		}
		c.end = t
		p.cut++
		p.push(t, evEnd, c, t)
	}
}
