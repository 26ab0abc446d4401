package alert

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tollgate-voip/tollgate/detect"
)

// Incident actions, in the order an incident goes through them.
const (
	ActionTrigger     = "trigger"     // the first alert of an attack
	ActionUpdate      = "update"      // the attack grew (more alerts, calls, cost)
	ActionAcknowledge = "acknowledge" // an operator acknowledged one of its alerts
	ActionResolve     = "resolve"     // quiet for the quiet period, or resolved through the API
)

// Incident is one attack as the NOC tools see it: every alert of one
// tenant, code and scope (the finding's subject: the extension, range or
// source it is about) until the attack has been quiet for the quiet
// period. Notifiers receive it on each action.
type Incident struct {
	Action string `json:"action"`
	// Key is tenant/code/scope; DedupKey adds the start (Unix seconds), so
	// a later attack on the same scope is a new incident.
	Key      string    `json:"key"`
	DedupKey string    `json:"dedup_key"`
	Tenant   string    `json:"tenant"`
	Code     string    `json:"code"`
	Scope    string    `json:"scope"`
	Severity string    `json:"severity"` // the highest seen so far
	Text     string    `json:"text"`     // the latest alert's text
	Start    time.Time `json:"start"`    // event time of the first alert
	Last     time.Time `json:"last"`     // event time of the latest alert
	End      time.Time `json:"end,omitzero"`
	Reason   string    `json:"reason,omitempty"` // resolve: quiet or api
	Alerts   int       `json:"alerts"`           // findings grouped (raised and suppressed)
	Calls    int       `json:"calls"`            // calls in their evidence
	Cost     float64   `json:"cost"`             // their estimated cost
	FirstID  int64     `json:"first_alert_id"`
	LastID   int64     `json:"last_alert_id"`
	// Extensions seen in the attack (at most 20 kept).
	Extensions []string `json:"extensions,omitempty"`
	// Quiet is the quiet period: a firing incident is expected to end at
	// Last + Quiet unless it is updated.
	Quiet time.Duration `json:"-"`
}

// IncidentNotifier receives incidents rather than single alerts.
type IncidentNotifier interface {
	Name() string
	MinSeverity() string
	Send(ctx context.Context, in Incident) error
}

// IncidentStats counts what Incidents did.
type IncidentStats struct {
	Open     int   `json:"open"`
	Opened   int64 `json:"opened"`
	Resolved int64 `json:"resolved"`
	Sent     int64 `json:"sent"`
	Failed   int64 `json:"failed"`  // a notifier gave up after its retries
	Dropped  int64 `json:"dropped"` // the incident queue was full
}

// IncidentOptions configures NewIncidents.
type IncidentOptions struct {
	Notifiers []IncidentNotifier
	// Quiet resolves an incident with no new alert for this long (event
	// time); default 15 min.
	Quiet time.Duration
	// Every is the least time between two updates of one incident; more
	// alerts meanwhile are sent together with the next one. 0 sends an
	// update for every alert.
	Every time.Duration
	// Now is the clock the quiet period is measured on (the event clock
	// in a server); default time.Now.
	Now    func() time.Time
	Logger *slog.Logger
	// Queue bounds the events waiting for delivery (default 1024).
	Queue int
}

// Incidents groups alerts into incidents and delivers them to incident
// notifiers from a bounded queue, never blocking the caller. It is safe
// for concurrent use.
type Incidents struct {
	ns    []IncidentNotifier
	quiet time.Duration
	every time.Duration
	now   func() time.Time
	log   *slog.Logger

	mu      sync.Mutex
	open    map[string]*incState
	byAlert map[int64]string
	closed  bool

	q                                       chan Incident
	wg                                      sync.WaitGroup
	opened, resolved, sent, failed, dropped atomic.Int64
}

type incState struct {
	in       Incident
	sentAt   time.Time // when the latest trigger or update was queued (clock time)
	pending  bool      // grown since then
	alertIDs []int64
}

// NewIncidents starts the delivery worker; Close stops it.
func NewIncidents(o IncidentOptions) *Incidents {
	x := &Incidents{ns: o.Notifiers, quiet: o.Quiet, every: o.Every, now: o.Now, log: o.Logger,
		open: map[string]*incState{}, byAlert: map[int64]string{}}
	if x.quiet <= 0 {
		x.quiet = 15 * time.Minute
	}
	if x.now == nil {
		x.now = time.Now
	}
	if x.log == nil {
		x.log = slog.Default()
	}
	n := o.Queue
	if n <= 0 {
		n = 1024
	}
	x.q = make(chan Incident, n)
	x.wg.Add(1)
	go x.worker()
	return x
}

// Scope is the part of a finding that tells one attack from another of
// the same code and tenant: its subject, else its first target, else
// its extension.
func Scope(f detect.Finding) string {
	switch {
	case f.Subject != "":
		return f.Subject
	case f.Target.Value != "":
		return f.Target.Value
	}
	return f.Extension
}

