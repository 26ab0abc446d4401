package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sort"
	"sync/atomic"
	"time"

	"github.com/tollgate-voip/tollgate/blocks"
	"github.com/tollgate-voip/tollgate/check"
	"github.com/tollgate-voip/tollgate/check/all"
	"github.com/tollgate-voip/tollgate/check/destination"
	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/counter"
	"github.com/tollgate-voip/tollgate/eventclock"
	"github.com/tollgate-voip/tollgate/internal/errkind"
	"github.com/tollgate-voip/tollgate/number"
	"github.com/tollgate-voip/tollgate/screen"
	"github.com/tollgate-voip/tollgate/store"
)

// Errors the front ends map to status codes.
var (
	ErrInvalid       = errkind.New(errkind.Invalid, "invalid")
	ErrUnknownTenant = errkind.New(errkind.Invalid, "unknown tenant")
	ErrUnknownCall   = errkind.New(errkind.NotFound, "unknown call")
)

// Numbers is number intelligence as the engine uses it.
type Numbers interface {
	Lookup(dialed string, dp *number.DialPlan) (number.Info, error)
}

// Recorder receives decisions and call events; it must not block.
type Recorder interface {
	Decision(d store.Decision) bool
	Event(e store.CallEvent) bool
}

// Forgetter is implemented by a Recorder that keeps calls of its own
// until their end event (the detectors' tee): Sweep tells it, after
// every sweep that dropped some, which calls the engine stopped waiting
// for, so nothing behind it waits longer than the engine does. It must
// not block; the slice is its own. A Recorder that wraps another passes
// it on (ForgetNext), or the calls are never forgotten behind it.
type Forgetter interface {
	Forget(callIDs []string)
}

// ForgetNext hands callIDs to next when it is a Forgetter: what a
// wrapping Recorder's Forget does.
func ForgetNext(next Recorder, callIDs []string) {
	if f, ok := next.(Forgetter); ok {
		f.Forget(callIDs)
	}
}

// DefaultCallSetup is how long the engine waits for a call's first event
// when server.call_setup_s is not set.
const DefaultCallSetup = 5 * time.Minute

// Options configures New.
type Options struct {
	Config  *config.Config
	Numbers Numbers
	// Recorder receives decisions and call events; may be nil.
	Recorder Recorder
	Logger   *slog.Logger
	// Now is the wall clock, for calls that carry no time of their own.
	Now func() time.Time
	// Env is what the checks get: counters, blocks, the detectors'
	// actions and learned limits, STIR, reputation, GeoIP, compliance,
	// time zones and the alerter (which the engine also uses for its
	// spend-threshold alerts). It is handed to every check's Setup as it
	// is; the engine fills in per tenant Tenant and System, and Lookup
	// (from Numbers), StaleCallAfter (server.stale_call_after_s), and
	// Counters (memory) and Blocks (empty) when they are nil.
	check.Env
	// MaxClockSkew, when positive, refuses (ErrInvalid) calls and call
	// events stamped further than this from Now: a live server's bound
	// (server.max_clock_skew_s). History goes through replay; Restore is
	// exempt.
	MaxClockSkew time.Duration
}

// Engine screens calls. It is safe for concurrent use.
type Engine struct {
	// pol is the configuration and the chains built from it; Reload
	// swaps it whole, so a screening sees one policy from start to end.
	pol      atomic.Pointer[policy]
	build    func(*config.Config, *config.Tenant) (*tenant, error)
	numbers  Numbers
	counters counter.Store
	blocks   *blocks.Live
	rec      Recorder
	alerter  store.Alerter
	node     string // config.NodeName at New: a reload does not rename the node
	log      *slog.Logger
	now      func() time.Time

	maxInFlight int64
	inFlight    atomic.Int64
	maxSkew     time.Duration
	restoring   atomic.Bool
	stateMaxAge time.Duration
	stale       time.Duration
	setup       time.Duration // server.call_setup_s
	// nextSweep (unix ns) is when, on an event-only clock, the call table
	// is next swept (sweepDue).
	nextSweep atomic.Int64

	calls   callTable
	metrics *Metrics
}

type tenant struct {
	cfg   *config.Tenant
	plan  number.DialPlan
	home  int
	chain *screen.Chain
	dest  *destination.Destination
}

