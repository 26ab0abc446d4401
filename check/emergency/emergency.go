// Package emergency lets emergency numbers through before any other check
// can refuse them; they are never counted as fraud.
package emergency

import (
	"context"

	"github.com/tollgate-voip/tollgate/check"
	"github.com/tollgate-voip/tollgate/number"
	"github.com/tollgate-voip/tollgate/screen"
)

// Emergency is the check.
type Emergency struct{}

var _ screen.Check = Emergency{}

// New returns the check.
func New() Emergency { return Emergency{} }

// Name is the check's name in the order table and in its reasons.
const Name = "emergency"

// Setup builds the check for env's tenant (check.Setup).
func Setup(env *check.Env) (screen.Check, error) { return New(), nil }

// Name implements screen.Check.
func (Emergency) Name() string { return Name }

// Check implements screen.Check.
func (Emergency) Check(_ context.Context, c *screen.Call, v *screen.Verdict) screen.Flow {
	if c.Dest.Kind != number.Emergency {
		return screen.Continue
	}
	v.Add(screen.Reason{Check: "emergency", Code: "emergency_number", Text: "emergency number " + c.Dest.E164 + ": always allowed", Action: screen.Allow})
	return screen.Stop
}
