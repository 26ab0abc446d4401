// Package destination applies the destination policy: default deny for
// international calls, per-country allow/auth/block, premium prefixes,
// number types, the risk layer's ranges, invalid numbers and per-extension
// permissions.
package destination

import (
	"context"
	"strconv"

	"github.com/tollgate-voip/tollgate/check"
	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/number"
	"github.com/tollgate-voip/tollgate/screen"
)

// Destination is the check.
type Destination struct {
	t          *config.Tenant
	home       int
	def        screen.Action
	invalid    screen.Action
	countries  map[int]rule
	prefixes   map[string]rule
	maxPrefix  int
	types      [16]*rule
	categories map[string]rule
	exts       map[string]config.ExtensionPerm
	extDefault config.ExtensionPerm
}

type rule struct {
	word   string
	action screen.Action
	path   string
}

var _ screen.Check = (*Destination)(nil)

// New compiles a tenant's destination policy.
func New(t *config.Tenant) *Destination {
	d := &Destination{
		t:          t,
		home:       number.CallingCodeFor(t.Country),
		def:        word(t.Destinations.Default),
		invalid:    word(t.Destinations.Invalid),
		countries:  map[int]rule{},
		prefixes:   map[string]rule{},
		categories: map[string]rule{},
		exts:       t.Extensions,
	}
	for k, w := range t.Destinations.Countries {
		cc, _ := strconv.Atoi(k)
		d.countries[cc] = rule{string(w), word(w), t.Rule("destinations.countries." + k)}
	}
	for k, w := range t.Destinations.PremiumPrefixes {
		d.prefixes[k] = rule{string(w), word(w), t.Rule("destinations.premium_prefixes." + k)}
		d.maxPrefix = max(d.maxPrefix, len(k))
	}
	for k, w := range t.Destinations.Types {
		if ty, ok := number.ParseType(k); ok && int(ty) < len(d.types) {
			d.types[ty] = &rule{string(w), word(w), t.Rule("destinations.types." + k)}
		}
	}
	for k, w := range t.Destinations.RiskCategories {
		d.categories[k] = rule{string(w), word(w), t.Rule("destinations.risk_categories." + k)}
	}
	if e, ok := t.Extensions["default"]; ok {
		d.extDefault = e
	}
	return d
}

func word(w config.Treatment) screen.Action {
	switch w {
	case "block", "deny":
		return screen.Reject
	case "auth":
		return screen.Challenge
	}
	return screen.Allow
}

// Name is the check's name in the order table and in its reasons.
const Name = "destination"

// Setup builds the check for env's tenant (check.Setup).
func Setup(env *check.Env) (screen.Check, error) { return New(env.Tenant), nil }

// Name implements screen.Check.
func (*Destination) Name() string { return Name }

// PremiumPrefix returns the policy word of the longest premium prefix
// covering digits ("" when none does).
func (d *Destination) PremiumPrefix(digits string) (string, string) {
	for l := min(len(digits), d.maxPrefix); l > 0; l-- {
		if r, ok := d.prefixes[digits[:l]]; ok {
			return r.word, digits[:l]
		}
	}
	return "", ""
}

// CategoryWord returns what the policy does with a risk-layer category.
func (d *Destination) CategoryWord(r *number.Range) string {
	if x, ok := d.categories[r.Category]; ok {
		return x.word
	}
	return r.Action
}

// Classify fills the call's Premium and Limited flags from this policy. The
// engine calls it before the chain so every check sees the same answer.
func (d *Destination) Classify(c *screen.Call) {
	if c.Dest.Type == number.PremiumRate {
		c.Premium = true
	}
	// A "limit" prefix (1809 in the operator table) is a costly
	// destination let through under the limited-destination rules, not a
	// premium-rate service.
	if w, _ := d.PremiumPrefix(c.Digits); w == "limit" {
		c.Limited = true
	} else if w != "" {
		c.Premium = true
	}
	for i := range c.Dest.Risk {
		r := &c.Dest.Risk[i]
		if r.Category == "premium" {
			c.Premium = true
		}
		if d.CategoryWord(r) == "limit" {
			c.Limited = true
		}
	}
}