// New builds one chain per tenant from the configuration.
func New(o Options) (*Engine, error) {
	if o.Config == nil || o.Numbers == nil {
		return nil, errors.New("engine: config and number intelligence are required")
	}
	if o.Counters == nil {
		o.Counters = counter.NewMemory(0)
	}
	if o.Blocks == nil {
		o.Blocks = blocks.NewLive()
	}
	e := &Engine{
		numbers:  o.Numbers,
		counters: o.Counters,
		blocks:   o.Blocks,
		rec:      o.Recorder,
		alerter:  o.Alerter,
		log:      o.Logger,
		now:      o.Now,
		metrics:  newMetrics(),
		maxSkew:  o.MaxClockSkew,
		node:     o.Config.NodeName(),
	}
	if e.log == nil {
		e.log = slog.Default()
	}
	if e.now == nil {
		e.now = time.Now
	}
	srv := o.Config.Server
	e.maxInFlight = int64(srv.MaxInFlight)
	e.stateMaxAge = srv.StateMaxAge.Duration()
	e.stale = srv.StaleCallAfter.Duration()
	if e.stale <= 0 {
		e.stale = 4 * time.Hour
	}
	e.setup = srv.CallSetup.Duration()
	if e.setup <= 0 {
		e.setup = DefaultCallSetup
	}
	e.setup = min(e.setup, e.stale)
	e.calls.init()
	e.build = func(cfg *config.Config, t *config.Tenant) (*tenant, error) {
		env := o.Env
		env.Tenant, env.System = t, &cfg.System
		env.Lookup, env.StaleCallAfter = o.Numbers.Lookup, e.stale
		chain, err := check.Build(&env, all.Order)
		if err != nil {
			return nil, fmt.Errorf("engine: tenant %s: %w", t.Name, err)
		}
		return &tenant{
			cfg:   t,
			plan:  number.DialPlan{Country: t.Country, IntlPrefixes: t.IntlPrefixes, NationalPrefix: t.NationalPrefix},
			home:  number.CallingCodeFor(t.Country),
			chain: chain,
			dest:  destination.New(t),
		}, nil
	}
	p, err := e.compile(o.Config)
	if err != nil {
		return nil, err
	}
	e.pol.Store(p)
	return e, nil
}

// Config returns the configuration the engine runs.
func (e *Engine) Config() *config.Config { return e.pol.Load().cfg }

// Clock is the event clock the engine runs on (shared with the block
// snapshot, the detectors and their actions): every screened call and call
// event moves it (eventclock).
func (e *Engine) Clock() *eventclock.Clock { return e.blocks.Clock() }

// SweepDue is Sweep at the event clock's now: what a server runs
// periodically, so a drive of history in fast event time does not expire
// its calls on the wall clock.
func (e *Engine) SweepDue() int { return e.Sweep(e.Clock().Now()) }

// EventSweepEvery is how often, in event time, a server on an event-only
// clock (cli.Options.EventTime) sweeps its call table: as its screenings
// and call events pass each multiple of it, instead of on the server's
// wall-clock ticker, so that a drive in fast event time forgets the same
// calls at the same point on every run.
const EventSweepEvery = 30 * time.Second

// sweepDue sweeps the call table at the clock's now if the clock is
// event-only and event time has passed the next multiple of
// EventSweepEvery. On a clock that follows the wall clock it does nothing
// (the server's loop calls SweepDue).
func (e *Engine) sweepDue() {
	c := e.Clock()
	if !c.EventOnly() {
		return
	}
	now := c.Now().UnixNano()
	next := e.nextSweep.Load()
	if now < next {
		return
	}
	every := int64(EventSweepEvery)
	if !e.nextSweep.CompareAndSwap(next, now-now%every+every) {
		return // another screening sweeps
	}
	e.Sweep(time.Unix(0, now).UTC())
}

// Blocks returns the live block snapshot the checks read.
func (e *Engine) Blocks() *blocks.Live { return e.blocks }

// Counters returns the counter store.
func (e *Engine) Counters() counter.Store { return e.counters }

// Metrics returns the engine's metrics.
func (e *Engine) Metrics() *Metrics { return e.metrics }

func (e *Engine) tenant(name string) (*tenant, error) {
	p := e.pol.Load()
	if t, ok := p.tenants[name]; ok {
		return t, nil
	}
	if name == "" || p.cfg.AllowUnknownTenants {
		return p.defaults, nil
	}
	return nil, fmt.Errorf("%w %q", ErrUnknownTenant, name)
}

// Tenant returns a tenant's resolved policy (the defaults for tenants
// without a section when unknown tenants are allowed).
func (e *Engine) Tenant(name string) (*config.Tenant, error) {
	t, err := e.tenant(name)
	if err != nil {
		return nil, err
	}
	return t.cfg, nil
}

// Lookup answers number intelligence for a number dialed by a tenant.
func (e *Engine) Lookup(dialed, tenantName string) (number.Info, error) {
	t, err := e.tenant(tenantName)
	if err != nil {
		return number.Info{}, err
	}
	return e.numbers.Lookup(dialed, &t.plan)
}

