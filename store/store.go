// Package store defines where tollgate keeps state that outlives a call:
// blocks, kill switches, decisions, call events, alerts, API tokens and the
// audit log. Implementations live in subpackages (store/sqlite by default).
// No implementation may assume its process holds the only copy: several
// tollgate nodes can share one store.
package store

import (
	"context"
	"encoding/json"
	"time"

	"github.com/tollgate-voip/tollgate/internal/errkind"
)

// Errors shared by every implementation.
var (
	ErrNotFound = errkind.New(errkind.NotFound, "store: not found")
	ErrInvalid  = errkind.New(errkind.Invalid, "store: invalid")
)

// Block kinds.
const (
	BlockNumber    = "number"    // an exact E.164 number
	BlockPrefix    = "prefix"    // E.164 digit prefix (no "+")
	BlockExtension = "extension" // a tenant's extension
	BlockIP        = "ip"        // an address or CIDR
)

// Block stops calls matching Kind/Value for one tenant ("" = every tenant).
type Block struct {
	ID        int64     `json:"id"`
	Tenant    string    `json:"tenant,omitempty"`
	Kind      string    `json:"kind"`
	Value     string    `json:"value"`
	Scope     string    `json:"scope,omitempty"` // for extensions: "all" (default), "international" or "costly" (Block.CoversCall)
	Reason    string    `json:"reason"`
	Source    string    `json:"source"` // manual, detector, feed…
	CreatedBy string    `json:"created_by"`
	Created   time.Time `json:"created"`
	Expires   time.Time `json:"expires,omitzero"` // zero = never
}

// KillSwitch blocks all international calls of one tenant, or of every
// tenant when Tenant is "*".
type KillSwitch struct {
	Tenant string    `json:"tenant"`
	Active bool      `json:"active"`
	Reason string    `json:"reason"`
	By     string    `json:"by"`
	Since  time.Time `json:"since"`
}

// Decision is one screening result as recorded in the decision log.
type Decision struct {
	CallID      string          `json:"call_id"`
	Time        time.Time       `json:"time"`
	Tenant      string          `json:"tenant"`
	Extension   string          `json:"extension"`
	Caller      string          `json:"caller"`
	Callee      string          `json:"callee"`
	E164        string          `json:"e164"`
	Country     string          `json:"country"`
	Type        string          `json:"type"`
	Direction   string          `json:"direction"`
	SourceIP    string          `json:"source_ip,omitempty"`
	Action      string          `json:"action"`   // what the policy decided
	Enforced    string          `json:"enforced"` // what the front end was told (allow in shadow mode)
	Shadow      bool            `json:"shadow"`
	Risk        int             `json:"risk"`
	MaxDuration int             `json:"max_duration_s"`
	Rate        float64         `json:"rate_per_min"`
	Reasons     json.RawMessage `json:"reasons"` // JSON array of screen.Reason
	Node        string          `json:"node,omitempty"`
}

// DecisionQuery filters the decision log. Zero fields match everything.
type DecisionQuery struct {
	CallID    string
	Tenant    string
	Extension string
	Number    string // matches callee, e164 or caller
	Action    string
	From, To  time.Time
	Limit     int // default 100, max 10000
}

// CallEvent is an answer or end of a screened call.
type CallEvent struct {
	CallID        string    `json:"call_id"`
	Type          string    `json:"type"` // answer, end
	Time          time.Time `json:"time"`
	Tenant        string    `json:"tenant"`
	Duration      int       `json:"duration_s"`
	Cost          float64   `json:"cost"`
	International bool      `json:"international"`
}

// Alerter receives alerts: the one sink every part that raises an alert
// (engine checks, quality watcher, cluster node) writes to. Alert must not
// block; a sink that cannot take an alert logs it and drops it.
type Alerter interface{ Alert(a Alert) }

