package action

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/tollgate-voip/tollgate/alert"
	"github.com/tollgate-voip/tollgate/blocks"
	"github.com/tollgate-voip/tollgate/detect"
	"github.com/tollgate-voip/tollgate/eventclock"
	"github.com/tollgate-voip/tollgate/store"
)

// Manager carries out findings. With a nil Blocks store it only records
// what it would have done (replay).
type Manager struct {
	Blocks     BlockStore
	Audit      store.Audit
	Actions    Store
	BlockLive  *blocks.Live
	ActionLive *Live
	Alerts     *alert.Manager
	Log        *slog.Logger
	// Remember is how long Wangiri callers stay remembered.
	Remember time.Duration
	// Clock is the event clock (shared with the screening engine): the
	// action set and block snapshot are listed at it and kill switches
	// lifted by it. Nil: the wall clock. Expiries always count from the
	// finding's own event time.
	Clock *eventclock.Clock

	// Enders end running calls an in-call finding names: the SIP proxy
	// (tears the call down) and the end-call event stream (redirect mode:
	// the proxy or PBX acts on it).
	Enders []CallEnder

	mu     sync.Mutex
	active map[string]time.Time
	kills  map[string]time.Time // tenant → when the kill switch this manager set expires
	done   []Done
}

// CallEnder ends a running call, or asks whoever carries it to.
type CallEnder interface {
	EndCall(tenant, callID, reason string, at time.Time)
}

// CallTimer is a CallEnder that also carries a dialog timer: the moment
// a running call is to end unless it ended before (redirect mode: the
// answer event's max_duration_s).
type CallTimer interface {
	EndCallAt(callID string, at time.Time)
}

// EndCallAt gives every ender that carries timers (CallTimer) the moment
// an answered call is to end: when the in-call watch will judge it
// (detect.Engine.LongAt), whether or not event time reaches that moment
// before the call's own end.
func (m *Manager) EndCallAt(callID string, at time.Time) {
	m.mu.Lock()
	enders := m.Enders
	m.mu.Unlock()
	for _, e := range enders {
		if t, ok := e.(CallTimer); ok {
			t.EndCallAt(callID, at)
		}
	}
}

// AddEnder adds a CallEnder (safe while findings are handled).
func (m *Manager) AddEnder(e CallEnder) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.Enders = append(m.Enders[:len(m.Enders):len(m.Enders)], e)
}

// BlockStore is where blocks and kill switches go.
type BlockStore interface {
	store.Blocks
	store.KillSwitches
}

// Done is one action carried out (or, in replay, that would have been).
type Done struct {
	Time     time.Time     `json:"time"`
	Detector string        `json:"detector"`
	Action   string        `json:"action"`
	Tenant   string        `json:"tenant,omitempty"`
	Target   detect.Target `json:"target"`
	Expires  time.Time     `json:"expires,omitzero"`
	ID       int64         `json:"id,omitempty"` // block or action record id
	AlertID  int64         `json:"alert_id,omitempty"`
}

// Handle raises the finding's alert and applies its action. It returns
// the action done, if any.
func (m *Manager) Handle(ctx context.Context, f detect.Finding) (*Done, error) {
	// A finding is an event-time fact: it moves the clock like the call
	// that raised it.
	m.Clock.Observe(f.Time)
	var a store.Alert
	raised := false
	if m.Alerts != nil && !f.Event {
		a, raised = m.Alerts.Raise(ctx, f)
	}
	for _, num := range f.Remember {
		verdict := Reject
		if f.Callback == "auth" {
			verdict = Challenge
		}
		if _, err := m.apply(ctx, f, "wangiri_callback", Record{Tenant: f.Tenant, Kind: "number", Value: num, Verdict: verdict,
			Reason: "called back a Wangiri caller (" + f.Code + ")"}, time.Duration(0)); err != nil {
			return nil, err
		}
	}
	_ = raised
	m.mu.Lock()
	enders := m.Enders
	m.mu.Unlock()
	for _, id := range f.EndCalls {
		for _, e := range enders {
			e.EndCall(f.Tenant, id, f.Detector+": "+f.Text, f.Time)
		}
		m.record(Done{Time: f.Time, Detector: f.Detector, Action: "end_call", Tenant: f.Tenant, Target: detect.Target{Kind: "call", Value: id}, AlertID: a.ID})
	}
	var d *Done
	var err error
	switch f.Action {
	case "require_pin":
		// An extension's calls, or a tenant's calls to a number or range.
		kind := "extension"
		if f.Target.Kind == "number" || f.Target.Kind == "prefix" {
			kind = f.Target.Kind
		}
		d, err = m.apply(ctx, f, f.Action, Record{Tenant: f.Tenant, Kind: kind, Value: f.Target.Value, Verdict: Challenge, Reason: f.Text}, f.Expires)
	case "honeypot":
		kind := f.Target.Kind
		if kind != "number" && kind != "prefix" {
			break
		}
		d, err = m.apply(ctx, f, f.Action, Record{Tenant: f.Tenant, Kind: kind, Value: f.Target.Value, Verdict: Honeypot, Reason: f.Text}, f.Expires)
	case "block_and_alert":
		if f.Target.Kind == "tenant" {
			d, err = m.kill(ctx, f)
			break
		}
		d, err = m.block(ctx, f, f.Target)
		for _, t := range f.Also {
			if err != nil {
				break
			}
			var d2 *Done
			if d2, err = m.block(ctx, f, t); d == nil {
				d = d2
			}
		}
	case "kill_switch":
		d, err = m.kill(ctx, f)
	}
	if d != nil {
		d.AlertID = a.ID
	}
	return d, err
}

