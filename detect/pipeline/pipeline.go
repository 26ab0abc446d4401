// Package pipeline runs call records through detection in one goroutine:
// CDRs posted to the API or followed from a file, and the screening
// engine's own decisions and call events (through Tee) → baseline and
// detectors → alerts and actions. Submitting never blocks; records that
// do not fit the queue are counted as dropped.
package pipeline

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tollgate-voip/tollgate/action"
	"github.com/tollgate-voip/tollgate/baseline"
	"github.com/tollgate-voip/tollgate/cdr"
	"github.com/tollgate-voip/tollgate/detect"
	"github.com/tollgate-voip/tollgate/engine"
	"github.com/tollgate-voip/tollgate/screen"
	"github.com/tollgate-voip/tollgate/store"
)

// Pipeline is the running detection pipeline.
type Pipeline struct {
	eng     *detect.Engine
	act     *action.Manager
	log     *slog.Logger
	dir     string // archive of CDRs (JSON lines by day); "" = none
	baseF   string
	in      chan item
	done    chan struct{}
	snap    atomic.Pointer[baseline.Snapshot]
	stats   atomic.Pointer[detect.Stats]
	dropped atomic.Int64
	errs    atomic.Int64
	feed    Feed // cluster mode: records go to the shared stream (cluster.go)
	limits  baseline.LiveLimits
	apply   chan applyReq // cluster mode: records the stream delivers

	// tq holds what the screening engine records (tee): run takes it
	// every teeTick, or at once when teeKick items wait (kick), and
	// before anything from in, so that recording a call does not wake
	// the detectors' goroutine for each call. teeIn counts the items
	// queued, teeTaken those taken; forgetAt (under mu) is teeIn at the
	// last Forget, where run applies the forgets among the queued items.
	tq       chan item
	kick     chan struct{}
	teeIn    atomic.Int64
	teeTaken atomic.Int64
	forgetAt int64

	mu   sync.Mutex
	seen map[string]int64 // call ids accepted through Submit, by arrival
	// forget gathers the calls the screening engine stopped waiting for
	// (tee.Forget) until the run goroutine hands them to the detectors;
	// forgetSig wakes it. Kept apart from the queue, where a full queue
	// would drop them and the detectors would keep the calls.
	forget    []string
	forgetSig chan struct{}
}

type item struct {
	rec     cdr.Record
	attempt bool
	// kind: a CDR (0), a call screening let through, at its start
	// (kindStart), its answer (kindAnswer: rec.CallID and rec.Answer) or
	// its end (kindEnd: rec.CallID, End, Duration and Cost; the
	// detectors' running call supplies the rest, detect.Engine.Ended).
	kind uint8
	// barrier, when set, is closed once everything queued before it has
	// been handled (SubmitWait); it carries no record.
	barrier chan struct{}
}

const (
	kindCDR uint8 = iota
	kindStart
	kindAnswer
	kindEnd
)

// Options configures New.
type Options struct {
	Engine  *detect.Engine
	Actions *action.Manager
	Logger  *slog.Logger
	// ArchiveDir keeps every CDR as JSON lines by day, for incident export.
	ArchiveDir string
	// BaselineFile persists the baseline (loaded by the caller, saved here).
	BaselineFile string
	// Feed, when set (cluster mode), carries posted CDRs and the engine's
	// calls to the node owning their tenant instead of this node's
	// detectors; that node hands them back through Apply.
	Feed Feed
}

// New starts the pipeline; Close stops it.
func New(o Options) *Pipeline {
	p := &Pipeline{eng: o.Engine, act: o.Actions, log: o.Logger, dir: o.ArchiveDir, baseF: o.BaselineFile,
		in: make(chan item, 65536), tq: make(chan item, 65536), kick: make(chan struct{}, 1),
		done: make(chan struct{}), seen: map[string]int64{},
		forgetSig: make(chan struct{}, 1)}
	if p.log == nil {
		p.log = slog.Default()
	}
	p.feed, p.apply = o.Feed, make(chan applyReq)
	p.snap.Store(p.eng.Baseline().Snapshot(time.Now()))
	p.stats.Store(&detect.Stats{})
	go p.run()
	return p
}

