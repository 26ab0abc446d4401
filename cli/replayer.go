package cli

import (
	"context"
	"net/netip"
	"time"
	"unsafe"

	"github.com/tollgate-voip/tollgate/action"
	"github.com/tollgate-voip/tollgate/blocks"
	"github.com/tollgate-voip/tollgate/cdr"
	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/detect"
	"github.com/tollgate-voip/tollgate/eventclock"
	"github.com/tollgate-voip/tollgate/internal/prefetch"
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
	tally *tally
	act   *action.Manager
	blk   *blocks.Live
	acts  *action.Live
	clock *eventclock.Clock
	ic    *config.InCallRule
	on    bool
	ctx   context.Context

	sq   startQueue // the parsing goroutine's
	h    evHeap     // answers and ends
	seq  uint64
	free []*rcall // ended calls, reused
	// running holds the running calls by their id's hash (the engine's
	// HashID, computed by the parsing goroutine), calls of one hash
	// chained by hnext: a look-up hashes one word, not the id.
	running map[uint64]*rcall
	swept   int64

	flagged  map[string]bool
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
	idh     uint64          // its id's hash (detect.Engine.HashID)
	hnext   *rcall          // the next running call of the same hash
	gen     uint32          // bumped when the rcall is reused: older events skip it
	up      bool            // running: p.runningCall(rec.CallID) == this call
	pending bool            // flagged while running: its cost is added at its end
}

const (
	evStart uint8 = iota
	evAnswer
	evEnd
)

// rev is one event of a call. Events play in time order; at one second
// ends before answers before starts, then in the order they were pushed
// (the entry's k packs the kind and that order).
type rev = tentry[revCall]

// revCall is what an event carries: its call, and the generation and
// (evEnd) the end it was scheduled for (a cut supersedes it).
type revCall struct {
	c   *rcall
	end int64
	gen uint32 // c.gen when pushed
}

// evKind is the kind an event's k packs: (2-kind)<<56 | push sequence.
func evKind(k uint64) uint8 { return uint8(2 - k>>56) }

// evHeap holds the queued answers and ends.
type evHeap = heap4[revCall]

// tentry is an entry of heap4: ordered by time t, then by k (an order
// among entries of one second), carrying v.
type tentry[V any] struct {
	t int64
	k uint64
	v V
}

func (a *tentry[V]) before(b *tentry[V]) bool {
	return a.t < b.t || a.t == b.t && a.k < b.k
}

// heap4 is a 4-ary min-heap of entries (typed: no boxing per push;
// shallower than a binary heap, and a node's children share cache lines).
// The replay keeps two: its answers and ends (evHeap) and the parsing
// goroutine's held starts (sheap).
type heap4[V any] []tentry[V]

func (h *heap4[V]) push(e tentry[V]) {
	*h = append(*h, e)
	q := *h
	// A hole moves up from the end: parents move down into it, e goes in
	// once (no swaps).
	i := len(q) - 1
	for i > 0 {
		j := (i - 1) / 4
		if !e.before(&q[j]) {
			break
		}
		q[i] = q[j]
		i = j
	}
	q[i] = e
}

// pop removes the least entry. The hole it leaves at the root moves down
// along the least children to a leaf, and the last entry goes in there
// and moves up as far as it must (Floyd's bottom-up order: the last entry
// usually belongs near the bottom, so this compares about half as often
// as sifting it down from the root). Entries are all distinct in (t, k),
// so the order of pops is that of any heap.
func (h *heap4[V]) pop() tentry[V] {
	q := *h
	top := q[0]
	n := len(q) - 1
	last := q[n]
	q[n] = tentry[V]{} // let its pointers go
	q = q[:n]
	*h = q
	if n == 0 {
		return top
	}
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
		q[i] = q[m]
		i = m
	}
	for i > 0 {
		j := (i - 1) / 4
		if !last.before(&q[j]) {
			break
		}
		q[i] = q[j]
		i = j
	}
	q[i] = last
	return top
}

// replayHold is how far behind the latest call end the replay plays: a
// record read later may start up to this much earlier (CDR files are
// written as calls end).
const replayHold = 4 * 3600

func (p *replayer) push(t int64, kind uint8, c *rcall, end int64) {
	p.seq++
	p.h.push(rev{t: t, k: uint64(2-kind)<<56 | p.seq, v: revCall{c: c, end: end, gen: c.gen}})
}

// pstart is a call's start as the parsing goroutine hands it over: the
// record, its far end looked up, and its times.
type pstart struct {
	rec             cdr.Record
	num             detect.Resolved
	idh             uint64 // the id's detect.Engine.HashID
	st, answer, end int64
	billsec         int
}

