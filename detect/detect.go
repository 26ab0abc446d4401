// Package detect watches the stream of calls for fraud patterns. Each
// detector (detect/<name>) is a small unit with its own configuration
// section; the Engine enriches every CDR once (number intelligence, local
// time, cost), feeds it to the detectors in event time and hands what they
// find to a sink (alerts and actions). Records are placed at their own
// time, so late and out-of-order CDRs count where they belong.
package detect

import (
	"time"

	"github.com/tollgate-voip/tollgate/baseline"
	"github.com/tollgate-voip/tollgate/cdr"
	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/number"
	"github.com/tollgate-voip/tollgate/screen"
)

// Call is a CDR as the detectors see it: the record plus what the engine
// derived once.
type Call struct {
	Rec    *cdr.Record
	Policy *config.Tenant
	// Dest is the callee (for inbound calls, the caller: the far end).
	Dest          *number.Info
	Local         time.Time // start in the tenant's zone
	International bool
	Premium       bool // premium-rate type or a premium/irsf risk range
	// Chargeable: calls to it cost real money — international, premium or
	// risk range, a chargeable number type (premium-rate, shared-cost,
	// personal, UAN) or priced at ChargeableRate or more; domestic
	// included. Every cost-aware detector judges these.
	Chargeable bool
	// Rate is the price per minute the detectors score by: the rate deck's,
	// raised to the number type's usual price when the deck has it lower.
	Rate float64
	// Class is the destination as baselines learn it: the country, or
	// country/type for a chargeable domestic number ("GB/premium_rate").
	Class string
	// Range is the number's range (digits, no "+"): the rate deck prefix
	// that priced it when longer than the calling code, else the number
	// without its last four digits.
	Range string
	// Country is the destination's country as a prefix to block: its
	// calling code, or Range when the number shares the tenant's calling
	// code (+1 809 for a US tenant) or is domestic.
	Country string
	Cost    float64
	// Attempt marks a call screening refused: it never connected.
	Attempt bool
	// Running marks a call judged at its start (Engine.Start): it is up,
	// and a finding can end it (Finding.EndCalls).
	Running bool
	// Concurrent is how many calls of the extension were up when this
	// one started, itself included.
	Concurrent int
	// far is Far() when the engine filled the call (looked up once per
	// number, so the number's digits need not be read to find it).
	far string
	// Handle is the extension's place in the baseline: Handle.Key is
	// Key(tenant, extension); Handle.Ext and Handle.Tenant are the
	// profiles as they were before this call (nil before any call).
	Handle *baseline.Handle
}

// Far returns the far-end digits (no "+").
func (c *Call) Far() string {
	if c.far != "" {
		return c.far
	}
	if len(c.Dest.E164) > 1 && c.Dest.E164[0] == '+' {
		return c.Dest.E164[1:]
	}
	return c.Dest.E164
}

// Outbound reports whether the tenant placed the call (forwarded calls count).
func (c *Call) Outbound() bool {
	return c.Rec.Direction == screen.Outbound || c.Rec.Forwarded
}

// Target is what an action applies to.
type Target struct {
	Kind  string `json:"kind"` // extension, prefix, number, ip, tenant
	Value string `json:"value"`
	Scope string `json:"scope,omitempty"` // extensions: international or all
	// AllTenants: the block applies to every tenant (a number range the
	// evidence shows is fraudulent, not one tenant's country).
	AllTenants bool `json:"all_tenants,omitempty"`
	// ExpiresS, when set, shortens the finding's expiry for this target.
	ExpiresS int `json:"expires_s,omitempty"`
}

// AlsoExtensionS bounds how long an extension named as a further target
// stays blocked: the extension is often a real agent's, borrowed by the
// attack (the destination or address block is the lasting one).
const AlsoExtensionS = 3600

// WildcardExtension as a target's extension means every extension of the
// tenant: "extension *, international" is the tenant's international (and
// premium) calling.
const WildcardExtension = "*"

// Finding is what a detector reports.
type Finding struct {
	Detector  string    `json:"detector"`
	Code      string    `json:"code"`
	Severity  string    `json:"severity"`
	Tenant    string    `json:"tenant,omitempty"`
	Extension string    `json:"extension,omitempty"`
	Subject   string    `json:"subject,omitempty"` // number, range, country code…
	Text      string    `json:"text"`
	Time      time.Time `json:"time"`         // event time at which it fired
	Since     time.Time `json:"window_start"` // start of the evidence window
	Action    string    `json:"action"`       // alert, require_pin, block_and_alert, honeypot, kill_switch
	Target    Target    `json:"target,omitzero"`
	// Also lists further targets of the same action: the scope the
	// evidence supports beyond the first (the extension that placed a
	// pumped call as well as the range it pumped).
	Also     []Target      `json:"also,omitempty"`
	Expires  time.Duration `json:"-"`
	ExpiresS int           `json:"expires_s,omitempty"`
	Calls    int           `json:"calls"`
	Cost     float64       `json:"cost"`
	CallIDs  []string      `json:"call_ids,omitempty"`
	// Remember lists far-end numbers to screen later (Wangiri callers).
	Remember []string `json:"remember,omitempty"`
	// Callback is what screening does with calls to remembered numbers.
	Callback string `json:"callback,omitempty"`
	// EndCalls lists running calls to end now (in-call findings).
	EndCalls []string `json:"end_calls,omitempty"`
	// Event marks an info-level finding: its action is carried out and
	// recorded in the action log, but it raises no alert (a tenant's first
	// call to a new country in business hours is worth a PIN on the next
	// one, not a page to the operator; cost accruing on it still alerts
	// through the in-call limits).
	Event bool `json:"event,omitempty"`
}