// Alert is something an operator should look at.
type Alert struct {
	ID        int64           `json:"id"`
	Time      time.Time       `json:"time"`
	Tenant    string          `json:"tenant,omitempty"`
	Extension string          `json:"extension,omitempty"`
	Severity  string          `json:"severity"` // info, warning, critical
	Code      string          `json:"code"`
	Text      string          `json:"text"`
	Status    string          `json:"status"` // open, acknowledged, resolved
	Details   json.RawMessage `json:"details,omitempty"`
}

// AlertQuery filters alerts.
type AlertQuery struct {
	Tenant string
	Status string
	Since  time.Time
	Limit  int
}

// AuditEntry is one change made to tollgate's state: who, what, when.
// Entries are append-only and chained by hash.
type AuditEntry struct {
	ID      int64           `json:"id"`
	Time    time.Time       `json:"time"`
	Actor   string          `json:"actor"`
	Action  string          `json:"action"` // e.g. block.add, killswitch.set
	Object  string          `json:"object"`
	Details json.RawMessage `json:"details,omitempty"`
	Hash    string          `json:"hash"` // hex SHA-256 over the previous hash and this entry
}

// Token is an API bearer token, kept only as a hash.
type Token struct {
	Name     string    `json:"name"`
	Role     string    `json:"role"`
	Hash     string    `json:"-"` // hex SHA-256 of the secret
	Created  time.Time `json:"created"`
	Expires  time.Time `json:"expires,omitzero"`   // zero = never
	Revoked  time.Time `json:"revoked,omitzero"`   // zero = not revoked; a revoked token is never accepted again
	LastUsed time.Time `json:"last_used,omitzero"` // coalesced: may lag use by the flush interval
}

// Blocks keeps manual and automatic blocks.
type Blocks interface {
	AddBlock(ctx context.Context, b Block) (Block, error)
	RemoveBlock(ctx context.Context, id int64) (Block, error)
	ListBlocks(ctx context.Context, now time.Time) ([]Block, error) // unexpired only
}

// KillSwitches keeps kill-switch state.
type KillSwitches interface {
	SetKillSwitch(ctx context.Context, k KillSwitch) error
	KillSwitches(ctx context.Context) ([]KillSwitch, error)
}

// Decisions is the decision log and the call-event log.
type Decisions interface {
	AppendDecisions(ctx context.Context, ds []Decision) error
	QueryDecisions(ctx context.Context, q DecisionQuery) ([]Decision, error)
	AppendCallEvents(ctx context.Context, es []CallEvent) error
	CallEventsSince(ctx context.Context, since time.Time) ([]CallEvent, error)
	DecisionsSince(ctx context.Context, since time.Time) ([]Decision, error)
}

// Alerts keeps alerts.
type Alerts interface {
	AddAlert(ctx context.Context, a Alert) (Alert, error)
	ListAlerts(ctx context.Context, q AlertQuery) ([]Alert, error)
	SetAlertStatus(ctx context.Context, id int64, status string) error
}

// Audit is the append-only log of changes.
type Audit interface {
	AppendAudit(ctx context.Context, e AuditEntry) (AuditEntry, error)
	ListAudit(ctx context.Context, since time.Time, limit int) ([]AuditEntry, error)
	VerifyAudit(ctx context.Context) error // recomputes the hash chain
}

// Tokens keeps API tokens.
type Tokens interface {
	// PutToken creates or replaces the token named t.Name (a replaced
	// token is no longer revoked and has not been used).
	PutToken(ctx context.Context, t Token) error
	// ListTokens returns every token, revoked ones included, by name.
	ListTokens(ctx context.Context) ([]Token, error)
	// RevokeToken marks the token name revoked at at. ErrNotFound when
	// there is no such token or it is revoked already.
	RevokeToken(ctx context.Context, name string, at time.Time) error
	// TouchTokens records use: each named token's last-used time becomes
	// the later of the stored one and the one given. Unknown names are
	// skipped (tokens from the configuration file are not stored).
	TouchTokens(ctx context.Context, used map[string]time.Time) error
}

// Store is everything above.
type Store interface {
	Blocks
	KillSwitches
	Decisions
	Alerts
	Audit
	Tokens
	Close() error
}