// Check implements screen.Check.
func (d *Destination) Check(_ context.Context, c *screen.Call, v *screen.Verdict) screen.Flow {
	if c.Direction != screen.Outbound {
		return screen.Continue
	}
	info := &c.Dest
	// The risk layer first: it carries the most specific reason.
	for i := range info.Risk {
		r := &info.Risk[i]
		w := d.CategoryWord(r)
		var rule string
		if x, ok := d.categories[r.Category]; ok {
			rule = x.path
		} else {
			rule = "risk." + r.Prefix
		}
		switch w {
		case "block":
			v.Add(screen.Reason{Check: "destination", Code: "high_risk_destination", Text: "high-risk destination +" + r.Prefix + " (" + r.Category + "): " + r.Reason, Rule: rule, Action: screen.Reject, Risk: max(r.Risk, 80)})
		case "auth":
			v.Add(screen.Reason{Check: "destination", Code: "risky_destination", Text: "risky destination +" + r.Prefix + " (" + r.Category + "): " + r.Reason + "; PIN required", Rule: rule, Action: screen.Challenge, Risk: max(r.Risk, 30)})
		case "allow":
		default: // limit, score or no action: the range adds its risk
			v.Add(screen.Reason{Check: "destination", Code: "risk_range", Text: "destination in risk range +" + r.Prefix + " (" + r.Category + "): " + r.Reason, Rule: rule, Action: screen.Allow, Risk: r.Risk})
		}
	}
	if w, pfx := d.PremiumPrefix(c.Digits); w != "" {
		r := d.prefixes[pfx]
		switch w {
		case "block":
			v.Add(screen.Reason{Check: "destination", Code: "premium_prefix", Text: "premium prefix +" + pfx + " is blocked", Rule: r.path, Action: screen.Reject, Risk: 80})
		case "auth":
			v.Add(screen.Reason{Check: "destination", Code: "premium_prefix", Text: "premium prefix +" + pfx + " needs a PIN", Rule: r.path, Action: screen.Challenge, Risk: 40})
		case "limit":
			v.Add(screen.Reason{Check: "destination", Code: "limited_destination", Text: "prefix +" + pfx + " is allowed under the limited-destination rules", Rule: r.path, Action: screen.Allow, Risk: 20})
		}
	}
	if !info.Valid && info.Kind == number.Subscriber {
		if d.invalid != screen.Allow {
			v.Add(screen.Reason{Check: "destination", Code: "invalid_number", Text: "invalid number " + info.E164 + " (no such range in the numbering plan)", Rule: d.t.Rule("destinations.invalid"), Action: d.invalid, Risk: 50})
		}
	}
	if r := d.types[info.Type&15]; r != nil && r.action != screen.Allow {
		v.Add(screen.Reason{Check: "destination", Code: "number_type", Text: info.Type.String() + " numbers: " + r.word, Rule: r.path, Action: r.action, Risk: riskOf(r.action)})
	}
	if c.International {
		if r, ok := d.countries[info.CallingCode]; ok {
			switch r.action {
			case screen.Reject:
				v.Add(screen.Reason{Check: "destination", Code: "destination_blocked", Text: "destination " + info.Country + " (+" + strconv.Itoa(info.CallingCode) + ") is blocked", Rule: r.path, Action: screen.Reject, Risk: 80})
			case screen.Challenge:
				v.Add(screen.Reason{Check: "destination", Code: "destination_auth", Text: "destination " + info.Country + " (+" + strconv.Itoa(info.CallingCode) + ") needs a PIN", Rule: r.path, Action: screen.Challenge, Risk: 20})
			}
		} else if d.def != screen.Allow {
			v.Add(screen.Reason{Check: "destination", Code: "destination_not_allowed", Text: "destination " + info.Country + " (+" + strconv.Itoa(info.CallingCode) + ") is not on the allowed list (default " + string(d.t.Destinations.Default) + ")", Rule: d.t.Rule("destinations.default"), Action: d.def, Risk: 50})
		}
	}
	d.permissions(c, v)
	return screen.StopIfRejected
}

func riskOf(a screen.Action) int {
	switch a {
	case screen.Reject:
		return 60
	case screen.Challenge:
		return 25
	}
	return 0
}

func (d *Destination) permissions(c *screen.Call, v *screen.Verdict) {
	if len(d.exts) == 0 || c.Extension == "" {
		return
	}
	name := c.Extension
	p, ok := d.exts[name]
	if !ok {
		p, name = d.extDefault, "default"
	}
	if c.International && p.International != nil && !*p.International {
		v.Add(screen.Reason{Check: "destination", Code: "extension_not_permitted", Text: "extension " + c.Extension + " may not call internationally", Rule: d.t.Rule("extensions." + name + ".international"), Action: screen.Reject, Risk: 40})
	}
	if c.Premium && p.Premium != nil && !*p.Premium {
		v.Add(screen.Reason{Check: "destination", Code: "extension_not_permitted", Text: "extension " + c.Extension + " may not call premium-rate numbers", Rule: d.t.Rule("extensions." + name + ".premium"), Action: screen.Reject, Risk: 40})
	}
}