// LoadBaseline reads a persisted baseline, or returns an empty one.
func LoadBaseline(path string) (*baseline.Learner, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return baseline.New(), nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return baseline.Load(f)
}

// Submit queues records; it returns how many were new and how many were
// call ids already submitted (ignored: the API is idempotent).
func (p *Pipeline) Submit(recs []cdr.Record) (accepted, duplicates int) {
	fresh, duplicates := p.fresh(recs)
	for _, r := range fresh {
		select {
		case p.in <- item{rec: r}:
			accepted++
		default:
			p.dropped.Add(1)
		}
	}
	return accepted, duplicates
}

// SubmitWait queues records like Submit but waits for room in the queue
// instead of dropping, and returns once the detectors have judged them
// and their actions are in force (or ctx ends). A simulator driving a
// server in simulated time uses it, so that the next call it screens
// meets what the earlier ones triggered.
func (p *Pipeline) SubmitWait(ctx context.Context, recs []cdr.Record) (accepted, duplicates int, err error) {
	accepted, duplicates, err = p.Enqueue(ctx, recs)
	if err != nil {
		return accepted, duplicates, err
	}
	b := make(chan struct{})
	select {
	case p.in <- item{barrier: b}:
	case <-ctx.Done():
		return accepted, duplicates, ctx.Err()
	}
	select {
	case <-b:
		return accepted, duplicates, nil
	case <-ctx.Done():
		return accepted, duplicates, ctx.Err()
	}
}

// Enqueue queues records like Submit but waits for room in the queue
// instead of dropping them (a followed file can wait; an HTTP client
// should not).
func (p *Pipeline) Enqueue(ctx context.Context, recs []cdr.Record) (accepted, duplicates int, err error) {
	fresh, duplicates := p.fresh(recs)
	for _, r := range fresh {
		select {
		case p.in <- item{rec: r}:
			accepted++
		case <-ctx.Done():
			p.dropped.Add(int64(len(fresh) - accepted))
			return accepted, duplicates, ctx.Err()
		}
	}
	return accepted, duplicates, nil
}

// fresh returns the records whose call ids were not submitted before and
// marks them; a screened call whose CDR is posted is no longer awaited
// from the engine's call events (tee.Event).
func (p *Pipeline) fresh(recs []cdr.Record) (fresh []cdr.Record, duplicates int) {
	now := time.Now().Unix()
	p.mu.Lock()
	if len(p.seen) > 1<<20 {
		for id, t := range p.seen {
			if t < now-2*86400 {
				delete(p.seen, id)
			}
		}
	}
	fresh = recs[:0:0]
	for i := range recs {
		if _, ok := p.seen[recs[i].CallID]; ok {
			duplicates++
			continue
		}
		p.seen[recs[i].CallID] = now
		fresh = append(fresh, recs[i])
	}
	p.mu.Unlock()
	return fresh, duplicates
}

