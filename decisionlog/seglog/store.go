package seglog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/tollgate-voip/tollgate/store"
)

// Policy is how long an embedded node keeps its records. Zero keeps
// them forever. The audit log is not pruned here: it is kept at least
// seven years, and an embedded node's audit volume is small enough to
// keep whole.
type Policy struct {
	Decisions, Events, Alerts time.Duration
	// Every is how often retention runs (1h); the first run is at Wrap.
	Every time.Duration
}

// AlertPruner is a store that can delete old alerts (store/sqlite).
type AlertPruner interface {
	DeleteAlertsBefore(ctx context.Context, before time.Time) (int64, error)
}

// legacy is a store that held decisions and call events before this log
// did (store/sqlite): they are moved into the log once.
type legacy interface {
	store.Decisions
	DropDecisionLog(ctx context.Context) error
}

// Store is a store.Store whose decisions and call events live in a Log;
// everything else goes to the wrapped store.
type Store struct {
	store.Store
	Log *Log

	policy Policy
	log    *slog.Logger
	stop   chan struct{}
	done   chan struct{}
	once   sync.Once
}

// Wrap puts l in front of inner. Decisions and call events still held by
// inner (a database written before the log existed) are moved into l
// first. Unless l is read-only, retention runs at once and then every
// p.Every, until Close, which closes l and inner.
func Wrap(ctx context.Context, inner store.Store, l *Log, p Policy, logger *slog.Logger) (*Store, error) {
	if logger == nil {
		logger = slog.Default()
	}
	if p.Every <= 0 {
		p.Every = time.Hour
	}
	s := &Store{Store: inner, Log: l, policy: p, log: logger, stop: make(chan struct{}), done: make(chan struct{})}
	if l.opts.ReadOnly {
		close(s.done)
		return s, nil
	}
	if old, ok := inner.(legacy); ok {
		if err := migrate(ctx, old, l, logger); err != nil {
			return nil, err
		}
	}
	s.Prune(ctx, l.opts.Now())
	go s.loop()
	return s, nil
}

// migrate moves old's decisions and call events into l, then drops them
// from old. A crash in between leaves copies in both; the next start
// copies again and readers drop the duplicates.
func migrate(ctx context.Context, old legacy, l *Log, logger *slog.Logger) error {
	ds, err := old.DecisionsSince(ctx, time.Time{})
	if err != nil {
		return fmt.Errorf("seglog: reading the old decision log: %w", err)
	}
	es, err := old.CallEventsSince(ctx, time.Time{})
	if err != nil {
		return fmt.Errorf("seglog: reading the old call-event log: %w", err)
	}
	if len(ds) == 0 && len(es) == 0 {
		return nil
	}
	for lo := 0; lo < len(ds); lo += 4096 {
		if err := l.AppendDecisions(ctx, ds[lo:min(lo+4096, len(ds))]); err != nil {
			return fmt.Errorf("seglog: moving decisions: %w", err)
		}
	}
	for lo := 0; lo < len(es); lo += 4096 {
		if err := l.AppendCallEvents(ctx, es[lo:min(lo+4096, len(es))]); err != nil {
			return fmt.Errorf("seglog: moving call events: %w", err)
		}
	}
	if err := l.Sync(); err != nil {
		return err
	}
	if err := old.DropDecisionLog(ctx); err != nil {
		return fmt.Errorf("seglog: %w", err)
	}
	logger.Info("seglog: moved the decision log out of the database", "decisions", len(ds), "call_events", len(es))
	return nil
}

func (s *Store) loop() {
	defer close(s.done)
	t := time.NewTicker(s.policy.Every)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.Prune(context.Background(), s.Log.opts.Now())
		}
	}
}

// Prune applies the retention policy once, logging what it removed and
// any failure (the next run tries again).
func (s *Store) Prune(ctx context.Context, now time.Time) {
	st, err := s.Log.Prune(now, Retention{Decisions: s.policy.Decisions, Events: s.policy.Events})
	if err != nil {
		s.log.Warn("retention: removing old segments", "err", err)
	}
	var alerts int64
	if ap, ok := s.Store.(AlertPruner); ok && s.policy.Alerts > 0 {
		if alerts, err = ap.DeleteAlertsBefore(ctx, now.Add(-s.policy.Alerts)); err != nil {
			s.log.Warn("retention: deleting old alerts", "err", err)
		}
	}
	if st.DecisionSegments+st.EventSegments > 0 || alerts > 0 {
		s.log.Info("retention", "decisions", st.Decisions, "call_events", st.Events, "alerts", alerts)
	}
}

// AppendDecisions stores ds in the log.
func (s *Store) AppendDecisions(ctx context.Context, ds []store.Decision) error {
	return s.Log.AppendDecisions(ctx, ds)
}

// QueryDecisions queries the log.
func (s *Store) QueryDecisions(ctx context.Context, q store.DecisionQuery) ([]store.Decision, error) {
	return s.Log.QueryDecisions(ctx, q)
}

// DecisionsSince reads the log.
func (s *Store) DecisionsSince(ctx context.Context, since time.Time) ([]store.Decision, error) {
	return s.Log.DecisionsSince(ctx, since)
}

// AppendCallEvents stores es in the log.
func (s *Store) AppendCallEvents(ctx context.Context, es []store.CallEvent) error {
	return s.Log.AppendCallEvents(ctx, es)
}

// CallEventsSince reads the log.
func (s *Store) CallEventsSince(ctx context.Context, since time.Time) ([]store.CallEvent, error) {
	return s.Log.CallEventsSince(ctx, since)
}

// SyncRecords makes every decision and call event appended so far
// durable (decisionlog.Syncer).
func (s *Store) SyncRecords(context.Context) error { return s.Log.Sync() }

// Close stops retention and closes the log, then the wrapped store.
func (s *Store) Close() error {
	var err error
	s.once.Do(func() {
		close(s.stop)
		<-s.done
		err = errors.Join(s.Log.Close(), s.Store.Close())
	})
	return err
}

var _ store.Store = (*Store)(nil)
