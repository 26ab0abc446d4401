// Package blocklist refuses calls to blocked numbers and prefixes, from
// blocked extensions and from blocked source addresses.
package blocklist

import (
	"context"
	"strconv"

	"github.com/tollgate-voip/tollgate/blocks"
	"github.com/tollgate-voip/tollgate/check"
	"github.com/tollgate-voip/tollgate/screen"
	"github.com/tollgate-voip/tollgate/store"
)

// Blocklist is the check.
type Blocklist struct {
	tenant string
	live   *blocks.Live
}

var _ screen.Check = (*Blocklist)(nil)

// New returns the check for one tenant, reading blocks from live.
func New(tenant string, live *blocks.Live) *Blocklist {
	return &Blocklist{tenant: tenant, live: live}
}

// Name is the check's name in the order table and in its reasons.
const Name = "blocklist"

// Setup builds the check for env's tenant (check.Setup).
func Setup(env *check.Env) (screen.Check, error) { return New(env.Tenant.Name, env.Blocks), nil }

// Name implements screen.Check.
func (*Blocklist) Name() string { return Name }

// Check implements screen.Check.
func (b *Blocklist) Check(_ context.Context, c *screen.Call, v *screen.Verdict) screen.Flow {
	set := b.live.Load()
	if blk := set.Addr(c.Tenant, c.SourceIP, c.Time); blk != nil {
		return refuse(v, "blocked_ip", "source address "+c.SourceIP.String()+" is blocked", blk)
	}
	if blk := set.Extension(c.Tenant, c.Extension, c.Time); blk != nil && blk.CoversCall(c.International, c.Premium, c.Dest.Rate) {
		what := "extension " + c.Extension + " is blocked"
		switch blk.Scope {
		case "international":
			what = "extension " + c.Extension + " may not call internationally"
		case "costly":
			what = "extension " + c.Extension + " may not make costly calls"
		}
		return refuse(v, "blocked_extension", what, blk)
	}
	if c.Digits == "" {
		return screen.Continue
	}
	if blk := set.Number(c.Tenant, c.Digits, c.Time); blk != nil {
		return refuse(v, "blocked_number", "number "+c.Dest.E164+" is blocked", blk)
	}
	if blk := set.Prefix(c.Tenant, c.Digits, c.Time); blk != nil {
		return refuse(v, "blocked_prefix", "prefix +"+blk.Value+" is blocked", blk)
	}
	return screen.Continue
}

func refuse(v *screen.Verdict, code, text string, b *store.Block) screen.Flow {
	if b.Reason != "" {
		text += ": " + b.Reason
	}
	v.Add(screen.Reason{Check: "blocklist", Code: code, Text: text, Rule: "blocks." + strconv.FormatInt(b.ID, 10), Action: screen.Reject, Risk: 100})
	return screen.Stop
}