func (m *Manager) expiry(f detect.Finding, dur time.Duration) time.Time {
	if dur <= 0 {
		return time.Time{}
	}
	// Event time only: a PIN set by a call of last Tuesday 14:00 for an
	// hour is over at 15:00 last Tuesday, however fast the stream is driven.
	return f.Time.Add(dur).UTC()
}

// fresh reports whether key has no action in force at t, and marks it.
func (m *Manager) fresh(key string, t, until time.Time) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.active == nil {
		m.active = map[string]time.Time{}
	}
	if u, ok := m.active[key]; ok && (u.IsZero() || t.Before(u)) {
		return false
	}
	m.active[key] = until
	return true
}

func (m *Manager) record(d Done) *Done {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.done) < 100000 {
		m.done = append(m.done, d)
	}
	return &d
}

// Done returns the actions carried out so far.
func (m *Manager) Done() []Done {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Done(nil), m.done...)
}

func (m *Manager) audit(ctx context.Context, f detect.Finding, action, object string, details any) error {
	if m.Audit == nil {
		return nil
	}
	raw, _ := json.Marshal(details)
	_, err := m.Audit.AppendAudit(ctx, store.AuditEntry{Time: time.Now().UTC(), Actor: "detector:" + f.Detector, Action: action, Object: object, Details: raw})
	return err
}

func (m *Manager) apply(ctx context.Context, f detect.Finding, action string, r Record, dur time.Duration) (*Done, error) {
	if r.Value == "" {
		return nil, nil
	}
	if action == "wangiri_callback" {
		dur = m.Remember
	}
	r.Expires = m.expiry(f, dur)
	r.Source = "detector:" + f.Detector
	r.Created = f.Time
	if !m.fresh("act\x00"+r.Tenant+"\x00"+r.Kind+"\x00"+r.Value+"\x00"+r.Verdict, f.Time, r.Expires) {
		return nil, nil
	}
	d := Done{Time: f.Time, Detector: f.Detector, Action: action, Tenant: r.Tenant, Target: detect.Target{Kind: r.Kind, Value: r.Value}, Expires: r.Expires}
	if m.Actions != nil {
		add := m.Actions.AddAction
		if m.ActionLive != nil {
			// Enforced here before the store commits it.
			add = func(ctx context.Context, r Record) (Record, error) { return m.ActionLive.AddAction(ctx, m.Actions, r) }
		}
		stored, err := add(ctx, r)
		if err != nil {
			return nil, fmt.Errorf("action: %w", err)
		}
		d.ID = stored.ID
		if err := m.audit(ctx, f, "action."+action, fmt.Sprintf("action/%d", stored.ID), stored); err != nil {
			return nil, err
		}
		if m.ActionLive != nil {
			if err := Refresh(ctx, m.Actions, m.ActionLive, m.clock()); err != nil {
				return nil, err
			}
		}
	}
	return m.record(d), nil
}