// Screen decides one call. The caller fills the input fields of c (ID,
// Tenant, Extension, Caller, Callee, SourceIP, UserAgent, Direction, Time,
// Identity); Screen derives the rest and fills v. An error means the input
// was bad (ErrInvalid, ErrUnknownTenant): nothing was counted or recorded.
func (e *Engine) Screen(ctx context.Context, c *screen.Call, v *screen.Verdict) error {
	start := time.Now()
	v.Reset()
	c.ResetDerived()
	if c.ID == "" {
		return fmt.Errorf("%w: call_id is required", ErrInvalid)
	}
	if len(c.ID) > 256 {
		return fmt.Errorf("%w: call_id longer than 256 bytes", ErrInvalid)
	}
	t, err := e.tenant(c.Tenant)
	if err != nil {
		return err
	}
	if c.Time.IsZero() {
		c.Time = e.Clock().Now()
	} else if err := e.checkTime(c.Time); err != nil {
		return err
	}
	e.blocks.Clock().Observe(c.Time)
	e.sweepDue()
	info, err := e.numbers.Lookup(c.Callee, &t.plan)
	if err != nil {
		return fmt.Errorf("%w: callee: %w", ErrInvalid, err)
	}
	e.derive(t, c, info)
	e.run(ctx, t, c, v)
	e.finish(c, v, t.cfg.Mode == config.ModeShadow)
	e.metrics.observe(v, time.Since(start))
	if e.rec != nil {
		e.rec.Decision(e.decision(c, v))
	}
	return nil
}

func (e *Engine) derive(t *tenant, c *screen.Call, info number.Info) {
	c.Dest = info
	if len(info.E164) > 1 && info.E164[0] == '+' {
		c.Digits = info.E164[1:]
	}
	c.Local = c.Time.In(t.cfg.Location)
	// International means outside the tenant's country, not only outside
	// its calling code: +1 809 is international for a US tenant.
	c.International = info.Kind == number.Subscriber && info.CallingCode != 0 &&
		(info.CallingCode != t.home || info.Country != "" && info.Country != t.cfg.Country)
	t.dest.Classify(c)
}

// run passes the call through the chain unless tollgate cannot decide
// (overloaded, state too old, a check failed), in which case the
// tenant's on_error choice decides.
func (e *Engine) run(ctx context.Context, t *tenant, c *screen.Call, v *screen.Verdict) {
	n := e.inFlight.Add(1)
	defer e.inFlight.Add(-1)
	switch {
	case e.maxInFlight > 0 && n > e.maxInFlight:
		e.failed(t, c, v, "overload", "too many calls being screened at once")
		return
	case e.stateMaxAge > 0 && e.blocks.Age(e.now()) > e.stateMaxAge:
		e.failed(t, c, v, "state_stale", "block list not confirmed fresh for "+e.blocks.Age(e.now()).Round(time.Second).String())
		return
	}
	defer func() {
		if r := recover(); r != nil {
			e.log.Error("engine: check panicked", "call_id", c.ID, "panic", r)
			e.undo(c)
			c.ResetHolds()
			v.Reset()
			e.failed(t, c, v, "internal_error", "a check failed")
		}
	}()
	t.chain.Run(ctx, c, v)
	if v.Action != screen.Reject && len(c.Needs()) > 0 {
		e.applyNeeds(t, c, v)
	}
	// No single chargeable call may cost more than the in-call watch
	// allows: the proxy's dialog timer (max_duration_s) ends it there even
	// when nothing else moves event time on.
	if cfg := e.Config(); cfg.Detect.Enabled && cfg.Detect.InCall.On() && cfg.Detect.InCall.CallCost > 0 && c.Dest.Rate > 0 &&
		c.Direction == screen.Outbound && (c.International || c.Premium) {
		v.LimitDuration(max(60, int(cfg.Detect.InCall.CallCost/c.Dest.Rate*60)))
	}
}