// Emit receives findings.
type Emit func(Finding)

// Detector is one pattern. Observe sees every call once, with ts its
// event time; it must not block or do I/O.
type Detector interface {
	Name() string
	Observe(c *Call, ts time.Time, emit Emit)
}

// Env is what a detector may use when it is built.
type Env struct {
	Config   *config.Detect
	Baseline *baseline.Learner
}

// Apply fills a finding's action fields from a rule. Block decides the
// target for block_and_alert: the extension's international calling, the
// destination (dest, a number or prefix) or the source address.
func Apply(f *Finding, r *config.Rule, c *Call, dest Target) {
	f.Action, f.Severity = string(r.Action), string(r.Severity)
	if f.Severity == "" {
		f.Severity = "warning"
	}
	f.Expires = r.ExpiresS.Duration()
	f.ExpiresS = int(r.ExpiresS)
	if f.Tenant == "" {
		f.Tenant = c.Rec.Tenant
	}
	if f.Extension == "" && c.Rec.Direction != screen.Inbound || c.Rec.Forwarded {
		f.Extension = c.Rec.Extension
	}
	dest = narrow(dest, c)
	ext := Target{Kind: "extension", Value: f.Extension, Scope: "international"}
	// An extension named beside a destination or address block is one an
	// attack borrowed, often a working agent's: its short block refuses
	// its costly calls (premium, international not known to be cheap),
	// not the agent's cheap calls to ordinary destinations.
	borrowed := Target{Kind: "extension", Value: f.Extension, Scope: "costly"}
	also := func(t Target) {
		if t.Kind == "extension" && (r.ExpiresS == 0 || r.ExpiresS > AlsoExtensionS) {
			t.ExpiresS = AlsoExtensionS
		}
		if t.Value != "" {
			f.Also = append(f.Also, t)
		}
	}
	switch r.Action {
	case config.ActionBlockAndAlert, config.ActionHoneypot:
		switch {
		case r.Action == config.ActionHoneypot:
			f.Target = dest
		case r.Block == config.BlockDestination:
			// The destination (number for the tenant, a fraudulent range for
			// every tenant) and the extension that dialed it.
			f.Target = widen(dest, c)
			also(borrowed)
		case r.Block == config.BlockSourceIP && c.Rec.SourceIP != "":
			f.Target = Target{Kind: "ip", Value: c.Rec.SourceIP}
			also(borrowed)
		case r.Block == config.BlockTenant:
			f.Target = Target{Kind: "extension", Value: WildcardExtension, Scope: "international"}
		default:
			// The extension's international and premium calling, and the
			// number or range it was pumping (an attack spread over many
			// extensions gets no free call per extension there).
			f.Target = ext
			if dest.Kind == "number" || dest.Kind == "prefix" && len(dest.Value) >= minRange {
				also(widen(dest, c))
			}
		}
	case config.ActionRequirePIN:
		f.Target = Target{Kind: "extension", Value: f.Extension}
	case config.ActionKillSwitch:
		f.Target = Target{Kind: "tenant", Value: f.Tenant}
	}
}

// UsualCalls is how many calls of a tenant's baseline make a destination
// class usual for it: a block aimed at a usual country is narrowed to the
// range the evidence names (its legitimate calls there go on).
const UsualCalls = 20

// narrow turns a block of a whole destination country the tenant calls
// as a matter of course into a block of the number's range.
func narrow(t Target, c *Call) Target {
	if t.Kind != "prefix" || t.Value != c.Country || len(c.Range) <= len(t.Value) || c.Handle == nil || c.Handle.Tenant == nil {
		return t
	}
	if c.Handle.Tenant.Countries[c.Class] >= UsualCalls {
		t.Value = c.Range
	}
	return t
}

// minRange is the shortest prefix (digits) taken for a number range rather
// than a country or area.
const minRange = 5

// widen marks a range target as every tenant's when it is a number range
// (not a country) of a premium or risk-listed, or international, number.
func widen(t Target, c *Call) Target {
	if t.Kind == "prefix" && len(t.Value) >= minRange && (c.Premium || c.International) {
		t.AllTenants = true
	}
	return t
}

// Key joins parts into a map key.
func Key(parts ...string) string {
	n := len(parts)
	for _, p := range parts {
		n += len(p)
	}
	b := make([]byte, 0, n)
	for i, p := range parts {
		if i > 0 {
			b = append(b, 0)
		}
		b = append(b, p...)
	}
	return string(b)
}

// AppendKey appends Key(parts...) to b: a detector builds its key in a
// buffer it keeps, and looks it up without making a string
// (Windows.AddBytes, Latch.ActiveBytes).
func AppendKey(b []byte, parts ...string) []byte {
	for i, p := range parts {
		if i > 0 {
			b = append(b, 0)
		}
		b = append(b, p...)
	}
	return b
}

// ExtKey is Key(tenant, extension), without building it when the engine
// set Handle.
func (c *Call) ExtKey() string {
	if c.Handle != nil {
		return c.Handle.Key
	}
	return Key(c.Rec.Tenant, c.Rec.Extension)
}

// Profiles returns the extension's and the tenant's baseline profiles as
// they were before this call (nil when none yet).
func (c *Call) Profiles(base *baseline.Learner) (ext, tenant *baseline.Profile) {
	if c.Handle != nil {
		return c.Handle.Ext, c.Handle.Tenant
	}
	return base.Extension(c.Rec.Tenant, c.Rec.Extension), base.TenantProfile(c.Rec.Tenant)
}
