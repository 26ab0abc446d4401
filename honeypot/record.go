package honeypot

import (
	"context"
	"log/slog"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/tollgate-voip/tollgate/attack"
	"github.com/tollgate-voip/tollgate/reputation"
)

// recorder writes events in batches and folds them into reputation
// entries, off the request path. Its queue is bounded: when the store
// cannot keep up, events are dropped and counted, never buffered without
// limit.
type recorder struct {
	o        Options
	log      *slog.Logger
	queue    chan queued
	recorded atomic.Int64
	dropped  atomic.Int64
	flushed  chan struct{}

	protected atomic.Int64 // sightings of protected numbers, not learned
	trusted   atomic.Int64 // events from trusted sources, not learned from
}

type queued struct {
	ev Event
	ua string
}

const (
	recorderQueue = 2048
	batchSize     = 256
	maxPending    = 10000 // distinct reputation entries folded between flushes
)

func newRecorder(o Options, log *slog.Logger) *recorder {
	return &recorder{o: o, log: log, queue: make(chan queued, recorderQueue), flushed: make(chan struct{}, 1)}
}

func (r *recorder) counts() (recorded, dropped int64) { return r.recorded.Load(), r.dropped.Load() }

func (r *recorder) add(ev Event, ua string) {
	select {
	case r.queue <- queued{ev, ua}:
	default:
		r.dropped.Add(1)
	}
}

type repKey struct{ kind, value string }

func (r *recorder) run(ctx context.Context) {
	batch := make([]Event, 0, batchSize)
	pending := map[repKey]*reputation.Entry{}
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	lastRep := time.Now()
	flush := func(final bool) {
		if len(batch) > 0 && r.o.Events != nil {
			wctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if err := r.o.Events.AppendEvents(wctx, batch); err != nil {
				r.dropped.Add(int64(len(batch)))
				r.log.Error("honeypot: recording events", "err", err, "events", len(batch))
			} else {
				r.recorded.Add(int64(len(batch)))
			}
			cancel()
		}
		batch = batch[:0]
		// Sightings are folded for a second before they are written, so a
		// flood costs one transaction a second, not one per request.
		if !final && time.Since(lastRep) < time.Second {
			return
		}
		lastRep = time.Now()
		if r.o.Reputation != nil && len(pending) > 0 {
			wctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if bu, ok := r.o.Reputation.(reputation.BatchUpserter); ok {
				es := make([]reputation.Entry, 0, len(pending))
				for _, e := range pending {
					es = append(es, *e)
				}
				if err := bu.UpsertBatch(wctx, es); err != nil {
					r.log.Error("honeypot: reputation", "err", err, "entries", len(es))
				}
			} else {
				for _, e := range pending {
					if _, err := r.o.Reputation.Upsert(wctx, *e); err != nil {
						r.log.Error("honeypot: reputation", "err", err, "kind", e.Kind, "value", e.Value)
					}
				}
			}
			cancel()
		}
		clear(pending)
		select {
		case r.flushed <- struct{}{}:
		default:
		}
	}
	for {
		select {
		case <-ctx.Done():
			// Drain what is queued, then stop.
			for {
				select {
				case q := <-r.queue:
					batch = append(batch, q.ev)
					r.foldSafe(pending, q)
					if len(batch) >= batchSize {
						flush(false)
					}
				default:
					flush(true)
					return
				}
			}
		case q := <-r.queue:
			batch = append(batch, q.ev)
			r.foldSafe(pending, q)
			if len(batch) >= batchSize {
				flush(false)
			}
		case <-tick.C:
			flush(false)
		}
	}
}

// fold turns an event into reputation sightings: the source address
// (anyone talking to a decoy is hostile), a scanner User-Agent as a
// fingerprint, and the E.164 number of every call attempt, suspected
// until proven sightings confirm it (see Learning; an ACK event is such
// a proof). A trusted source teaches nothing: its traffic is the
// operator's own, or forged in its name.
func (r *recorder) fold(pending map[repKey]*reputation.Entry, q queued) {
	ev := q.ev
	if ev.SourceIP == "" || ev.Kind == EvHangup || ev.Kind == EvDTMF {
		return
	}
	src, err := netip.ParseAddr(ev.SourceIP)
	if err != nil {
		return
	}
	src = src.Unmap()
	if r.o.Trusted != nil && r.o.Trusted(src) {
		r.trusted.Add(1)
		return
	}
	if ev.Kind == EvAck {
		if ev.E164 != "" {
			r.learn(pending, ev, src, true)
		}
		return
	}
	score, why := 50, "probed the honeypot ("+ev.Kind+")"
	switch ev.Kind {
	case EvRegisterAuth, EvRegisterOK:
		score, why = 80, "guessed credentials at the honeypot"
	case EvInvite, EvBusy:
		score, why = 90, "placed a call through the honeypot"
	}
	scanner := attack.ScannerUA(q.ua, r.o.ScannerUAs)
	if scanner {
		score = max(score, 80)
	}
	put := func(kind, value string, score int, why string, ttl time.Duration) {
		k := repKey{kind, value}
		if e := pending[k]; e != nil {
			e.Hits++
			e.LastSeen = ev.Time
			if score > e.Score {
				e.Score, e.Reason = score, why
			}
			return
		}
		if len(pending) >= maxPending {
			return
		}
		pending[k] = &reputation.Entry{Kind: kind, Value: value, Source: reputation.SourceHoneypot, Reason: why,
			FirstSeen: ev.Time, LastSeen: ev.Time, Hits: 1, Score: score, Expires: ev.Time.Add(ttl)}
	}
	put(reputation.KindIP, src.String(), score, why, r.o.IPTTL)
	if scanner {
		put(reputation.KindUA, lower(q.ua), 90, "scanner User-Agent seen at the honeypot", r.o.IPTTL)
	}
	if ev.E164 != "" && (ev.Kind == EvInvite || ev.Kind == EvBusy) {
		// Over TCP the handshake already proved the source address.
		r.learn(pending, ev, src, ev.Transport == "tcp")
	}
}

func lower(s string) string {
	b := []byte(truncate(s, 256))
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 32
		}
	}
	return string(b)
}