func (m *Manager) block(ctx context.Context, f detect.Finding, tg detect.Target) (*Done, error) {
	exp := f.Expires
	if tg.ExpiresS > 0 {
		exp = time.Duration(tg.ExpiresS) * time.Second
	}
	b := store.Block{Tenant: f.Tenant, Reason: f.Detector + ": " + f.Text, Source: "detector", CreatedBy: "detector:" + f.Detector, Expires: m.expiry(f, exp)}
	if tg.AllTenants {
		b.Tenant = ""
	}
	switch tg.Kind {
	case "extension":
		b.Kind, b.Value, b.Scope = store.BlockExtension, tg.Value, tg.Scope
	case "prefix":
		b.Kind, b.Value = store.BlockPrefix, strings.TrimPrefix(tg.Value, "+")
	case "number":
		b.Kind, b.Value = store.BlockNumber, "+"+strings.TrimPrefix(tg.Value, "+")
	case "ip":
		b.Kind, b.Value = store.BlockIP, tg.Value
	default:
		return nil, nil
	}
	if b.Value == "" || b.Value == "+" {
		return nil, nil
	}
	if len(b.Reason) > 500 {
		b.Reason = b.Reason[:500]
	}
	if !m.fresh("blk\x00"+b.Tenant+"\x00"+b.Kind+"\x00"+b.Value+"\x00"+b.Scope, f.Time, b.Expires) {
		return nil, nil
	}
	d := Done{Time: f.Time, Detector: f.Detector, Action: "block", Tenant: b.Tenant, Target: tg, Expires: b.Expires}
	if m.Blocks != nil {
		add := m.Blocks.AddBlock
		if m.BlockLive != nil {
			// Enforced here before the store commits it.
			add = func(ctx context.Context, b store.Block) (store.Block, error) {
				return m.BlockLive.AddBlock(ctx, m.Blocks, b)
			}
		}
		stored, err := add(ctx, b)
		if err != nil {
			return nil, fmt.Errorf("action: block: %w", err)
		}
		d.ID = stored.ID
		if err := m.audit(ctx, f, "block.add", fmt.Sprintf("block/%d", stored.ID), stored); err != nil {
			return nil, err
		}
		if m.BlockLive != nil {
			if err := blocks.Refresh(ctx, m.Blocks, m.BlockLive, time.Now()); err != nil {
				return nil, err
			}
		}
	}
	return m.record(d), nil
}

func (m *Manager) kill(ctx context.Context, f detect.Finding) (*Done, error) {
	until := m.expiry(f, f.Expires)
	if f.Tenant == "" {
		// Calls without a tenant are screened with the defaults and
		// matched only by the every-tenant switch (blocks.Set.Kill), which
		// is also what the stores accept for them.
		f.Tenant = "*"
	}
	if !m.fresh("kill\x00"+f.Tenant, f.Time, until) {
		return nil, nil
	}
	d := Done{Time: f.Time, Detector: f.Detector, Action: "kill_switch", Tenant: f.Tenant, Target: detect.Target{Kind: "tenant", Value: f.Tenant}, Expires: until}
	if m.Blocks != nil {
		k := store.KillSwitch{Tenant: f.Tenant, Active: true, Reason: f.Detector + ": " + f.Text, By: "detector:" + f.Detector, Since: time.Now().UTC()}
		set := m.Blocks.SetKillSwitch
		if m.BlockLive != nil {
			// Enforced here before the store commits it.
			set = func(ctx context.Context, k store.KillSwitch) error {
				return m.BlockLive.SetKillSwitch(ctx, m.Blocks, k)
			}
		}
		if err := set(ctx, k); err != nil {
			return nil, err
		}
		if err := m.rememberKill(ctx, f, until); err != nil {
			return nil, err
		}
		if err := m.audit(ctx, f, "killswitch.set", "killswitch/"+f.Tenant, map[string]any{"active": true, "expires": until, "reason": k.Reason}); err != nil {
			return nil, err
		}
		if m.BlockLive != nil {
			if err := blocks.Refresh(ctx, m.Blocks, m.BlockLive, time.Now()); err != nil {
				return nil, err
			}
		}
	}
	return m.record(d), nil
}