// applyNeeds runs every counter operation the checks asked for in one
// atomic batch: all are applied, or none and the refusing one's owner
// says why. What was applied becomes the call's holds.
//
// A shared counter store that cannot be reached counts locally and says
// so (counter.Unavailable): the holds are kept as for an admitted call and
// the tenant's on_error decides, so a fail_open tenant stays bounded by
// the local count and a fail_closed one refuses.
func (e *Engine) applyNeeds(t *tenant, c *screen.Call, v *screen.Verdict) {
	needs := c.Needs()
	ops, res := c.Batch()
	failed := e.counters.Apply(c.Time, ops, res)
	if failed >= 0 {
		n := &needs[failed]
		n.Owner.Refused(c, v, n, res[failed])
		return
	}
	for i := range needs {
		n := &needs[i]
		switch {
		case !res[i].Added:
		case n.Op.Kind == counter.OpWindow:
			c.AddHold(screen.Hold{Kind: screen.WindowHold, Key: n.Op.Key, ID: n.Op.ID, Added: true})
		case n.Op.Kind == counter.OpSlot:
			c.AddHold(screen.Hold{Kind: screen.SlotHold, Key: n.Op.Key, ID: n.Op.ID, Added: true})
		}
		n.Owner.Admitted(c, v, n, res[i])
	}
	if failed == counter.Unavailable {
		e.failed(t, c, v, "counters_unavailable", "shared counters unreachable")
	}
}

// failed records that tollgate could not decide and applies on_error.
// Emergency calls are always let through.
func (e *Engine) failed(t *tenant, c *screen.Call, v *screen.Verdict, code, text string) {
	e.metrics.failures.Add(1)
	if c.Dest.Kind == number.Emergency {
		v.Add(screen.Reason{Check: "engine", Code: "emergency_number", Text: "emergency number: always allowed", Action: screen.Allow})
		return
	}
	if t.cfg.OnError == config.FailOpen {
		v.Add(screen.Reason{Check: "engine", Code: "fail_open", Text: "tollgate could not decide (" + text + "); tenant fails open", Rule: t.cfg.Rule("on_error"), Action: screen.Allow})
		return
	}
	v.Add(screen.Reason{Check: "engine", Code: "fail_closed", Text: "tollgate could not decide (" + text + "); tenant fails closed", Rule: t.cfg.Rule("on_error"), Action: screen.Reject, Risk: 0})
	v.Unavailable = true
	_ = code
}

// finish applies shadow mode, keeps or returns the holds, and registers
// the call so its events can free its slots.
func (e *Engine) finish(c *screen.Call, v *screen.Verdict, shadow bool) {
	v.Enforced = v.Action
	if shadow && v.Action != screen.Allow {
		v.Shadow = true
		v.Enforced = screen.Allow
	}
	if v.Enforced == screen.Reject {
		e.undo(c)
		return
	}
	// A retried screen of a call already seen takes nothing new: what it
	// reserved this time is returned.
	if !e.calls.add(c, v, e.stale) {
		e.undo(c)
	}
}

// undo returns every counter reservation the call made.
func (e *Engine) undo(c *screen.Call) {
	for _, h := range c.Holds() {
		switch h.Kind {
		case screen.WindowHold:
			if h.Added {
				e.counters.Unreserve(h.Key, h.ID)
			}
		case screen.SlotHold:
			e.counters.Release(h.Key, h.ID)
		}
	}
}

// maxFuture is how far ahead of the clock an event may be stamped.
const maxFuture = 24 * time.Hour

var minTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// saneTime bounds event times: history may be replayed, but nothing is
// stamped before 2000 or more than a day ahead of this node's clock.
func saneTime(t, now time.Time) error {
	if t.Before(minTime) {
		return fmt.Errorf("%w: time %s is before 2000", ErrInvalid, t.Format(time.RFC3339))
	}
	if t.After(now.Add(maxFuture)) {
		return fmt.Errorf("%w: time %s is more than %s ahead of this node's clock", ErrInvalid, t.Format(time.RFC3339), maxFuture)
	}
	return nil
}

// checkTime bounds a call's or event's own time: saneTime always, and on a
// live server (MaxClockSkew) no further than the skew from its clock.
func (e *Engine) checkTime(t time.Time) error {
	now := e.now()
	if err := saneTime(t, now); err != nil {
		return err
	}
	if e.maxSkew <= 0 || e.restoring.Load() {
		return nil
	}
	d := t.Sub(now)
	switch {
	case d > e.maxSkew:
		return fmt.Errorf("%w: time %s is %s ahead of this node's clock; a live server accepts at most %s (server.max_clock_skew_s; 0 turns the bound off for a server driven in its own time)", ErrInvalid, t.Format(time.RFC3339Nano), d.Round(time.Millisecond), e.maxSkew)
	case d < -e.maxSkew:
		return fmt.Errorf("%w: time %s is %s behind this node's clock; a live server accepts at most %s (server.max_clock_skew_s; 0 turns the bound off for a server driven in its own time); history goes through 'tollgate replay'", ErrInvalid, t.Format(time.RFC3339Nano), (-d).Round(time.Millisecond), e.maxSkew)
	}
	return nil
}

