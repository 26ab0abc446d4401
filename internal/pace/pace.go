// Package pace wakes a goroutine that takes a queue in batches, at most
// about once per interval while items arrive and never while none do.
//
// A ticker wakes its goroutine every interval whatever the traffic: on an
// idle server that is the whole of its CPU use, and every wake-up of a
// sleeping thread costs a context switch and the runtime's hand-offs
// (docs/benchmarks.md, issue 17, sip17e). A Pacer is driven by the
// producers instead. The first item after a quiet interval wakes the
// consumer at once; after that, a producer whose item finds the last take
// older than three quarters of the interval wakes it, on the producer's
// own thread, which is awake anyway; a timer, armed by the first item
// after each take and stopped by the next take, wakes it for the last
// items of a burst. No item waits longer than the interval, as with a
// ticker; a steady stream wakes the consumer about once per
// three-quarter interval; nothing runs while nothing arrives.
package pace

import (
	"sync/atomic"
	"time"
)

// Pacer is one queue's waker. Its methods are safe for concurrent use;
// the zero value is not usable (New).
type Pacer struct {
	// C receives a value when the consumer should take the queue.
	C <-chan struct{}

	c       chan struct{}
	every   int64 // the interval, ns
	soon    int64 // a producer wakes the consumer this long after a take, ns
	epoch   time.Time
	last    atomic.Int64 // when the consumer last took the queue, ns since epoch
	pending atomic.Bool  // an item arrived since the last take
	timer   *time.Timer
}

// New returns a Pacer whose items wait at most every.
func New(every time.Duration) *Pacer {
	p := &Pacer{c: make(chan struct{}, 1), every: int64(every), soon: int64(every) * 3 / 4, epoch: time.Now()}
	p.C = p.c
	// Far enough back that the first item wakes the consumer at once.
	p.last.Store(-int64(every))
	p.timer = time.AfterFunc(time.Hour, p.Wake)
	p.timer.Stop()
	return p
}

func (p *Pacer) now() int64 { return int64(time.Since(p.epoch)) }

// Wake asks the consumer to take the queue now (a full batch, a
// barrier). It never blocks.
func (p *Pacer) Wake() {
	select {
	case p.c <- struct{}{}:
	default: // already asked
	}
}

// Added tells the Pacer that a producer queued an item.
func (p *Pacer) Added() {
	if p.pending.Load() {
		// The timer is armed; wake early from this thread once the
		// queue has waited most of the interval.
		if p.now()-p.last.Load() >= p.soon {
			p.Wake()
		}
		return
	}
	if p.pending.Swap(true) {
		return // another producer got there first
	}
	since := p.now() - p.last.Load()
	if since >= p.every {
		p.Wake() // the first item after a quiet interval
		return
	}
	p.timer.Reset(time.Duration(p.every - since))
}

// Taking is called by the consumer right before it takes the queue:
// items queued from then on count for the next take.
func (p *Pacer) Taking() {
	p.last.Store(p.now())
	// Stopped before pending clears: a producer that arms the timer
	// after this take keeps it armed.
	if p.pending.Load() {
		p.timer.Stop()
		p.pending.Store(false)
	}
}

// Stop stops the timer; C receives nothing more from it.
func (p *Pacer) Stop() { p.timer.Stop() }