// rememberKill keeps when a kill switch set by a detector expires: as a
// record of kind KillSwitchKind in the action store, so that any node
// sharing the store lifts it, or in memory without one.
func (m *Manager) rememberKill(ctx context.Context, f detect.Finding, until time.Time) error {
	if until.IsZero() {
		return nil // until released by hand
	}
	if m.Actions != nil {
		_, err := m.Actions.AddAction(ctx, Record{Tenant: f.Tenant, Kind: KillSwitchKind, Value: f.Tenant, Verdict: Reject,
			Reason: "expiry of the kill switch set by " + f.Detector, Source: "detector:" + f.Detector, Created: f.Time, Expires: until})
		if err != nil {
			return fmt.Errorf("action: kill switch expiry: %w", err)
		}
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.kills == nil {
		m.kills = map[string]time.Time{}
	}
	m.kills[f.Tenant] = until
	return nil
}

// Sweep lifts the kill switches detectors set whose expiry has passed —
// unless someone changed the switch since (it is then no longer the
// detector's to lift) — with an audit entry, and refreshes the block
// snapshot. With a shared action store, the node that removes the expiry
// record lifts the switch; the others find it gone.
func (m *Manager) Sweep(ctx context.Context, now time.Time) error {
	var lift []string
	if m.Actions != nil {
		all, err := m.Actions.ListActions(ctx, time.Time{})
		if err != nil {
			return err
		}
		for _, r := range all {
			if r.Kind != KillSwitchKind || r.Expires.IsZero() || now.Before(r.Expires) {
				continue
			}
			if _, err := m.Actions.RemoveAction(ctx, r.ID); errors.Is(err, ErrNotFound) {
				continue // another node lifted it
			} else if err != nil {
				return err
			}
			lift = append(lift, r.Value)
		}
	}
	m.mu.Lock()
	for t, u := range m.kills {
		if !u.IsZero() && !now.Before(u) {
			lift = append(lift, t)
			delete(m.kills, t)
		}
	}
	m.mu.Unlock()
	if len(lift) == 0 {
		return nil
	}
	ks, err := m.Blocks.KillSwitches(ctx)
	if err != nil {
		return err
	}
	for _, t := range lift {
		byDetector := false
		for _, k := range ks {
			if k.Tenant == t && k.Active && strings.HasPrefix(k.By, "detector:") {
				byDetector = true
			}
		}
		m.mu.Lock()
		delete(m.active, "kill\x00"+t)
		m.mu.Unlock()
		if !byDetector {
			continue // lifted or replaced by hand meanwhile
		}
		if err := m.Blocks.SetKillSwitch(ctx, store.KillSwitch{Tenant: t, Active: false, Reason: "expired", By: "tollgate", Since: now.UTC()}); err != nil {
			return err
		}
		if m.Audit != nil {
			if _, err := m.Audit.AppendAudit(ctx, store.AuditEntry{Time: now.UTC(), Actor: "tollgate", Action: "killswitch.expire", Object: "killswitch/" + t}); err != nil {
				return err
			}
		}
	}
	if m.BlockLive != nil {
		return blocks.Refresh(ctx, m.Blocks, m.BlockLive, time.Now())
	}
	return nil
}

// Release removes an action record by hand, with an audit entry.
func (m *Manager) Release(ctx context.Context, id int64, actor string) (Record, error) {
	remove := m.Actions.RemoveAction
	if m.ActionLive != nil {
		// Withdrawn here once the store has removed it.
		remove = func(ctx context.Context, id int64) (Record, error) {
			return m.ActionLive.RemoveAction(ctx, m.Actions, id)
		}
	}
	r, err := remove(ctx, id)
	if err != nil {
		return r, err
	}
	m.mu.Lock()
	delete(m.active, "act\x00"+r.Tenant+"\x00"+r.Kind+"\x00"+r.Value+"\x00"+r.Verdict)
	m.mu.Unlock()
	if m.Audit != nil {
		raw, _ := json.Marshal(r)
		if _, err := m.Audit.AppendAudit(ctx, store.AuditEntry{Time: time.Now().UTC(), Actor: actor, Action: "action.release", Object: fmt.Sprintf("action/%d", id), Details: raw}); err != nil {
			return r, err
		}
	}
	if m.ActionLive != nil {
		return r, Refresh(ctx, m.Actions, m.ActionLive, m.clock())
	}
	return r, nil
}

// clock is the time action records and blocks are listed at: the earlier
// of the wall clock and the event clock, so what is in force in event time
// stays listed (lookups compare each record's expiry with the call's time).
func (m *Manager) clock() time.Time {
	now := time.Now()
	if m.Clock != nil && m.Clock.Started() {
		if ev := m.Clock.Now(); ev.Before(now) {
			return ev
		}
	}
	return now
}

// EventNow is the event clock's now (the wall clock without one): the
// time kill-switch expiries are swept at.
func (m *Manager) EventNow() time.Time {
	if m.Clock != nil {
		return m.Clock.Now()
	}
	return time.Now()
}

// ListTime is the time the action set is re-read at (see clock).
func (m *Manager) ListTime() time.Time { return m.clock() }
