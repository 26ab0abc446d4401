// Package alert turns detector findings into alerts: it groups repeats
// (same code, tenant, extension and subject within the dedup window),
// stores them through store.Alerts and sends them to notifiers (a generic
// HMAC-signed JSON webhook, a Slack-compatible webhook, SMTP email) from
// a bounded queue, retrying with backoff, never blocking the caller.
package alert

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tollgate-voip/tollgate/detect"
	"github.com/tollgate-voip/tollgate/store"
)

// Severity ranks: info < warning < critical.
func Severity(s string) int {
	switch s {
	case "critical":
		return 3
	case "warning":
		return 2
	case "info":
		return 1
	}
	return 0
}

// Notifier sends an alert somewhere.
type Notifier interface {
	Name() string
	MinSeverity() string
	Notify(ctx context.Context, a store.Alert) error
}

// Stats counts what the manager did.
type Stats struct {
	Raised     int64 `json:"raised"`
	Suppressed int64 `json:"suppressed"` // grouped into an earlier alert
	Sent       int64 `json:"sent"`
	Failed     int64 `json:"failed"`  // a notifier gave up after its retries
	Dropped    int64 `json:"dropped"` // the notification queue was full
	StoreErrs  int64 `json:"store_errors"`
}

// Manager raises alerts. It is safe for concurrent use.
type Manager struct {
	st        store.Alerts
	dedup     time.Duration
	notifiers []Notifier
	log       *slog.Logger
	inc       *Incidents // grouping for NOC tools (incident.go); may be nil

	mu     sync.Mutex
	groups map[string]*group
	kept   []store.Alert // when there is no store (replay)
	sp     *spool        // alerts the store refused (spool.go); nil = none

	q                                             chan store.Alert
	wg                                            sync.WaitGroup
	raised, suppressed, sent, failed, dropped, se atomic.Int64

	// The intake of Alert (sink.go), started by the first Alert.
	inMu     sync.Mutex
	in       chan store.Alert
	inClosed bool
	inDone   chan struct{}
	resolves map[string]string
}

type group struct {
	until time.Time
	id    int64
	count int
}

// Options configures New.
type Options struct {
	Store     store.Alerts // nil: alerts are kept in memory (Alerts)
	Dedup     time.Duration
	Notifiers []Notifier
	Logger    *slog.Logger
	// Incidents receives every finding, raised or grouped (incident.go).
	Incidents *Incidents
	// Resolves maps the code of an alert given to Alert to the code of
	// the alert whose open incident it ends (redis_recovered ends
	// redis_unreachable).
	Resolves map[string]string
}

// New returns a manager; Close stops its notifier worker.
func New(o Options) *Manager {
	m := &Manager{st: o.Store, dedup: o.Dedup, notifiers: o.Notifiers, log: o.Logger, inc: o.Incidents, resolves: o.Resolves, groups: map[string]*group{}, q: make(chan store.Alert, 1024)}
	if m.log == nil {
		m.log = slog.Default()
	}
	if len(m.notifiers) > 0 {
		m.wg.Add(1)
		go m.worker()
	}
	return m
}

// Raise records a finding as an alert; it reports false when the finding
// was grouped into an alert raised shortly before.
func (m *Manager) Raise(ctx context.Context, f detect.Finding) (store.Alert, bool) {
	return m.raise(ctx, f, nil)
}

// raise is Raise; details, when not nil, are stored instead of the
// finding's JSON.
func (m *Manager) raise(ctx context.Context, f detect.Finding, details json.RawMessage) (store.Alert, bool) {
	key := detect.Key(f.Code, f.Tenant, f.Extension, f.Subject)
	m.mu.Lock()
	g := m.groups[key]
	if g != nil && f.Time.Before(g.until) && !f.Time.Before(g.until.Add(-m.dedup-time.Hour)) {
		g.count++
		id := g.id
		m.mu.Unlock()
		m.suppressed.Add(1)
		m.inc.Observe(f, id)
		return store.Alert{ID: g.id}, false
	}
	if len(m.groups) > 100000 {
		clear(m.groups)
	}
	g = &group{until: f.Time.Add(m.dedup), count: 1}
	m.groups[key] = g
	m.mu.Unlock()
	if details == nil {
		details, _ = json.Marshal(f)
	}
	a := store.Alert{Time: f.Time, Tenant: f.Tenant, Extension: f.Extension, Severity: f.Severity, Code: f.Code, Text: f.Text, Status: "open", Details: details}
	if a.Severity == "" {
		a.Severity = "warning"
	}
	if m.st != nil {
		stored, err := m.store(ctx, a)
		if err != nil {
			m.se.Add(1)
			m.log.Error("alert: storing", "err", err, "code", a.Code)
		} else {
			a = stored
		}
	} else {
		m.mu.Lock()
		a.ID = int64(len(m.kept) + 1)
		m.kept = append(m.kept, a)
		m.mu.Unlock()
	}
	m.mu.Lock()
	g.id = a.ID
	m.mu.Unlock()
	m.raised.Add(1)
	m.inc.Observe(f, a.ID)
	if len(m.notifiers) > 0 {
		select {
		case m.q <- a:
		default:
			m.dropped.Add(1)
		}
	}
	return a, true
}

// Alerts returns the alerts kept in memory (only without a store).
func (m *Manager) Alerts() []store.Alert {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]store.Alert(nil), m.kept...)
}

// Stats returns the counts so far.
func (m *Manager) Stats() Stats {
	return Stats{Raised: m.raised.Load(), Suppressed: m.suppressed.Load(), Sent: m.sent.Load(), Failed: m.failed.Load(), Dropped: m.dropped.Load(), StoreErrs: m.se.Load()}
}

func (m *Manager) worker() {
	defer m.wg.Done()
	for a := range m.q {
		for _, n := range m.notifiers {
			if Severity(a.Severity) < Severity(n.MinSeverity()) {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			err := n.Notify(ctx, a)
			cancel()
			if err != nil {
				m.failed.Add(1)
				m.log.Error("alert: notifier gave up", "notifier", n.Name(), "alert", a.ID, "err", err)
				continue
			}
			m.sent.Add(1)
		}
	}
}

// Close sends what is queued, stops the worker and, with a spool, tries
// once more to store what it holds.
func (m *Manager) Close() {
	m.closeIntake()
	defer m.closeSpool()
	if len(m.notifiers) > 0 {
		close(m.q)
		m.wg.Wait()
	}
}