// MaxClockSkew is the live server's bound on call times (0: none).
func (e *Engine) MaxClockSkew() time.Duration { return e.maxSkew }

// SIPCode is the response a redirect server gives for a verdict.
func SIPCode(v *screen.Verdict) int {
	if v.Unavailable {
		return 503
	}
	switch v.Enforced {
	case screen.Reject:
		return 403
	}
	return 302
}

// ReasonText is the human reason of a verdict.
func ReasonText(v *screen.Verdict) string {
	if r, ok := v.Primary(); ok {
		return r.Text
	}
	return "allowed"
}

func (e *Engine) decision(c *screen.Call, v *screen.Verdict) store.Decision {
	d := store.Decision{
		CallID:      c.ID,
		Time:        c.Time,
		Tenant:      c.Tenant,
		Extension:   c.Extension,
		Caller:      c.Caller,
		Callee:      c.Callee,
		E164:        c.Dest.E164,
		Country:     c.Dest.Country,
		Type:        c.Dest.Type.String(),
		Direction:   c.Direction.String(),
		Action:      v.Action.String(),
		Enforced:    v.Enforced.String(),
		Shadow:      v.Shadow,
		Risk:        v.Risk,
		MaxDuration: v.MaxDuration,
		Rate:        c.Dest.Rate,
		Reasons:     AppendReasonsJSON(nil, v.Reasons()),
		Node:        e.node,
	}
	if c.SourceIP.IsValid() {
		d.SourceIP = c.SourceIP.String()
	}
	return d
}

// CallSetup is how long the engine waits for a call's first event
// before forgetting it (server.call_setup_s): a front end that forwards
// calls gives up ringing ones before it.
func (e *Engine) CallSetup() time.Duration { return e.setup }

// InFlight is the number of screenings running now.
func (e *Engine) InFlight() int64 { return e.inFlight.Load() }

// LiveCalls is the number of calls let through that have not ended.
func (e *Engine) LiveCalls() int { return e.calls.len() }

// ResetCounters drops counters matching scope (by name; "" = all), tenant
// and subject (""= all).
func (e *Engine) ResetCounters(scope, tenant, subject string) (int, error) {
	var s counter.Scope
	if scope != "" {
		var ok bool
		if s, ok = counter.ParseScope(scope); !ok {
			return 0, fmt.Errorf("%w: unknown counter scope %q", ErrInvalid, scope)
		}
	}
	return e.counters.Reset(s, tenant, subject), nil
}

// Restore rebuilds counters and the live-call table from the decision and
// call-event logs after a restart, by running the recorded calls through
// the current policy again, in event time, without recording them twice.
// Calls the log says were refused are skipped. Restore must run before the
// engine serves traffic.
//
// After LoadSnapshot, ds and es are the log's tail since the snapshot:
// a call the loaded call table already holds is skipped (its counts are in
// the snapshot), and its events find it and apply only what is new.
func (e *Engine) Restore(ctx context.Context, ds []store.Decision, es []store.CallEvent) (calls, events int) {
	rec := e.rec
	e.rec = nil
	e.restoring.Store(true)
	defer func() { e.rec = rec; e.restoring.Store(false) }()
	sort.SliceStable(ds, func(i, j int) bool { return ds[i].Time.Before(ds[j].Time) })
	sort.SliceStable(es, func(i, j int) bool { return es[i].Time.Before(es[j].Time) })
	// Decisions and events go in one event-time order (a decision before
	// an event of the same instant): replaying every decision first would
	// hold every call's concurrency slot at once and refuse calls that
	// were let through.
	var c screen.Call
	var v screen.Verdict
	i, j := 0, 0
	for i < len(ds) || j < len(es) {
		if j < len(es) && (i == len(ds) || es[j].Time.Before(ds[i].Time)) {
			ev := &es[j]
			j++
			dur := ev.Duration
			if _, err := e.Event(ctx, Event{CallID: ev.CallID, Type: ev.Type, Time: ev.Time, Duration: &dur}); err == nil {
				events++
			}
			continue
		}
		d := &ds[i]
		i++
		if d.Enforced == "reject" || e.calls.has(d.CallID) {
			continue
		}
		dir, _ := screen.ParseDirection(d.Direction)
		c = screen.Call{ID: d.CallID, Tenant: d.Tenant, Extension: d.Extension, Caller: d.Caller, Callee: d.Callee, Direction: dir, Time: d.Time}
		if d.SourceIP != "" {
			c.SourceIP, _ = netip.ParseAddr(d.SourceIP)
		}
		if err := e.Screen(ctx, &c, &v); err == nil {
			calls++
		}
	}
	return calls, events
}