// prefetch hints what playing the start will read first: the record, its
// strings (one allocation when read from CSV), and its far end's and
// extension's entries. The parsing goroutine wrote them, often thousands
// of records before the start is played; the next start's hint is given
// while the current one plays, so their loads do not wait for memory.
func (s *pstart) prefetch() {
	prefetch.Object(unsafe.Pointer(s), unsafe.Sizeof(*s))
	prefetch.String(s.rec.CallID, 192)
	s.num.Prefetch()
}

// prefetch hints what playing c's next event reads first (pstart.prefetch).
func (c *rcall) prefetch() {
	prefetch.Object(unsafe.Pointer(c), unsafe.Sizeof(*c))
	prefetch.String(c.rec.CallID, 192)
}

// startQueue orders the calls' starts on the parsing goroutine: records
// wait in it until the latest end read, less replayHold, passes their
// start, as they would in the event queue. It hands them over in start
// order (ties in reading order) with marks saying how far event time may
// be played after them; the detectors' goroutine merges them with its
// own queue of answers and ends (at one second ends and answers play
// before starts, so a start never needs to wait in that queue). It is
// owned by one parsing goroutine at a time (files are read one after
// the other).
type startQueue struct {
	chunks [][]pstart // records by slot (chunks never move: the other goroutine reads them)
	free   []int32
	h      sheap
	seq    uint64
	maxEnd int64
}

// sheap holds the starts: by time, then reading order (k), each entry
// naming its slot.
type sheap = heap4[int32]

// chunkBits is log2 of the records in one chunk of startQueue.
const chunkBits = 10

// slot returns a free slot to read a record into.
func (q *startQueue) slot() int32 {
	if n := len(q.free); n > 0 {
		i := q.free[n-1]
		q.free = q.free[:n-1]
		return i
	}
	i := int32(len(q.chunks)) << chunkBits
	q.chunks = append(q.chunks, make([]pstart, 1<<chunkBits))
	for j := int32(1<<chunkBits) - 1; j > 0; j-- {
		q.free = append(q.free, i+j)
	}
	return i
}

// at is slot i's record.
func (q *startQueue) at(i int32) *pstart { return &q.chunks[i>>chunkBits][i&(1<<chunkBits-1)] }

// unhold frees slot i (its start was played).
func (q *startQueue) unhold(i int32) {
	*q.at(i) = pstart{}
	q.free = append(q.free, i)
}

// hold queues the record read into slot i (its num already set) and
// returns how far event time may now be played.
func (q *startQueue) hold(i int32) int64 {
	s := q.at(i)
	r := &s.rec
	s.st = r.Start.Unix()
	s.end = s.st + int64(max(r.Duration, r.Billsec))
	s.billsec = r.Billsec
	s.answer = 0
	if r.Billsec > 0 {
		s.answer = s.end - int64(r.Billsec)
		if !r.Answer.IsZero() {
			s.answer = r.Answer.Unix()
		}
	}
	q.seq++
	q.h.push(tentry[int32]{t: s.st, k: q.seq, v: i})
	if s.end > q.maxEnd {
		q.maxEnd = s.end
	}
	return q.maxEnd - replayHold
}

// release appends the starts before t, in order, to b; they stay held
// until the batch comes back (unheld).
func (q *startQueue) release(t int64, b *startBatch) {
	for len(q.h) > 0 && q.h[0].t < t {
		i := q.h.pop().v
		b.slots = append(b.slots, i)
		b.starts = append(b.starts, q.at(i))
	}
}

// startBatch is what the parsing goroutine hands over at once: starts in
// order (held by the startQueue; the detectors' goroutine only reads them
// until the batch comes back), and marks after them.
type startBatch struct {
	tallied []tallied // on its way back: calls the tally noted
	starts  []*pstart
	slots   []int32
	marks   []smark
}

// smark: once the first n starts of the batch are queued, play every
// event before t.
type smark struct {
	n int
	t int64
}

// play plays a batch: its starts merged, at each mark, with the queued
// answers and ends.
func (p *replayer) playBatch(b *startBatch) {
	i := 0
	for _, m := range b.marks {
		p.drain(b.starts[i:m.n], m.t)
		i = m.n
	}
}

// unheld frees the slots of a batch played.
func (q *startQueue) unheld(b *startBatch) {
	for _, i := range b.slots {
		q.unhold(i)
	}
	clear(b.starts)
	b.starts, b.slots, b.marks = b.starts[:0], b.slots[:0], b.marks[:0]
}

