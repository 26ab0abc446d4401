package pipeline

import (
	"errors"

	"github.com/tollgate-voip/tollgate/cdr"
	"github.com/tollgate-voip/tollgate/detect"
)

// Feed carries records to the detectors of the node that owns their
// tenant (cluster mode: cluster.Stream). Publish must not block; false
// means the record was dropped (and counted by the feed).
type Feed interface {
	Publish(r cdr.Record, attempt bool) bool
}

// Item is one record handed to Apply.
type Item struct {
	Rec     cdr.Record
	Attempt bool
}

type applyReq struct {
	items []Item
	warm  bool
	done  chan struct{}
}

// forward sends what was queued here to the feed (run goroutine).
func (p *Pipeline) forward(it item) {
	if !p.feed.Publish(it.rec, it.attempt) {
		p.dropped.Add(1)
	}
}

// applied runs one Apply request (run goroutine).
func (p *Pipeline) applied(r applyReq, handle func(item)) {
	defer close(r.done)
	for i := range r.items {
		it := &r.items[i]
		if !r.warm {
			handle(item{rec: it.Rec, attempt: it.Attempt})
			continue
		}
		if err := p.eng.Warm(&it.Rec, it.Attempt); err != nil && !errors.Is(err, detect.ErrDuplicate) {
			p.errs.Add(1)
		}
	}
}

// Apply runs records the feed delivered through this node's detectors, in
// order, and returns once they have been seen (so the feed acknowledges
// only what the detectors saw). With warm set the records rebuild the
// detectors' windows, latches and call-id set and the baseline, but emit
// no findings: another node already acted on them. It returns false when
// the pipeline is closed.
func (p *Pipeline) Apply(items []Item, warm bool) bool {
	r := applyReq{items: items, warm: warm, done: make(chan struct{})}
	select {
	case p.apply <- r:
	case <-p.done:
		return false
	}
	<-r.done
	return true
}
