package cli

import (
	"container/heap"
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
	act   *action.Manager
	blk   *blocks.Live
	acts  *action.Live
	clock *eventclock.Clock
	ic    *config.InCallRule
	on    bool
	ctx   context.Context

	h       evHeap
	seq     int
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
}

const (
	evStart uint8 = iota
	evAnswer
	evEnd
)

type rev struct {
	t    int64
	kind uint8
	seq  int
	c    *rcall
	end  int64 // evEnd: the end it was scheduled for (a cut supersedes it)
}

type evHeap []rev

func (h evHeap) Len() int { return len(h) }
func (h evHeap) Less(i, j int) bool {
	if h[i].t != h[j].t {
		return h[i].t < h[j].t
	}
	if h[i].kind != h[j].kind {
		return h[i].kind > h[j].kind // ends before answers before starts at one second
	}
	return h[i].seq < h[j].seq
}
func (h evHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *evHeap) Push(x any)   { *h = append(*h, x.(rev)) }
func (h *evHeap) Pop() any {
	o := *h
	x := o[len(o)-1]
	*h = o[:len(o)-1]
	return x
}

// replayHold is how far behind the latest call end the replay plays: a
// record read later may start up to this much earlier (CDR files are
// written as calls end).
const replayHold = 4 * 3600

func (p *replayer) push(e rev) {
	p.seq++
	e.seq = p.seq
	heap.Push(&p.h, e)
}

// add schedules one record's start, answer and end.
func (p *replayer) add(r *cdr.Record) {
	c := &rcall{rec: *r}
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
	p.push(rev{t: st, kind: evStart, c: c})
	if c.end > p.maxEnd {
		p.maxEnd = c.end
	}
	p.drain(p.maxEnd - replayHold)
}

// drain plays every event before t (all of them when t is the largest).
func (p *replayer) drain(t int64) {
	for len(p.h) > 0 && p.h[0].t < t {
		p.play(heap.Pop(&p.h).(rev))
	}
}

func (p *replayer) finish() { p.drain(1<<62 - 1) }

func (p *replayer) play(e rev) {
	c := e.c
	now := time.Unix(e.t, 0)
	p.clock.Observe(now)
	switch e.kind {
	case evStart:
		p.start(c, now)
	case evAnswer:
		if p.running[c.rec.CallID] == c {
			p.det.Answer(c.rec.CallID, now)
		}
	case evEnd:
		if e.end != c.end || p.running[c.rec.CallID] != c {
			return // superseded by a cut
		}
		delete(p.running, c.rec.CallID)
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
	}
	p.det.Watch(now)
	if e.t >= p.swept+3600 {
		p.swept = e.t
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
	if b := set.Extension(r.Tenant, r.Extension, t); b != nil && (b.Scope != "international" || chargeable) {
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
	dc, err := p.det.Enrich(r)
	if err != nil {
		_ = p.det.Observe(r) // counted as rejected, as live would
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
	p.running[r.CallID] = c
	if p.det.Start(r) != nil {
		delete(p.running, r.CallID)
		delete(p.pending, r.CallID)
		return
	}
	if c.billsec > 0 {
		p.push(rev{t: c.answer, kind: evAnswer, c: c})
	}
	p.push(rev{t: c.end, kind: evEnd, c: c, end: c.end})
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
		p.push(rev{t: t, kind: evEnd, c: c, end: t})
	}
}
