package screen

import "context"

// Chain is an ordered list of checks. Its order is fixed by the engine,
// never by the order of sections in a config file.
type Chain struct {
	checks     []Check
	committers []Committer
}

// NewChain returns a chain running checks in the given order. Checks that
// also implement Committer are committed after the last check has run.
func NewChain(checks ...Check) *Chain {
	ch := &Chain{checks: checks}
	for _, c := range checks {
		if cm, ok := c.(Committer); ok {
			ch.committers = append(ch.committers, cm)
		}
	}
	return ch
}

// Checks returns the checks in order.
func (ch *Chain) Checks() []Check { return ch.checks }

// Run passes the call through every check until one says Stop. It does not
// commit; the caller decides the enforced action (shadow mode) first and
// then calls Commit.
func (ch *Chain) Run(ctx context.Context, c *Call, v *Verdict) {
	for _, k := range ch.checks {
		if k.Check(ctx, c, v) == Stop {
			return
		}
	}
}

// Commit lets every committer keep or undo what it reserved for this call.
func (ch *Chain) Commit(c *Call, v *Verdict) {
	for _, cm := range ch.committers {
		cm.Commit(c, v)
	}
}
