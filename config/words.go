package config

import (
	"strings"

	"gopkg.in/yaml.v3"
)

// The policy's words are typed: a mode, an on_error choice, a detector's
// action, block scope and severity are checked when the file is read
// (UnmarshalYAML), so a bad word is an error naming its file, line and
// field, and code compares typed constants instead of strings. An empty
// value ("" in the file, or the key left out) stays empty for the
// section's validation, which fills the default or says it is required.
// The words a tenant's policy gives calls (allow, auth, block, …) are one
// type, Treatment, whose subsets are checked per key by the validation.

// Mode is a tenant's mode: enforce acts on verdicts, shadow only records
// what it would have done.
type Mode string

// The tenant modes.
const (
	ModeEnforce Mode = "enforce"
	ModeShadow  Mode = "shadow"
)

// UnmarshalYAML implements yaml.Unmarshaler.
func (m *Mode) UnmarshalYAML(n *yaml.Node) error { return word(n, m, ModeEnforce, ModeShadow) }

// OnError is what happens to a call when tollgate cannot decide (a store
// or Redis away, overload): fail_open lets it through, fail_closed refuses
// it.
type OnError string

// The on_error choices.
const (
	FailOpen   OnError = "fail_open"
	FailClosed OnError = "fail_closed"
)

// UnmarshalYAML implements yaml.Unmarshaler.
func (o *OnError) UnmarshalYAML(n *yaml.Node) error { return word(n, o, FailOpen, FailClosed) }

// SIPMode is how the SIP front end takes part in a call: redirect answers
// 302/403/503, proxy is the next hop.
type SIPMode string

// The SIP front end's modes.
const (
	SIPRedirect SIPMode = "redirect"
	SIPProxy    SIPMode = "proxy"
)

// UnmarshalYAML implements yaml.Unmarshaler.
func (m *SIPMode) UnmarshalYAML(n *yaml.Node) error { return word(n, m, SIPRedirect, SIPProxy) }

// Action is what a detector's finding does.
type Action string

// The detector actions. ActionReport and ActionBlock are the pumping
// triggers' older names for alert and block_and_alert; loading turns them
// into those, so code never sees them.
const (
	ActionAlert         Action = "alert"
	ActionRequirePIN    Action = "require_pin"
	ActionBlockAndAlert Action = "block_and_alert"
	ActionHoneypot      Action = "honeypot"
	ActionKillSwitch    Action = "kill_switch"
	ActionReport        Action = "report"
	ActionBlock         Action = "block"
)

// actions are the detector actions every rule takes.
var actions = []Action{ActionAlert, ActionRequirePIN, ActionBlockAndAlert, ActionHoneypot, ActionKillSwitch}

// UnmarshalYAML implements yaml.Unmarshaler. The pumping aliases pass
// here; the detectors' validation accepts them only in pumping triggers.
func (a *Action) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode && (Action(n.Value) == ActionReport || Action(n.Value) == ActionBlock) {
		*a = Action(n.Value)
		return nil
	}
	return word(n, a, actions...)
}

// BlockScope is what a block_and_alert action blocks: the extension
// (international calling, and the number), the destination (and the
// extension), the source address (and the extension) or the tenant
// (every extension's international calling).
type BlockScope string

// The block scopes.
const (
	BlockExtension   BlockScope = "extension"
	BlockDestination BlockScope = "destination"
	BlockSourceIP    BlockScope = "source_ip"
	BlockTenant      BlockScope = "tenant"
)

// UnmarshalYAML implements yaml.Unmarshaler.
func (b *BlockScope) UnmarshalYAML(n *yaml.Node) error {
	return word(n, b, BlockExtension, BlockDestination, BlockSourceIP, BlockTenant)
}

// Severity is an alert's severity, and a notifier's least severity.
type Severity string

// The severities, least first.
const (
	SeverityInfo     Severity = "info"
	SeverityWarning  Severity = "warning"
	SeverityCritical Severity = "critical"
)

// UnmarshalYAML implements yaml.Unmarshaler.
func (s *Severity) UnmarshalYAML(n *yaml.Node) error {
	return word(n, s, SeverityInfo, SeverityWarning, SeverityCritical)
}

// Role is a token's role: admin, operator, screen or read.
type Role string

// UnmarshalYAML implements yaml.Unmarshaler.
func (r *Role) UnmarshalYAML(n *yaml.Node) error {
	return word[Role](n, r, "admin", "operator", "screen", "read")
}

// Treatment is what a tenant's policy does with a call a rule matches.
// Each key takes a subset, checked when the tenant is read: allow, auth
// and block almost everywhere; limit and score for premium prefixes and
// risk categories; deny for destinations.default; honeypot for caller-ID
// and source-address rules.
type Treatment string

// The treatments.
const (
	TreatAllow    Treatment = "allow"
	TreatAuth     Treatment = "auth"
	TreatBlock    Treatment = "block"
	TreatDeny     Treatment = "deny"
	TreatLimit    Treatment = "limit"
	TreatScore    Treatment = "score"
	TreatHoneypot Treatment = "honeypot"
)

// word decodes a scalar node into one of the words of an enum type; any
// other word is an error at the node's line, listing the words.
func word[T ~string](n *yaml.Node, v *T, words ...T) error {
	if n.Kind != yaml.ScalarNode {
		return typeErr(n, "want %s", orList(words))
	}
	for _, w := range words {
		if n.Value == string(w) {
			*v = w
			return nil
		}
	}
	if n.Value == "" {
		*v = ""
		return nil
	}
	return typeErr(n, "want %s, got %q", orList(words), n.Value)
}

// orList writes words as "a, b or c".
func orList[T ~string](words []T) string {
	var b strings.Builder
	for i, w := range words {
		switch {
		case i == 0:
		case i == len(words)-1:
			b.WriteString(" or ")
		default:
			b.WriteString(", ")
		}
		b.WriteString(string(w))
	}
	return b.String()
}