func (p *Pipeline) run() {
	defer close(p.done)
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	save := time.NewTicker(5 * time.Minute)
	defer save.Stop()
	// Action records another node's detectors wrote (a shared action
	// store) reach this node's screening within a second, like blocks.
	reread := time.NewTicker(time.Second)
	defer reread.Stop()
	var arch *archive
	if p.dir != "" {
		arch = &archive{dir: p.dir}
		defer arch.close()
	}
	ctx := context.Background()
	// On an event-only clock (a server driven in event time,
	// cli.Options.EventTime) the clock stands still between events: the
	// periodic work that follows it runs as the items move event time
	// (kill switches are lifted once a minute of event time), never on
	// the wall-clock tickers, so that a drive gives the same verdicts on
	// every run.
	eventOnly := p.act != nil && p.act.Clock.EventOnly()
	var nextLift time.Time
	handle := func(it item) {
		if it.barrier != nil {
			// A driver waiting also waits for the calls forgotten so far.
			p.forgetNow()
			// What a driver waits for includes the learned limits its next
			// screened calls meet.
			p.limits.Store(p.eng.Limits(p.eventNow(it)))
			st := p.eng.Stats()
			p.stats.Store(&st)
			close(it.barrier)
			return
		}
		if p.act != nil && p.act.Clock != nil {
			// A CDR is written when its call ends: its end moves the clock.
			p.act.Clock.Observe(it.rec.Start.Add(time.Duration(max(it.rec.Duration, it.rec.Billsec)) * time.Second))
		}
		var err error
		switch {
		case it.kind == kindStart:
			err = p.eng.Start(&it.rec)
		case it.kind == kindAnswer:
			p.eng.Answer(it.rec.CallID, it.rec.Answer)
		case it.attempt:
			err = p.eng.Attempt(&it.rec)
		default:
			err = p.eng.Observe(&it.rec)
			if err == nil && arch != nil {
				arch.write(&it.rec, p.log)
			}
		}
		if err != nil && !errors.Is(err, detect.ErrDuplicate) {
			p.errs.Add(1)
		}
		// Running calls are watched as event time moves.
		now := p.eventNow(it)
		p.eng.Watch(now)
		if eventOnly && p.act.Blocks != nil && !now.Before(nextLift) {
			nextLift = now.Truncate(time.Minute).Add(time.Minute)
			if err := p.act.Sweep(ctx, now); err != nil {
				p.log.Error("detection: lifting expired kill switches", "err", err)
			}
		}
	}
	take := func(it item) {
		if it.kind == kindEnd {
			// The CDR of a call let through, from its end event and
			// the detectors' running call (none: not judged).
			r, ok := p.eng.Ended(it.rec.CallID, it.rec.End, it.rec.Duration, it.rec.Cost)
			if !ok {
				return
			}
			it = item{rec: r}
		}
		if p.feed != nil && it.rec.CallID != "" && it.kind == kindCDR {
			p.forward(it)
			return
		}
		handle(it)
	}
	// drainTee takes what the engine recorded so far (not what arrives
	// while it runs: a steady stream must not starve the rest), applying
	// pending forgets after the items queued before them and before the
	// rest: a call's end after its forget makes no CDR.
	var taken int64
	takeTo := func(upto int64) {
		for taken < upto {
			select {
			case it := <-p.tq:
				take(it)
				taken++
			default:
				upto = taken
			}
		}
		p.teeTaken.Store(taken)
	}
	drainTee := func() {
		limit := taken + int64(len(p.tq))
		p.mu.Lock()
		at, pending := p.forgetAt, len(p.forget) > 0
		p.mu.Unlock()
		if pending && at <= limit {
			takeTo(at)
			p.forgetNow()
		}
		takeTo(limit)
	}
	teeT := time.NewTicker(teeTick)
	defer teeT.Stop()
	for {
		select {
		case it, ok := <-p.in:
			// What the engine recorded before goes first: a barrier
			// (SubmitWait) waits for it too.
			drainTee()
			if !ok {
				p.publish()
				p.saveBaseline()
				return
			}
			take(it)
		case <-teeT.C:
			drainTee()
		case <-p.kick:
			drainTee()
		case r := <-p.apply:
			p.applied(r, handle)
		case <-p.forgetSig:
			drainTee() // the forgets at their place among the queued items
			p.forgetNow()
		case <-tick.C:
			if eventOnly {
				// Only what the API shows: the rest follows the items.
				p.publishView()
				if arch != nil {
					arch.flush()
				}
				continue
			}
			// An idle stream: the running calls are still watched, on the
			// event clock.
			p.eng.Watch(p.eventNow(item{}))
			p.publish()
			if arch != nil {
				arch.flush()
			}
			if p.act != nil && p.act.Blocks != nil {
				if err := p.act.Sweep(ctx, p.act.EventNow()); err != nil {
					p.log.Error("detection: lifting expired kill switches", "err", err)
				}
			}
		case <-reread.C:
			if eventOnly {
				continue // one node: its own actions are in force as it takes them
			}
			if a := p.act; a != nil && a.Actions != nil && a.ActionLive != nil {
				if err := action.Refresh(ctx, a.Actions, a.ActionLive, a.ListTime()); err != nil {
					p.log.Error("detection: re-reading actions", "err", err)
				}
			}
		case <-save.C:
			p.saveBaseline()
		}
	}
}

