// Package detected applies what the detectors decided to later calls:
// extensions that must enter a PIN (challenge), destinations diverted to
// the honeypot, and callbacks to remembered Wangiri callers (reject or
// challenge). It reads an immutable action.Set; no I/O.
package detected

import (
	"context"
	"strconv"

	"github.com/tollgate-voip/tollgate/action"
	"github.com/tollgate-voip/tollgate/check"
	"github.com/tollgate-voip/tollgate/screen"
)

// Detected is the check.
type Detected struct {
	tenant string
	live   *action.Live
}

var _ screen.Check = (*Detected)(nil)

// New returns the check for one tenant, or nil without a live set (no
// detection pipeline runs).
func New(tenant string, live *action.Live) screen.Check {
	if live == nil {
		return nil
	}
	return &Detected{tenant: tenant, live: live}
}

// Name is the check's name in the order table and in its reasons.
const Name = "detected"

// Setup builds the check for env's tenant (check.Setup).
func Setup(env *check.Env) (screen.Check, error) { return New(env.Tenant.Name, env.Actions), nil }

// Name implements screen.Check.
func (*Detected) Name() string { return Name }

// Check implements screen.Check.
func (d *Detected) Check(_ context.Context, c *screen.Call, v *screen.Verdict) screen.Flow {
	set := d.live.Load()
	if set.Len() == 0 {
		return screen.Continue
	}
	if c.Direction == screen.Inbound {
		return screen.Continue
	}
	if c.Digits != "" {
		if r := set.Destination(c.Tenant, c.Digits, c.Time); r != nil {
			add(v, r, "destination "+c.Dest.E164)
		}
	}
	if r := set.Extension(c.Tenant, c.Extension, c.Time); r != nil && (c.International || c.Premium) {
		add(v, r, "extension "+c.Extension)
	}
	return screen.Continue
}

func add(v *screen.Verdict, r *action.Record, what string) {
	a, code, risk := screen.Challenge, "detected_pin", 30
	switch r.Verdict {
	case action.Reject:
		a, code, risk = screen.Reject, "detected_block", 100
	case action.Honeypot:
		a, code, risk = screen.Honeypot, "detected_honeypot", 80
	}
	text := what + ": " + r.Reason
	if len(text) > 300 {
		text = text[:300]
	}
	v.Add(screen.Reason{Check: "detected", Code: code, Text: text, Rule: "actions." + strconv.FormatInt(r.ID, 10), Action: a, Risk: risk})
}
