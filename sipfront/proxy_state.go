package sipfront

import (
	"container/heap"
	"hash/maphash"
	"sync"
	"time"
)

// The proxy's state is split into shards by Call-ID: every message of a
// call (the INVITE, its retransmissions, ACK, CANCEL, the answers, the
// in-dialog requests and their answers, tollgate's own BYE and CANCEL)
// carries the same Call-ID, so one shard holds everything a call needs
// and a message locks only its call's shard. Each shard keeps its timers
// (Timers A, B, C, E, G, the absorb period after a final answer, the
// maximum duration) in a min-heap, so the timer goroutine touches only
// what is due instead of scanning every transaction under one lock.

const nShards = 64

type shard struct {
	mu      sync.Mutex
	server  map[string]*inviteTx // by the caller's branch and sent-by
	client  map[string]*inviteTx // by our branch
	relays  map[string]*relay    // by our branch
	dialogs map[string]*dialog   // by Call-ID
	timers  timerHeap
}

func (p *proxy) initShards() {
	for i := range p.shards {
		sh := &p.shards[i]
		sh.server, sh.client = map[string]*inviteTx{}, map[string]*inviteTx{}
		sh.relays, sh.dialogs = map[string]*relay{}, map[string]*dialog{}
	}
}

// shard returns the shard of a Call-ID.
func (p *proxy) shard(callID string) *shard {
	return &p.shards[maphash.String(p.seed, callID)%nShards]
}

// Adding and removing transactions and dialogs keeps the proxy-wide
// counts the call limit (sip.limits.max_transactions) is checked against.
// Called with the shard's lock held.

func (p *proxy) addServer(sh *shard, tx *inviteTx) {
	sh.server[tx.serverKey] = tx
	p.txCount.Add(1)
}

func (p *proxy) delServer(sh *shard, tx *inviteTx) {
	if sh.server[tx.serverKey] == tx {
		delete(sh.server, tx.serverKey)
		p.txCount.Add(-1)
	}
	if tx.branch != "" && sh.client[tx.branch] == tx {
		delete(sh.client, tx.branch)
	}
}

func (p *proxy) addDialog(sh *shard, d *dialog) {
	sh.dialogs[d.callID] = d
	p.dlgCount.Add(1)
}

func (p *proxy) delDialog(sh *shard, d *dialog) {
	if sh.dialogs[d.callID] == d {
		delete(sh.dialogs, d.callID)
		p.dlgCount.Add(-1)
	}
}

// full reports whether a new call would exceed the transaction limit.
func (p *proxy) full() bool {
	return p.txCount.Load() >= int64(p.maxTx) || p.dlgCount.Load() >= int64(p.maxTx)
}

// timer is one heap entry: when, and for which transaction, relay or
// dialog. An entry is stale (skipped) unless its time is the object's
// due time; an object whose deadline moves later keeps its entry, which
// fires early, finds nothing due and reschedules.
type timer struct {
	at  time.Time
	tx  *inviteTx
	r   *relay
	d   *dialog
	key string // the relay's key
}

type timerHeap []timer

func (h timerHeap) Len() int           { return len(h) }
func (h timerHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h timerHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *timerHeap) Push(x any)        { *h = append(*h, x.(timer)) }
func (h *timerHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = timer{}
	*h = old[:len(old)-1]
	return t
}

// after is just past t: the old scan fired on now.After(deadline).
func after(t time.Time) time.Time { return t.Add(time.Nanosecond) }

func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

// txLimit is when an unanswered forwarded INVITE gives up: Timer B, or C
// after a provisional answer (but no later than maxRing after it was
// sent, however many provisionals came), or B after C once a CANCEL went
// out.
func (p *proxy) txLimit(tx *inviteTx) time.Time {
	limit := tx.sent.Add(p.timerB)
	if tx.provisional {
		limit = earliest(tx.lastProv.Add(timerC), tx.sent.Add(p.maxRing))
	}
	if tx.cancelSent {
		limit = tx.sent.Add(timerC + p.timerB)
	}
	return limit
}

func (p *proxy) txDue(tx *inviteTx) time.Time {
	var t time.Time
	if tx.final == 0 && tx.branch != "" {
		t = earliest(tx.aAt, after(p.txLimit(tx)))
	}
	if tx.final >= 300 && !tx.acked {
		t = earliest(t, tx.gAt)
	}
	if tx.final != 0 {
		t = earliest(t, after(tx.finalAt.Add(p.keepDone)))
	}
	return t
}

func (r *relay) nextDue() time.Time {
	t := after(r.expires)
	if r.own && !r.done {
		t = earliest(t, r.retrans)
	}
	return t
}

func (p *proxy) dialogDue(d *dialog) time.Time {
	switch d.state {
	case ending:
		return after(d.endedAt.Add(p.keepDone))
	case confirmed:
		t := after(d.answered.Add(maxDialogAge))
		if d.maxDur > 0 {
			t = earliest(t, d.answered.Add(time.Duration(d.maxDur)*time.Second))
		}
		return t
	}
	return time.Time{}
}

