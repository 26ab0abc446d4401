// Package emergency lets emergency numbers through before any other check
// can refuse them; they are never counted as fraud.
package emergency

import (
	"context"

	"github.com/tollgate-voip/tollgate/number"
	"github.com/tollgate-voip/tollgate/screen"
)

// Emergency is the check.
type Emergency struct{}

var _ screen.Check = Emergency{}

// New returns the check.
func New() Emergency { return Emergency{} }

// Name implements screen.Check.
func (Emergency) Name() string { return "emergency" }

// Check implements screen.Check.
func (Emergency) Check(_ context.Context, c *screen.Call, v *screen.Verdict) screen.Flow {
	if c.Dest.Kind != number.Emergency {
		return screen.Continue
	}
	v.Add(screen.Reason{Check: "emergency", Code: "emergency_number", Text: "emergency number " + c.Dest.E164 + ": always allowed", Action: screen.Allow})
	return screen.Stop
}
