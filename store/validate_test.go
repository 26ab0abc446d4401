package store

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestValidate: each record kind refuses what no backend may store, with
// ErrInvalid, and accepts a well-formed record.
func TestValidate(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	hash := strings.Repeat("ab", 32)
	for _, c := range []struct {
		name string
		v    interface{ Validate() error }
		ok   bool
	}{
		{"block", Block{Kind: BlockNumber, Value: "+4930111"}, true},
		{"block prefix", Block{Kind: BlockPrefix, Value: "4930"}, true},
		{"block cidr", Block{Kind: BlockIP, Value: "192.0.2.0/24", Scope: "international"}, true},
		{"block empty value", Block{Kind: BlockNumber, Value: " "}, false},
		{"block prefix with a plus", Block{Kind: BlockPrefix, Value: "+49"}, false},
		{"block bad ip", Block{Kind: BlockIP, Value: "192.0.2"}, false},
		{"block kind", Block{Kind: "country", Value: "DE"}, false},
		{"block scope", Block{Kind: BlockExtension, Value: "100", Scope: "local"}, false},
		{"alert", Alert{Severity: "critical", Code: "x"}, true},
		{"alert severity", Alert{Severity: "fatal", Code: "x"}, false},
		{"alert code", Alert{Severity: "info"}, false},
		{"alert status", Alert{Severity: "info", Code: "x", Status: "closed"}, false},
		{"alert details", Alert{Severity: "info", Code: "x", Details: json.RawMessage(`{`)}, false},
		{"decision", &Decision{CallID: "c", Time: now, Reasons: json.RawMessage(`[]`)}, true},
		{"decision call id", &Decision{Time: now}, false},
		{"decision time", &Decision{CallID: "c"}, false},
		{"decision reasons", &Decision{CallID: "c", Time: now, Reasons: json.RawMessage(`[`)}, false},
		{"call event", &CallEvent{CallID: "c", Type: "end", Time: now}, true},
		{"call event type", &CallEvent{CallID: "c", Time: now}, false},
		{"call event time", &CallEvent{CallID: "c", Type: "end"}, false},
		{"audit", AuditEntry{Actor: "ops", Action: "block.add"}, true},
		{"audit actor", AuditEntry{Action: "block.add"}, false},
		{"audit action", AuditEntry{Actor: "ops"}, false},
		{"audit details", AuditEntry{Actor: "ops", Action: "a", Details: json.RawMessage(`nope`)}, false},
		{"token", Token{Name: "n", Role: "admin", Hash: hash}, true},
		{"token name", Token{Role: "admin", Hash: hash}, false},
		{"token role", Token{Name: "n", Hash: hash}, false},
		{"token hash", Token{Name: "n", Role: "admin", Hash: "abcd"}, false},
	} {
		err := c.v.Validate()
		if c.ok && err != nil {
			t.Errorf("%s: Validate() = %v, want nil", c.name, err)
		}
		if !c.ok && !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Validate() = %v, want ErrInvalid", c.name, err)
		}
	}
	if err := CheckAlertStatus("acknowledged"); err != nil {
		t.Errorf("CheckAlertStatus(acknowledged) = %v", err)
	}
	if got := Limit(0); got != DefaultLimit {
		t.Errorf("Limit(0) = %d, want %d", got, DefaultLimit)
	}
	if got := Limit(MaxLimit + 1); got != MaxLimit {
		t.Errorf("Limit(%d) = %d, want %d", MaxLimit+1, got, MaxLimit)
	}
	if got := Limit(7); got != 7 {
		t.Errorf("Limit(7) = %d", got)
	}
}