// schedTx, schedRelay and schedDialog make sure a heap entry fires no
// later than the object's next deadline. Called with the lock held after
// any change that can bring a deadline closer.
func (p *proxy) schedTx(sh *shard, tx *inviteTx) {
	if nd := p.txDue(tx); !nd.IsZero() && (tx.due.IsZero() || nd.Before(tx.due)) {
		tx.due = nd
		heap.Push(&sh.timers, timer{at: nd, tx: tx})
	}
}

func (p *proxy) schedRelay(sh *shard, key string, r *relay) {
	if nd := r.nextDue(); !nd.IsZero() && (r.due.IsZero() || nd.Before(r.due)) {
		r.due = nd
		heap.Push(&sh.timers, timer{at: nd, r: r, key: key})
	}
}

func (p *proxy) schedDialog(sh *shard, d *dialog) {
	if nd := p.dialogDue(d); !nd.IsZero() && (d.due.IsZero() || nd.Before(d.due)) {
		d.due = nd
		heap.Push(&sh.timers, timer{at: nd, d: d})
	}
}

// tickShard runs what is due in one shard at now and returns how many
// timers that was.
func (p *proxy) tickShard(sh *shard, now time.Time, e *effects) int {
	var due []timer
	for len(sh.timers) > 0 && !sh.timers[0].at.After(now) {
		t := heap.Pop(&sh.timers).(timer)
		switch {
		case t.tx != nil && t.tx.due.Equal(t.at):
			t.tx.due = time.Time{}
		case t.r != nil && t.r.due.Equal(t.at):
			t.r.due = time.Time{}
		case t.d != nil && t.d.due.Equal(t.at):
			t.d.due = time.Time{}
		default:
			continue // stale
		}
		due = append(due, t)
	}
	for _, t := range due {
		switch {
		case t.tx != nil:
			if sh.server[t.tx.serverKey] == t.tx {
				p.tickTx(sh, t.tx, now, e)
			}
		case t.r != nil:
			if sh.relays[t.key] == t.r {
				p.tickRelay(sh, t.key, t.r, now, e)
			}
		case t.d != nil:
			if sh.dialogs[t.d.callID] == t.d {
				p.tickDialog(sh, t.d, now, e)
			}
		}
	}
	return len(due)
}

func (p *proxy) tickTx(sh *shard, tx *inviteTx, now time.Time, e *effects) {
	if tx.final == 0 && tx.branch != "" {
		if !tx.aAt.IsZero() && !now.Before(tx.aAt) {
			e.send(tx.out, tx.req) // Timer A
			tx.aIval *= 2
			tx.aAt = now.Add(tx.aIval)
		}
		if now.After(p.txLimit(tx)) {
			code, text := 408, "Request Timeout"
			if tx.cancelled {
				code, text = 487, "Request Terminated"
			} else {
				p.s.stats.TimedOut.Add(1)
			}
			if tx.provisional && !tx.cancelSent {
				tx.cancelled = true
				p.sendCancel(sh, tx, e)
			}
			p.finishTx(tx, restatus(tx.last, code, text), code, now)
			e.send(tx.in, tx.last)
			if d := tx.dlg; d != nil && sh.dialogs[d.callID] == d {
				p.delDialog(sh, d)
				e.event(d.callID, endType(code), now)
			}
		}
	}
	if tx.final >= 300 && !tx.acked && !tx.gAt.IsZero() && !now.Before(tx.gAt) {
		e.send(tx.in, tx.last) // Timer G
		tx.gIval = min(2*tx.gIval, t2)
		tx.gAt = now.Add(tx.gIval)
	}
	if tx.final != 0 && now.Sub(tx.finalAt) > p.keepDone {
		p.delServer(sh, tx)
		return
	}
	p.schedTx(sh, tx)
}

func (p *proxy) tickRelay(sh *shard, key string, r *relay, now time.Time, e *effects) {
	switch {
	case now.After(r.expires):
		delete(sh.relays, key)
		return
	case r.own && !r.done && !r.retrans.IsZero() && !now.Before(r.retrans):
		e.send(r.out, r.req) // Timer E
		r.ival = min(2*r.ival, t2)
		r.retrans = now.Add(r.ival)
	}
	p.schedRelay(sh, key, r)
}

func (p *proxy) tickDialog(sh *shard, d *dialog, now time.Time, e *effects) {
	switch {
	case d.state == ending:
		if now.Sub(d.endedAt) > p.keepDone {
			p.delDialog(sh, d)
			return
		}
	case d.state == confirmed && now.Sub(d.answered) > maxDialogAge:
		// Its end never came through this node: forget it (the engine's
		// lease frees the call's slots on its own).
		p.delDialog(sh, d)
		return
	case d.state == confirmed && d.maxDur > 0 && !now.Before(d.answered.Add(time.Duration(d.maxDur)*time.Second)):
		p.teardown(sh, d, WhyMaxDuration, e)
	}
	p.schedDialog(sh, d)
}

// stateSize counts what the proxy holds (tests).
func (p *proxy) stateSize() (server, client, relays, dialogs, timers int) {
	for i := range p.shards {
		sh := &p.shards[i]
		sh.mu.Lock()
		server += len(sh.server)
		client += len(sh.client)
		relays += len(sh.relays)
		dialogs += len(sh.dialogs)
		timers += len(sh.timers)
		sh.mu.Unlock()
	}
	return
}
