package cli

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tollgate-voip/tollgate/decisionlog"
	"github.com/tollgate-voip/tollgate/metrics"
)

// ackWait bounds how long a screening answer waits for its decision to
// be stored. Past it (the store is failing: the decision log retries, and
// /healthz says degraded) the verdict is sent anyway and counted, so a
// store outage slows the PBX by at most this much instead of stopping it.
const ackWait = 2 * time.Second

// durableAcks makes the API acknowledge a decision only once the decision
// log has written it (decisionlog.Writer.Sync: group commit, one store
// commit for every screening answered meanwhile).
type durableAcks struct {
	w    *decisionlog.Writer
	log  *slog.Logger
	late atomic.Uint64
	warn atomic.Int64 // unix nanos of the last warning
}

func newDurableAcks(w *decisionlog.Writer, log *slog.Logger) *durableAcks {
	return &durableAcks{w: w, log: log}
}

// wait is api.Options.Durable.
func (a *durableAcks) wait(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, ackWait)
	defer cancel()
	err := a.w.Sync(ctx)
	if err != nil {
		n := a.late.Add(1)
		now, last := time.Now().UnixNano(), a.warn.Load()
		if now-last > int64(10*time.Second) && a.warn.CompareAndSwap(last, now) {
			a.log.Warn("screening answered before its decision was stored", "late_total", n, "err", err)
		}
	}
	return err
}

func (a *durableAcks) metrics() prometheus.Collector {
	return metrics.Counter("tollgate_decisionlog_late_acks_total", fmt.Sprintf("Screenings answered before their decision was stored (the store did not commit within %s).", ackWait), nil,
		metrics.Value(func() float64 { return float64(a.late.Load()) }))
}
