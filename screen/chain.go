package screen

import "context"

// Chain is an ordered list of checks. Its order is fixed by the engine,
// never by the order of sections in a config file.
type Chain struct {
	checks []Check
}

// NewChain returns a chain running checks in the given order.
func NewChain(checks ...Check) *Chain {
	return &Chain{checks: checks}
}

// Checks returns the checks in order.
func (ch *Chain) Checks() []Check { return ch.checks }

// Run passes the call through every check until one says Stop, or says
// StopIfRejected while the verdict is a rejection. It changes no counters:
// the caller runs the needs the checks declared (engine.applyNeeds) and
// decides the enforced action (shadow mode) afterwards.
func (ch *Chain) Run(ctx context.Context, c *Call, v *Verdict) {
	for _, k := range ch.checks {
		switch k.Check(ctx, c, v) {
		case Stop:
			return
		case StopIfRejected:
			if v.Action == Reject {
				return
			}
		}
	}
}
