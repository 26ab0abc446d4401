package store

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// This file holds the checks every implementation makes before it stores
// a record; an implementation adds only what its database cannot hold
// (a time out of its range, a NUL byte in PostgreSQL text).

// Invalidf is ErrInvalid with a message.
func Invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// Validate checks a block before it is stored: a known kind, a value of
// that kind, and a known scope.
func (b Block) Validate() error {
	value := b.Value
	if strings.TrimSpace(value) == "" {
		return Invalidf("block value is empty")
	}
	switch b.Kind {
	case BlockNumber, BlockExtension:
	case BlockPrefix:
		if strings.Trim(value, "0123456789") != "" {
			return Invalidf("block prefix %q: want digits only", value)
		}
	case BlockIP:
		if _, err := netip.ParsePrefix(value); err != nil {
			if _, err := netip.ParseAddr(value); err != nil {
				return Invalidf("block ip %q: want an address or CIDR", value)
			}
		}
	default:
		return Invalidf("block kind %q: want number, prefix, extension or ip", b.Kind)
	}
	switch b.Scope {
	case "", "all", "international", "costly":
	default:
		return Invalidf("block scope %q: want all, international or costly", b.Scope)
	}
	return nil
}

// Alert severities and statuses.
var (
	alertSeverities = []string{"info", "warning", "critical"}
	alertStatuses   = []string{"open", "acknowledged", "resolved"}
)

// CheckAlertStatus reports whether status is an alert status.
func CheckAlertStatus(status string) error {
	if !slices.Contains(alertStatuses, status) {
		return Invalidf("alert status %q: want %s", status, strings.Join(alertStatuses, ", "))
	}
	return nil
}

// Validate checks an alert before it is stored: a known severity, a
// code, a known status (empty stands for open) and details that are
// JSON.
func (a Alert) Validate() error {
	if !slices.Contains(alertSeverities, a.Severity) {
		return Invalidf("alert severity %q: want %s", a.Severity, strings.Join(alertSeverities, ", "))
	}
	if a.Code == "" {
		return Invalidf("alert code is empty")
	}
	if a.Status != "" {
		if err := CheckAlertStatus(a.Status); err != nil {
			return err
		}
	}
	return checkJSON("alert details", a.Details)
}

// Validate checks a decision before it is stored: a call id, a time and
// reasons that are JSON.
func (d *Decision) Validate() error {
	if d.CallID == "" {
		return Invalidf("decision call id is empty")
	}
	if d.Time.IsZero() {
		return Invalidf("decision %q time is zero", d.CallID)
	}
	return checkJSON("decision reasons", d.Reasons)
}

// Validate checks a call event before it is stored: a call id, a type
// and a time.
func (e *CallEvent) Validate() error {
	if e.CallID == "" {
		return Invalidf("call event call id is empty")
	}
	if e.Type == "" {
		return Invalidf("call event %q type is empty", e.CallID)
	}
	if e.Time.IsZero() {
		return Invalidf("call event %q time is zero", e.CallID)
	}
	return nil
}

// Validate checks an audit entry before it is appended: an actor, an
// action and details that are JSON.
func (e AuditEntry) Validate() error {
	if e.Actor == "" {
		return Invalidf("audit actor is empty")
	}
	if e.Action == "" {
		return Invalidf("audit action is empty")
	}
	return checkJSON("audit details", e.Details)
}

// Validate checks a token before it is stored: a name, a role and a
// hex SHA-256 hash.
func (t Token) Validate() error {
	if t.Name == "" {
		return Invalidf("token name is empty")
	}
	if t.Role == "" {
		return Invalidf("token %q role is empty", t.Name)
	}
	if b, err := hex.DecodeString(t.Hash); err != nil || len(b) != 32 {
		return Invalidf("token %q hash: want 64 hex digits", t.Name)
	}
	return nil
}

// checkJSON reports whether raw is empty or valid JSON.
func checkJSON(field string, raw json.RawMessage) error {
	if len(raw) == 0 || json.Valid(raw) {
		return nil
	}
	return Invalidf("%s is not valid JSON", field)
}

// Query limits shared by the list methods of every implementation.
const (
	DefaultLimit = 100
	MaxLimit     = 10000
)

// Limit applies DefaultLimit and MaxLimit to a requested row limit.
func Limit(n int) int {
	switch {
	case n <= 0:
		return DefaultLimit
	case n > MaxLimit:
		return MaxLimit
	}
	return n
}

// ExtensionCheapRate is the price per minute under which an international
// call is let through a "costly"-scoped extension block.
const ExtensionCheapRate = 0.10

// CoversCall reports whether an extension block refuses a call of the
// extension: every call (scope all), its international and premium calls
// (international), or its premium calls and international calls not
// known to cost under ExtensionCheapRate a minute (costly; rate is the
// rate deck's price, 0 when unknown).
func (b *Block) CoversCall(international, premium bool, rate float64) bool {
	switch b.Scope {
	case "international":
		return international || premium
	case "costly":
		return premium || international && !(rate > 0 && rate < ExtensionCheapRate)
	}
	return true
}

// ScopeRank orders extension scopes from narrowest (costly) to broadest
// (all): of two live blocks of one extension the broader one holds.
func ScopeRank(scope string) int {
	switch scope {
	case "costly":
		return 0
	case "international":
		return 1
	}
	return 2
}