// Observe adds a finding (raised as alert id, or grouped into it) to its
// incident: the first opens it (trigger), later ones grow it (update, at
// most once per Every).
func (x *Incidents) Observe(f detect.Finding, id int64) {
	if x == nil {
		return
	}
	scope := Scope(f)
	key := f.Tenant + "/" + f.Code + "/" + scope
	sev := f.Severity
	if sev == "" {
		sev = "warning"
	}
	now := x.now()
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.closed {
		return
	}
	s := x.open[key]
	if s == nil {
		if len(x.open) >= 100000 {
			x.dropped.Add(1)
			return
		}
		s = &incState{in: Incident{Key: key, DedupKey: key + "/" + strconv.FormatInt(f.Time.Unix(), 10), Tenant: f.Tenant, Code: f.Code, Scope: scope,
			Severity: sev, Start: f.Time, Last: f.Time, FirstID: id, Quiet: x.quiet}}
		x.open[key] = s
		x.opened.Add(1)
	}
	in := &s.in
	in.Alerts++
	in.Calls += f.Calls
	in.Cost += f.Cost
	in.Text = f.Text
	if f.Time.After(in.Last) {
		in.Last = f.Time
	}
	if Severity(sev) > Severity(in.Severity) {
		in.Severity = sev
	}
	if id != 0 {
		in.LastID = id
		if _, ok := x.byAlert[id]; !ok && len(s.alertIDs) < 1000 {
			x.byAlert[id] = key
			s.alertIDs = append(s.alertIDs, id)
		}
	}
	if f.Extension != "" && len(in.Extensions) < 20 && !contains(in.Extensions, f.Extension) {
		in.Extensions = append(in.Extensions, f.Extension)
	}
	switch {
	case in.Alerts == 1:
		x.emit(s, ActionTrigger, now)
	case now.Sub(s.sentAt) >= x.every:
		x.emit(s, ActionUpdate, now)
	default:
		s.pending = true
	}
}

func contains(l []string, s string) bool {
	for _, v := range l {
		if v == s {
			return true
		}
	}
	return false
}

// emit queues an event of s; x.mu is held.
func (x *Incidents) emit(s *incState, action string, now time.Time) {
	in := s.in
	in.Action = action
	in.Extensions = append([]string(nil), in.Extensions...)
	if action == ActionTrigger || action == ActionUpdate {
		s.sentAt, s.pending = now, false
	}
	select {
	case x.q <- in:
	default:
		x.dropped.Add(1)
	}
}

// Tick resolves the incidents quiet since before now − Quiet and sends
// the pending updates that are due. A server calls it from Run; tests
// call it with the time they want.
func (x *Incidents) Tick(now time.Time) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.closed {
		return
	}
	for key, s := range x.open {
		if now.Sub(s.in.Last) >= x.quiet {
			if s.pending {
				x.emit(s, ActionUpdate, now)
			}
			x.resolve(key, s, now, "quiet")
			continue
		}
		if s.pending && now.Sub(s.sentAt) >= x.every {
			x.emit(s, ActionUpdate, now)
		}
	}
}

// resolve ends an incident; x.mu is held.
func (x *Incidents) resolve(key string, s *incState, end time.Time, reason string) {
	s.in.End, s.in.Reason = end, reason
	x.emit(s, ActionResolve, end)
	for _, id := range s.alertIDs {
		delete(x.byAlert, id)
	}
	delete(x.open, key)
	x.resolved.Add(1)
}

// SetStatus follows an alert's status set through the API: acknowledged
// acknowledges its incident, resolved resolves it (a later alert of the
// same attack opens a new one). It reports whether the alert belonged
// to an open incident.
func (x *Incidents) SetStatus(id int64, status string) bool {
	if x == nil {
		return false
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	key, ok := x.byAlert[id]
	if !ok || x.closed {
		return false
	}
	s := x.open[key]
	switch status {
	case "acknowledged":
		x.emit(s, ActionAcknowledge, x.now())
	case "resolved":
		x.resolve(key, s, x.now(), "api")
	}
	return true
}

// Resolve ends the open incident of tenant, code and scope, if any (a
// condition known to be over: Redis reachable again); reason goes into
// the resolve event. It reports whether one was open.
func (x *Incidents) Resolve(tenant, code, scope, reason string) bool {
	if x == nil {
		return false
	}
	key := tenant + "/" + code + "/" + scope
	x.mu.Lock()
	defer x.mu.Unlock()
	s := x.open[key]
	if s == nil || x.closed {
		return false
	}
	if s.pending {
		x.emit(s, ActionUpdate, x.now())
	}
	x.resolve(key, s, x.now(), reason)
	return true
}

// Run calls Tick every interval (default a tenth of the quiet period,
// at most 10 s) on the clock until ctx ends.
func (x *Incidents) Run(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = min(x.quiet/10, 10*time.Second)
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			x.Tick(x.now())
		}
	}
}

// Stats returns the counts so far.
func (x *Incidents) Stats() IncidentStats {
	x.mu.Lock()
	n := len(x.open)
	x.mu.Unlock()
	return IncidentStats{Open: n, Opened: x.opened.Load(), Resolved: x.resolved.Load(), Sent: x.sent.Load(), Failed: x.failed.Load(), Dropped: x.dropped.Load()}
}

func (x *Incidents) worker() {
	defer x.wg.Done()
	for in := range x.q {
		for _, n := range x.ns {
			if Severity(in.Severity) < Severity(n.MinSeverity()) {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			err := n.Send(ctx, in)
			cancel()
			if err != nil {
				x.failed.Add(1)
				x.log.Error("alert: incident notifier gave up", "notifier", n.Name(), "incident", in.DedupKey, "action", in.Action, "err", err)
				continue
			}
			x.sent.Add(1)
		}
	}
}

// Close delivers what is queued and stops the worker; open incidents are
// left open (an Alertmanager ends them itself at Last + Quiet).
func (x *Incidents) Close() {
	if x == nil {
		return
	}
	x.mu.Lock()
	if x.closed {
		x.mu.Unlock()
		return
	}
	x.closed = true
	close(x.q)
	x.mu.Unlock()
	x.wg.Wait()
}

// summary is a one-line description of an incident.
func (in *Incident) summary() string {
	s := fmt.Sprintf("[%s] %s %s: %s", in.Tenant, in.Code, in.Scope, oneLine(in.Text, 600))
	if in.Alerts > 1 {
		s += fmt.Sprintf(" (%d alerts, %d calls, cost %.2f)", in.Alerts, in.Calls, in.Cost)
	}
	return s
}