// forgetNow hands the calls gathered by tee.Forget to the detectors (run
// goroutine).
func (p *Pipeline) forgetNow() {
	p.mu.Lock()
	ids := p.forget
	p.forget = nil
	p.mu.Unlock()
	if len(ids) > 0 {
		p.eng.Forget(ids)
	}
}

// eventNow is the event clock's now (the item's own time without one).
func (p *Pipeline) eventNow(it item) time.Time {
	if p.act != nil && p.act.Clock != nil {
		return p.act.Clock.Now()
	}
	if it.kind == kindAnswer {
		return it.rec.Answer
	}
	return it.rec.Start
}

func (p *Pipeline) publish() {
	p.publishView()
	p.limits.Store(p.eng.Limits(p.eventNow(item{})))
}

// publishView refreshes what the API shows (baseline snapshot and stats),
// not what screening reads.
func (p *Pipeline) publishView() {
	p.snap.Store(p.eng.Baseline().Snapshot(time.Now()))
	st := p.eng.Stats()
	p.stats.Store(&st)
}

func (p *Pipeline) saveBaseline() {
	if p.baseF == "" {
		return
	}
	tmp := p.baseF + ".tmp"
	f, err := os.Create(tmp)
	if err == nil {
		err = p.eng.Baseline().Save(f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err == nil {
		err = os.Rename(tmp, p.baseF)
	}
	if err != nil {
		p.log.Error("detection: saving the baseline", "err", err)
	}
}

// Sink returns the findings handler: alerts and actions.
func Sink(act *action.Manager, log *slog.Logger) detect.Emit {
	return func(f detect.Finding) {
		if _, err := act.Handle(context.Background(), f); err != nil {
			log.Error("detection: carrying out an action", "err", err, "detector", f.Detector)
		}
	}
}

// Close drains the queue, saves the baseline and stops.
func (p *Pipeline) Close() {
	close(p.in)
	<-p.done
}

// Limits is the learned-normals table screening's rate limits read
// (refreshed every 5 s and whenever SubmitWait returns).
func (p *Pipeline) Limits() *baseline.LiveLimits { return &p.limits }

// Baseline returns the latest snapshot (immutable; refreshed every 5 s).
func (p *Pipeline) Baseline() *baseline.Snapshot { return p.snap.Load() }

// Stats is what the pipeline reports.
type Stats struct {
	detect.Stats
	Queued  int   `json:"queued"`
	Dropped int64 `json:"dropped"`
	Errors  int64 `json:"errors"`
}

// Stats returns the counts as of the last publish.
func (p *Pipeline) Stats() Stats {
	return Stats{Stats: *p.stats.Load(), Queued: len(p.in) + len(p.tq), Dropped: p.dropped.Load(), Errors: p.errs.Load()}
}

// Tee wraps the screening engine's recorder: decisions and call events
// still go to next, and every screened call also reaches the detectors —
// refused ones at once as attempts, the others as a CDR when they end.
func (p *Pipeline) Tee(next engine.Recorder) engine.Recorder { return &tee{p: p, next: next} }

type tee struct {
	p    *Pipeline
	next engine.Recorder
}

func (t *tee) Decision(d store.Decision) bool {
	ok := t.next.Decision(d)
	dir, _ := screen.ParseDirection(d.Direction)
	if d.Enforced == "reject" {
		r := cdr.Record{CallID: "attempt:" + d.CallID, Tenant: d.Tenant, Extension: d.Extension, Caller: d.Caller, Callee: d.Callee,
			Direction: dir, SourceIP: d.SourceIP, Start: d.Time, Disposition: cdr.Failed}
		t.p.queue(item{rec: r, attempt: true})
		return ok
	}
	// Let through: the detectors judge it now, at its start.
	r := cdr.Record{CallID: d.CallID, Tenant: d.Tenant, Extension: d.Extension, Caller: d.Caller, Callee: d.Callee,
		Direction: dir, SourceIP: d.SourceIP, Start: d.Time}
	t.p.queue(item{rec: r, kind: kindStart})
	return ok
}

// queue puts a recorded item on tq without blocking (counted as dropped
// when full) and kicks run once teeKick items wait.
func (p *Pipeline) queue(it item) {
	select {
	case p.tq <- it:
		p.teeIn.Add(1)
		if len(p.tq) >= teeKick {
			select {
			case p.kick <- struct{}{}:
			default:
			}
		}
	default:
		p.dropped.Add(1)
	}
}

// What the engine records reaches the detectors within teeTick (plus
// the detectors' own time), or as soon as teeKick items wait: at most
// 10 ms later than with a wake-up per call, for a wake-up per tick
// instead of one per call (docs/benchmarks.md, issue 17, sip17c).
const (
	teeTick = 10 * time.Millisecond
	teeKick = 256
)

// Forget implements engine.Forgetter: the calls the engine stopped
// waiting for (no event within server.call_setup_s, or a lease run out)
// are no longer awaited here either: the detectors forget them.
func (t *tee) Forget(callIDs []string) {
	t.p.mu.Lock()
	t.p.forgetAt = t.p.teeIn.Load()
	if len(t.p.forget) < forgetMax {
		t.p.forget = append(t.p.forget, callIDs...)
	} else {
		t.p.dropped.Add(int64(len(callIDs)))
	}
	t.p.mu.Unlock()
	select {
	case t.p.forgetSig <- struct{}{}:
	default: // already signalled
	}
}

// forgetMax bounds the calls waiting to be forgotten by the detectors
// (a stuck run goroutine must not grow it forever).
const forgetMax = 1 << 22

var _ engine.Forgetter = (*tee)(nil)

func (t *tee) Event(e store.CallEvent) bool {
	ok := t.next.Event(e)
	if e.Type == "answer" {
		t.p.queue(item{rec: cdr.Record{CallID: e.CallID, Answer: e.Time}, kind: kindAnswer})
		return ok
	}
	if e.Type != "end" {
		return ok
	}
	// Its CDR, unless one was posted: built by the run goroutine from the
	// detectors' running call (the one record kept per call let through).
	t.p.mu.Lock()
	_, posted := t.p.seen[e.CallID]
	t.p.mu.Unlock()
	if posted {
		return ok
	}
	t.p.queue(item{rec: cdr.Record{CallID: e.CallID, End: e.Time, Duration: e.Duration, Cost: e.Cost}, kind: kindEnd})
	return ok
}

// archive appends CDRs as JSON lines to DIR/YYYY-MM-DD.jsonl (UTC day of
// the call's start).
type archive struct {
	dir  string
	day  string
	f    *os.File
	w    *bufio.Writer
	fail bool
}

// Line is one archived CDR.
type Line struct {
	cdr.Record
	Direction string `json:"direction"`
}

func (a *archive) write(r *cdr.Record, log *slog.Logger) {
	day := r.Start.UTC().Format("2006-01-02")
	if day != a.day || a.f == nil {
		a.close()
		if err := os.MkdirAll(a.dir, 0o750); err == nil {
			a.f, err = os.OpenFile(filepath.Join(a.dir, day+".jsonl"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o640)
			if err != nil {
				if !a.fail {
					log.Error("detection: CDR archive", "err", err)
				}
				a.fail = true
				return
			}
		}
		a.day, a.w = day, bufio.NewWriterSize(a.f, 64<<10)
	}
	b, _ := json.Marshal(Line{Record: *r, Direction: r.Direction.String()})
	a.w.Write(append(b, '\n'))
}

func (a *archive) flush() {
	if a.w != nil {
		a.w.Flush()
	}
}

func (a *archive) close() {
	if a.f != nil {
		a.flush()
		a.f.Close()
		a.f, a.w = nil, nil
	}
}
