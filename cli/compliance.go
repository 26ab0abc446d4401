package cli

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tollgate-voip/tollgate/api"
	"github.com/tollgate-voip/tollgate/compliance"
	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/internal/refresh"
	"github.com/tollgate-voip/tollgate/metrics"
	"github.com/tollgate-voip/tollgate/node"
	"github.com/tollgate-voip/tollgate/quality"
	"github.com/tollgate-voip/tollgate/store"
)

// complianceParts are the compliance records and the quality watch of a
// running server.
type complianceParts struct {
	store   compliance.Store
	live    *compliance.Live
	watcher *quality.Watcher
	hepAddr string
	cfg     config.Quality

	// Cluster mode (set by joinCluster): notify tells the other nodes
	// that records changed here; notices says another node (or this one)
	// changed them. nil in embedded mode.
	notify  func()
	notices <-chan struct{}
	// every is the periodic refresh, the safety net for missed notices
	// (0: a second).
	every time.Duration

	// done is closed when the refresh loop started by start has ended;
	// nil before start.
	done chan struct{}
}

// joinCluster makes changes made through this node's API publish a
// notice, and notices trigger a refresh (cluster mode; a nil cl, the
// embedded mode, changes nothing). Call it before api and start.
func (c *complianceParts) joinCluster(cl *clusterNode) {
	c.notify = cl.notifier("compliance")
	c.notices = cl.noticesC("compliance")
}

// notifyingCompliance is the compliance store as the API writes it in
// cluster mode: every change that succeeded is announced to the nodes.
type notifyingCompliance struct {
	compliance.Store
	notify func()
}

func (n notifyingCompliance) AddOptOut(ctx context.Context, o compliance.OptOut) (compliance.OptOut, error) {
	o, err := n.Store.AddOptOut(ctx, o)
	if err == nil {
		n.notify()
	}
	return o, err
}

func (n notifyingCompliance) RemoveOptOut(ctx context.Context, tenant, number string) ([]compliance.OptOut, error) {
	removed, err := n.Store.RemoveOptOut(ctx, tenant, number)
	if err == nil && len(removed) > 0 {
		n.notify()
	}
	return removed, err
}

func (n notifyingCompliance) AddConsent(ctx context.Context, c compliance.Consent) (compliance.Consent, error) {
	c, err := n.Store.AddConsent(ctx, c)
	if err == nil {
		n.notify()
	}
	return c, err
}

// setupCompliance reads the opt-out and consent records from the node's
// state (which owns and closes the store) and builds the quality watcher.
func setupCompliance(ctx context.Context, cfg *config.Config, state *node.State, alerter store.Alerter, log *slog.Logger) (*complianceParts, error) {
	st, err := state.Compliance(ctx)
	if err != nil {
		return nil, err
	}
	live := compliance.NewLive()
	if err := live.Refresh(ctx, st); startsWithout(err, log, "opt-outs and consents") {
		return nil, fmt.Errorf("reading opt-outs and consents: %w", err)
	}
	return &complianceParts{store: st, live: live, watcher: quality.New(cfg.Quality, alerter, log), hepAddr: cfg.Quality.HEPListen, cfg: cfg.Quality}, nil
}

func (c *complianceParts) api() *api.Compliance {
	var st compliance.Store = c.store
	if c.notify != nil {
		st = notifyingCompliance{Store: c.store, notify: c.notify}
	}
	return &api.Compliance{Store: st, Live: c.live, Quality: c.watcher}
}

func (c *complianceParts) metrics() prometheus.Collector {
	return metrics.Set{c.watcher, metrics.Gauge("tollgate_compliance_records", "Internal opt-outs and numbers with consent records.", []string{"kind"}, func(emit metrics.Emit) {
		o, n := c.live.Index().Counts()
		emit(float64(o), "opt_out")
		emit(float64(n), "consent")
	})}
}

// start runs the HEP listener, the probe schedule and the refresh of
// opt-outs and consents until ctx ends. In cluster
// mode a change made on another node is read at once on its notice; the
// refresh every second (version check, reload when it moved) is the
// safety net for a notice lost while Redis was away.
func (c *complianceParts) start(ctx context.Context, log *slog.Logger) error {
	if c.hepAddr != "" {
		a, err := c.watcher.ListenHEP(ctx, c.hepAddr)
		if err != nil {
			return err
		}
		log.Info("quality: HEP listener", "addr", a.String())
	}
	if c.cfg.Probe.Target != "" {
		go runProbes(ctx, c.cfg, c.watcher, log)
	}
	c.done = make(chan struct{})
	go func() {
		defer close(c.done)
		// Each run bounded, so a stalled database cannot hold up the next
		// check for long; notices are nil in embedded mode.
		refresh.Loop{Name: "compliance", Every: c.every, Notices: c.notices, Timeout: 5 * time.Second, Logger: log,
			Run: func(ctx context.Context, _ time.Time) error { return c.live.Refresh(ctx, c.store) }}.Start(ctx)
	}()
	return nil
}

// close waits for the refresh loop started by start to end (the caller
// cancels start's context first). The store belongs to the node's state.
func (c *complianceParts) close() {
	if c.done != nil {
		<-c.done
	}
}

// runProbes places a synthetic test call every probe.interval_s.
func runProbes(ctx context.Context, cfg config.Quality, w *quality.Watcher, log *slog.Logger) {
	t := time.NewTicker(cfg.Probe.IntervalS.Duration())
	defer t.Stop()
	for {
		p := quality.Probe(ctx, cfg.Probe.Target, cfg.Probe.DurationS.Duration(), quality.Impair{})
		if ctx.Err() != nil {
			return
		}
		w.AddProbe(cfg.Probe.Route, p)
		log.Info("quality: probe", "target", p.Target, "setup_ms", p.SetupMS, "loss_pct", p.LossPct, "jitter_ms", p.JitterMS, "rtt_ms", p.RTTMS, "mos", p.MOS, "error", p.Error)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
