package screen

import (
	"context"
	"net/netip"
	"time"

	"github.com/tollgate-voip/tollgate/counter"
	"github.com/tollgate-voip/tollgate/number"
)

// Direction says which way a call crosses the screening point.
type Direction uint8

// Directions. Outbound is the default: a user of the tenant dials out.
const (
	Outbound Direction = iota
	Inbound
	Internal
)

var directionNames = [...]string{"outbound", "inbound", "internal"}

func (d Direction) String() string {
	if int(d) < len(directionNames) {
		return directionNames[d]
	}
	return "unknown"
}

// ParseDirection maps "outbound", "inbound" or "internal" (or "" for
// outbound) to a Direction.
func ParseDirection(s string) (Direction, bool) {
	switch s {
	case "", "outbound", "out":
		return Outbound, true
	case "inbound", "in":
		return Inbound, true
	case "internal":
		return Internal, true
	}
	return Outbound, false
}

// Call is one call attempt as the checks see it. The engine fills the
// derived fields (Dest, Local, International) once, before the chain runs.
type Call struct {
	ID        string
	Tenant    string
	Extension string
	Caller    string
	Callee    string // as dialed
	SourceIP  netip.Addr
	UserAgent string
	Direction Direction
	Transport string
	Time      time.Time // the event's own time; every time rule uses it
	Identity  string    // SIP Identity header, kept for caller-ID checks
	AuthUser  string    // the username of the request's digest credentials, when it carries any

	// Derived by the engine before the chain runs.
	Dest          number.Info // the callee, normalized in the tenant's dial plan
	Local         time.Time   // Time in the tenant's time zone
	International bool        // Dest is outside the tenant's home calling code
	Premium       bool        // premium-rate type, a premium prefix or a premium risk range
	Limited       bool        // a destination the policy lets through only under the "limit" rules
	Digits        string      // Dest.E164 without the "+"

	holds  [MaxHolds]Hold
	nholds int
	needs  [MaxNeeds]Need
	nneeds int
	ops    [MaxNeeds]counter.Op
	res    [MaxNeeds]counter.Result
}

// MaxNeeds is how many counter operations one call can ask for.
const MaxNeeds = 16

// Need is a counter operation a check asks for. The engine runs all of a
// call's needs in one atomic batch after the last check (one round trip
// to a shared counter store) and reports the outcome to the owner.
type Need struct {
	Op    counter.Op
	Owner NeedOwner
	Tag   int // the owner's own index, e.g. which of its limits
}

// NeedOwner is told how its needs fared.
type NeedOwner interface {
	// Refused is called for the need that refused the batch; it records
	// the reason on the verdict.
	Refused(c *Call, v *Verdict, n *Need, r counter.Result)
	// Admitted is called for each need when the batch was admitted.
	Admitted(c *Call, v *Verdict, n *Need, r counter.Result)
}

// AddNeed asks for a counter operation; it reports false when the call
// has no room for more.
func (c *Call) AddNeed(n Need) bool {
	if c.nneeds == len(c.needs) {
		return false
	}
	c.needs[c.nneeds] = n
	c.nneeds++
	return true
}

// Needs returns the counter operations the checks asked for.
func (c *Call) Needs() []Need { return c.needs[:c.nneeds] }

// MaxHolds is how many counter reservations one call can carry.
const MaxHolds = MaxNeeds

// HoldKind says what a Hold reserved.
type HoldKind uint8

// Kinds of hold.
const (
	WindowHold HoldKind = iota + 1 // an event in a sliding window
	SlotHold                       // a concurrency slot
)

// Hold is a counter reservation made by a check for this call. The engine
// keeps holds of calls it lets through and returns the holds of calls it
// rejects, so a limit counts exactly the calls that went ahead.
type Hold struct {
	Kind  HoldKind
	Key   counter.Key
	ID    string
	Added bool // false when the id was already counted (a retried screen)
}

// AddHold records a reservation; it reports false when the call has no room
// for more (the caller must then undo the reservation itself).
func (c *Call) AddHold(h Hold) bool {
	if c.nholds == len(c.holds) {
		return false
	}
	c.holds[c.nholds] = h
	c.nholds++
	return true
}

// Holds returns the reservations made for this call.
func (c *Call) Holds() []Hold { return c.holds[:c.nholds] }

// ResetHolds forgets the call's reservations and needs (after they were undone).
func (c *Call) ResetHolds() {
	// Entries past the counts are never read; clearing only the used ones
	// keeps a reused Call cheap to reset.
	clear(c.holds[:c.nholds])
	clear(c.needs[:c.nneeds])
	c.nholds = 0
	c.nneeds = 0
}

// Batch returns scratch space for running the call's needs, so the
// batch does not allocate.
func (c *Call) Batch() ([]counter.Op, []counter.Result) {
	n := c.nneeds
	for i := 0; i < n; i++ {
		c.ops[i] = c.needs[i].Op
	}
	return c.ops[:n], c.res[:n]
}

// ResetDerived clears what the engine and checks added, keeping the input.
func (c *Call) ResetDerived() {
	c.Dest = number.Info{}
	c.Local = time.Time{}
	c.International, c.Premium, c.Limited = false, false, false
	c.Digits = ""
	c.ResetHolds()
}

// Flow tells the chain whether to run the next check.
type Flow uint8

// Continue runs the next check; Stop ends the chain with the verdict as it
// is. StopIfRejected marks a checkpoint: the chain stops there when the
// verdict so far is a rejection (whichever check asked for it) and runs
// the next check otherwise. A check that must not run after a refusal
// sits behind a checkpoint instead of reading the verdict.
const (
	Continue Flow = iota
	Stop
	StopIfRejected
)

// A Check looks at one call and records what it finds on the verdict.
// It reads only the Call and its own state, never what other checks found
// (it writes to the Verdict and does not read it); what to do after a
// refusal it says through its Flow.
//
// A check never changes counters while the chain runs: what must only
// count once the verdict is final it declares as Needs on the call
// (Call.AddNeed) and is told the outcome as their NeedOwner.
type Check interface {
	Name() string
	Check(ctx context.Context, c *Call, v *Verdict) Flow
}
