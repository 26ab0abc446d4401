package screen

import (
	"encoding/json"
	"fmt"
)

// Action is what the front end must do with the call. Actions are ordered by
// severity: a verdict's action is the most severe one any check asked for.
type Action uint8

// Actions, least severe first.
const (
	Allow Action = iota
	Challenge
	Honeypot
	Reject
)

var actionNames = [...]string{"allow", "challenge", "honeypot", "reject"}

func (a Action) String() string {
	if int(a) < len(actionNames) {
		return actionNames[a]
	}
	return fmt.Sprintf("action(%d)", a)
}

// ParseAction is the inverse of Action.String.
func ParseAction(s string) (Action, bool) {
	for i, n := range actionNames {
		if n == s {
			return Action(i), true
		}
	}
	return Allow, false
}

// MarshalText implements encoding.TextMarshaler.
func (a Action) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (a *Action) UnmarshalText(b []byte) error {
	x, ok := ParseAction(string(b))
	if !ok {
		return fmt.Errorf("unknown action %q (want allow, challenge, honeypot or reject)", b)
	}
	*a = x
	return nil
}

// Reason is one finding of one check.
type Reason struct {
	Check  string `json:"check"`
	Code   string `json:"code"` // machine code, e.g. "high_risk_destination"
	Text   string `json:"text"` // for humans, e.g. "destination SO (+252) is blocked"
	Rule   string `json:"rule"` // the config rule that fired, e.g. "tenants.acme.destinations.countries.252"
	Action Action `json:"action"`
	Risk   int    `json:"risk"`
}

// MaxReasons is how many reasons a verdict keeps; further ones still count
// toward action and risk but are not listed.
const MaxReasons = 12

// Verdict is the screening result being built by the chain. The zero value
// is an allow with no reasons. Reasons live in a fixed array so building a
// verdict does not allocate.
type Verdict struct {
	Action      Action
	Risk        int
	MaxDuration int // seconds the call may last; 0 = no limit
	Shadow      bool
	// Enforced is the action the front end applies: Action, except in
	// shadow mode where it is Allow while Action records what would have
	// been done.
	Enforced Action
	// Unavailable is set when tollgate could not decide and the tenant
	// fails closed: front ends answer 503 rather than 403.
	Unavailable bool

	reasons [MaxReasons]Reason
	n       int
	dropped int
}

// Add records one finding. The most severe action wins; risk adds up to 100.
func (v *Verdict) Add(r Reason) {
	if r.Action > v.Action {
		v.Action = r.Action
	}
	v.Risk += r.Risk
	if v.Risk > 100 {
		v.Risk = 100
	}
	if v.Risk < 0 {
		v.Risk = 0
	}
	if v.n < len(v.reasons) {
		v.reasons[v.n] = r
		v.n++
	} else {
		v.dropped++
	}
}

// LimitDuration lowers the maximum call duration to s seconds (s > 0).
func (v *Verdict) LimitDuration(s int) {
	if s <= 0 {
		return
	}
	if v.MaxDuration == 0 || s < v.MaxDuration {
		v.MaxDuration = s
	}
}

// Reasons returns the recorded reasons. The slice aliases the verdict.
func (v *Verdict) Reasons() []Reason { return v.reasons[:v.n] }

// Dropped is how many reasons did not fit.
func (v *Verdict) Dropped() int { return v.dropped }

// Has reports whether a reason with this code was recorded.
func (v *Verdict) Has(code string) bool {
	for i := 0; i < v.n; i++ {
		if v.reasons[i].Code == code {
			return true
		}
	}
	return false
}

// Primary returns the first reason whose action equals the verdict's
// action: the one a front end shows a human. ok is false for a plain allow.
func (v *Verdict) Primary() (Reason, bool) {
	for i := 0; i < v.n; i++ {
		if v.reasons[i].Action == v.Action && v.Action != Allow {
			return v.reasons[i], true
		}
	}
	return Reason{}, false
}

// Reset clears the verdict for reuse.
func (v *Verdict) Reset() { *v = Verdict{} }

// MarshalJSON is for debugging and tests; the API has its own wire shape.
func (v *Verdict) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Action      Action   `json:"action"`
		Enforced    Action   `json:"enforced"`
		Risk        int      `json:"risk"`
		MaxDuration int      `json:"max_duration_s"`
		Shadow      bool     `json:"shadow"`
		Reasons     []Reason `json:"reasons"`
	}{v.Action, v.Enforced, v.Risk, v.MaxDuration, v.Shadow, v.Reasons()})
}