// drain plays every event before t (all of them when t is the largest):
// the queued answers and ends merged with starts, which are in order and
// all before t.
func (p *replayer) drain(starts []*pstart, t int64) {
	i := 0
	for {
		q := len(p.h) > 0 && p.h[0].t < t
		if i < len(starts) && (!q || starts[i].st < p.h[0].t) {
			// At one second, answers and ends before starts.
			if i+1 < len(starts) {
				starts[i+1].prefetch()
			}
			p.playStart(starts[i])
			i++
			continue
		}
		if !q {
			return
		}
		e := p.h.pop()
		if len(p.h) > 0 {
			p.h[0].v.c.prefetch()
		}
		if e.v.gen == e.v.c.gen {
			p.play(&e)
			continue
		}
		// The call ended and its rcall was reused: play what the event
		// still does (it moves the clock; an answer is a moment to watch).
		now := time.Unix(e.t, 0)
		p.clock.Observe(now)
		if evKind(e.k) == evAnswer {
			p.tick(e.t, now)
		}
	}
}

// finish plays the starts still held and every queued event.
func (p *replayer) finish() {
	b := &startBatch{}
	p.sq.release(1<<62-1, b)
	p.drain(b.starts, 1<<62-1)
	p.sq.unheld(b)
}

// playStart takes a start off the parsing goroutine and plays it.
func (p *replayer) playStart(s *pstart) {
	var c *rcall
	if n := len(p.free); n > 0 {
		c = p.free[n-1]
		p.free = p.free[:n-1]
		*c = rcall{rec: s.rec, num: s.num, idh: s.idh, gen: c.gen + 1}
	} else {
		c = &rcall{rec: s.rec, num: s.num, idh: s.idh}
	}
	c.end, c.answer, c.billsec = s.end, s.answer, s.billsec
	now := time.Unix(s.st, 0)
	p.clock.Observe(now)
	p.start(c, now)
	p.tick(s.st, now)
}

func (p *replayer) play(e *rev) {
	c := e.v.c
	now := time.Unix(e.t, 0)
	p.clock.Observe(now)
	switch evKind(e.k) {
	case evAnswer:
		if c.up {
			p.det.Answer(c.rec.CallID, now)
			// The detectors' dialog timer, as live answers give it
			// (max_duration_s): the call ends when the watch judges it
			// long.
			if at := p.det.LongAt(c.rec.CallID).Unix(); at > e.t && at < c.end {
				c.billsec = int(at - c.answer)
				c.end = at
				p.cut++
				p.push(at, evEnd, c, at)
			}
		}
	case evEnd:
		if e.v.end != c.end || !c.up {
			return // superseded by a cut
		}
		p.setDown(c)
		r := &c.rec
		if c.billsec < r.Billsec { // cut: billed up to the cut
			if r.Billsec > 0 && r.Cost > 0 {
				r.Cost = r.Cost * float64(c.billsec) / float64(r.Billsec)
			}
			r.Billsec = c.billsec
			r.Duration = int(c.end - r.Start.Unix())
			r.End = time.Unix(c.end, 0).UTC()
		}
		_ = p.det.ObserveID(r, c.idh)
		if c.pending {
			c.pending = false
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
	dc, err := p.det.EnrichResolvedID(r, c.num, c.idh)
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
		p.setDown(c)
		c.pending = false
		p.recycle(c)
		return
	}
	if c.billsec > 0 {
		p.push(c.answer, evAnswer, c, 0)
	}
	p.push(c.end, evEnd, c, c.end)
}

// runningCall is the running call of an id, or nil.
func (p *replayer) runningCall(id string) *rcall { return p.callOf(p.det.HashID(id), id) }

// callOf is the running call of id, whose hash is h, or nil.
func (p *replayer) callOf(h uint64, id string) *rcall {
	for c := p.running[h]; c != nil; c = c.hnext {
		if c.rec.CallID == id {
			return c
		}
	}
	return nil
}

// setUp makes c the running call of its id.
func (p *replayer) setUp(c *rcall) {
	head := p.running[c.idh]
	for old := head; old != nil; old = old.hnext {
		if old.rec.CallID == c.rec.CallID {
			p.setDown(old)
			// A flag raised on the id while it ran stays with the id.
			c.pending, old.pending = old.pending, false
			head = p.running[c.idh]
			break
		}
	}
	c.hnext = head
	p.running[c.idh] = c
	c.up = true
}

// setDown: c, running, ends (c.up means c is in its hash's chain).
func (p *replayer) setDown(c *rcall) {
	head := p.running[c.idh]
	if head == c {
		if c.hnext == nil {
			delete(p.running, c.idh)
		} else {
			p.running[c.idh] = c.hnext
		}
	} else {
		for x := head; x != nil; x = x.hnext {
			if x.hnext == c {
				x.hnext = c.hnext
				break
			}
		}
	}
	c.hnext = nil
	c.up = false
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
		if c := p.runningCall(id); c != nil {
			c.pending = true
		} else if cost, ok := p.det.CostOf(id); ok {
			p.leaked += cost
		}
	}
	_, _ = p.act.Handle(p.ctx, f)
	t := f.Time.Unix()
	for _, id := range f.EndCalls {
		c := p.runningCall(id)
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
