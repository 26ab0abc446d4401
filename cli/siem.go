package cli

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/engine"
	"github.com/tollgate-voip/tollgate/metrics"
	"github.com/tollgate-voip/tollgate/siem"
	"github.com/tollgate-voip/tollgate/store"
)

// siemParts streams decisions (a tee on the engine's recorder) and audit
// entries (read from the store as they are appended, by any node) to the
// server.siem collector. A nil *siemParts does nothing.
type siemParts struct {
	s      *siem.Stream
	dec    bool
	cancel context.CancelFunc
	done   chan struct{}
}

// auditPoll is how often new audit entries are read for the stream.
const auditPoll = time.Second

func startSIEM(cfg *config.Config, st store.Audit, log *slog.Logger) (*siemParts, error) {
	x := cfg.Server.SIEM
	if x.Addr == "" {
		return nil, nil
	}
	network := x.Network
	if network == "" {
		network = "udp"
	}
	s, err := siem.New(siem.Options{Network: network, Addr: x.Addr, Format: x.Format, Facility: x.Facility, Hostname: cfg.NodeName(), Logger: log})
	if err != nil {
		return nil, &config.Error{File: cfg.File, Field: "server.siem", Msg: err.Error()}
	}
	p := &siemParts{s: s, dec: x.Records != "audit", done: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	if x.Records == "audit" || x.Records == "" || x.Records == "all" {
		go p.followAudit(ctx, st, time.Now(), log)
	} else {
		close(p.done)
	}
	log.Info("siem stream", "addr", x.Addr, "network", network, "format", x.Format, "records", x.Records)
	return p, nil
}

// followAudit streams the audit entries appended from since on.
func (p *siemParts) followAudit(ctx context.Context, st store.Audit, since time.Time, log *slog.Logger) {
	defer close(p.done)
	var lastID int64
	t := time.NewTicker(auditPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		es, err := st.ListAudit(ctx, since, 1000)
		if err != nil {
			if ctx.Err() == nil {
				log.Warn("siem: reading the audit log", "err", err)
			}
			continue
		}
		for _, e := range es {
			if e.ID <= lastID {
				continue
			}
			p.s.Audit(e)
			lastID = e.ID
			since = e.Time
		}
	}
}

// recorder tees the engine's decisions into the stream.
func (p *siemParts) recorder(next engine.Recorder) engine.Recorder {
	if p == nil || !p.dec {
		return next
	}
	return siemRecorder{p.s, next}
}

type siemRecorder struct {
	s    *siem.Stream
	next engine.Recorder
}

func (r siemRecorder) Decision(d store.Decision) bool {
	r.s.Decision(d)
	return r.next.Decision(d)
}

func (r siemRecorder) Event(e store.CallEvent) bool { return r.next.Event(e) }

// Forget passes the calls the engine stopped waiting for on to the
// detectors' tee (engine.Forgetter).
func (r siemRecorder) Forget(callIDs []string) { engine.ForgetNext(r.next, callIDs) }

var _ engine.Forgetter = siemRecorder{}

func (p *siemParts) stats() map[string]any {
	if p == nil {
		return nil
	}
	s := p.s.Stats()
	return map[string]any{"sent": s.Sent, "dropped": s.Dropped, "failed": s.Failed}
}

func (p *siemParts) metrics() prometheus.Collector {
	if p == nil {
		return nil
	}
	return metrics.Counter("tollgate_siem_records_total", "Records streamed to the SIEM collector by outcome.", []string{"outcome"}, func(emit metrics.Emit) {
		s := p.s.Stats()
		emit(float64(s.Sent), "sent")
		emit(float64(s.Dropped), "dropped")
		emit(float64(s.Failed), "failed")
	})
}

func (p *siemParts) close() {
	if p == nil {
		return
	}
	p.cancel()
	<-p.done
	p.s.Close()
}
